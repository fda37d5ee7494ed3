/// GPT's input: each token's embedding plus its position's, `nn.Embedding` twice.
///
/// The input value holds token ids as floats, one per column, sequences of `context` columns
/// one after another (column `j` is position `j % context`).
/// Forward: `Out[d, j] = Wte[id_j, d] + Wpe[j % context, d]`, `Out: [width, n]`.
/// Backward: `dWte[id_j, ·] += dOut[·, j]`, `dWpe[j % context, ·] = Σ dOut[·, j]`. The token
/// table's gradient is added to, not overwritten: the tied output layer (`TiedOutputStep`),
/// whose backward runs first, has written its share.
final class EmbeddingStep: PlanStep {
  let inputs: [Int]
  let output: Int
  let tokens: PlanParameter
  let positions: PlanParameter
  let width: Int
  let context: Int
  var accumulatesInputGradients = [false]
  var hasTrainedParameters: Bool { true }

  init(input: Int, output: Int, tokens: PlanParameter, positions: PlanParameter, width: Int, context: Int) {
    inputs = [input]
    self.output = output
    self.tokens = tokens
    self.positions = positions
    self.width = width
    self.context = context
  }

  func forward(_ pass: PlanPass) {
    let n = pass.count
    precondition(n % context == 0, "\(n) tokens are not whole sequences of \(context)")
    let ids = pass.value(inputs[0])
    let out = pass.value(output)
    let tokenTable = tokens.value.baseAddress!
    let positionTable = positions.value.baseAddress!
    let vocabulary = tokens.value.count / width
    for j in 0..<n {
      let id = min(max(Int(ids[j]), 0), vocabulary - 1)
      let token = tokenTable + id * width
      let position = positionTable + (j % context) * width
      for d in 0..<width { out[d * n + j] = token[d] + position[d] }
    }
  }

  func backward(_ pass: PlanPass) {
    guard let outputGradient = pass.gradient(output) else { return }
    let n = pass.count
    let ids = pass.value(inputs[0])
    let vocabulary = tokens.value.count / width
    if let positionGradient = positions.gradient?.baseAddress {
      positionGradient.update(repeating: 0, count: positions.value.count)
      for j in 0..<n {
        let row = positionGradient + (j % context) * width
        for d in 0..<width { row[d] += outputGradient[d * n + j] }
      }
    }
    if let tokenGradient = tokens.gradient?.baseAddress {
      for j in 0..<n {
        let row = tokenGradient + min(max(Int(ids[j]), 0), vocabulary - 1) * width
        for d in 0..<width { row[d] += outputGradient[d * n + j] }
      }
    }
  }
}
