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
    // Neurons and filters are scored with every layer coupled to them (`ChannelGroup`).
    let groups = try weightedLayers.map { _, path, _ -> ChannelGroup? in
      guard granularity == .neuron else { return nil }
      guard let group = model.channelGroup(producedBy: path) else {
        throw ShearsError("layer \(path)", "is the output layer; its neurons are the classes and cannot be scored")
      }
      return group
    }
    let positions = Dictionary(uniqueKeysWithValues: model.weightedLayers.enumerated().map { ($1.path, $0) })
    let scoredPositions = Set(
      zip(weightedLayers, groups).flatMap { layer, group in group?.producers.compactMap { positions[$0] } ?? [layer.position] })
    let needs = scorer.calibration(for: granularity)
    let statistics =
      needs.isEmpty
      ? [Calibration.LayerStatistics](repeating: Calibration.LayerStatistics(), count: model.weightedLayers.count)
      : try Calibration.measure(
        model: model, context: context, needs: needs, subject: "--criterion \(criterion.rawValue)",
        layers: scoredPositions)
    func scores(of path: ParameterPath, normScales: [[Float]]) -> [Float] {
      guard let position = positions[path], let dense = model.weightedLayer(at: path) else { return [] }
      return scorer.scores(
        ScoredLayer(
          path: path, weights: dense, granularity: granularity, statistics: statistics[position], normScales: normScales,
          context: context))
    }
    return zip(weightedLayers, groups).map { layer, group in
      guard let group else {
        return LayerScores(layer: layer.path, granularity: granularity, values: scores(of: layer.path, normScales: []))
      }
      let normScales = group.norms.compactMap { model.parameters[$0.appending("weight")]?.tensor?.scalars }
      return LayerScores(
        layer: layer.path, granularity: granularity,
        values: Self.mean(group.producers.map { scores(of: $0, normScales: normScales) }))
    }
  }

  /// The element-wise mean of a group's per-producer scores (DepGraph's mean reduction, which
  /// keeps groups of one and of many layers comparable); a single producer's scores as they are.
  static func mean(_ scores: [[Float]]) -> [Float] {
    guard scores.count > 1, let first = scores.first else { return scores.first ?? [] }
    return first.indices.map { unit in
      Float(scores.reduce(0.0) { $0 + Double($1[unit]) } / Double(scores.count))
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
