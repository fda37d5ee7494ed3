import Testing
@testable import PruneEngine

/// A one-layer model whose weights are the given values, as a `[1, n]` row (or `[rows, n/rows]`).
private func model(weights: [Float], rows: Int = 1) -> Model {
  let dense = WeightedLayer(weight: Tensor(shape: [rows, weights.count / rows], scalars: weights), bias: Tensor(shape: [rows]))
  return Model(layers: [.weighted(dense)])
}

/// Magnitude scores (|w|) of every WeightedLayer layer.
private func magnitudeScores(_ model: Model) -> [LayerScores] {
  model.weightedLayers.map { LayerScores(layer: $0.path, granularity: .weight, values: $0.layer.weight.scalars.map(abs)) }
}

private func prune(_ model: Model, _ rule: PruningRule, scope: PruningScope = .layer) throws -> Model {
  try Pruner.prune(
    model, request: PruningRequest(criterion: .magnitude, scope: scope, rule: rule), scores: magnitudeScores(model)
  ).model
}

private func mask(_ model: Model, layer: Int = 0) -> [UInt8] {
  guard case .weighted(let dense) = model.layers[layer] else { return [] }
  return dense.keptMask
}

struct PrunerTests {
  @Test func halfOfFiveWeightsPrunesTwoAndHalfOfSevenPrunesFour() throws {
    // Python: round(2.5) == 2, round(3.5) == 4 (half to even), as torch.nn.utils.prune.
    let five = try prune(model(weights: [5, 1, 4, 2, 3]), .fraction(0.5))
    #expect(mask(five) == [1, 0, 1, 0, 1])
    let seven = try prune(model(weights: [7, 1, 6, 2, 5, 3, 4]), .fraction(0.5))
    #expect(mask(seven) == [1, 0, 1, 0, 1, 0, 0])
  }

  @Test func pruningIsCumulativeOverTheEntriesStillKept() throws {
    let weights: [Float] = [8, 7, 6, 5, 4, 3, 2, 1]
    let once = try prune(model(weights: weights), .fraction(0.5))
    let twice = try prune(once, .fraction(0.5))
    #expect(mask(twice) == [1, 1, 0, 0, 0, 0, 0, 0])
    #expect(ModelMetrics(twice).sparsity == 0.75)
  }

  @Test func anIntegerAmountIsACountAndMayNotExceedWhatIsLeft() throws {
    let pruned = try prune(model(weights: [3, 1, 2, 4]), .count(3))
    #expect(mask(pruned) == [0, 0, 0, 1])
    #expect(throws: ShearsError.self) { try prune(pruned, .count(2)) }
  }

  @Test func prunedWeightsAreExactlyZero() throws {
    let pruned = try prune(model(weights: [0.5, -0.1, 0.3, -0.2]), .fraction(0.5))
    guard case .weighted(let dense) = pruned.layers[0] else { return }
    #expect(dense.weight.scalars == [0.5, 0, 0.3, 0])
  }

  @Test func tiesArePrunedLowestIndexFirstAndReported() throws {
    let (pruned, report) = try Pruner.prune(
      model(weights: [1, 2, 1, 1, 3]), request: PruningRequest(criterion: .magnitude, rule: .count(2)),
      scores: magnitudeScores(model(weights: [1, 2, 1, 1, 3])))
    #expect(mask(pruned) == [0, 1, 0, 1, 1])
    // Three weights share the cut score 1; two were pruned, one kept.
    #expect(report[0].tiesAtCut == 3)
    let clean = try Pruner.prune(
      model(weights: [1, 2, 3]), request: PruningRequest(criterion: .magnitude, rule: .count(1)),
      scores: magnitudeScores(model(weights: [1, 2, 3])))
    #expect(clean.layers[0].tiesAtCut == 0)
  }

  @Test func globalScopeRanksAllLayersTogether() throws {
    var generator = SeededGenerator(seed: 1)
    var twoLayers = Model(architecture: .mlp(widths: [2, 2, 2]), generator: &generator)
    twoLayers.layers[0] = .weighted(WeightedLayer(weight: Tensor(shape: [2, 2], scalars: [0.1, 0.2, 0.3, 0.4]), bias: Tensor(shape: [2])))
    twoLayers.layers[2] = .weighted(WeightedLayer(weight: Tensor(shape: [2, 2], scalars: [5, 6, 7, 8]), bias: Tensor(shape: [2])))
    let global = try prune(twoLayers, .fraction(0.5), scope: .global)
    #expect(mask(global, layer: 0) == [0, 0, 0, 0])
    #expect(mask(global, layer: 2) == [1, 1, 1, 1])
    let perLayer = try prune(twoLayers, .fraction(0.5), scope: .layer)
    #expect(mask(perLayer, layer: 0) == [0, 0, 1, 1])
    #expect(mask(perLayer, layer: 2) == [0, 0, 1, 1])
  }

  @Test func thresholdAlphaAndStandardDeviationRules() throws {
    let weights: [Float] = [0.1, -0.5, 1.0, -2.0]
    #expect(mask(try prune(model(weights: weights), .threshold(0.6))) == [0, 0, 1, 1])
    // alpha 0.3 of the largest score 2.0: below 0.6.
    #expect(mask(try prune(model(weights: weights), .alpha(0.3))) == [0, 0, 1, 1])
    // Mean -0.35, population standard deviation 1.1113; 0.5 x 1.1113 = 0.556.
    #expect(mask(try prune(model(weights: weights), .standardDeviations(0.5))) == [0, 0, 1, 1])
    #expect(throws: ShearsError.self) { try prune(model(weights: weights), .standardDeviations(1), scope: .global) }
  }

  @Test func neuronPruningRemovesWholeRowsAndNeverTheOutputLayer() throws {
    var generator = SeededGenerator(seed: 1)
    var net = Model(architecture: .mlp(widths: [2, 3, 2]), generator: &generator)
    net.layers[0] = .weighted(WeightedLayer(weight: Tensor(shape: [3, 2], scalars: [3, 4, 0.1, 0.1, 1, 1]), bias: Tensor(shape: [3])))
    let scores = [LayerScores(layer: 0, granularity: .neuron, values: [5, 0.14, 1.41])]
    let (pruned, report) = try Pruner.prune(
      net, request: PruningRequest(criterion: .neuronL2, rule: .count(1)), scores: scores)
    #expect(mask(pruned, layer: 0) == [1, 1, 0, 0, 1, 1])
    #expect(report.map(\.layer) == [0])
    #expect(throws: ShearsError.self) {
      try Pruner.prune(net, request: PruningRequest(criterion: .neuronL2, rule: .count(1), layers: [2]), scores: scores)
    }
    // A neuron-L2 ranking across layers is refused; layer 5 does not exist.
    #expect(throws: ShearsError.self) {
      try Pruner.prune(net, request: PruningRequest(criterion: .neuronL2, scope: .global, rule: .count(1)), scores: scores)
    }
    #expect(throws: ShearsError.self) {
      try Pruner.prune(net, request: PruningRequest(criterion: .magnitude, rule: .count(1), layers: [5]), scores: scores)
    }
  }

  @Test func structuredFractionCountsOnlyNeuronsStillKept() throws {
    var generator = SeededGenerator(seed: 1)
    var net = Model(architecture: .mlp(widths: [1, 4, 2]), generator: &generator)
    net.layers[0] = .weighted(WeightedLayer(weight: Tensor(shape: [4, 1], scalars: [1, 2, 3, 4]), bias: Tensor(shape: [4])))
    let scores = [LayerScores(layer: 0, granularity: .neuron, values: [1, 2, 3, 4])]
    let request = PruningRequest(criterion: .neuronL2, rule: .fraction(0.5))
    let once = try Pruner.prune(net, request: request, scores: scores).model
    let twice = try Pruner.prune(once, request: request, scores: scores).model
    #expect(mask(once, layer: 0) == [0, 0, 1, 1])
    #expect(mask(twice, layer: 0) == [0, 0, 0, 1])
  }

  /// torch.sort and torch.topk rank NaN above every number, so l1_unstructured prunes it last; the
  /// same order holds in layer and global scope, and in the ranking the explorer prunes with.
  @Test(arguments: [PruningScope.layer, .global])
  func nanAndInfiniteWeightsArePrunedLast(scope: PruningScope) throws {
    let weights: [Float] = [.nan, 0.1, .infinity, -0.2, 0.05, -.infinity, 0.3]
    let net = model(weights: weights)
    #expect(mask(try prune(net, .count(4), scope: scope)) == [1, 0, 1, 0, 0, 1, 0])
    #expect(mask(try prune(net, .count(6), scope: scope)) == [1, 0, 0, 0, 0, 0, 0])
    let ranked = RankedPruning(model: net, scores: magnitudeScores(net), scope: scope)
    #expect(mask(ranked.pruned(net, targets: [0: 4.0 / 7])) == [1, 0, 1, 0, 0, 1, 0])
    #expect(mask(ranked.pruned(net, targets: [0: 1])) == [0, 0, 0, 0, 0, 0, 0])
  }

  @Test func rowScopePrunesEachRowByTheRuleOnItsOwn() throws {
    // Row 0 holds the four smallest weights: layer scope prunes it whole, row scope half of each.
    let net = model(weights: [0.1, 0.4, 0.3, 0.2, 5, 8, 6, 7], rows: 2)
    #expect(mask(try prune(net, .fraction(0.5), scope: .layer)) == [0, 0, 0, 0, 1, 1, 1, 1])
    let (rows, report) = try Pruner.prune(
      net, request: PruningRequest(criterion: .magnitude, scope: .row, rule: .fraction(0.5)), scores: magnitudeScores(net))
    #expect(mask(rows) == [0, 1, 1, 0, 0, 1, 0, 1])
    #expect(report[0].prunedIndices == [0, 3, 4, 6])
    #expect(report[0].keptUnitsBefore == 8)
    // Cumulative per row: a quarter of what is left is round(0.5) = 0 of each row's two.
    #expect(mask(try prune(rows, .fraction(0.25), scope: .row)) == [0, 1, 1, 0, 0, 1, 0, 1])
    #expect(mask(try prune(rows, .fraction(0.5), scope: .row)) == [0, 1, 0, 0, 0, 1, 0, 0])
  }

  @Test func rowScopeCountsStandardDeviationsAndAlphaArePerRow() throws {
    let net = model(weights: [1, 2, 3, 10, 20, 30], rows: 2)
    #expect(mask(try prune(net, .count(1), scope: .row)) == [0, 1, 1, 0, 1, 1])
    #expect(throws: ShearsError("--amount 3", "is more than the 2 left to prune in row 0 of layer 0")) {
      try prune(try prune(net, .count(1), scope: .row), .count(3), scope: .row)
    }
    // alpha 0.5 of each row's largest score: below 1.5 and below 15.
    #expect(mask(try prune(net, .alpha(0.5), scope: .row)) == [0, 1, 1, 0, 1, 1])
    // Each row's spread: 0.816 and 8.16; 1.3 of it is 1.06 and 10.6.
    #expect(mask(try prune(net, .standardDeviations(1.3), scope: .row)) == [0, 1, 1, 0, 1, 1])
    // A threshold is the same cut in every row.
    #expect(mask(try prune(net, .threshold(2.5), scope: .row)) == [0, 0, 1, 1, 1, 1])
  }

  @Test func rowScopeReportsTiesWithinEachRow() throws {
    let net = model(weights: [1, 1, 2, 3, 3, 4], rows: 2)
    let (_, report) = try Pruner.prune(
      net, request: PruningRequest(criterion: .magnitude, scope: .row, rule: .count(1)), scores: magnitudeScores(net))
    #expect(report[0].prunedIndices == [0, 3])
    #expect(report[0].tiesAtCut == 4)
  }

  @Test func rowScopeRefusesStructuredPruning() throws {
    var generator = SeededGenerator(seed: 1)
    let net = Model(architecture: .mlp(widths: [2, 3, 2]), generator: &generator)
    let request = PruningRequest(criterion: .neuronL2, scope: .row, rule: .fraction(0.5))
    #expect(throws: ShearsError.self) { try Pruner.targetLayers(of: net, request: request) }
  }
}
