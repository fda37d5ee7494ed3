import PruneEngine

/// A model's scores under one criterion: per layer for pruning, and summarised for drawing.
struct ScoreTables {
  /// By layer; only the layers the criterion prunes.
  var scores: [ParameterPath: LayerScores] = [:]
  var distributions: [ParameterPath: ScoreDistribution] = [:]
  /// Every layer's kept scores together, when the criterion ranks layers globally.
  var global: ScoreDistribution?
  /// The kept units ranked once for the scope last pruned in, so a key press changes only the
  /// masks of the layers whose targets moved (see `RankedPruning`).
  var ranking: RankedPruning?
  /// How many units of each layer `ranking` prunes in the session's current model; nil until
  /// the ranking has pruned it, and when a criterion rewrites the weights it keeps.
  var counts: [ParameterPath: Int]?
}

/// What the screen shows of the current model that takes a pass over its weights, kept
/// between key presses for the layers they leave alone.
struct ModelFigures {
  /// The weighted layers in module order, as `metrics.layers` lists them.
  var paths: [ParameterPath]
  var metrics: ModelMetrics
  /// Per weighted layer: nonzero weights and rows that keep a weight.
  var layers: [ParameterPath: (nonzero: Int, keptRows: Int)]
  /// Per fp32 tensor in `namedParameters` order, its NaN/infinity warning.
  var warnings: [(name: String, warning: String?)]

  init(_ model: Model) {
    metrics = ModelMetrics(model)
    paths = []
    layers = [:]
    for (path, dense) in model.weightedLayers {
      paths.append(path)
      layers[path] = Self.counts(of: dense)
    }
    warnings = model.namedParameters.map { ($0.name, Checkpoint.nonFiniteWarning(name: $0.name, tensor: $0.tensor)) }
  }

  /// These figures after the layers at `paths` of `model` changed.
  /// - Complexity: O(weights of the changed layers).
  func updating(_ model: Model, layers paths: [ParameterPath]) -> ModelFigures {
    var result = self
    result.metrics = metrics.updating(model, layers: paths)
    let names = Set(paths.map { $0.appending("weight").description })
    for path in paths {
      guard let dense = model.weightedLayer(at: path) else { continue }
      result.layers[path] = Self.counts(of: dense)
    }
    for (index, entry) in warnings.enumerated() where names.contains(entry.name) {
      if let path = ParameterPath(entry.name), let tensor = model.parameters[path]?.tensor {
        result.warnings[index].warning = Checkpoint.nonFiniteWarning(name: entry.name, tensor: tensor)
      }
    }
    return result
  }

  private static func counts(of dense: WeightedLayer) -> (nonzero: Int, keptRows: Int) {
    (dense.weight.nonzeroCount, Session.keptUnits(of: dense, granularity: .neuron).count { $0 })
  }
}

/// An evaluation the session asked for: the model after a command, and what changed in it
/// since the previous job's.
struct EvaluationJob: Sendable {
  var id: Int
  var model: Model
  /// The layers whose weights differ from the previous job's model; nil when the evaluator
  /// must be built again (a new base, criterion or scope).
  var changed: [ParameterPath]?
  var test: Dataset
  var denseSeconds: Double?
  var sparsity: Double
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
    try prunedFromCurrent(base).model
  }

  /// `pruned(_:)`, made from the current model by changing only the masks of the layers whose
  /// counts moved when the current model is this ranking's pruning of `base`.
  /// - Returns: the model and the layers that differ from the current one (nil: all may).
  private func prunedFromCurrent(_ base: Model) throws -> (model: Model, changed: [ParameterPath]?) {
    let criterion = state.criterion
    if state.scope == .global && state.tables.global == nil {
      throw ShearsError("--criterion \(criterion.rawValue)", "cannot rank layers together; use layer scope")
    }
    let kept = state.tables.ranking.flatMap { $0.scope == state.scope ? $0 : nil }
    let ranking =
      kept
      ?? RankedPruning(
        model: base, scores: base.weightedLayers.compactMap { state.tables.scores[$0.path] }, scope: state.scope)
    let previous = kept == nil ? nil : state.tables.counts.flatMap { counts in state.current.map { ($0, counts) } }
    state.tables.ranking = ranking
    let counts = ranking.counts(targets: state.targets)
    let result = ranking.pruned(base, counts: counts, from: previous)
    guard !PruningPipeline.rewritesWeights(criterion) else {
      state.tables.counts = nil
      return (PruningPipeline.rewrite(criterion, original: base, pruned: result.model), nil)
    }
    state.tables.counts = counts
    return (result.model, previous == nil ? nil : result.changed)
  }

  /// Prunes the base model to the targets, publishes the new structure at once, then hands
  /// the model to the evaluation queue for its accuracy: a quick estimate, then the full test
  /// set, abandoned as soon as a newer command changes the model.
  func prune(id: Int) throws {
    guard let base = state.base else { return }
    let (model, changed) = try prunedFromCurrent(base)
    state.current = model
    publishModel(accuracy: nil, changed: changed)
    guard let test = state.test, let figures = state.figures else { return }
    if !isStale(id) { publish { $0.phase = .evaluating } }
    let job = EvaluationJob(
      id: id, model: model, changed: changed, test: test, denseSeconds: state.denseSeconds,
      sparsity: figures.metrics.sparsity)
    evaluations.async { self.evaluate(job) }
  }

  /// Runs on `evaluations`: applies the job's changes to the resident evaluator (each job's,
  /// even when stale, so the evaluator follows the models in order), then measures.
  private func evaluate(_ job: EvaluationJob) {
    // A layer with a BatchNorm folded into it (a ResNet's) is rebuilt with the evaluator.
    if let changed = job.changed, let evaluator = resident.evaluator, !resident.needsRebuild,
      changed.allSatisfy(evaluator.canReplaceWeights)
    {
      for path in changed {
        guard let layer = job.model.weightedLayer(at: path) else { continue }
        evaluator.replaceWeights(of: path, with: layer)
      }
    } else {
      resident.needsRebuild = true
    }
    let isStale = { self.isStale(job.id) }
    guard !isStale() else { return }
    if resident.needsRebuild {
      resident.evaluator = Evaluator(model: job.model)
      resident.needsRebuild = false
    }
    guard let evaluator = resident.evaluator,
      let estimate = evaluator.evaluate(job.test, limit: Self.estimateSamples, stoppingWhen: isStale).map({
        reading($0, of: job.test)
      }), !isStale()
    else { return }
    publish { $0.accuracy = estimate }
    let start = MonotonicClock.system.nanoseconds()
    guard let evaluation = evaluator.evaluate(job.test, stoppingWhen: isStale) else { return }
    let seconds = MonotonicClock.system.seconds(since: start)
    let full = reading(evaluation, of: job.test)
    queue.async {
      guard !self.isStale(job.id) else { return }
      self.state.curve.append(CurvePoint(sparsity: job.sparsity, accuracy: full.accuracy))
      let speedup = job.denseSeconds.map { $0 / max(1e-9, seconds) }
      self.publish {
        $0.accuracy = full
        $0.phase = .idle
        $0.curve = self.state.curve
        $0.measuredSpeedup = speedup
      }
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

  func reading(_ evaluation: Evaluation, of test: Dataset) -> AccuracyReading {
    AccuracyReading(
      accuracy: evaluation.accuracy, loss: evaluation.loss, samples: evaluation.samples,
      isFull: evaluation.samples == test.count)
  }

  // MARK: - Publishing

  /// Publishes the current model's structure, scores and metrics, and the accuracy when given.
  /// - Parameter changed: the layers that changed since the last publication; nil when any may
  ///   have, and every figure is counted again.
  func publishModel(accuracy: AccuracyReading?, changed: [ParameterPath]? = nil) {
    guard let current = state.current else { return }
    let figures = changed.flatMap { paths in state.figures.map { $0.updating(current, layers: paths) } } ?? ModelFigures(current)
    state.figures = figures
    let granularity = state.criterion.defaultGranularity
    let layers: [LayerView] = zip(figures.paths, figures.metrics.layers).map { path, metrics in
      let counts = figures.layers[path] ?? (metrics.nonzero, metrics.rows)
      return LayerView(
        path: path, shape: metrics.shape, parameters: metrics.parameters, nonzero: counts.nonzero,
        keptRows: counts.keptRows, target: state.targets[path] ?? 0, granularity: granularity,
        scores: state.tables.distributions[path] ?? ScoreDistribution(sorted: [], values: []))
    }
    let hasUnsavedChanges = state.revision != state.saved
    let warnings = figures.warnings.compactMap(\.warning)
    publish {
      $0.warning = warnings.isEmpty ? nil : warnings.joined(separator: "; ")
      $0.layers = layers
      $0.globalScores = state.tables.global
      $0.metrics = figures.metrics
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
