/// A module tree compiled, for one input shape and batch size, into the steps that run it:
/// one plan serves training (forward and backward), calibration and inference.
///
/// The plan is a graph of values, each a feature-major `[features, n]` matrix (see
/// DECISIONS.md) with its features in PyTorch's `[channels, height, width]` order, and of steps
/// that each read some values and write one. A value read by several steps (a residual block's
/// input) gets the sum of their gradients: in the backward pass the first step to reach it
/// overwrites its gradient and the others add to it. `nn.Flatten` is no step at all: a flattened
/// image is the same matrix.
///
/// A Linear or Conv2d layer with a bias that is followed by a ReLU runs as one step, the ReLU
/// applied to each tile as the GEMM finishes it; so do a BatchNorm and the ReLU after it, and a
/// residual sum and its ReLU.
///
/// A plan without gradients runs inference only, and folds each BatchNorm that directly follows
/// a Conv2d into the convolution (`FoldedBatchNorm`): one step with scaled weights and a bias,
/// which then fuses the ReLU after the BatchNorm too. The store and `parameters` keep the
/// layers as they are; only the steps read the folded copies.
///
/// Parameters live in buffers of the plan for its lifetime; `parameterStore()` copies them out.
/// Plans for other batch sizes can share them (`init(sharingParametersOf:capacity:)`): the
/// evaluator runs one plan per thread and one for single samples over one copy of the weights.
/// A plan runs one pass at a time; plans sharing parameters may run inference passes at once.
final class ExecutionPlan {
  /// Whether steps behave as in `model.train()` (batch statistics, dropout) or `model.eval()`.
  enum Mode {
    case training
    case inference
  }

  /// Samples the value buffers hold.
  let capacity: Int
  /// Features per sample of each value; value 0 is the input.
  let valueFeatures: [Int]
  /// The value that holds the logits.
  let output: Int
  let parameters: [PlanParameter]
  private let steps: [any PlanStep]
  /// The Linear and Conv2d steps in module order, whose kernels inference may choose.
  let weightedSteps: [any WeightedStep]
  private let module: Module
  private let inputShape: [Int]
  private let values: [UnsafeMutableBufferPointer<Float>]
  /// Per value, its gradient's buffer; nil where no trained parameter lies upstream.
  private let gradients: [UnsafeMutableBufferPointer<Float>?]
  /// The fused step of each weighted layer whose ReLU it applies, by the layer's path.
  private let activations: [ParameterPath: Int]
  private let store: ParameterStore
  /// The weights and biases of convolutions with their BatchNorm folded in, by the path of the
  /// convolution's weight or bias; empty in plans with gradients.
  private let foldedParameters: [ParameterPath: PlanParameter]
  /// Memory the steps use during one step only (a sparse convolution's im2col matrix), shared
  /// by all of them since one step runs at a time.
  private var scratch = UnsafeMutableBufferPointer<Float>.zeros(0)

  /// - Parameters:
  ///   - gradients: allocate what the backward pass needs.
  ///   - maskAll: give every weight a mask buffer, so masks can be adopted later
  ///     (`adoptMasks(of:)`).
  ///   - seed: seeds the random steps (Dropout).
  convenience init(
    module: Module, inputShape: [Int], store: ParameterStore, capacity: Int, gradients needsBackward: Bool,
    maskAll: Bool = false, seed: UInt64 = 0
  ) {
    self.init(
      module: module, inputShape: inputShape, store: store, capacity: capacity, gradients: needsBackward,
      seed: seed, makeParameter: { PlanParameter($0, gradient: needsBackward, maskAll: maskAll) },
      makeFolded: { _, fold in fold() })
  }

  /// A plan for another batch size over `other`'s parameter buffers, without gradients.
  convenience init(sharingParametersOf other: ExecutionPlan, capacity: Int) {
    let shared = Dictionary(uniqueKeysWithValues: other.parameters.map { ($0.path, $0) })
    self.init(
      module: other.module, inputShape: other.inputShape, store: other.store, capacity: capacity, gradients: false,
      seed: 0, makeParameter: { parameter in
        guard let buffers = shared[parameter.path] else { preconditionFailure("no \(parameter.path) to share") }
        return buffers
      },
      makeFolded: { path, _ in
        guard let buffers = other.foldedParameters[path] else { preconditionFailure("no folded \(path) to share") }
        return buffers
      })
  }

  private init(
    module: Module, inputShape: [Int], store: ParameterStore, capacity: Int, gradients needsBackward: Bool,
    seed: UInt64, makeParameter: @escaping (Parameter) -> PlanParameter,
    makeFolded: @escaping (ParameterPath, () -> PlanParameter) -> PlanParameter
  ) {
    var compiler = PlanCompiler(
      store: store, seed: seed, foldsBatchNorm: !needsBackward, makeParameter: makeParameter, makeFolded: makeFolded)
    let logits = compiler.compile(module, at: .root, input: PlanCompiler.Handle(value: 0, shape: inputShape))
    self.module = module
    self.inputShape = inputShape
    self.capacity = capacity
    self.store = store
    valueFeatures = compiler.shapes.map { $0.reduce(1, *) }
    output = logits.value
    parameters = compiler.parameters
    foldedParameters = compiler.foldedParameters
    steps = compiler.steps
    weightedSteps = compiler.steps.compactMap { $0 as? any WeightedStep }
    activations = compiler.activations
    values = valueFeatures.map { .zeros($0 * capacity) }
    // A value needs a gradient when a trained parameter lies upstream of it.
    var upstream = [Bool](repeating: false, count: valueFeatures.count)
    for step in steps {
      upstream[step.output] = step.hasTrainedParameters || step.inputs.contains { upstream[$0] }
    }
    gradients = zip(valueFeatures, upstream).map { features, needed in
      needsBackward && needed ? .zeros(features * capacity) : nil
    }
    // Reverse order: the step that reaches a value's gradient first overwrites it.
    var reached = [Bool](repeating: false, count: valueFeatures.count)
    for step in steps.reversed() {
      step.accumulatesInputGradients = step.inputs.map { input in
        defer { reached[input] = true }
        return reached[input]
      }
    }
  }

  /// A plan for `model`'s modules and tensors.
  convenience init(model: Model, capacity: Int, gradients: Bool, maskAll: Bool = false, seed: UInt64 = 0) {
    self.init(
      module: model.module, inputShape: model.inputShape, store: model.parameters, capacity: capacity,
      gradients: gradients, maskAll: maskAll, seed: seed)
  }

  deinit {
    for buffer in values { buffer.deallocate() }
    for buffer in gradients { buffer?.deallocate() }
    scratch.deallocate()
  }

  /// The input batch, `[inputFeatures, n]`.
  var input: UnsafeMutablePointer<Float> { values[0].baseAddress! }
  /// The logits after `forward`, `[classes, n]`.
  var logits: UnsafeMutablePointer<Float> { values[output].baseAddress! }
  /// Where the loss writes its gradient with respect to the logits before `backward`.
  var logitsGradient: UnsafeMutablePointer<Float> { gradients[output]!.baseAddress! }
  var classCount: Int { valueFeatures[output] }

  /// Runs every step on the first `n` samples of `input`, rows `n` apart.
  func forward(count n: Int, mode: Mode, threads: Int) {
    precondition(n <= capacity, "\(n) samples for a plan of \(capacity)")
    for step in steps { step.forward(pass(count: n, threads: threads, mode: mode)) }
  }

  /// The backward pass after a `forward` in `mode`, from the loss gradient in `logitsGradient`:
  /// every trained parameter's `gradient` is overwritten.
  func backward(count n: Int, mode: Mode, threads: Int) {
    let pass = pass(count: n, threads: threads, mode: mode)
    for step in steps.reversed() { step.backward(pass) }
  }

  private func pass(count n: Int, threads: Int, mode: Mode) -> PlanPass {
    PlanPass(
      count: n, threads: threads, mode: mode, values: values, gradients: gradients, scratch: scratch.baseAddress!)
  }

  /// Has the weighted step at `position` of `weightedSteps` run inference on these sparse forms
  /// (nil for the dense kernels), and sizes the scratch memory for it.
  func useSparse(_ position: Int, batch: SparseMatrix?, single: SparseMatrix?) {
    let step = weightedSteps[position]
    step.useSparse(batch: batch, single: single)
    let needed = step.scratchCount(capacity: capacity)
    guard needed > scratch.count else { return }
    scratch.deallocate()
    scratch = .zeros(needed)
  }

  /// Runs only the weighted step at `position` of `weightedSteps` on the `n` samples its input
  /// holds, in inference: for timing one layer's kernels.
  func runWeightedStep(_ position: Int, count n: Int) {
    weightedSteps[position].forward(
      pass(count: n, threads: 1, mode: .inference))
  }

  /// Copies the first sample of every value of a pass over `n` samples into `other`, a plan of
  /// the same model, for a pass over one sample that sees what this plan's saw.
  func copyFirstSample(ofPassOver n: Int, into other: ExecutionPlan) {
    precondition(other.valueFeatures == valueFeatures, "plans of different models")
    for (value, features) in valueFeatures.enumerated() {
      let source = values[value].baseAddress!
      let target = other.values[value].baseAddress!
      for feature in 0..<features { target[feature] = source[feature * n] }
    }
  }

  /// The value a weighted layer's fused ReLU writes, `[outputs · positions, n]`, its gradient
  /// after `backward` (taken before the ReLU: zero where the output is) and its features per
  /// sample; nil when no ReLU follows the layer directly.
  func activation(of layer: ParameterPath)
    -> (value: UnsafePointer<Float>, gradient: UnsafePointer<Float>?, features: Int)?
  {
    guard let value = activations[layer] else { return nil }
    return (
      UnsafePointer(values[value].baseAddress!), gradients[value].map { UnsafePointer($0.baseAddress!) },
      valueFeatures[value]
    )
  }

  /// The plan's parameter at `path`.
  func parameter(_ path: ParameterPath) -> PlanParameter? {
    parameters.first { $0.path == path }
  }

  /// The parameters as they are now, as a store: a weight that had no mask keeps none unless
  /// one of its weights has been pruned since.
  func parameterStore() -> ParameterStore {
    var result = store
    for parameter in parameters {
      guard let original = store[parameter.path] else { continue }
      result.update(parameter.exported(original: original))
    }
    return result
  }

  /// Adopts the masks of `masks` (the same layout), zeroing the weights they prune: used when a
  /// schedule prunes during training.
  func adoptMasks(of masks: ParameterStore) {
    for parameter in parameters {
      guard let mask = masks[parameter.path]?.mask, let target = parameter.mask else { continue }
      for index in mask.indices {
        target[index] = Float(mask[index])
        if mask[index] == 0 { parameter.value[index] = 0 }
      }
    }
  }
}
