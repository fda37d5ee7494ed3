/// Memory that work on a network of this architecture needs, computed from the shapes alone.
///
/// Swift stops the process when an allocation fails, so work too large for the machine must be
/// refused before anything is allocated (`MemoryBudget.check`). The figures are upper bounds
/// of the peak, in bytes, saturating at `Int.max` for shapes whose sizes overflow.
extension Architecture {
  /// Weights and biases of every layer.
  public var parameterCount: Int {
    layerSizes.reduce(0) { $0.addingSaturating($1.parameters) }
  }

  /// Bytes to train on batches of `batchSize` with `optimizer`: the model before and after
  /// training, the working copy of the weights, float masks, gradients and the optimizer's
  /// state (one copy for SGD's momentum, two for Adam's moments), plus each layer's output and
  /// its gradient for a batch. Evaluating afterwards needs less than this.
  public func trainingMemory(batchSize: Int, optimizer: OptimizerKind) -> Int {
    let optimizerCopies = if case .adam = optimizer { 2 } else { 1 }
    let parameterBytes = parameterCount.multipliedSaturating(by: MemoryLayout<Float>.size)
    let activationBytes = activationFeatures.multipliedSaturating(by: 2).multipliedSaturating(by: batchSize)
      .multipliedSaturating(by: MemoryLayout<Float>.size)
    return parameterBytes.multipliedSaturating(by: 5 + optimizerCopies).addingSaturating(activationBytes)
  }

  /// Bytes to evaluate with `threads` threads: the evaluator's copy of the weights, their float
  /// masks and at most one sparse form (values and column indices), plus per thread the
  /// activations of one chunk of `Evaluator.chunkSize` samples and an im2col matrix.
  public func evaluationMemory(threads: Int) -> Int {
    let parameterBytes = parameterCount.multipliedSaturating(by: MemoryLayout<Float>.size)
    let perSample = activationFeatures.addingSaturating(largestPatchMatrix)
    let workspaceBytes = perSample.multipliedSaturating(by: Evaluator.chunkSize)
      .multipliedSaturating(by: max(1, threads)).multipliedSaturating(by: MemoryLayout<Float>.size)
    return parameterBytes.multipliedSaturating(by: 4).addingSaturating(workspaceBytes)
  }

  /// Per layer, its parameter count and the features it outputs per sample; `[(Int.max, Int.max)]`
  /// for steps that cannot take their input (which `init(parsing:)` refuses).
  private var layerSizes: [(parameters: Int, outputs: Int)] {
    guard isSequential else { return moduleSizes }
    guard let shapes = try? shapes() else { return [(Int.max, Int.max)] }
    var input = inputShape
    var sizes: [(parameters: Int, outputs: Int)] = []
    for (step, output) in zip(steps, shapes) {
      let outputs = output.reduce(1) { $0.multipliedSaturating(by: $1) }
      switch step {
      case .linear(let width):
        let weights = input.reduce(1) { $0.multipliedSaturating(by: $1) }.multipliedSaturating(by: width)
        sizes.append((weights.addingSaturating(width), outputs))
      case .conv(let filters, let kernel, _, _):
        let weights = filters.multipliedSaturating(by: input[0]).multipliedSaturating(by: kernel * kernel)
        sizes.append((weights.addingSaturating(filters), outputs))
      case .maxPool:
        sizes.append((0, outputs))
      case .relu, .flatten:
        break
      }
      input = output
    }
    return sizes
  }

  /// The sizes of every module of a residual network but Flatten (which shares its input's
  /// memory): trained parameters (BatchNorm's γ and β among them, its buffers too small to
  /// count) and the features each step of the plan writes.
  private var moduleSizes: [(parameters: Int, outputs: Int)] {
    guard let leaves = try? module.leaves(input: inputShape).leaves else { return [(Int.max, Int.max)] }
    return leaves.compactMap { leaf in
      if case .flatten = leaf.module { return nil }
      let parameters = leaf.module.ownParameters.filter { $0.role != .buffer }.reduce(0) { total, parameter in
        total.addingSaturating(parameter.shape.reduce(1) { $0.multipliedSaturating(by: $1) })
      }
      let outputs = leaf.output.reduce(1) { $0.multipliedSaturating(by: $1) }
      // A residual sum writes its value, and its ReLU another.
      if case .residual(_, _, true) = leaf.module { return (parameters, outputs.multipliedSaturating(by: 2)) }
      return (parameters, outputs)
    }
  }

  /// Features per sample that the layers and pools output, the input included.
  private var activationFeatures: Int {
    layerSizes.reduce(inputCount) { $0.addingSaturating($1.outputs) }
  }

  /// Floats per sample of the largest im2col matrix (patch size times output pixels).
  private var largestPatchMatrix: Int {
    guard isSequential else {
      guard let leaves = try? module.leaves(input: inputShape).leaves else { return .max }
      return leaves.reduce(0) { largest, leaf in
        guard case .conv2d(let channels, _, let kernel, _, _, _) = leaf.module else { return largest }
        return max(largest, (channels * kernel * kernel).multipliedSaturating(by: leaf.output[1] * leaf.output[2]))
      }
    }
    guard let shapes = try? shapes() else { return .max }
    var input = inputShape
    var largest = 0
    for (step, output) in zip(steps, shapes) {
      if case .conv(_, let kernel, _, _) = step {
        let patch = input[0].multipliedSaturating(by: kernel * kernel)
        largest = max(largest, patch.multipliedSaturating(by: output[1]).multipliedSaturating(by: output[2]))
      }
      input = output
    }
    return largest
  }
}

extension Int {
  /// `self + other`, or `Int.max` when the sum overflows.
  public func addingSaturating(_ other: Int) -> Int {
    let (sum, overflow) = addingReportingOverflow(other)
    return overflow ? .max : sum
  }

  /// `self * other`, or `Int.max` when the product overflows (both are not negative).
  public func multipliedSaturating(by other: Int) -> Int {
    let (product, overflow) = multipliedReportingOverflow(by: other)
    return overflow ? .max : product
  }
}
