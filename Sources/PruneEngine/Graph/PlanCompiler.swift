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
  /// Tokens per sequence of the language model being compiled, which attention reads.
  private var sequenceLength: Int?

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

    case .gpt(let shape):
      let transformer = path.appending("transformer")
      // One buffer for the token table: the embedding reads it and the tied output layer too.
      let tokens = parameter("weight", of: transformer.appending("wte"), shape: [shape.vocabulary, shape.width])
      let positions = parameter("weight", of: transformer.appending("wpe"), shape: [shape.context, shape.width])
      sequenceLength = shape.context
      var current = newValue([shape.width])
      steps.append(
        EmbeddingStep(
          input: input.value, output: current.value, tokens: tokens, positions: positions, width: shape.width,
          context: shape.context))
      let blocks = transformer.appending("h")
      for layer in 0..<shape.layers {
        current = compile(
          .transformerBlock(width: shape.width, heads: shape.heads), at: blocks.appending(String(layer)), input: current)
      }
      current = compile(
        .layerNorm(width: shape.width, epsilon: GPT.layerNormEpsilon), at: transformer.appending("ln_f"), input: current)
      let logits = newValue([shape.vocabulary])
      steps.append(TiedOutputStep(input: current.value, output: logits.value, table: tokens, width: shape.width))
      return logits

    case .transformerBlock:
      let children = module.children
      let normalised = compile(children[0].module, at: path.appending(children[0].name), input: input)
      let attended = compile(children[1].module, at: path.appending(children[1].name), input: normalised)
      let middle = sum(input, attended)
      let normalisedAgain = compile(children[2].module, at: path.appending(children[2].name), input: middle)
      return sum(middle, compile(children[3].module, at: path.appending(children[3].name), input: normalisedAgain))

    case .causalSelfAttention(let width, let heads):
      guard let context = sequenceLength else { preconditionFailure("\(path): attention outside a language model") }
      let children = module.children
      let qkv = compile(children[0].module, at: path.appending(children[0].name), input: input)
      let attended = newValue([width])
      steps.append(
        CausalAttentionStep(input: qkv.value, output: attended.value, width: width, heads: heads, context: context))
      return compile(children[1].module, at: path.appending(children[1].name), input: attended)

    case .layerNorm(let width, let epsilon):
      precondition(input.shape == [width], "\(path) normalises \(width) features, not \(input.shape)")
      let result = newValue(input.shape)
      steps.append(
        LayerNormStep(
          input: input.value, output: result.value, width: width, epsilon: epsilon,
          scale: parameter("weight", of: path, shape: [width]), shift: parameter("bias", of: path, shape: [width])))
      return result

    case .gelu:
      let result = newValue(input.shape)
      steps.append(GELUStep(input: input.value, output: result.value, features: input.shape.reduce(1, *)))
      return result

    case .embedding, .container:
      preconditionFailure("\(path) runs only inside the model that holds it")

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
  /// A residual sum of two values of one shape.
  fileprivate mutating func sum(_ a: Handle, _ b: Handle) -> Handle {
    precondition(a.shape == b.shape, "a sum of \(a.shape) and \(b.shape)")
    let result = newValue(a.shape)
    steps.append(AddStep(inputs: [a.value, b.value], output: result.value, features: a.shape.reduce(1, *)))
    return result
  }

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
