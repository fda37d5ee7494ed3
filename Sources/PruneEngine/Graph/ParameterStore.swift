/// One tensor of a model's state dict.
public struct Parameter: Sendable, Equatable {
  /// What the optimizer and pruning do with a parameter.
  public enum Role: Sendable, Equatable {
    /// Trained, and what pruning masks: a Linear or Conv2d weight.
    case weight
    /// Trained: a bias, or a BatchNorm shift (β). Masked only with its whole channel.
    case bias
    /// Trained: a BatchNorm scale (γ), one per channel. Masked only with its whole channel;
    /// network slimming penalises it (`TrainingOptions.l1BatchNorm`) and ranks channels by it.
    case scale
    /// Trained, never pruned or penalised: an embedding table, a LayerNorm's γ and β.
    case trained
    /// Kept with the model but not trained: BatchNorm's running statistics and batch count.
    case buffer
  }

  /// The values: every trained tensor is fp32; integer buffers keep their type, so a checkpoint
  /// written by PyTorch is written back as it was read.
  public enum Value: Sendable, Equatable {
    case float32(Tensor)
    /// An I64 tensor, row-major: BatchNorm's `num_batches_tracked` (shape `[]`).
    case int64(shape: [Int], scalars: [Int64])

    public var shape: [Int] {
      switch self {
      case .float32(let tensor): tensor.shape
      case .int64(let shape, _): shape
      }
    }

    /// Number of scalars.
    public var count: Int { shape.reduce(1, *) }
  }

  public var path: ParameterPath
  public var role: Role
  public var value: Value
  /// Which weights are kept (1) or pruned (0), one byte per scalar; nil when never pruned.
  public var mask: [UInt8]?

  public init(path: ParameterPath, role: Role, value: Value, mask: [UInt8]? = nil) {
    precondition(mask == nil || mask?.count == value.count, "mask of \(mask?.count ?? 0) entries for \(path)")
    self.path = path
    self.role = role
    self.value = value
    self.mask = mask
  }

  /// An fp32 parameter.
  public init(path: ParameterPath, role: Role, tensor: Tensor, mask: [UInt8]? = nil) {
    self.init(path: path, role: role, value: .float32(tensor), mask: mask)
  }

  /// The fp32 tensor; nil for an integer buffer.
  public var tensor: Tensor? {
    if case .float32(let tensor) = value { tensor } else { nil }
  }
}

/// A model's state dict: its parameters and buffers in module order, found by path.
public struct ParameterStore: Sendable, Equatable {
  /// In the order PyTorch's `state_dict()` lists them: module by module, depth first.
  public private(set) var parameters: [Parameter]
  private var positions: [ParameterPath: Int]

  /// A store over parameters with distinct paths.
  public init(_ parameters: [Parameter]) {
    self.parameters = parameters
    positions = Dictionary(parameters.enumerated().map { ($1.path, $0) }, uniquingKeysWith: { first, _ in
      preconditionFailure("two parameters named \(parameters[first].path)")
    })
  }

  public subscript(path: ParameterPath) -> Parameter? {
    positions[path].map { parameters[$0] }
  }

  /// Replaces the parameter at `parameter.path`, which must exist with the same shape.
  public mutating func update(_ parameter: Parameter) {
    guard let position = positions[parameter.path] else { preconditionFailure("no parameter \(parameter.path)") }
    precondition(parameters[position].value.shape == parameter.value.shape, "\(parameter.path) changes shape")
    parameters[position] = parameter
  }

  /// The paths, in order.
  public var paths: [ParameterPath] { parameters.map(\.path) }
}
