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

/// Key presses as mask deltas: each pruning made from the previous one changes only the layers
/// whose counts moved, and equals pruning the base afresh.
struct RankedPruningDeltaTests {
  private func model(pruneFirst: Bool) throws -> Model {
    var generator = SeededGenerator(seed: 9)
    let model = Model(architecture: .mlp(widths: [20, 12, 6, 3]), generator: &generator)
    guard pruneFirst else { return model }
    return try FineTuning.prune(
      model, to: 0.3, request: PruningRequest(criterion: .neuronL2, rule: .fraction(0)), context: ScoringContext())
  }

  @Test(
    arguments: [PruningScope.layer, .global], [Criterion.magnitude, .neuronL2].flatMap { c in [(c, false), (c, true)] })
  func deltasEqualPruningAfresh(scope: PruningScope, setting: (criterion: Criterion, pruneFirst: Bool)) throws {
    let scope = setting.criterion == .neuronL2 ? PruningScope.layer : scope
    let base = try model(pruneFirst: setting.pruneFirst)
    let request = PruningRequest(criterion: setting.criterion, scope: scope, rule: .fraction(0))
    let scores = try PruningPipeline.scores(for: request, model: base, context: ScoringContext())
    let ranked = RankedPruning(model: base, scores: scores, scope: scope)
    let paths = base.weightedLayers.map(\.path)
    // Up, down, back to nothing, one layer at a time and all at once.
    let steps: [[Double]] = [[0.5, 0, 0], [0.6, 0, 0], [0.6, 0.4, 0], [0.2, 0.4, 0.9], [0, 0, 0], [0.95, 1, 0.5], [0.3, 0.3, 0.3]]
    var previous: (model: Model, counts: [ParameterPath: Int])?
    for step in steps {
      let targets = Dictionary(uniqueKeysWithValues: zip(paths, step))
      let counts = ranked.counts(targets: targets)
      let (model, changed) = ranked.pruned(base, counts: counts, from: previous)
      let afresh = ranked.pruned(base, targets: targets)
      #expect(model == afresh, "targets \(step)")
      if let previous {
        let moved = paths.filter { counts[$0] != previous.counts[$0] }
        #expect(changed == moved.filter { counts[$0] != nil })
        for path in paths where !changed.contains(path) {
          #expect(model.weightedLayer(at: path) == previous.model.weightedLayer(at: path))
        }
      }
      previous = (model, counts)
    }
  }

  @Test func evaluatorFollowsReplacedWeights() throws {
    let base = try model(pruneFirst: false)
    let request = PruningRequest(criterion: .magnitude, rule: .fraction(0))
    let scores = try PruningPipeline.scores(for: request, model: base, context: ScoringContext())
    let ranked = RankedPruning(model: base, scores: scores, scope: .layer)
    var generator = SeededGenerator(seed: 4)
    let data = Dataset(
      images: (0..<(100 * 20)).map { _ in UInt8.random(in: 0...255, using: &generator) }, labels: (0..<100).map { UInt8($0 % 3) },
      rows: 4, columns: 5)
    let evaluator = Evaluator(model: base, threads: 2)
    var current = base
    var counts = ranked.counts(targets: [:])
    for step in [[0.9, 0.0, 0.0], [0.9, 0.95, 0.5], [0.1, 0.95, 0.0]] {
      let targets = Dictionary(uniqueKeysWithValues: zip(base.weightedLayers.map(\.path), step))
      let next = ranked.counts(targets: targets)
      let (model, changed) = ranked.pruned(base, counts: next, from: (current, counts))
      for path in changed { evaluator.replaceWeights(of: path, with: model.weightedLayer(at: path)!) }
      (current, counts) = (model, next)
      let fresh = Evaluator(model: model, threads: 2)
      #expect(evaluator.logits(data) == fresh.logits(data), "targets \(step)")
      #expect(evaluator.batchKernels == fresh.batchKernels)
      #expect(ModelMetrics(base).updating(model, layers: model.weightedLayers.map(\.path)) == ModelMetrics(model))
    }
  }
}
