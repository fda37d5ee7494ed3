/// What a module tree computes on an input shape, without running it.
extension Module {
  /// One leaf module (a layer, a pool, a ReLU, ...) with the shapes it sees; a residual block
  /// is listed too, after its body and shortcut, for the sum it writes.
  public struct Leaf: Sendable {
    public var path: ParameterPath
    public var module: Module
    public var input: [Int]
    public var output: [Int]
  }

  /// Every leaf in the order the plan runs them, with its input and output shapes
  /// (`[features]` or `[channels, height, width]`), and the tree's output shape.
  /// - Throws: `ShearsError` (without a subject) naming the first module that cannot take its
  ///   input, so a tree built from user input is refused before a plan is compiled.
  public func leaves(input: [Int], at path: ParameterPath = .root) throws -> (leaves: [Leaf], output: [Int]) {
    var leaves: [Leaf] = []
    let output = try walk(input: input, at: path, into: &leaves)
    return (leaves, output)
  }

  private func walk(input: [Int], at path: ParameterPath, into leaves: inout [Leaf]) throws -> [Int] {
    func leaf(_ output: [Int]) -> [Int] {
      leaves.append(Leaf(path: path, module: self, input: input, output: output))
      return output
    }
    func problem(_ text: String) -> ShearsError { ShearsError("", "\(path.description.isEmpty ? "the model" : path.description) \(text)") }
    switch self {
    case .linear(let inputs, let outputs):
      guard input.reduce(1, *) == inputs else { throw problem("takes \(inputs) inputs, not \(input.reduce(1, *))") }
      return leaf([outputs])
    case .conv2d(let channels, let filters, let kernel, let stride, let padding, _):
      guard input.count == 3, input[0] == channels else { throw problem("takes \(channels)-channel images") }
      guard input[1] + 2 * padding >= kernel, input[2] + 2 * padding >= kernel else {
        throw problem("has a \(kernel)x\(kernel) kernel that does not fit a \(input[1])x\(input[2]) input")
      }
      return leaf([filters, (input[1] + 2 * padding - kernel) / stride + 1, (input[2] + 2 * padding - kernel) / stride + 1])
    case .batchNorm(let features):
      guard input.first == features else { throw problem("normalises \(features) features") }
      return leaf(input)
    case .relu, .dropout:
      return leaf(input)
    case .maxPool(let size), .averagePool(let size):
      guard input.count == 3, input[1] >= size, input[2] >= size else { throw problem("cannot pool its input") }
      return leaf([input[0], input[1] / size, input[2] / size])
    case .globalAveragePool:
      guard input.count == 3 else { throw problem("pools images") }
      return leaf([input[0], 1, 1])
    case .flatten:
      return leaf([input.reduce(1, *)])
    case .embedding(_, let width):
      return leaf([width])
    case .layerNorm(let width, _):
      guard input == [width] else { throw problem("normalises \(width) features") }
      return leaf(input)
    case .gelu:
      return leaf(input)
    case .causalSelfAttention(let width, _):
      // c_attn, the attention itself (listed at the module's path), then c_proj.
      let parts = children
      let qkv = try parts[0].module.walk(input: input, at: path.appending(parts[0].name), into: &leaves)
      leaves.append(Leaf(path: path, module: self, input: qkv, output: [width]))
      return try parts[1].module.walk(input: [width], at: path.appending(parts[1].name), into: &leaves)
    case .transformerBlock(let width, _):
      guard input == [width] else { throw problem("takes \(width) features per token") }
      for child in children { _ = try child.module.walk(input: input, at: path.appending(child.name), into: &leaves) }
      return input
    case .container:
      throw problem("holds modules that only the model around it runs")
    case .gpt(let shape):
      let transformer = path.appending("transformer")
      var features = try Module.embedding(count: shape.vocabulary, width: shape.width).walk(
        input: input, at: transformer.appending("wte"), into: &leaves)
      _ = try Module.embedding(count: shape.context, width: shape.width).walk(
        input: input, at: transformer.appending("wpe"), into: &leaves)
      for layer in 0..<shape.layers {
        features = try Module.transformerBlock(width: shape.width, heads: shape.heads).walk(
          input: features, at: transformer.appending("h").appending(String(layer)), into: &leaves)
      }
      _ = try Module.layerNorm(width: shape.width, epsilon: GPT.layerNormEpsilon).walk(
        input: features, at: transformer.appending("ln_f"), into: &leaves)
      return [shape.vocabulary]
    case .sequential(let children):
      var shape = input
      for child in children { shape = try child.module.walk(input: shape, at: path.appending(child.name), into: &leaves) }
      return shape
    case .residual(let body, let shortcut, _):
      let main = try Module.sequential(body).walk(input: input, at: path, into: &leaves)
      let side = try shortcut.map { try $0.module.walk(input: input, at: path.appending($0.name), into: &leaves) } ?? input
      guard main == side else { throw problem("adds a \(main) body to a \(side) shortcut") }
      return leaf(main)
    }
  }
}
