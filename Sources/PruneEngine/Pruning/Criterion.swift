/// How the importance of weights or neurons is scored; the lowest scores are pruned first.
public enum Criterion: String, Sendable, CaseIterable, Equatable {
  /// |w| per weight (L1 unstructured; Han et al. 2015).
  case magnitude
  /// Seeded uniform random scores: the baseline every criterion should beat.
  case random
  /// Mean |dL/dw| over a calibration set (gradient sensitivity).
  case gradient
  /// First-order Taylor expansion of the loss change: |w · dL/dw| per weight, or per neuron
  /// |mean(a · dL/da)| normalised per layer (Molchanov et al. 2017).
  case taylor
  /// L2 norm of each output neuron's incoming weights (`ln_structured(n=2, dim=0)`).
  case neuronL2 = "neuron-l2"
  /// L1 norm (sum of |w|) of each filter of a convolution, or of each neuron's incoming weights
  /// of a Linear layer (`ln_structured(n=1, dim=0)`; Li et al. 2017).
  case filterL1 = "filter-l1"
  /// Mean post-ReLU activation of each neuron over a calibration set.
  case activation
  /// Average percentage of zeros of each neuron's post-ReLU output (Hu et al. 2016); high APoZ
  /// is pruned first.
  case apoz
  /// Neurons whose incoming weights nearly duplicate another's (cosine similarity); a removed
  /// neuron's outgoing weights are merged into its twin's.
  case redundancy
  /// |γ| of each channel's BatchNorm scale (network slimming; Liu et al. 2017).
  case batchNormScale = "bn-scale"

  /// The scorer behind the criterion: the one list of what each name means.
  var scorer: any CriterionScorer {
    switch self {
    case .magnitude: MagnitudeScorer()
    case .random: RandomScorer()
    case .gradient: GradientScorer()
    case .taylor: TaylorScorer()
    case .neuronL2: NeuronL2Scorer()
    case .filterL1: FilterL1Scorer()
    case .activation: ActivationScorer()
    case .apoz: APoZScorer()
    case .redundancy: RedundancyScorer()
    case .batchNormScale: BatchNormScaleScorer()
    }
  }

  /// What a criterion scores when pruning is not asked to be structured.
  public var defaultGranularity: Granularity { scorer.granularities[0] }

  /// What the criterion can score.
  public var supportedGranularities: [Granularity] { scorer.granularities }

  /// Whether pruning with it also changes the weights it keeps (`redundancy`'s merge).
  public var rewritesKeptWeights: Bool { scorer.rewriting != nil }

  /// Whether scoring needs a forward or backward pass over data.
  public var needsData: Bool { scorer.granularities.contains { !scorer.calibration(for: $0).isEmpty } }

  /// Whether scores of different layers can be ranked together (`--scope global`).
  ///
  /// Weight scores are comparable across layers, as in `global_unstructured`. Of the neuron
  /// scores only Taylor's (normalised per layer) and APoZ's (a fraction) are; L2 and L1 norms
  /// and mean activations scale with a layer's fan-in (Li et al. 2017 also rank filters within
  /// each layer), and redundancy pairs neurons within a layer.
  public func supportsGlobalScope(_ granularity: Granularity) -> Bool { scorer.ranksAcrossLayers(granularity) }
}

/// What a score applies to.
public enum Granularity: String, Sendable, Equatable {
  /// Single weights (unstructured pruning).
  case weight
  /// Whole output neurons or filters: rows of a `[out, in]` weight, output channels of a
  /// `[filters, channels, kh, kw]` weight (structured pruning).
  case neuron
}

/// Which weights compete with each other when choosing what to prune.
public enum PruningScope: String, Sendable, CaseIterable, Equatable {
  /// Each layer is pruned by the same rule on its own (`l1_unstructured` per layer).
  case layer
  /// One ranking across every selected layer, Linear and Conv2d alike (`global_unstructured`);
  /// biases are never pruned.
  case global
  /// Each row of each selected layer (a neuron's incoming weights, a filter) is pruned by the
  /// same rule on its own: the comparison group of Wanda (Sun et al. 2023), which ranks the
  /// weights of every output row. Single weights only.
  case row
}

/// How much to prune.
public enum PruningRule: Sendable, Equatable {
  /// A fraction, 0 to 1, of the entries still kept: `round(fraction × kept)` with Python's
  /// round-half-to-even, as `torch.nn.utils.prune`.
  case fraction(Double)
  /// A number of entries among those still kept.
  case count(Int)
  /// Entries whose score is below a value.
  case threshold(Float)
  /// Entries whose score is below `alpha` × the largest score in the scope (the gradient
  /// sensitivity rule).
  case alpha(Float)
  /// Entries whose score is below `k` × the standard deviation of the layer's kept weights
  /// (Han et al. 2015; for criteria other than magnitude, of the layer's kept scores).
  case standardDeviations(Float)
}
