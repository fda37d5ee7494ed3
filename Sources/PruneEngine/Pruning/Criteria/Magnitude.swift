/// |w| per weight (Han et al. 2015, "Learning both Weights and Connections for Efficient Neural
/// Networks"): `l1_unstructured`, or `global_unstructured` in global scope.
struct MagnitudeScorer: CriterionScorer {
  var granularities: [Granularity] { [.weight] }
  var spreadsByWeights: Bool { true }

  func scores(_ layer: ScoredLayer) -> [Float] { layer.weights.weight.scalars.map { abs($0) } }
}
