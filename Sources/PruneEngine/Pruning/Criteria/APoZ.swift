/// 1 − APoZ: the fraction of calibration samples on which the neuron's post-ReLU output is not
/// exactly 0 (Hu et al. 2016, "Network Trimming: A Data-Driven Neuron Pruning Approach towards
/// Efficient Deep Architectures"), so the highest average percentage of zeros is pruned first. A
/// fraction compares across layers.
struct APoZScorer: CriterionScorer {
  var granularities: [Granularity] { [.neuron] }

  func calibration(for granularity: Granularity) -> CalibrationNeeds { .activations }

  func ranksAcrossLayers(_ granularity: Granularity) -> Bool { true }

  func scores(_ layer: ScoredLayer) -> [Float] { layer.statistics.zeroFraction.map { Float(1 - $0) } }
}
