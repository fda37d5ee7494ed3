import Testing
@testable import PruneEngine

/// The GPT ops through an execution plan: finite-difference gradients of every parameter
/// (embeddings shared with the tied output layer, LayerNorm, causal attention, GELU, residual
/// sums), and causality.
struct TransformerTests {
  static let shape = GPT.Shape(layers: 2, heads: 2, width: 8, context: 4, vocabulary: 11)
  /// Two sequences of token ids and the next token of each.
  static let tokens: [Int32] = [3, 7, 1, 10, 0, 4, 4, 9]
  static let targets: [Int32] = [7, 1, 10, 2, 4, 4, 9, 5]

  private func loss(_ plan: ExecutionPlan, backward: Bool) -> Double {
    let n = Self.tokens.count
    for j in 0..<n { plan.input[j] = Float(Self.tokens[j]) }
    plan.forward(count: n, mode: .training, threads: 1)
    let (sum, _) = Self.targets.withUnsafeBufferPointer { labels in
      Kernels.softmaxCrossEntropy(
        logits: plan.logits, classes: plan.classCount, batch: n, leadingDimension: n, labels: labels.baseAddress!,
        gradient: plan.logitsGradient, gradientScale: 1 / Float(n))
    }
    if backward { plan.backward(count: n, mode: .training, threads: 1) }
    return sum / Double(n)
  }

  @Test func gptGradientsMatchFiniteDifferences() {
    let module = Module.gpt(Self.shape)
    let store = GradientCheckTests.randomStore(module, seed: 5)
    let plan = ExecutionPlan(module: module, inputShape: [1], store: store, capacity: Self.tokens.count, gradients: true)
    _ = loss(plan, backward: true)
    let checked = GradientCheckTests.expectGradientsMatchDifferences(plan, step: 3e-3, absolute: 1e-3) {
      loss(plan, backward: false)
    }
    // Every parameter once: the tied output layer has no tensor of its own.
    #expect(checked == store.parameters.reduce(0) { $0 + $1.value.count })
    #expect(store.paths.map(\.description).contains("transformer.h.1.attn.c_attn.weight"))
  }

  @Test func aTokenChangesNoEarlierPrediction() {
    let module = Module.gpt(Self.shape)
    let plan = ExecutionPlan(
      module: module, inputShape: [1], store: GradientCheckTests.randomStore(module, seed: 6), capacity: 4,
      gradients: false)
    func logits(_ tokens: [Float]) -> [Float] {
      for j in 0..<4 { plan.input[j] = tokens[j] }
      plan.forward(count: 4, mode: .inference, threads: 1)
      return Array(UnsafeBufferPointer(start: plan.logits, count: 11 * 4))
    }
    let before = logits([1, 2, 3, 4])
    let after = logits([1, 2, 9, 4])
    for v in 0..<11 {
      for t in 0..<2 { #expect(before[v * 4 + t] == after[v * 4 + t]) }
      #expect(before[v * 4 + 2] != after[v * 4 + 2])
    }
  }
}
