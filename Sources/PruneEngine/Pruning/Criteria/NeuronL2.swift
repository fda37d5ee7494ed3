/// The L2 norm of each row (neuron or filter) of the masked weight, as
/// `torch.nn.utils.prune.ln_structured(n=2, dim=0)` computes it. Norms scale with a layer's
/// fan-in, so layers are pruned each on its own.
struct NeuronL2Scorer: CriterionScorer {
  var granularities: [Granularity] { [.neuron] }

  func scores(_ layer: ScoredLayer) -> [Float] { Similarity.rowNorms(layer.weights).map { Float($0) } }
}
