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
  /// `nn.Embedding(count, width)`: `weight` `[count, width]`, row `i` the vector of token `i`.
  case embedding(count: Int, width: Int)
  /// `nn.LayerNorm(width, eps)` over each token's features: `weight` (γ) and `bias` (β), `[width]`.
  case layerNorm(width: Int, epsilon: Float)
  /// GELU in its tanh form, `nn.GELU(approximate="tanh")` (GPT-2's `gelu_new`).
  case gelu
  /// Multi-head self-attention with a causal mask over the tokens of each sequence, as
  /// nanoGPT's `CausalSelfAttention`: `c_attn`, `Linear(width, 3 · width)`, gives each token's
  /// query, key and value (in that order, `heads` slices of `width / heads` each), and `c_proj`,
  /// `Linear(width, width)`, mixes the heads' outputs.
  case causalSelfAttention(width: Int, heads: Int)
  /// A pre-LayerNorm transformer block (GPT-2): `x + attn(ln_1(x))`, then `+ mlp(ln_2(·))`, the
  /// MLP `c_fc` (`Linear(width, 4 · width)`), GELU, `c_proj` (`Linear(4 · width, width)`).
  case transformerBlock(width: Int, heads: Int)
  /// Named submodules that their parent runs in its own order (`nn.ModuleDict`, `nn.ModuleList`).
  case container([Child])
  /// A GPT-2 language model (`GPT`): token and position embeddings, blocks, a last LayerNorm and
  /// an output layer tied to the token embedding.
  case gpt(GPT.Shape)

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
    case .embedding(let count, let width): [("weight", .trained, [count, width])]
    case .layerNorm(let width, _): [("weight", .trained, [width]), ("bias", .trained, [width])]
    case .relu, .maxPool, .averagePool, .globalAveragePool, .flatten, .dropout, .sequential, .residual, .gelu,
      .causalSelfAttention, .transformerBlock, .container, .gpt:
      []
    }
  }

  /// The direct submodules, in order.
  var children: [Child] {
    switch self {
    case .sequential(let children): children
    case .residual(let body, let shortcut, _): body + (shortcut.map { [$0] } ?? [])
    case .container(let children): children
    case .causalSelfAttention(let width, _):
      [.init("c_attn", .linear(inputs: width, outputs: 3 * width)), .init("c_proj", .linear(inputs: width, outputs: width))]
    case .transformerBlock(let width, let heads):
      [
        .init("ln_1", .layerNorm(width: width, epsilon: GPT.layerNormEpsilon)),
        .init("attn", .causalSelfAttention(width: width, heads: heads)),
        .init("ln_2", .layerNorm(width: width, epsilon: GPT.layerNormEpsilon)),
        .init(
          "mlp",
          .sequential([
            .init("c_fc", .linear(inputs: width, outputs: 4 * width)), .init("gelu", .gelu),
            .init("c_proj", .linear(inputs: 4 * width, outputs: width)),
          ])),
      ]
    case .gpt(let shape): GPT.children(shape)
    default: []
    }
  }

  /// Every parameter path and shape of the tree under `path`, in state-dict order.
  public func parameterShapes(at path: ParameterPath = .root) -> [(path: ParameterPath, role: Parameter.Role, shape: [Int])] {
    ownParameters.map { (path.appending($0.name), $0.role, $0.shape) }
      + children.flatMap { $0.module.parameterShapes(at: path.appending($0.name)) }
  }
}
