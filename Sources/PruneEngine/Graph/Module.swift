/// A network as a tree of modules, named as PyTorch names the equivalent `nn.Module`.
///
/// A module's parameters are found under its path in a `ParameterStore`: the Linear at
/// `layer1.fc` reads `layer1.fc.weight` and `layer1.fc.bias`. `ExecutionPlan` compiles a tree
/// and a store into the steps that train and run it.
public indirect enum Module: Sendable, Equatable {
  /// `nn.Linear(inputs, outputs)`: `weight` `[outputs, inputs]`, `bias` `[outputs]`. Applied to
  /// an image, it reads the image flattened, as after `nn.Flatten()`.
  case linear(inputs: Int, outputs: Int)
  /// `nn.Conv2d(channels, filters, kernel, stride, padding, bias)`: `weight`
  /// `[filters, channels, kernel, kernel]`, `bias` `[filters]` when `bias`.
  case conv2d(channels: Int, filters: Int, kernel: Int, stride: Int, padding: Int, bias: Bool)
  /// `nn.BatchNorm2d(features)` on images, `nn.BatchNorm1d(features)` on flat features, with
  /// PyTorch's defaults (eps 1e-5, momentum 0.1, affine, tracking running statistics): `weight`
  /// (γ), `bias` (β), buffers `running_mean`, `running_var`, `num_batches_tracked`.
  case batchNorm(features: Int)
  case relu
  /// `nn.MaxPool2d(size)`: stride `size`, a last partial window dropped.
  case maxPool(size: Int)
  /// `nn.AvgPool2d(size)`: stride `size`, a last partial window dropped.
  case averagePool(size: Int)
  /// `nn.AdaptiveAvgPool2d(1)`: each channel's mean, `[channels, 1, 1]`.
  case globalAveragePool
  /// `nn.Flatten()`: `[channels, height, width]` to `[channels · height · width]`, channel-major.
  case flatten
  /// `nn.Dropout(probability)`: in training, each value is zeroed with that probability and the
  /// others scaled by `1 / (1 - probability)`; the identity in inference.
  case dropout(probability: Float)
  /// `nn.Sequential`: the children in order, each named (`"0"`, `"1"`, ... or by attribute).
  case sequential([Child])
  /// A residual block's sum, `body(x) + shortcut(x)`, with the identity for a nil shortcut,
  /// then a ReLU when `relu`. The body's children are named at the block's own level (`conv1`,
  /// `bn1`, ...), as in torchvision's `BasicBlock`, the shortcut under its own name
  /// (`downsample`).
  case residual(body: [Child], shortcut: Child?, relu: Bool)

  /// A named submodule.
  public struct Child: Sendable, Equatable {
    public var name: String
    public var module: Module

    public init(_ name: String, _ module: Module) {
      self.name = name
      self.module = module
    }
  }

  /// The parameters the module owns directly (not its children's), with their roles and shapes.
  var ownParameters: [(name: String, role: Parameter.Role, shape: [Int])] {
    switch self {
    case .linear(let inputs, let outputs):
      [("weight", .weight, [outputs, inputs]), ("bias", .bias, [outputs])]
    case .conv2d(let channels, let filters, let kernel, _, _, let bias):
      [("weight", .weight, [filters, channels, kernel, kernel])] + (bias ? [("bias", .bias, [filters])] : [])
    case .batchNorm(let features):
      [
        ("weight", .scale, [features]), ("bias", .bias, [features]), ("running_mean", .buffer, [features]),
        ("running_var", .buffer, [features]), ("num_batches_tracked", .buffer, []),
      ]
    case .relu, .maxPool, .averagePool, .globalAveragePool, .flatten, .dropout, .sequential, .residual: []
    }
  }

  /// The direct submodules, in order.
  var children: [Child] {
    switch self {
    case .sequential(let children): children
    case .residual(let body, let shortcut, _): body + (shortcut.map { [$0] } ?? [])
    default: []
    }
  }

  /// Every parameter path and shape of the tree under `path`, in state-dict order.
  public func parameterShapes(at path: ParameterPath = .root) -> [(path: ParameterPath, role: Parameter.Role, shape: [Int])] {
    ownParameters.map { (path.appending($0.name), $0.role, $0.shape) }
      + children.flatMap { $0.module.parameterShapes(at: path.appending($0.name)) }
  }
}
