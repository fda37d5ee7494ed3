/// Mean |∂L/∂w| over the calibration samples, where L is the mean cross-entropy of a mini-batch
/// of 64 (the training batch size): the gradient is taken per batch and its absolute value
/// averaged over batches, each weighted by its number of samples (the last batch may be
/// smaller). Gradient sensitivity, as used by the `--alpha` rule.
struct GradientScorer: CriterionScorer {
  var granularities: [Granularity] { [.weight] }

  func calibration(for granularity: Granularity) -> CalibrationNeeds { .weightGradients }

  func scores(_ layer: ScoredLayer) -> [Float] { layer.statistics.meanAbsoluteWeightGradient }
}
