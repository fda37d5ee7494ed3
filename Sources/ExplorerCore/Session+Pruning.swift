import PruneEngine

/// A model's scores under one criterion: per layer for pruning, and summarised for drawing.
struct ScoreTables {
  /// By layer; only the layers the criterion prunes.
  var scores: [ParameterPath: LayerScores] = [:]
  var distributions: [ParameterPath: ScoreDistribution] = [:]
  /// Every layer's kept scores together, when the criterion ranks layers globally.
  var global: ScoreDistribution?
  /// The kept units ranked once for the scope last pruned in, so a key press costs one pass
  /// over the masks (see `RankedPruning`).
  var ranking: RankedPruning?
}

extension Session {
  // MARK: - Scores

  /// Scores `model` with the current criterion (on the training set for data-driven ones).
  /// - Throws: when the criterion cannot score the model.
  func scoreTables(for model: Model) throws -> ScoreTables {
    let criterion = state.criterion
    let granularity = criterion.defaultGranularity
    let request = PruningRequest(criterion: criterion, granularity: granularity, rule: .fraction(0))
    let context = ScoringContext(calibration: state.train, seed: 1)
    var tables = ScoreTables()
    var merged: [Float] = []
    var mergedPruned = 0
    for layerScores in try PruningPipeline.scores(for: request, model: model, context: context) {
      guard let dense = model.weightedLayer(at: layerScores.layer) else { continue }
      let kept = Self.keptUnits(of: dense, granularity: granularity)
      var sorted: [Float] = []
      var values: [Float] = []
      sorted.reserveCapacity(layerScores.values.count)
      values.reserveCapacity(layerScores.values.count)
      for (unit, score) in layerScores.values.enumerated() where kept[unit] {
        sorted.append(score)
        values.append(criterion == .magnitude ? dense.weight.scalars[unit] : score)
      }
      let pruned = layerScores.values.count - sorted.count
      merged += sorted
      mergedPruned += pruned
      sorted.sort(by: ScoreOrder.ranksBelow)
      tables.scores[layerScores.layer] = layerScores
      tables.distributions[layerScores.layer] = ScoreDistribution(sorted: sorted, values: values, prunedCount: pruned)
    }
    if criterion.supportsGlobalScope(granularity) {
      tables.global = ScoreDistribution(sorted: merged.sorted(by: ScoreOrder.ranksBelow), values: [], prunedCount: mergedPruned)
    }
    return tables
  }

  /// Whether each unit (weight, or row = neuron or filter) of a layer is still kept by its mask.
  static func keptUnits(of dense: WeightedLayer, granularity: Granularity) -> [Bool] {
    guard let mask = dense.mask else {
      return [Bool](repeating: true, count: granularity == .weight ? dense.weight.count : dense.outputCount)
    }
    switch granularity {
    case .weight:
      return mask.map { $0 != 0 }
    case .neuron:
      let columns = dense.inputCount
      return (0..<dense.outputCount).map { row in mask[(row * columns)..<((row + 1) * columns)].contains(1) }
    }
  }

  // MARK: - Pruning

  /// `base` pruned to the targets: in each layer (or over all of them in global scope), the
  /// kept units with the lowest scores, as many as `ScoreDistribution.newlyPruned(at:)` says,
  /// selected from a ranking made once per base model, criterion and scope.
  /// - Throws: for global scope with a criterion that cannot rank layers together.
  func pruned(_ base: Model) throws -> Model {
    let criterion = state.criterion
    if state.scope == .global && state.tables.global == nil {
      throw ShearsError("--criterion \(criterion.rawValue)", "cannot rank layers together; use layer scope")
    }
    let ranking =
      state.tables.ranking.flatMap { $0.scope == state.scope ? $0 : nil }
      ?? RankedPruning(
        model: base, scores: base.weightedLayers.compactMap { state.tables.scores[$0.path] }, scope: state.scope)
    state.tables.ranking = ranking
    let model = ranking.pruned(base, targets: state.targets)
    return PruningPipeline.rewrite(criterion, original: base, pruned: model)
  }

  /// Prunes the base model to the targets, publishes the new structure at once, then the
  /// accuracy: a quick estimate, then the full test set, unless a newer command came meanwhile.
  func prune(id: Int) throws {
    guard let base = state.base else { return }
    let model = try pruned(base)
    state.current = model
    publishModel(accuracy: nil)
    guard !isStale(id), let test = state.test else { return }
    publish { $0.phase = .evaluating }
    let evaluator = Evaluator(model: model)
    let estimate = reading(evaluator.evaluate(test, limit: Self.estimateSamples), of: test)
    guard !isStale(id) else { return }
    publish { $0.accuracy = estimate }
    let start = MonotonicClock.system.nanoseconds()
    let full = reading(evaluator.evaluate(test), of: test)
    let seconds = MonotonicClock.system.seconds(since: start)
    guard !isStale(id) else { return }
    state.curve.append(CurvePoint(sparsity: ModelMetrics(model).sparsity, accuracy: full.accuracy))
    let speedup = state.denseSeconds.map { $0 / max(1e-9, seconds) }
    publish {
      $0.accuracy = full
      $0.phase = .idle
      $0.curve = state.curve
      $0.measuredSpeedup = speedup
    }
  }

  // MARK: - Evaluation

  /// The estimate (after which the evaluator is warm) and the timed full evaluation of `model`.
  func measure(_ model: Model) -> (full: AccuracyReading, seconds: Double) {
    guard let test = state.test else { return (AccuracyReading(accuracy: 0, loss: 0, samples: 0, isFull: false), 0) }
    let evaluator = Evaluator(model: model)
    _ = evaluator.evaluate(test, limit: Self.estimateSamples)
    let start = MonotonicClock.system.nanoseconds()
    let full = reading(evaluator.evaluate(test), of: test)
    return (full, MonotonicClock.system.seconds(since: start))
  }

  /// The accuracy of `model` on the first `limit` test images (all when `nil`).
  func evaluate(_ model: Model, limit: Int?) -> AccuracyReading {
    guard let test = state.test else { return AccuracyReading(accuracy: 0, loss: 0, samples: 0, isFull: false) }
    return reading(Evaluator(model: model).evaluate(test, limit: limit), of: test)
  }

  private func reading(_ evaluation: Evaluation, of test: Dataset) -> AccuracyReading {
    AccuracyReading(
      accuracy: evaluation.accuracy, loss: evaluation.loss, samples: evaluation.samples,
      isFull: evaluation.samples == test.count)
  }

  // MARK: - Publishing

  /// Publishes the current model's structure, scores and metrics, and the accuracy when given.
  func publishModel(accuracy: AccuracyReading?) {
    guard let current = state.current else { return }
    let metrics = ModelMetrics(current)
    let granularity = state.criterion.defaultGranularity
    let layers: [LayerView] = current.weightedLayers.map { path, dense in
      LayerView(
        path: path, shape: dense.weight.shape, parameters: dense.weight.count, nonzero: dense.weight.nonzeroCount,
        keptRows: Self.keptUnits(of: dense, granularity: .neuron).count { $0 }, target: state.targets[path] ?? 0,
        granularity: granularity,
        scores: state.tables.distributions[path] ?? ScoreDistribution(sorted: [], values: []))
    }
    let hasUnsavedChanges = state.revision != state.saved
    let warnings = Checkpoint.nonFiniteWarnings(in: current)
    publish {
      $0.warning = warnings.isEmpty ? nil : warnings.joined(separator: "; ")
      $0.layers = layers
      $0.globalScores = state.tables.global
      $0.metrics = metrics
      $0.criterion = state.criterion
      $0.scope = state.scope
      if let accuracy { $0.accuracy = accuracy }
      $0.canUndo = !state.undo.isEmpty
      $0.hasUnsavedChanges = hasUnsavedChanges
      if $0.isError { $0.message = nil }
      $0.isError = false
    }
  }
}
