/// What data-driven criteria score from, and the seed of `random`.
public struct ScoringContext: Sendable {
  /// Training images used by data-driven criteria (`gradient`, `taylor`, `activation`, `apoz`).
  public var calibration: Dataset?
  /// How many samples of `calibration` are used: the first ones, in order.
  public var calibrationSamples: Int
  /// Seeds `random`; each layer draws from its own stream derived from this seed.
  public var seed: UInt64
  /// Threads for the calibration passes' matrix products (results do not depend on it).
  public var threads: Int

  public init(
    calibration: Dataset? = nil, calibrationSamples: Int = 2048, seed: UInt64 = 1,
    threads: Int = GEMM.defaultThreads
  ) {
    self.calibration = calibration
    self.calibrationSamples = calibrationSamples
    self.seed = seed
    self.threads = threads
  }
}

/// Importance scores of weights or neurons for every criterion; the `Pruner` turns them into
/// masks.
public enum Scoring {
  /// Scores for `layers` (paths of Linear or Conv2d modules); higher = more important, the
  /// lowest are pruned.
  ///
  /// Weight scores have one value per weight (row-major, as the weight); neuron scores one per
  /// output neuron or filter (row of the `[out, in]` weight, output channel of a convolution).
  /// Activation statistics of a filter average its channel over output positions and samples. Pruned weights and neurons get a score like
  /// any other (usually 0 for weight-based criteria); the `Pruner` only ranks kept entries.
  ///
  /// - `magnitude`: |w| (Han et al. 2015, "Learning both Weights and Connections for Efficient
  ///   Neural Networks").
  /// - `random`: uniform in [0, 1) from `SeededGenerator`, one stream per layer derived from the
  ///   context's seed and the layer's path, so a layer's scores do not depend on which other
  ///   layers are scored: the baseline every criterion should beat (Blalock et al. 2020, "What is
  ///   the State of Neural Network Pruning?").
  /// - `gradient`: mean |∂L/∂w| over the calibration samples, where L is the mean cross-entropy
  ///   of a mini-batch of 64 (the training batch size): the gradient is taken per batch and its
  ///   absolute value averaged over batches, each weighted by its number of samples (the last
  ///   batch may be smaller). Gradient sensitivity, as used by the `--alpha` rule.
  /// - `taylor`, weights: |w · ∂L/∂w| averaged the same way, which is |w| times the `gradient`
  ///   score since w is fixed (Molchanov et al. 2017, "Pruning Convolutional Neural Networks for
  ///   Resource Efficient Inference", first-order Taylor criterion).
  /// - `taylor`, neurons: |mean over samples of a · ∂ℓ/∂a| with a the neuron's post-ReLU output
  ///   and ℓ the sample's own cross-entropy, divided by the layer's L2 norm of those values
  ///   (Molchanov et al. 2017, §2.2 and "layer-wise ℓ2-normalization").
  /// - `neuron-l2`: L2 norm of each row of the masked weight, as
  ///   `torch.nn.utils.prune.ln_structured(n=2, dim=0)` computes it.
  /// - `filter-l1`: L1 norm (Σ|w|) of each row of the masked weight, as
  ///   `ln_structured(n=1, dim=0)` computes it: a convolution's filter over all its input
  ///   channels and kernel positions (Li et al. 2017, "Pruning Filters for Efficient ConvNets"),
  ///   or a Linear neuron's incoming weights.
  /// - `activation`: mean post-ReLU output of each neuron over the calibration samples (the
  ///   "mean activation" criterion Molchanov et al. 2017 compare against).
  /// - `apoz`: 1 − APoZ, the fraction of calibration samples on which the neuron's post-ReLU
  ///   output is not exactly 0 (Hu et al. 2016, "Network Trimming: A Data-Driven Neuron Pruning
  ///   Approach towards Efficient Deep Architectures"), so the highest APoZ is pruned first.
  /// - `redundancy`: 1 − the largest cosine similarity between the neuron's incoming weights and
  ///   those of any other kept neuron of the layer (see `Redundancy`).
  ///
  /// - Parameters:
  ///   - criterion: what to score by.
  ///   - granularity: `.weight` or `.neuron`; must be one the criterion supports. Neuron scores
  ///     exist only for hidden layers (the output layer's neurons are the classes).
  ///   - layers: paths of weighted layers, e.g. `0, 2, 4`; one `LayerScores` per entry, in
  ///     order.
  ///   - context: calibration data, seed and threads.
  /// - Returns: one `LayerScores` per requested layer.
  /// - Throws: `ShearsError("--criterion X", "needs data: ...")` when a data-driven criterion
  ///   gets no (or an empty) calibration set; a `ShearsError` for a layer that is not a Linear
  ///   or Conv2d layer, the output layer with neuron granularity, a granularity the criterion does not support, or
  ///   calibration images or labels that do not fit the model.
  /// - Complexity: O(parameters) for weight and norm criteria, O(out² · in) per layer for
  ///   `redundancy`, O(samples · parameters) for data-driven ones (one forward pass, plus one
  ///   backward pass for `gradient` and `taylor`).
  public static func scores(
    _ criterion: Criterion, granularity: Granularity, model: Model, layers: [ParameterPath], context: ScoringContext
  ) throws -> [LayerScores] {
    guard criterion.supportedGranularities.contains(granularity) else {
      throw ShearsError("--criterion \(criterion.rawValue)", "cannot score single \(granularity)s")
    }
    let weightedLayers = try validatedLayers(layers, of: model, granularity: granularity)

    if criterion.needsData {
      let statistics = try Calibration.measure(
        model: model, context: context, criterion: criterion, granularity: granularity,
        layers: Set(weightedLayers.map(\.position)))
      return weightedLayers.map { position, path, dense in
        LayerScores(
          layer: path, granularity: granularity,
          values: dataScores(criterion, granularity: granularity, dense: dense, statistics: statistics[position]))
      }
    }
    return weightedLayers.map { _, path, dense in
      let values: [Float]
      switch criterion {
      case .magnitude: values = dense.weight.scalars.map { abs($0) }
      case .random: values = randomScores(count: dense.weight.count, seed: context.seed, layer: path)
      case .neuronL2: values = Similarity.rowNorms(dense).map { Float($0) }
      case .filterL1: values = rowL1Norms(dense)
      case .redundancy: values = Redundancy.scores(dense, threads: context.threads)
      case .gradient, .taylor, .activation, .apoz: preconditionFailure("data-driven criteria are handled above")
      }
      return LayerScores(layer: path, granularity: granularity, values: values)
    }
  }

  // MARK: - Checks

  /// The requested layers with their parameters and their position among the weighted layers.
  private static func validatedLayers(
    _ layers: [ParameterPath], of model: Model, granularity: Granularity
  ) throws -> [(position: Int, path: ParameterPath, dense: WeightedLayer)] {
    let dense = model.weightedLayers
    return try layers.map { path in
      guard let position = dense.firstIndex(where: { $0.path == path }) else {
        throw ShearsError("layer \(path)", Pruner.noSuchLayer(in: model))
      }
      if granularity == .neuron && position == dense.count - 1 {
        throw ShearsError("layer \(path)", "is the output layer; its neurons are the classes and cannot be scored")
      }
      return (position, path, dense[position].layer)
    }
  }

  // MARK: - Criteria

  /// Scores of a data-driven criterion from a layer's calibration statistics.
  private static func dataScores(
    _ criterion: Criterion, granularity: Granularity, dense: WeightedLayer, statistics: Calibration.LayerStatistics
  ) -> [Float] {
    switch (criterion, granularity) {
    case (.gradient, _):
      return statistics.meanAbsoluteWeightGradient
    case (.taylor, .weight):
      return zip(dense.weight.scalars, statistics.meanAbsoluteWeightGradient).map { abs($0) * $1 }
    case (.taylor, .neuron):
      let magnitudes = statistics.meanActivationTimesGradient.map { abs($0) }
      let norm = magnitudes.reduce(0) { $0 + $1 * $1 }.squareRoot()
      return magnitudes.map { norm > 0 ? Float($0 / norm) : 0 }
    case (.activation, _):
      return statistics.meanActivation.map { Float($0) }
    case (.apoz, _):
      return statistics.zeroFraction.map { Float(1 - $0) }
    default:
      preconditionFailure("\(criterion) is not a data-driven criterion")
    }
  }

  /// Σ|w| of each row (filter or neuron), summed in double precision.
  static func rowL1Norms(_ dense: WeightedLayer) -> [Float] {
    let columns = dense.inputCount
    return dense.weight.scalars.withUnsafeBufferPointer { weights in
      (0..<dense.outputCount).map { row in
        var sum = 0.0
        for value in weights[(row * columns)..<((row + 1) * columns)] { sum += Double(abs(value)) }
        return Float(sum)
      }
    }
  }

  /// Seeded uniform scores in [0, 1) for one layer.
  static func randomScores(count: Int, seed: UInt64, layer: ParameterPath) -> [Float] {
    var generator = SeededGenerator(seed: streamSeed(seed, layer: streamKey(layer)))
    return (0..<count).map { _ in generator.nextUnitFloat() }
  }

  /// A layer's key among the random streams: a Sequential layer's index (the key its stream has
  /// always had), else the 64-bit FNV-1a hash of its dotted path.
  static func streamKey(_ layer: ParameterPath) -> UInt64 {
    if let index = UInt64(layer.description) { return index }
    var hash: UInt64 = 0xCBF2_9CE4_8422_2325
    for byte in layer.description.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
    return hash
  }

  /// The seed of a layer's random stream: two rounds of the SplitMix64 finaliser (a bijection),
  /// so for a fixed layer different seeds give different streams and for a fixed seed different
  /// layers do.
  static func streamSeed(_ seed: UInt64, layer: UInt64) -> UInt64 {
    func mix(_ value: UInt64) -> UInt64 {
      var z = value &+ 0x9E37_79B9_7F4A_7C15
      z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
      z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
      return z ^ (z >> 31)
    }
    return mix(mix(seed) ^ layer)
  }
}
