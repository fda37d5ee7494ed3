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

/// One parameter's buffers in a plan.
final class PlanParameter {
  let path: ParameterPath
  let role: Parameter.Role
  /// The fp32 scalars; an I64 buffer's are in `counts`, and this is empty.
  let value: UnsafeMutableBufferPointer<Float>
  /// An I64 buffer's scalars (BatchNorm's batch count).
  let counts: UnsafeMutableBufferPointer<Int64>
  /// The loss gradient after `backward`; nil for buffers and in plans without gradients.
  let gradient: UnsafeMutableBufferPointer<Float>?
  /// 1 where a weight is kept and 0 where it is pruned, as floats so updates can multiply by it.
  let mask: UnsafeMutableBufferPointer<Float>?

  init(_ parameter: Parameter, gradient: Bool, maskAll: Bool) {
    path = parameter.path
    role = parameter.role
    switch parameter.value {
    case .float32(let tensor):
      value = .copy(tensor.scalars)
      counts = .allocate(capacity: 0)
    case .int64(_, let scalars):
      value = .allocate(capacity: 0)
      counts = .allocate(capacity: scalars.count)
      _ = counts.initialize(from: scalars)
    }
    self.gradient = gradient && parameter.role != .buffer ? .zeros(value.count) : nil
    let keep = parameter.mask ?? (maskAll && parameter.role == .weight ? [UInt8](repeating: 1, count: value.count) : nil)
    mask = keep.map { .copy($0.map(Float.init)) }
  }

  /// Buffers derived from other parameters (a convolution's weights with a BatchNorm folded in),
  /// with no gradient and no mask.
  init(path: ParameterPath, role: Parameter.Role, values: [Float]) {
    self.path = path
    self.role = role
    value = .copy(values)
    counts = .allocate(capacity: 0)
    gradient = nil
    mask = nil
  }

  deinit {
    value.deallocate()
    counts.deallocate()
    gradient?.deallocate()
    mask?.deallocate()
  }

  /// The parameter as it is now, with `original`'s shape.
  func exported(original: Parameter) -> Parameter {
    let mask: [UInt8]? = self.mask.map { buffer in buffer.map { $0 != 0 ? 1 : 0 } }
    let keptMask = original.mask == nil && mask?.contains(0) != true ? nil : mask
    switch original.value {
    case .float32(let tensor):
      return Parameter(
        path: path, role: role, tensor: Tensor(shape: tensor.shape, scalars: Array(value)), mask: keptMask)
    case .int64(let shape, _):
      return Parameter(path: path, role: role, value: .int64(shape: shape, scalars: Array(counts)))
    }
  }
}

/// What every step sees of a pass.
struct PlanPass {
  /// Samples in the batch; every value's rows are `count` apart.
  let count: Int
  let threads: Int
  let mode: ExecutionPlan.Mode
  let values: [UnsafeMutableBufferPointer<Float>]
  let gradients: [UnsafeMutableBufferPointer<Float>?]
  /// The plan's scratch memory, as large as the steps asked for (`scratchCount`).
  let scratch: UnsafeMutablePointer<Float>

  func value(_ index: Int) -> UnsafeMutablePointer<Float> { values[index].baseAddress! }
  /// The gradient of value `index`; nil when nothing upstream is trained.
  func gradient(_ index: Int) -> UnsafeMutablePointer<Float>? { gradients[index]?.baseAddress }
}

/// One step of a plan: an op on its input values, writing its output value.
///
/// `backward` receives the gradient of its output and writes (or, where
/// `accumulatesInputGradients` says so, adds) the gradients of its inputs that have one, and
/// overwrites the gradients of its own trained parameters.
protocol PlanStep: AnyObject {
  var inputs: [Int] { get }
  var output: Int { get }
  var hasTrainedParameters: Bool { get }
  /// Per input, whether its gradient already holds another step's share (set by the plan).
  var accumulatesInputGradients: [Bool] { get set }
  func forward(_ pass: PlanPass)
  func backward(_ pass: PlanPass)
}

/// A Linear or Conv2d step, whose inference kernels the evaluator chooses.
protocol WeightedStep: PlanStep {
  /// The path of its module.
  var path: ParameterPath { get }
  var weight: PlanParameter { get }
  var bias: PlanParameter? { get }
  /// The convolution's sizes; nil for a Linear step.
  var convolution: ConvolutionKernels.Geometry? { get }
  /// The weight as a matrix: one row per neuron or filter, `columns` weights each.
  var rows: Int { get }
  var columns: Int { get }
  /// Runs inference on these sparse forms of the weight instead of the dense kernels: `batch`
  /// on batches, `single` on single samples (a convolution runs its batch kernel on a single
  /// sample, so it reads only `batch`). Both give the dense kernels' bits on batches.
  /// Set through `ExecutionPlan.useSparse`, which sizes the scratch memory.
  func useSparse(batch: SparseMatrix?, single: SparseMatrix?)
  /// Floats of the plan's scratch memory a pass over `capacity` samples needs.
  func scratchCount(capacity: Int) -> Int
}

/// Walks a module tree, allocating values and parameters and emitting steps in order.
struct PlanCompiler {
  /// A value with its shape during compilation.
  struct Handle {
    var value: Int
    var shape: [Int]
  }

  let store: ParameterStore
  /// The plan's buffers for a parameter of the store.
  let makeParameter: (Parameter) -> PlanParameter
  /// The plan's buffers for a folded parameter at a path: the result of the closure it is
  /// given, or another plan's buffers for the same path.
  let makeFolded: (ParameterPath, () -> PlanParameter) -> PlanParameter
  /// Seeds the plan's random steps (Dropout), each from its own stream.
  let seed: UInt64
  /// Whether a BatchNorm after a Conv2d is folded into it (inference-only plans).
  let foldsBatchNorm: Bool
  /// Per value, `[features]` or `[channels, height, width]`; value 0 is the input.
  private(set) var shapes: [[Int]] = []
  private(set) var steps: [any PlanStep] = []
  private(set) var parameters: [PlanParameter] = []
  private(set) var activations: [ParameterPath: Int] = [:]
  private(set) var foldedParameters: [ParameterPath: PlanParameter] = [:]

  init(
    store: ParameterStore, seed: UInt64, foldsBatchNorm: Bool, makeParameter: @escaping (Parameter) -> PlanParameter,
    makeFolded: @escaping (ParameterPath, () -> PlanParameter) -> PlanParameter
  ) {
    self.store = store
    self.seed = seed
    self.foldsBatchNorm = foldsBatchNorm
    self.makeParameter = makeParameter
    self.makeFolded = makeFolded
  }

  mutating func compile(_ module: Module, at path: ParameterPath, input: Handle) -> Handle {
    compile(module, at: path, input: input, fusingReLU: false)
  }

  private mutating func newValue(_ shape: [Int]) -> Handle {
    shapes.append(shape)
    return Handle(value: shapes.count - 1, shape: shape)
  }

  /// The parameter `name` of the module at `path`, which the store must hold with `shape`.
  private mutating func parameter(_ name: String, of path: ParameterPath, shape: [Int]) -> PlanParameter {
    let full = path.appending(name)
    guard let stored = store[full], stored.value.shape == shape else {
      preconditionFailure("the store has no \(full) of shape \(shape)")
    }
    let parameter = makeParameter(stored)
    parameters.append(parameter)
    return parameter
  }

  private mutating func compile(_ module: Module, at path: ParameterPath, input: Handle, fusingReLU relu: Bool)
    -> Handle
  {
    if shapes.isEmpty { shapes.append(input.shape) }
    switch module {
    case .linear(let inputs, let outputs):
      precondition(input.shape.reduce(1, *) == inputs, "\(path) takes \(inputs) inputs, not \(input.shape)")
      let weight = parameter("weight", of: path, shape: [outputs, inputs])
      let bias = parameter("bias", of: path, shape: [outputs])
      let result = newValue([outputs])
      steps.append(
        LinearStep(path: path, input: input.value, output: result.value, weight: weight, bias: bias, relu: relu))
      if relu { activations[path] = result.value }
      return result

    case .conv2d(let channels, let filters, let kernel, let stride, let padding, let hasBias):
      precondition(input.shape.count == 3 && input.shape[0] == channels, "\(path) does not fit its input \(input.shape)")
      let geometry = ConvolutionKernels.Geometry(
        channels: channels, height: input.shape[1], width: input.shape[2], kernelHeight: kernel,
        kernelWidth: kernel, stride: stride, padding: padding)
      let weight = parameter("weight", of: path, shape: [filters, channels, kernel, kernel])
      let bias = hasBias ? parameter("bias", of: path, shape: [filters]) : nil
      let result = newValue([filters, geometry.outputHeight, geometry.outputWidth])
      steps.append(
        Conv2dStep(
          path: path, input: input.value, output: result.value, geometry: geometry, weight: weight, bias: bias,
          relu: relu))
      if relu { activations[path] = result.value }
      return result

    case .batchNorm(let features):
      precondition(input.shape[0] == features, "\(path) normalises \(features) features, not \(input.shape)")
      let result = newValue(input.shape)
      steps.append(
        BatchNormStep(
          input: input.value, output: result.value, features: features,
          positions: input.shape.dropFirst().reduce(1, *),
          scale: parameter("weight", of: path, shape: [features]), shift: parameter("bias", of: path, shape: [features]),
          runningMean: parameter("running_mean", of: path, shape: [features]),
          runningVariance: parameter("running_var", of: path, shape: [features]),
          batchesTracked: parameter("num_batches_tracked", of: path, shape: []), relu: relu))
      return result

    case .relu:
      let result = newValue(input.shape)
      steps.append(ReLUStep(input: input.value, output: result.value, features: input.shape.reduce(1, *)))
      return result

    case .maxPool(let size), .averagePool(let size):
      precondition(input.shape.count == 3, "\(path) pools images, not \(input.shape)")
      let pool = ConvolutionKernels.Pool(channels: input.shape[0], height: input.shape[1], width: input.shape[2], size: size)
      let result = newValue([pool.channels, pool.outputHeight, pool.outputWidth])
      if case .maxPool = module {
        steps.append(MaxPool2dStep(input: input.value, output: result.value, pool: pool))
      } else {
        steps.append(
          AveragePool2dStep(
            input: input.value, output: result.value, channels: pool.channels, height: pool.height,
            width: pool.width, windowHeight: size, windowWidth: size))
      }
      return result

    case .globalAveragePool:
      precondition(input.shape.count == 3, "\(path) pools images, not \(input.shape)")
      let result = newValue([input.shape[0], 1, 1])
      steps.append(
        AveragePool2dStep(
          input: input.value, output: result.value, channels: input.shape[0], height: input.shape[1],
          width: input.shape[2], windowHeight: input.shape[1], windowWidth: input.shape[2]))
      return result

    case .flatten:
      return Handle(value: input.value, shape: [input.shape.reduce(1, *)])

    case .dropout(let probability):
      let result = newValue(input.shape)
      steps.append(
        DropoutStep(
          input: input.value, output: result.value, features: input.shape.reduce(1, *), probability: probability,
          seed: seed &+ UInt64(steps.count)))
      return result

    case .sequential(let children):
      var current = input
      var index = 0
      while index < children.count {
        let child = children[index]
        let followedBy = { (offset: Int) in index + offset < children.count ? children[index + offset].module : nil }
        if foldsBatchNorm, case .conv2d = child.module, case .batchNorm = followedBy(1) {
          let fuses = followedBy(2) == .relu
          current = compileFolded(
            conv: child.module, at: path.appending(child.name), batchNormAt: path.appending(children[index + 1].name),
            input: current, fusingReLU: fuses)
          index += fuses ? 3 : 2
          continue
        }
        let fuses = child.module.fusesReLU && followedBy(1) == .relu
        current = compile(child.module, at: path.appending(child.name), input: current, fusingReLU: fuses)
        index += fuses ? 2 : 1
      }
      return current

    case .residual(let body, let shortcut, let relu):
      let main = compile(.sequential(body), at: path, input: input)
      let side = shortcut.map { compile($0.module, at: path.appending($0.name), input: input) } ?? input
      precondition(main.shape == side.shape, "\(path): the body gives \(main.shape), the shortcut \(side.shape)")
      let sum = newValue(main.shape)
      steps.append(
        AddStep(inputs: [main.value, side.value], output: sum.value, features: main.shape.reduce(1, *), relu: relu))
      return sum
    }
  }
}

extension PlanCompiler {
  /// A Conv2d and the BatchNorm after it as one convolution (`FoldedBatchNorm`), with the ReLU
  /// after the BatchNorm when `relu`. The layers' own parameters are still read into the plan,
  /// so it exports them unchanged; the step runs on folded copies of them.
  fileprivate mutating func compileFolded(
    conv: Module, at path: ParameterPath, batchNormAt normPath: ParameterPath, input: Handle, fusingReLU relu: Bool
  ) -> Handle {
    guard case .conv2d(let channels, let filters, let kernel, let stride, let padding, let hasBias) = conv else {
      preconditionFailure("\(path) is not a convolution")
    }
    precondition(input.shape.count == 3 && input.shape[0] == channels, "\(path) does not fit its input \(input.shape)")
    let geometry = ConvolutionKernels.Geometry(
      channels: channels, height: input.shape[1], width: input.shape[2], kernelHeight: kernel,
      kernelWidth: kernel, stride: stride, padding: padding)
    let weight = parameter("weight", of: path, shape: [filters, channels, kernel, kernel])
    let bias = hasBias ? parameter("bias", of: path, shape: [filters]) : nil
    let fold = FoldedBatchNorm(
      scale: parameter("weight", of: normPath, shape: [filters]), shift: parameter("bias", of: normPath, shape: [filters]),
      runningMean: parameter("running_mean", of: normPath, shape: [filters]),
      runningVariance: parameter("running_var", of: normPath, shape: [filters]))
    _ = parameter("num_batches_tracked", of: normPath, shape: [])
    let weightPath = path.appending("weight")
    let biasPath = path.appending("bias")
    let foldedWeight = makeFolded(weightPath) {
      PlanParameter(path: weightPath, role: .weight, values: fold.weights(weight))
    }
    let foldedBias = makeFolded(biasPath) {
      PlanParameter(path: biasPath, role: .bias, values: fold.bias(bias))
    }
    foldedParameters[weightPath] = foldedWeight
    foldedParameters[biasPath] = foldedBias
    let result = newValue([filters, geometry.outputHeight, geometry.outputWidth])
    steps.append(
      Conv2dStep(
        path: path, input: input.value, output: result.value, geometry: geometry, weight: foldedWeight,
        bias: foldedBias, relu: relu, foldsBatchNorm: true))
    return result
  }
}

extension Module {
  /// Whether the module's step can apply a ReLU that follows it: a layer with a bias, whose
  /// GEMM epilogue adds the bias and clamps in one pass, or a BatchNorm, which clamps as it
  /// writes.
  fileprivate var fusesReLU: Bool {
    switch self {
    case .linear, .batchNorm: true
    case .conv2d(_, _, _, _, _, let bias): bias
    default: false
    }
  }
}
