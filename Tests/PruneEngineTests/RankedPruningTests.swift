import Testing
@testable import PruneEngine

/// Same weights and the same kept entries (a never-pruned layer and an all-ones mask agree).
private func samePruning(_ a: Model, _ b: Model) -> Bool {
  zip(a.weightedLayers, b.weightedLayers).allSatisfy { $0.layer.weight == $1.layer.weight && $0.layer.keptMask == $1.layer.keptMask }
}

struct RankedPruningTests {
  private func model(pruneFirst: Bool) throws -> Model {
    var generator = SeededGenerator(seed: 8)
    let model = Model(architecture: .mlp(widths: [20, 12, 6, 3]), generator: &generator)
    guard pruneFirst else { return model }
    return try FineTuning.prune(
      model, to: 0.3, request: PruningRequest(criterion: .magnitude, rule: .fraction(0)), context: ScoringContext())
  }

  @Test(arguments: [PruningScope.layer, .global], [false, true])
  func matchesPruningToTheSameTargetsOneAtATime(scope: PruningScope, pruneFirst: Bool) throws {
    let base = try model(pruneFirst: pruneFirst)
    let request = PruningRequest(criterion: .magnitude, scope: scope, rule: .fraction(0))
    let scores = try PruningPipeline.scores(for: request, model: base, context: ScoringContext())
    let ranked = RankedPruning(model: base, scores: scores, scope: scope)
    for target in [0.0, 0.1, 0.35, 0.5, 0.9, 1.0] {
      let expected = try FineTuning.prune(base, to: target, request: request, context: ScoringContext())
      let targets = Dictionary(uniqueKeysWithValues: base.weightedLayers.map { ($0.path, target) })
      #expect(samePruning(ranked.pruned(base, targets: targets), expected), "target \(target)")
    }
  }

  @Test func neuronRankingPrunesWholeRows() throws {
    let base = try model(pruneFirst: false)
    let request = PruningRequest(criterion: .neuronL2, rule: .fraction(0))
    let scores = try PruningPipeline.scores(for: request, model: base, context: ScoringContext())
    let ranked = RankedPruning(model: base, scores: scores, scope: .layer)
    let expected = try FineTuning.prune(base, to: 0.5, request: request, context: ScoringContext())
    #expect(samePruning(ranked.pruned(base, targets: [0: 0.5, 2: 0.5]), expected))
  }
}
