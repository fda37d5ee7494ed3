import Testing
@testable import PruneEngine

/// Redundancy scores, twins and the function-preserving merge on a layer built with two parallel
/// rows.
struct RedundancyScoringTests {
  /// Hidden rows: 0 = (1, −2), 1 = 2 · row 0, 2 = (0.5, 1), 3 = (−1, 2) = −row 0.
  /// Cosines: cos(0, 1) = 1, cos(0, 2) = cos(1, 2) = −0.6, cos(0, 3) = cos(1, 3) = −1,
  /// cos(2, 3) = 0.6.
  static func model(hiddenBias: [Float] = [0, 0, 0, 0]) -> Model {
    Model(layers: [
      .weighted(ScoringFixtures.linear([[1, -2], [2, -4], [0.5, 1], [-1, 2]], bias: hiddenBias)),
      .relu,
      .weighted(
        ScoringFixtures.linear(
          [[0.3, -0.7, 1.1, 0.2], [-1.3, 0.4, 0.6, -0.9], [0.8, 0.5, -0.2, 1.4]], bias: [0.1, -0.3, 0.2])),
    ])
  }

  static let data = ScoringFixtures.randomData(samples: 40, rows: 1, columns: 2, classes: 3, seed: 5)

  static func largestDifference(_ a: Model, _ b: Model) -> Float {
    let first = Evaluator(model: a, threads: 1).logits(data)
    let second = Evaluator(model: b, threads: 1).logits(data)
    return zip(first, second).map { abs($0 - $1) }.max()!
  }

  static func weights(_ model: Model, _ index: Int) -> [Float] {
    guard case .weighted(let dense) = model.layers[index] else { return [] }
    return dense.weight.scalars
  }

  @Test func scoresAreOneMinusLargestCosineToAnotherKeptNeuron() throws {
    let scores = try ScoringFixtures.scores(.redundancy, model: Self.model())[0]
    for (score, expected) in zip(scores, [0, 0, 0.4, 0.4] as [Float]) { #expect(isClose(score, expected)) }

    // With neuron 1 pruned, neuron 0 has no duplicate left: its best is cos(0, 2) = −0.6. The
    // pruned row is all zero, so its cosine with anything is 0 (its score is never used).
    var model = Self.model()
    guard case .weighted(var layer) = model.layers[0] else { return }
    layer.setMask([1, 1, 0, 0, 1, 1, 1, 1])
    model.layers[0] = .weighted(layer)
    let masked = try ScoringFixtures.scores(.redundancy, model: model)[0]
    for (score, expected) in zip(masked, [1.6, 1, 0.4, 0.4] as [Float]) { #expect(isClose(score, expected)) }
  }

  @Test func twinsAreTheMostSimilarKeptNeurons() {
    #expect(Redundancy.twins(in: Self.model(), layer: 0) == [1, 0, 3, 2])
    // Without neuron 1, neuron 0 has only opposed neighbours: no twin.
    #expect(Redundancy.twins(in: Self.model(), layer: 0, excluding: [1]) == [nil, 0, 3, 2])
    #expect(Redundancy.twins(in: Self.model(), layer: 0, excluding: [1, 3]) == [nil, 0, nil, 2])
  }

  @Test(arguments: [(0, 1), (1, 0)])
  func mergingOneOfTwoParallelNeuronsKeepsTheOutputs(removed: Int, twin: Int) {
    let original = Self.model()
    var twins: [Int?] = [nil, nil, nil, nil]
    twins[removed] = twin
    let merged = Redundancy.merge(original, layer: 0, removed: [removed], twins: twins)
    #expect(Self.largestDifference(original, merged) <= 1e-5)

    // The removed row is masked, its column zeroed, the twin's column holds both.
    guard case .weighted(let layer) = merged.layers[0] else { return }
    #expect(layer.mask == (0..<8).map { $0 / 2 == removed ? 0 : 1 })
    let before = Self.weights(original, 2)
    let after = Self.weights(merged, 2)
    let scale: Float = removed == 0 ? 0.5 : 2
    guard case .weighted(let next) = merged.layers[2] else { return }
    for row in 0..<3 {
      #expect(after[row * 4 + removed] == 0)
      // Masked too, so fine-tuning cannot regrow it from the removed neuron's constant output.
      #expect(next.keptMask[row * 4 + removed] == 0)
      #expect(isClose(after[row * 4 + twin], before[row * 4 + twin] + scale * before[row * 4 + removed]))
    }

    // Pruning alone, without the merge, does change the outputs.
    var pruned = original
    pruned.layers[0] = .weighted(layer)
    #expect(Self.largestDifference(original, pruned) > 1e-2)
  }

  @Test func mergeIsExactForProportionalBiases() {
    let original = Self.model(hiddenBias: [0.2, 0.4, -0.1, 0.3])
    let merged = Redundancy.merge(original, layer: 0, removed: [1], twins: [nil, 0, nil, nil])
    #expect(Self.largestDifference(original, merged) <= 1e-5)
  }

  @Test func mergeAfterPrunerUsesTheOriginalRows() throws {
    let original = Self.model()
    let scores = try Scoring.scores(
      .redundancy, granularity: .neuron, model: original, layers: [0], context: ScoringContext())
    // Neurons 0 and 1 tie at score 0; the lowest index goes first.
    let (pruned, _) = try Pruner.prune(
      original, request: PruningRequest(criterion: .redundancy, rule: .count(1)), scores: scores)
    let merged = Redundancy.mergeRemoved(original: original, pruned: pruned)
    #expect(Self.largestDifference(original, merged) <= 1e-5)
    #expect(merged == Redundancy.merge(original, layer: 0, removed: [0], twins: [1, nil, nil, nil]))
    #expect(
      merged
        == Redundancy.merge(pruned, layer: 0, removed: [0], twins: [1, nil, nil, nil], original: original))
  }

  @Test func mergeLeavesPrunedWeightsOfTheNextLayerPruned() {
    var original = Self.model()
    guard case .weighted(var next) = original.layers[2] else { return }
    var mask = next.keptMask
    mask[0 * 4 + 1] = 0  // W2[0, 1], in the twin's column
    next.setMask(mask)
    original.layers[2] = .weighted(next)
    let merged = Redundancy.merge(original, layer: 0, removed: [0], twins: [1, nil, nil, nil])
    guard case .weighted(let mergedNext) = merged.layers[2] else { return }
    // The pruned weight stays pruned; the removed neuron's column is masked as well.
    var expected = mask
    for row in 0..<3 { expected[row * 4 + 0] = 0 }
    #expect(mergedNext.mask == expected)
    #expect(mergedNext.weight.scalars[1] == 0)
    // Rows 1 and 2 of the next layer are still exact; row 0 lost the removed neuron's share.
    let before = Evaluator(model: original, threads: 1).logits(Self.data)
    let after = Evaluator(model: merged, threads: 1).logits(Self.data)
    for sample in 0..<Self.data.count {
      for c in 1..<3 { #expect(isClose(before[sample * 3 + c], after[sample * 3 + c])) }
    }
  }

  @Test func removedNeuronWithoutTwinIsOnlyRemoved() {
    let original = Self.model(hiddenBias: [0.5, 0, 0, 0])
    let merged = Redundancy.merge(original, layer: 0, removed: [3], twins: [nil, nil, nil, nil])
    let before = Self.weights(original, 2)
    let after = Self.weights(merged, 2)
    for row in 0..<3 {
      for column in 0..<4 { #expect(after[row * 4 + column] == (column == 3 ? 0 : before[row * 4 + column])) }
    }
  }
}
