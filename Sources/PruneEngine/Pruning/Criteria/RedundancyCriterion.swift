/// 1 − the largest cosine similarity between a neuron's incoming weights and those of any other
/// kept neuron of the layer; the neurons it prunes are merged into their most similar survivor
/// (`Redundancy`). Similarity pairs neurons within a layer, so layers are pruned each on its own.
struct RedundancyScorer: CriterionScorer {
  var granularities: [Granularity] { [.neuron] }
  var rewriting: (any WeightRewriting)? { RedundancyMerge() }

  func scores(_ layer: ScoredLayer) -> [Float] { Redundancy.scores(layer.weights, threads: layer.context.threads) }

  /// The merge moves a neuron's outgoing weights to the next layer of an `nn.Sequential`; in
  /// other trees a layer's outputs may reach several layers through BatchNorm and sums.
  func problem(with model: Model) -> String? {
    model.isSequential ? nil : "merges neurons into the next layer of an nn.Sequential model (mlp:, cnn:) only"
  }
}

/// Merges each neuron a pruning step removed into its twin (`Redundancy.mergeRemoved`).
struct RedundancyMerge: WeightRewriting {
  func rewrite(original: Model, pruned: Model) -> Model { Redundancy.mergeRemoved(original: original, pruned: pruned) }
}
