/// The mean post-ReLU output of each neuron over the calibration samples, a filter's averaged
/// over its output positions too (the "mean activation" criterion Molchanov et al. 2017 compare
/// against). Means scale with a layer's weights, so layers are pruned each on its own.
struct ActivationScorer: CriterionScorer {
  var granularities: [Granularity] { [.neuron] }

  func calibration(for granularity: Granularity) -> CalibrationNeeds { .activations }

  func scores(_ layer: ScoredLayer) -> [Float] { layer.statistics.meanActivation.map { Float($0) } }
}
