import Testing

@testable import PruneEngine

/// Every criterion on convolution weights and filters, with expectations worked out by hand or
/// from a Double forward pass written from the layer definitions.
struct ConvolutionScoringTests {
  /// `cnn:1x3x3-conv2k2-pool2-fc2` (layers 0 conv, 1 ReLU, 2 pool, 3 Flatten, 4 Linear):
  /// filter 0 = [[1, 0], [0, 0]] copies the top-left pixel of each window; filter 1 =
  /// [[0, 0], [0, −1]] with bias 0.5 gives relu(0.5 − bottom-right pixel).
  static let handModel = Model(
    layers: [
      .weighted(
        WeightedLayer(
          kind: .conv(stride: 1, padding: 0), weight: Tensor(shape: [2, 1, 2, 2], scalars: [1, 0, 0, 0, 0, 0, 0, -1]),
          bias: Tensor(shape: [2], scalars: [0, 0.5]))),
      .relu, .maxPool(size: 2), .flatten,
      .weighted(ScoringFixtures.linear([[1, -1], [-0.5, 2]], bias: [0.1, -0.1])),
    ], inputShape: [1, 3, 3])

  /// Sample 0 is the 3x3 identity (pixels 1 on the diagonal), sample 1 all zeros.
  /// Filter 0's four outputs: (1, 0, 0, 1) and (0, 0, 0, 0); filter 1's: (0, 0.5, 0.5, 0) and
  /// (0.5, 0.5, 0.5, 0.5).
  static let handData = Dataset(
    images: [255, 0, 0, 0, 255, 0, 0, 0, 255] + [UInt8](repeating: 0, count: 9), labels: [0, 1], rows: 3, columns: 3)

  @Test func activationAndAPoZAverageEachFilterOverPositionsAndSamples() throws {
    // Mean activation: filter 0 (0.5 + 0) / 2, filter 1 (0.25 + 0.5) / 2, before pooling.
    let activation = try ScoringFixtures.scores(.activation, model: Self.handModel, layers: [0], data: Self.handData)[0]
    #expect(zip(activation, [0.25, 0.375] as [Float]).allSatisfy { isClose($0, $1) }, "\(activation)")
    // Zeros: filter 0 2/4 and 4/4, APoZ 0.75; filter 1 2/4 and 0/4, APoZ 0.25. Scores are 1 − APoZ.
    let apoz = try ScoringFixtures.scores(.apoz, model: Self.handModel, layers: [0], data: Self.handData)[0]
    #expect(zip(apoz, [0.25, 0.75] as [Float]).allSatisfy { isClose($0, $1) }, "\(apoz)")
  }

  @Test func filterL1IsTheSumOfAbsoluteWeightsOfEachFilterOrNeuron() throws {
    var model = Self.handModel
    model.layers[0] = .weighted(
      WeightedLayer(
        kind: .conv(stride: 1, padding: 0),
        weight: Tensor(shape: [3, 1, 2, 2], scalars: [1, -2, 0.5, 0, 0.25, 0.25, -0.5, 0, -1, 0, 0, 0]),
        bias: Tensor(shape: [3])))
    model.layers[4] = .weighted(ScoringFixtures.linear([[1, -1, 3], [-0.5, 2, 0]]))
    let scores = try ScoringFixtures.scores(.filterL1, model: model, layers: [0], data: nil)[0]
    #expect(scores == [3.5, 1, 1])
    // On a Linear layer: the L1 norm of each neuron's incoming weights.
    let mlp = try ScoringFixtures.scores(.filterL1, data: nil)[0]
    #expect(mlp == [1, 1, 2])
    #expect(Criterion.filterL1.defaultGranularity == .neuron && !Criterion.filterL1.needsData)
    #expect(!Criterion.filterL1.supportsGlobalScope(.neuron))
  }

  @Test func gradientAndTaylorOnConvolutionWeightsMatchFiniteDifferences() throws {
    let model = try ConvolutionFixtures.randomModel("cnn:1x6x6-conv3k3-pool2-fc2", seed: 11)
    let data = ScoringFixtures.randomData(samples: 8, rows: 6, columns: 6, classes: 2, seed: 12)
    let reference = ReferenceForward(model: model)
    // Eight samples are one mini-batch: the score is |∂(mean loss)/∂w|.
    for index in [0, 4] {
      let expected = reference.weightGradient(layer: index, data: data, count: 8).map(abs)
      let gradient = try ScoringFixtures.scores(.gradient, model: model, layers: [ParameterPath(integerLiteral: index)], data: data)[0]
      #expect(gradient.count == expected.count)
      #expect(
        zip(gradient, expected).allSatisfy { isClose(Double($0), $1, absolute: 1e-5, relative: 1e-3) },
        "layer \(index): \(gradient) against \(expected)")
      let weights = ConvolutionFixtures.layer(model, index).weight.scalars
      let taylor = try ScoringFixtures.scores(.taylor, model: model, layers: [ParameterPath(integerLiteral: index)], data: data)[0]
      #expect(
        zip(taylor, zip(weights, expected)).allSatisfy {
          isClose(Double($0), Double(abs($1.0)) * $1.1, absolute: 1e-5, relative: 1e-3)
        })
    }
  }

  /// Molchanov et al.'s criterion on a feature map: |mean over samples and positions of
  /// a · ∂ℓ/∂a|, normalised over the layer, with ∂ℓ/∂a taken through the max pooling.
  @Test func taylorOnFiltersMatchesFiniteDifferencesThroughPooling() throws {
    let model = try ConvolutionFixtures.randomModel("cnn:1x6x6-conv3k3-pool2-fc2", seed: 21)
    let data = ScoringFixtures.randomData(samples: 6, rows: 6, columns: 6, classes: 2, seed: 22)
    let reference = ReferenceForward(model: model)
    let positions = 16
    var sums = [Double](repeating: 0, count: 3)
    let step = 1e-6
    for sample in 0..<data.count {
      let pixels = ReferenceForward.pixels(data, sample)
      let label = Int(data.labels[sample])
      let activations = reference.activations(pixels, layer: 0)
      for filter in 0..<3 {
        for position in 0..<positions {
          let feature = filter * positions + position
          guard activations[feature] > 0 else { continue }
          let up = ReferenceForward.loss(
            reference.logits(pixels, nudge: .init(layer: 0, feature: feature, delta: step)), label: label)
          let down = ReferenceForward.loss(
            reference.logits(pixels, nudge: .init(layer: 0, feature: feature, delta: -step)), label: label)
          sums[filter] += activations[feature] * (up - down) / (2 * step)
        }
      }
    }
    let magnitudes = sums.map { abs($0 / Double(positions * data.count)) }
    let norm = magnitudes.reduce(0) { $0 + $1 * $1 }.squareRoot()
    let scores = try ScoringFixtures.scores(.taylor, .neuron, model: model, layers: [0], data: data)[0]
    #expect(
      zip(scores, magnitudes).allSatisfy { isClose(Double($0), $1 / norm, absolute: 1e-4, relative: 1e-3) },
      "\(scores) against \(magnitudes.map { $0 / norm })")
  }

  @Test func randomScoresEveryConvolutionWeight() throws {
    let model = try ConvolutionFixtures.randomModel("cnn:1x6x6-conv3k3-pool2-fc2", seed: 31)
    let scores = try ScoringFixtures.scores(.random, model: model, layers: [0, 4], data: nil, seed: 5)
    #expect(scores.map(\.count) == [27, 24])
    var generator = SeededGenerator(seed: RandomScorer.streamSeed(5, layer: 0))
    #expect(scores[0] == (0..<27).map { _ in generator.nextUnitFloat() })
  }
}

/// Masks on convolutions: torch's rounding, ties and cumulative pruning, global scope over
/// Linear and Conv2d weights, and the redundancy merge across channels.
struct ConvolutionPrunerTests {
  /// Filter L1 norms (3.5, 1, 1) on `handModel`'s layout with three filters.
  static func threeFilters() -> Model {
    var model = ConvolutionScoringTests.handModel
    model.layers[0] = .weighted(
      WeightedLayer(
        kind: .conv(stride: 1, padding: 0),
        weight: Tensor(shape: [3, 1, 2, 2], scalars: [1, -2, 0.5, 0, 0.25, 0.25, -0.5, 0, -1, 0, 0, 0]),
        bias: Tensor(shape: [3])))
    model.layers[4] = .weighted(ScoringFixtures.linear([[1, -1, 3], [-0.5, 2, 0]]))
    return model
  }

  private func prune(
    _ model: Model, _ criterion: Criterion, _ rule: PruningRule, scope: PruningScope = .layer, layers: [ParameterPath]? = [0]
  )
    throws -> PruningOutcome
  {
    try PruningPipeline.apply(
      PruningRequest(criterion: criterion, scope: scope, rule: rule, layers: layers), to: model,
      context: ScoringContext(seed: 1, threads: 1))
  }

  @Test func filterL1RoundsHalfToEvenAndBreaksTiesByLowestIndex() throws {
    // 0.5 × 3 = 1.5 rounds to 2: the two filters of norm 1 go, with no tie straddling the cut.
    let half = try prune(Self.threeFilters(), .filterL1, .fraction(0.5))
    #expect(half.layers.map(\.prunedIndices) == [[1, 2]] && half.layers[0].tiesAtCut == 0)
    let mask = ConvolutionFixtures.layer(half.model, 0).keptMask
    #expect(mask == [1, 1, 1, 1] + [UInt8](repeating: 0, count: 8))
    // One filter: filters 1 and 2 tie at 1, the lower index goes.
    let one = try prune(Self.threeFilters(), .filterL1, .count(1))
    #expect(one.layers.map(\.prunedIndices) == [[1]] && one.layers[0].tiesAtCut == 2)
    // Cumulative: 0.5 of the two filters left prunes round(1.0) = 1 more, filter 2.
    let again = try prune(one.model, .filterL1, .fraction(0.5))
    #expect(again.layers.map(\.prunedIndices) == [[2]] && again.layers[0].keptUnitsBefore == 2)
  }

  @Test func filterL1RefusesGlobalScopeAndTheOutputLayer() {
    #expect(
      throws: ShearsError("--criterion filter-l1", "neuron scores are not comparable across layers; use --scope layer")
    ) {
      try prune(Self.threeFilters(), .filterL1, .fraction(0.5), scope: .global, layers: nil)
    }
    #expect(
      throws: ShearsError("--layers 4", "is the output layer; its neurons are the classes and cannot be pruned")
    ) { try prune(Self.threeFilters(), .filterL1, .fraction(0.5), layers: [4]) }
    #expect(throws: ShearsError("--layers 2", "no such Linear or Conv2d layer (the model has 0, 4)")) {
      try prune(Self.threeFilters(), .magnitude, .fraction(0.5), layers: [2])
    }
  }

  @Test func globalMagnitudeRanksConvolutionAndLinearWeightsTogether() throws {
    var model = ConvolutionScoringTests.handModel
    model.layers[0] = .weighted(
      WeightedLayer(
        kind: .conv(stride: 1, padding: 0),
        weight: Tensor(shape: [2, 1, 2, 2], scalars: [0.1, -0.8, 0.3, 0.6, -0.05, 0.9, 0.2, -0.7]),
        bias: Tensor(shape: [2])))
    model.layers[4] = .weighted(ScoringFixtures.linear([[0.15, -0.4], [-0.25, 0.5]]))
    // round(0.4 × 12) = 5: |w| 0.05, 0.1, 0.15, 0.2 and 0.25, wherever they are.
    let outcome = try prune(model, .magnitude, .fraction(0.4), scope: .global, layers: nil)
    #expect(ConvolutionFixtures.layer(outcome.model, 0).keptMask == [0, 1, 1, 1, 0, 1, 0, 1])
    #expect(ConvolutionFixtures.layer(outcome.model, 4).keptMask == [0, 1, 0, 1])
    // Layer scope: round(0.4 × 8) = 3 and round(0.4 × 4) = 2 per layer.
    let layer = try prune(model, .magnitude, .fraction(0.4), layers: nil)
    #expect(ConvolutionFixtures.layer(layer.model, 0).keptMask == [0, 1, 1, 1, 0, 1, 0, 1])
    #expect(ConvolutionFixtures.layer(layer.model, 4).keptMask == [0, 1, 0, 1])
  }

  /// A filter that is a positive multiple of another (bias included) is merged into it: its
  /// channel's outgoing weights move onto the twin's, through pooling into a Linear layer's
  /// flattened block, and into a padded convolution's input channel.
  @Test(arguments: ["cnn:1x6x6-conv3k3-pool2-fc2", "cnn:1x5x5-conv3k2-conv2k2p1-pool2-fc2"])
  func redundancyMergesADuplicateFilterExactly(_ architecture: String) throws {
    var model = try ConvolutionFixtures.randomModel(architecture, seed: 41)
    var first = ConvolutionFixtures.layer(model, 0)
    let columns = first.inputCount
    for column in 0..<columns { first.weight.scalars[2 * columns + column] = 0.5 * first.weight.scalars[column] }
    first.bias.scalars[0] = 0.1
    first.bias.scalars[2] = 0.05
    model.layers[0] = .weighted(first)
    let outcome = try prune(model, .redundancy, .count(1))
    // Filters 0 and 2 both score 0; filter 0 goes and its channel is merged into filter 2's.
    #expect(outcome.layers.map(\.prunedIndices) == [[0]])
    let side = model.inputShape[1]
    let data = ScoringFixtures.randomData(samples: 20, rows: side, columns: side, classes: 2, seed: 42)
    let difference = ConvolutionFixtures.largestDifference(model, outcome.model, on: data)
    #expect(difference <= 1e-5, "largest difference \(difference)")
    // The removed channel's outgoing weights are zero and masked.
    let next = model.weightedLayers[1]
    let span = next.layer.inputCount / 3
    let merged = try #require(outcome.model.weightedLayer(at: next.path))
    for row in 0..<merged.outputCount {
      #expect(merged.keptMask[(row * merged.inputCount)..<(row * merged.inputCount + span)].allSatisfy { $0 == 0 })
    }
  }
}
