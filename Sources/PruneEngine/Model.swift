/// One step of a feed-forward network, numbered as in PyTorch's `nn.Sequential`.
public enum Layer: Sendable, Equatable {
  /// `nn.Linear` or `nn.Conv2d`.
  case weighted(WeightedLayer)
  case relu
  /// `nn.MaxPool2d(size)`: the maximum of each `size`x`size` window, stride `size`.
  case maxPool(size: Int)
  /// `nn.Flatten()`: `[channels, height, width]` to `[channels · height · width]`, channel-major.
  case flatten
}

/// A classifier: a module tree ending in logits, trained with softmax cross-entropy, and its
/// tensors by path.
///
/// A model built from layers is an `nn.Sequential`: layer `i` owns the parameters `i.weight`
/// and `i.bias`, exactly as its state dict names them, so checkpoints, masks, reports and the UI
/// share those names.
public struct Model: Sendable, Equatable {
  /// The modules, named as PyTorch names the equivalent `nn.Module`.
  public private(set) var module: Module
  /// Every tensor by path; a pruned weight carries its mask, and its pruned entries are zero.
  public private(set) var parameters: ParameterStore
  /// `[features]` for a flat input, `[channels, height, width]` for images.
  public var inputShape: [Int]

  /// A model over a module tree and its tensors, which must be exactly the tree's parameters
  /// with their shapes, in order.
  public init(module: Module, parameters: ParameterStore, inputShape: [Int]) {
    let expected = module.parameterShapes()
    precondition(
      expected.map(\.path) == parameters.paths && zip(expected, parameters.parameters).allSatisfy { $0.shape == $1.value.shape },
      "the parameters do not fit the modules")
    self.module = module
    self.parameters = parameters
    self.inputShape = inputShape
  }

  /// An `nn.Sequential` over given layers, which must fit `inputShape` (by default the first
  /// layer's inputs, for a model that starts with a Linear layer).
  public init(layers: [Layer], inputShape: [Int]? = nil) {
    let first = layers.lazy.compactMap { layer -> WeightedLayer? in
      if case .weighted(let weighted) = layer { weighted } else { nil }
    }.first
    var children: [Module.Child] = []
    var parameters: [Parameter] = []
    for (index, layer) in layers.enumerated() {
      let name = String(index)
      switch layer {
      case .weighted(let weighted):
        let path = ParameterPath.root.appending(name)
        children.append(Module.Child(name, weighted.module))
        parameters.append(Parameter(path: path.appending("weight"), role: .weight, tensor: weighted.weight, mask: weighted.mask))
        parameters.append(Parameter(path: path.appending("bias"), role: .bias, tensor: weighted.bias))
      case .relu: children.append(Module.Child(name, .relu))
      case .maxPool(let size): children.append(Module.Child(name, .maxPool(size: size)))
      case .flatten: children.append(Module.Child(name, .flatten))
      }
    }
    self.init(
      module: .sequential(children), parameters: ParameterStore(parameters),
      inputShape: inputShape ?? [first?.inputCount ?? 0])
  }

  /// A freshly initialised model of any module tree on inputs of `inputShape`: Linear and
  /// Conv2d weights He-normal (`N(0, 2 / fan-in)`, He et al. 2015) and biases zero, as
  /// `WeightedLayer` initialises them; BatchNorm as PyTorch does (γ 1, β 0, running mean 0,
  /// running variance 1, no batch tracked yet).
  public init(module: Module, inputShape: [Int], generator: inout SeededGenerator) {
    let parameters = module.parameterShapes().map { path, role, shape -> Parameter in
      let count = shape.reduce(1, *)
      switch (role, path.name) {
      case (.weight, _):
        let deviation = (2 / Float(shape.dropFirst().reduce(1, *))).squareRoot()
        let scalars = (0..<count).map { _ in generator.nextNormal() * deviation }
        return Parameter(path: path, role: role, tensor: Tensor(shape: shape, scalars: scalars))
      case (.buffer, "num_batches_tracked"):
        return Parameter(path: path, role: role, value: .int64(shape: shape, scalars: [Int64](repeating: 0, count: count)))
      case (.buffer, "running_var"), (.scale, _):
        return Parameter(path: path, role: role, tensor: Tensor(shape: shape, repeating: 1))
      default:
        return Parameter(path: path, role: role, tensor: Tensor(shape: shape))
      }
    }
    self.init(module: module, parameters: ParameterStore(parameters), inputShape: inputShape)
  }

  /// A freshly initialised model of an architecture, which must be valid (`shapes()` succeeds).
  public init(architecture: Architecture, generator: inout SeededGenerator) {
    if let shape = architecture.languageModel {
      self = GPT.initialModel(shape, generator: &generator)
      return
    }
    guard architecture.isSequential else {
      self.init(module: architecture.module, inputShape: architecture.inputShape, generator: &generator)
      return
    }
    guard let shapes = try? architecture.shapes() else { preconditionFailure("invalid architecture \(architecture)") }
    let inputShapes = [architecture.inputShape] + shapes.dropLast()
    var layers: [Layer] = []
    for (step, input) in zip(architecture.steps, inputShapes) {
      switch step {
      case .linear(let outputs):
        layers.append(.weighted(WeightedLayer(inputCount: input[0], outputCount: outputs, generator: &generator)))
      case .conv(let filters, let kernel, let stride, let padding):
        let shape = [filters, input[0], kernel, kernel]
        layers.append(.weighted(WeightedLayer(kind: .conv(stride: stride, padding: padding), shape: shape, generator: &generator)))
      case .relu: layers.append(.relu)
      case .maxPool(let size): layers.append(.maxPool(size: size))
      case .flatten: layers.append(.flatten)
      }
    }
    self.init(layers: layers, inputShape: architecture.inputShape)
  }

  /// Whether the model is an `nn.Sequential` of Linear, Conv2d, ReLU, MaxPool2d and Flatten
  /// layers numbered from 0 (`mlp:`, `cnn:`), which `layers` describes.
  public var isSequential: Bool {
    guard case .sequential(let children) = module else { return false }
    return children.enumerated().allSatisfy { index, child in
      guard child.name == String(index) else { return false }
      switch child.module {
      case .linear, .conv2d(_, _, _, _, _, true), .relu, .maxPool, .flatten: return true
      default: return false
      }
    }
  }

  /// The layers of an `nn.Sequential` model (`isSequential`), in order: the Sequential layout
  /// of the tree. Setting them replaces the model's modules and tensors.
  public var layers: [Layer] {
    get {
      guard isSequential, case .sequential(let children) = module else { preconditionFailure("not a Sequential model") }
      return children.map { child in
        switch child.module {
        case .linear, .conv2d:
          guard let weighted = weightedLayer(at: ParameterPath.root.appending(child.name)) else {
            preconditionFailure("no parameters for layer \(child.name)")
          }
          return .weighted(weighted)
        case .relu: return .relu
        case .maxPool(let size): return .maxPool(size: size)
        case .flatten: return .flatten
        default: preconditionFailure("\(child.name) is not a Sequential layer")
        }
      }
    }
    set { self = Model(layers: newValue, inputShape: inputShape) }
  }

  /// The architecture the model has: its Sequential layers, or the residual network its
  /// modules are.
  public var architecture: Architecture {
    if case .gpt(let shape) = module { return Architecture(gpt: shape) }
    if !isSequential, let resnet = ResNet.architecture(of: module, inputShape: inputShape) { return resnet }
    return Architecture(
      inputShape: inputShape,
      steps: layers.map { layer in
        switch layer {
        case .weighted(let weighted):
          switch weighted.kind {
          case .linear: .linear(outputs: weighted.outputCount)
          case .conv(let stride, let padding):
            .conv(filters: weighted.outputCount, kernel: weighted.weight.shape[2], stride: stride, padding: padding)
          }
        case .relu: .relu
        case .maxPool(let size): .maxPool(size: size)
        case .flatten: .flatten
        }
      })
  }

  /// The weighted (Linear and Conv2d) layers in module order, by the path of their module
  /// (`0`, `2`, ... in a Sequential model).
  public var weightedLayers: [(path: ParameterPath, layer: WeightedLayer)] {
    weightedPaths(of: module, at: .root).compactMap { path in weightedLayer(at: path).map { (path, $0) } }
  }

  /// The weighted layer whose module is at `path`; nil when there is none. A convolution
  /// without a bias (one BatchNorm follows) shows a bias of zeros.
  public func weightedLayer(at path: ParameterPath) -> WeightedLayer? {
    guard let kind = weightedKind(at: path), let weight = parameters[path.appending("weight")],
      let weights = weight.tensor
    else { return nil }
    let biases = parameters[path.appending("bias")]?.tensor ?? Tensor(shape: [weights.shape[0]])
    return WeightedLayer(kind: kind, weight: weights, bias: biases, zeroedMask: weight.mask)
  }

  /// Replaces the weights, bias and mask of the weighted layer at `path`, keeping its shapes
  /// (a layer without a bias keeps none).
  public mutating func replaceWeightedLayer(at path: ParameterPath, with layer: WeightedLayer) {
    guard let weight = parameters[path.appending("weight")], weight.value.shape == layer.weight.shape else {
      preconditionFailure("no weighted layer at \(path) of shape \(layer.weight.shape)")
    }
    parameters.update(Parameter(path: weight.path, role: .weight, tensor: layer.weight, mask: layer.mask))
    if parameters[path.appending("bias")] != nil {
      parameters.update(Parameter(path: path.appending("bias"), role: .bias, tensor: layer.bias))
    }
  }

  /// Replaces the parameter at `parameter.path`, which must exist with the same shape; a mask's
  /// pruned entries are zeroed.
  mutating func updateParameter(_ parameter: Parameter) {
    var parameter = parameter
    if let mask = parameter.mask, case .float32(var tensor) = parameter.value {
      for index in mask.indices where mask[index] == 0 { tensor.scalars[index] = 0 }
      parameter.value = .float32(tensor)
    }
    parameters.update(parameter)
  }

  /// The position in `layers` of the Sequential layer at `path`; nil when there is none.
  public func position(of path: ParameterPath) -> Int? {
    guard case .sequential(let children) = module else { return nil }
    return children.firstIndex { $0.name == path.description }
  }

  /// The path of the Sequential layer at `position` in `layers`.
  public func sequentialPath(_ position: Int) -> ParameterPath {
    guard case .sequential(let children) = module, children.indices.contains(position) else {
      preconditionFailure("no Sequential layer \(position)")
    }
    return ParameterPath.root.appending(children[position].name)
  }

  /// Number of input features.
  public var inputCount: Int { inputShape.reduce(1, *) }
  /// Number of output classes.
  public var classCount: Int {
    if case .gpt(let shape) = module { return shape.vocabulary }
    return weightedLayers.last?.layer.outputCount ?? 0
  }

  /// The language model's shape; nil for an image classifier.
  public var languageModel: GPT.Shape? {
    if case .gpt(let shape) = module { shape } else { nil }
  }

  /// Whether any layer is a convolution.
  public var hasConvolutions: Bool { weightedLayers.contains { $0.layer.isConvolution } }

  /// Every fp32 tensor by its state-dict name (`0.weight`, `0.bias`, `2.weight`, ...).
  public var namedParameters: [(name: String, tensor: Tensor)] {
    parameters.parameters.compactMap { parameter in parameter.tensor.map { (parameter.path.description, $0) } }
  }

  /// Total number of trained parameters, biases included, buffers (BatchNorm's running
  /// statistics) not: what `sum(p.numel() for p in model.parameters())` counts.
  public var parameterCount: Int {
    parameters.parameters.reduce(0) { $0 + ($1.role == .buffer ? 0 : $1.value.count) }
  }

  private func weightedPaths(of module: Module, at path: ParameterPath) -> [ParameterPath] {
    switch module {
    case .linear, .conv2d: [path]
    default: module.children.flatMap { weightedPaths(of: $0.module, at: path.appending($0.name)) }
    }
  }

  private func weightedKind(at path: ParameterPath) -> WeightedLayer.Kind? {
    var current = module
    for component in path.components {
      guard let child = current.children.first(where: { $0.name == component }) else { return nil }
      current = child.module
    }
    switch current {
    case .linear: return .linear
    case .conv2d(_, _, _, let stride, let padding, _): return .conv(stride: stride, padding: padding)
    default: return nil
    }
  }
}
