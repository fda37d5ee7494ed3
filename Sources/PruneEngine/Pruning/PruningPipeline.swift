/// The result of one pruning step on a model.
public struct PruningOutcome: Sendable {
  public var model: Model
  public var layers: [LayerPruning]
}

/// Scoring, selection and the criterion's weight rewriting (the redundancy merge), as one step:
/// what `shears prune`, the schedules, sweeps and the explorer all run.
public enum PruningPipeline {
  /// Scores `model` with the request's criterion, prunes what the rule selects and lets the
  /// criterion rewrite the kept weights (`redundancy` merges each removed neuron into its most
  /// similar surviving neighbour).
  ///
  /// - Throws: `ShearsError` when the request does not fit the model or a data-driven criterion
  ///   has no calibration data.
  public static func apply(_ request: PruningRequest, to model: Model, context: ScoringContext) throws -> PruningOutcome {
    try apply(request, to: model, scores: try scores(for: request, model: model, context: context))
  }

  /// The scores a request needs, for reuse across several rules on the same model (sweeps).
  public static func scores(for request: PruningRequest, model: Model, context: ScoringContext) throws -> [LayerScores] {
    let targets = try Pruner.targetLayers(of: model, request: request)
    return try Scoring.scores(
      request.criterion, granularity: request.granularity, model: model, layers: targets, context: context)
  }

  /// One pruning step from scores computed earlier on the same `model`.
  public static func apply(_ request: PruningRequest, to model: Model, scores: [LayerScores]) throws -> PruningOutcome {
    let (pruned, layers) = try Pruner.prune(model, request: request, scores: scores)
    return PruningOutcome(model: rewrite(request.criterion, original: model, pruned: pruned), layers: layers)
  }

  /// Whether `criterion` changes the weights it keeps (`rewrite` is then not the identity).
  public static func rewritesWeights(_ criterion: Criterion) -> Bool {
    criterion.scorer.rewriting != nil
  }

  /// `pruned` (masked from `original`) with the kept weights rewritten as `criterion` does
  /// after selection; `pruned` itself for criteria that only mask.
  public static func rewrite(_ criterion: Criterion, original: Model, pruned: Model) -> Model {
    criterion.scorer.rewriting?.rewrite(original: original, pruned: pruned) ?? pruned
  }
}
