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
/// masks. What each criterion computes is documented with its scorer in `Criteria/`.
public enum Scoring {
  /// Scores for `layers` (paths of Linear or Conv2d modules); higher = more important, the
  /// lowest are pruned.
  ///
  /// Weight scores have one value per weight (row-major, as the weight); neuron scores one per
  /// output neuron or filter (row of the `[out, in]` weight, output channel of a convolution).
  /// Activation statistics of a filter average its channel over output positions and samples.
  /// Pruned weights and neurons get a score like any other (usually 0 for weight-based
  /// criteria); the `Pruner` only ranks kept entries.
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
  ///   or Conv2d layer, the output layer with neuron granularity, a granularity the criterion
  ///   does not support, or calibration images or labels that do not fit the model.
  /// - Complexity: O(parameters) for weight and norm criteria, O(out² · in) per layer for
  ///   `redundancy`, O(samples · parameters) for data-driven ones (one forward pass, plus one
  ///   backward pass for `gradient` and `taylor`).
  public static func scores(
    _ criterion: Criterion, granularity: Granularity, model: Model, layers: [ParameterPath], context: ScoringContext
  ) throws -> [LayerScores] {
    guard criterion.supportedGranularities.contains(granularity) else {
      throw ShearsError("--criterion \(criterion.rawValue)", "cannot score single \(granularity)s")
    }
    let scorer = criterion.scorer
    if let problem = scorer.problem(with: model) { throw ShearsError("--criterion \(criterion.rawValue)", problem) }
    let weightedLayers = try validatedLayers(layers, of: model, granularity: granularity)
    let needs = scorer.calibration(for: granularity)
    let statistics =
      needs.isEmpty
      ? [Calibration.LayerStatistics](repeating: Calibration.LayerStatistics(), count: model.weightedLayers.count)
      : try Calibration.measure(
        model: model, context: context, needs: needs, subject: "--criterion \(criterion.rawValue)",
        layers: Set(weightedLayers.map(\.position)))
    return weightedLayers.map { position, path, dense in
      LayerScores(
        layer: path, granularity: granularity,
        values: scorer.scores(
          ScoredLayer(
            path: path, weights: dense, granularity: granularity, statistics: statistics[position], context: context)))
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
}
