/// GPT-2 language models (Radford et al. 2019), laid out and named as karpathy/nanoGPT's `GPT`
/// module names them, so a state dict loads into it: `transformer.wte.weight` (token
/// embedding), `transformer.wpe.weight` (position embedding), `transformer.h.0.ln_1.weight`,
/// `transformer.h.0.attn.c_attn.weight`, `transformer.h.0.mlp.c_fc.weight`, ...,
/// `transformer.ln_f.weight`. Linear weights are `[out, in]` as in `nn.Linear` (HuggingFace's
/// `Conv1D` stores them transposed). The output layer is tied to the token embedding, so it has
/// no tensor of its own (nanoGPT's `lm_head.weight` is `transformer.wte.weight`).
///
/// Each block is pre-LayerNorm: `x + attn(ln_1(x))`, then `x + mlp(ln_2(x))`, with causal
/// self-attention and a GELU (tanh form) MLP four times as wide; no dropout.
public enum GPT {
  /// The sizes of a GPT: `gpt:LAYERS-HEADS-WIDTH-CONTEXT` in `--arch`.
  public struct Shape: Sendable, Equatable, Hashable {
    public var layers: Int
    public var heads: Int
    /// Features per token; a multiple of `heads`.
    public var width: Int
    /// Tokens per sequence: the position embedding's rows, and the length the model reads.
    public var context: Int
    /// Token ids; 256 for text read as bytes.
    public var vocabulary: Int

    public init(layers: Int, heads: Int, width: Int, context: Int, vocabulary: Int = GPT.byteVocabulary) {
      self.layers = layers
      self.heads = heads
      self.width = width
      self.context = context
      self.vocabulary = vocabulary
    }
  }

  /// The vocabulary of text read as UTF-8 bytes.
  public static let byteVocabulary = 256
  /// GPT-2's LayerNorm epsilon.
  static let layerNormEpsilon: Float = 1e-5
  /// The standard deviation of GPT-2's initial weights.
  static let initialDeviation: Float = 0.02

  /// The module tree's top level: `transformer`, holding `wte`, `wpe`, `h.0` ... and `ln_f`.
  static func children(_ shape: Shape) -> [Module.Child] {
    let blocks = (0..<shape.layers).map { Module.Child(String($0), .transformerBlock(width: shape.width, heads: shape.heads)) }
    return [
      .init(
        "transformer",
        .container([
          .init("wte", .embedding(count: shape.vocabulary, width: shape.width)),
          .init("wpe", .embedding(count: shape.context, width: shape.width)),
          .init("h", .container(blocks)),
          .init("ln_f", .layerNorm(width: shape.width, epsilon: layerNormEpsilon)),
        ]))
    ]
  }

  /// The shape's problem, if it cannot be built; nil when it can.
  static func problem(with shape: Shape) -> String? {
    if shape.layers < 1 { return "needs at least one layer" }
    if shape.heads < 1 || shape.width < 1 || shape.context < 2 { return "needs positive heads and width and a context of at least 2" }
    if shape.width % shape.heads != 0 { return "has a width of \(shape.width), not a multiple of its \(shape.heads) heads" }
    if shape.vocabulary < 2 { return "needs a vocabulary of at least 2 tokens" }
    return nil
  }

  /// A freshly initialised GPT as GPT-2 initialises one: weights and embeddings `N(0, 0.02)`,
  /// each block's output projections (`attn.c_proj`, `mlp.c_proj`) `N(0, 0.02 / √(2 · layers))`
  /// so the residual stream's variance does not grow with depth, biases 0, LayerNorm γ 1, β 0.
  static func initialModel(_ shape: Shape, generator: inout SeededGenerator) -> Model {
    let module = Module.gpt(shape)
    let projectionDeviation = initialDeviation / Float(2 * shape.layers).squareRoot()
    let parameters = module.parameterShapes().map { path, role, shape -> Parameter in
      let count = shape.reduce(1, *)
      if path.name == "weight" && (role == .weight || shape.count == 2) {
        let deviation = path.description.hasSuffix("c_proj.weight") ? projectionDeviation : initialDeviation
        let scalars = (0..<count).map { _ in generator.nextNormal() * deviation }
        return Parameter(path: path, role: role, tensor: Tensor(shape: shape, scalars: scalars))
      }
      let isGain = role == .trained && path.name == "weight"
      return Parameter(path: path, role: role, tensor: Tensor(shape: shape, repeating: isGain ? 1 : 0))
    }
    return Model(module: module, parameters: ParameterStore(parameters), inputShape: [1])
  }
}
