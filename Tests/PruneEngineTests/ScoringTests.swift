import Foundation
import Testing
@testable import PruneEngine

// MARK: - Fixtures

/// Small models and datasets whose scores can be worked out by hand.
enum ScoringFixtures {
  /// A WeightedLayer layer from literal rows.
  static func linear(_ rows: [[Float]], bias: [Float]? = nil) -> WeightedLayer {
    WeightedLayer(
      weight: Tensor(shape: [rows.count, rows[0].count], scalars: rows.flatMap { $0 }),
      bias: Tensor(shape: [rows.count], scalars: bias ?? [Float](repeating: 0, count: rows.count)))
  }

  /// `Linear(2, 3), ReLU, Linear(3, 2)`:
  /// hidden neuron 0 = relu(x0), neuron 1 = relu(x1), neuron 2 = relu(0.5 - x0 - x1).
  static let tinyModel = Model(layers: [
    .weighted(linear([[1, 0], [0, 1], [-1, -1]], bias: [0, 0, 0.5])),
    .relu,
    .weighted(linear([[1, -1, 0.5], [-0.5, 2, 1]], bias: [0.1, -0.2])),
  ])

  /// Two samples of two pixels: x = (1, 0) with label 0 and x = (0.2, 0.4) with label 1.
  /// Hidden activations: sample 1 (1, 0, 0), sample 2 (0.2, 0.4, 0), since 0.5 − 1 and
  /// 0.5 − 0.6 are negative.
  static let tinyData = Dataset(images: [255, 0, 51, 102], labels: [0, 1], rows: 1, columns: 2)

  /// A seeded model of the given widths with non-zero biases.
  static func randomModel(_ widths: [Int], seed: UInt64) -> Model {
    var generator = SeededGenerator(seed: seed)
    var model = Model(architecture: .mlp(widths: widths), generator: &generator)
    for (path, dense) in model.weightedLayers {
      let index = model.position(of: path)!
      var layer = dense
      layer.bias.scalars = randomFloats(layer.outputCount, seed: seed &+ UInt64(index)).map { $0 * 0.2 }
      model.replaceWeightedLayer(at: path, with: layer)
    }
    return model
  }

  /// `samples` images of random pixels with random labels below `classes`.
  static func randomData(samples: Int, rows: Int, columns: Int, classes: Int, seed: UInt64) -> Dataset {
    var generator = SeededGenerator(seed: seed)
    let images = (0..<(samples * rows * columns)).map { _ in UInt8(generator.next() % 256) }
    var labels = (0..<samples).map { _ in UInt8(generator.next() % UInt64(classes)) }
    labels[0] = UInt8(classes - 1)
    return Dataset(images: images, labels: labels, rows: rows, columns: columns)
  }

  static func scores(
    _ criterion: Criterion, _ granularity: Granularity? = nil, model: Model = tinyModel, layers: [ParameterPath] = [0],
    data: Dataset? = tinyData, samples: Int = 2048, seed: UInt64 = 1
  ) throws -> [[Float]] {
    try Scoring.scores(
      criterion, granularity: granularity ?? criterion.defaultGranularity, model: model, layers: layers,
      context: ScoringContext(calibration: data, calibrationSamples: samples, seed: seed, threads: 2)
    ).map(\.values)
  }
}

/// A plain Double implementation of the calibration statistics, one sample at a time, written
/// from the definitions rather than from the engine's kernels.
struct ReferenceCalibration {
  /// Per WeightedLayer layer `[out · in]`: Σ over batches of (n_b / N) · |mean over the batch of ∂ℓ/∂w|.
  var meanAbsoluteGradient: [[Double]]
  /// Per hidden layer `[out]`: mean over samples of a · ∂ℓ/∂a, ∂ℓ/∂a taken before the ReLU mask.
  var meanActivationTimesGradient: [[Double]]

  init(_ model: Model, _ data: Dataset, samples: Int, batchSize: Int) {
    let layers = model.weightedLayers.map(\.layer)
    let weights = layers.map { $0.weight.scalars.map(Double.init) }
    let biases = layers.map { $0.bias.scalars.map(Double.init) }
    let count = min(samples, data.count)
    meanAbsoluteGradient = layers.map { [Double](repeating: 0, count: $0.weight.count) }
    meanActivationTimesGradient = layers.map { [Double](repeating: 0, count: $0.outputCount) }
    var first = 0
    while first < count {
      let n = min(batchSize, count - first)
      var batchGradient = layers.map { [Double](repeating: 0, count: $0.weight.count) }
      for sample in first..<(first + n) {
        // Forward: activations[0] is the input, activations[l + 1] the output of layer l.
        var activations = [(0..<data.featureCount).map { data.input(sample, $0) }]
        for (l, layer) in layers.enumerated() {
          var output = [Double](repeating: 0, count: layer.outputCount)
          for o in 0..<layer.outputCount {
            var z = biases[l][o]
            for i in 0..<layer.inputCount { z += weights[l][o * layer.inputCount + i] * activations[l][i] }
            output[o] = l == layers.count - 1 ? z : max(0, z)
          }
          activations.append(output)
        }
        // Softmax cross-entropy gradient with respect to the logits.
        let logits = activations[layers.count]
        let largest = logits.max()!
        let exponentials = logits.map { exp($0 - largest) }
        let total = exponentials.reduce(0, +)
        var delta = exponentials.enumerated().map { $1 / total - ($0 == Int(data.labels[sample]) ? 1 : 0) }
        // Backward.
        for l in layers.indices.reversed() {
          let layer = layers[l]
          for o in 0..<layer.outputCount {
            for i in 0..<layer.inputCount { batchGradient[l][o * layer.inputCount + i] += delta[o] * activations[l][i] }
          }
          guard l > 0 else { continue }
          var activationGradient = [Double](repeating: 0, count: layer.inputCount)
          for i in 0..<layer.inputCount {
            for o in 0..<layer.outputCount { activationGradient[i] += weights[l][o * layer.inputCount + i] * delta[o] }
          }
          for i in 0..<layer.inputCount {
            meanActivationTimesGradient[l - 1][i] += activations[l][i] * activationGradient[i] / Double(count)
          }
          delta = (0..<layer.inputCount).map { activations[l][$0] > 0 ? activationGradient[$0] : 0 }
        }
      }
      for l in layers.indices {
        for index in batchGradient[l].indices {
          meanAbsoluteGradient[l][index] += Double(n) / Double(count) * abs(batchGradient[l][index] / Double(n))
        }
      }
      first += n
    }
  }
}

private func expectClose(_ actual: [Float], _ expected: [Double], tolerance: Float = 1e-5, _ what: String) {
  #expect(actual.count == expected.count, "\(what): \(actual.count) scores, expected \(expected.count)")
  for (index, (a, e)) in zip(actual, expected).enumerated() {
    #expect(isClose(a, Float(e), absolute: tolerance), "\(what)[\(index)]: \(a), expected \(e)")
  }
}

// MARK: - Weight criteria

struct ScoringWeightCriteriaTests {
  @Test func magnitudeIsAbsoluteWeight() throws {
    let scores = try ScoringFixtures.scores(.magnitude, layers: [0, 2])
    #expect(scores[0] == [1, 0, 0, 1, 1, 1])
    #expect(scores[1] == [1, 1, 0.5, 0.5, 2, 1])
  }

  @Test func neuronL2IsRowNormOfMaskedWeight() throws {
    expectClose(try ScoringFixtures.scores(.neuronL2)[0], [1, 1, 2.0.squareRoot()], "dense")
    var model = ScoringFixtures.tinyModel
    guard case .weighted(var layer) = model.layers[0] else { return }
    layer.setMask([1, 1, 1, 1, 0, 1])  // prunes W[2, 0] = -1: row 2 becomes (0, -1)
    model.layers[0] = .weighted(layer)
    expectClose(try ScoringFixtures.scores(.neuronL2, model: model)[0], [1, 1, 1], "masked")
  }

  @Test func randomIsDeterministicPerSeedAndLayer() throws {
    let model = ScoringFixtures.randomModel([6, 5, 4], seed: 9)
    let first = try ScoringFixtures.scores(.random, model: model, layers: [0, 2], seed: 7)
    let again = try ScoringFixtures.scores(.random, model: model, layers: [0, 2], seed: 7)
    let otherSeed = try ScoringFixtures.scores(.random, model: model, layers: [0, 2], seed: 8)
    let alone = try ScoringFixtures.scores(.random, model: model, layers: [2], seed: 7)
    #expect(first == again)
    #expect(first[0] != otherSeed[0] && first[1] != otherSeed[1])
    #expect(Array(first[0].prefix(20)) != first[1])
    #expect(alone[0] == first[1], "a layer's scores do not depend on which other layers are scored")
    #expect(first.joined().allSatisfy { $0 >= 0 && $0 < 1 })
    #expect(Set(first[0]).count == first[0].count)
  }
}

// MARK: - Data-driven criteria

struct ScoringDataCriteriaTests {
  @Test func activationIsMeanPostReLUOutput() throws {
    expectClose(try ScoringFixtures.scores(.activation)[0], [0.6, 0.2, 0], "two samples")
    expectClose(try ScoringFixtures.scores(.activation, samples: 1)[0], [1, 0, 0], "first sample only")
  }

  @Test func apozScoreIsOneMinusFractionOfZeros() throws {
    // Neuron 0 is never zero, neuron 1 on sample 1, neuron 2 on both.
    #expect(try ScoringFixtures.scores(.apoz)[0] == [1, 0.5, 0])
  }

  @Test func gradientAndTaylorMatchReferenceOnTinyModel() throws {
    let reference = ReferenceCalibration(ScoringFixtures.tinyModel, ScoringFixtures.tinyData, samples: 2, batchSize: 64)
    let gradient = try ScoringFixtures.scores(.gradient, layers: [0, 2])
    let taylor = try ScoringFixtures.scores(.taylor, .weight, layers: [0, 2])
    for (position, (index, dense)) in ScoringFixtures.tinyModel.weightedLayers.enumerated() {
      expectClose(gradient[position], reference.meanAbsoluteGradient[position], "gradient \(index)")
      let expected = zip(dense.weight.scalars, reference.meanAbsoluteGradient[position]).map { abs(Double($0)) * $1 }
      expectClose(taylor[position], expected, "taylor \(index)")
    }
    // Hand check of one entry: ∂ℓ/∂W2[0, 0] = (p0 − y0) · a0 summed over samples / 2; sample 2
    // has a0 = 0.2, sample 1 a0 = 1. Logits: sample 1 (1.1, −0.7), sample 2 (0.1 − 0.2, −0.1 + 0.8 − 0.2).
    let p1 = 1 / (1 + exp(-1.8))  // softmax(1.1, -0.7)[0]
    let p2 = 1 / (1 + exp(0.5 - -0.1))  // softmax(-0.1, 0.5)[0]
    let expected = abs(((p1 - 1) * 1 + p2 * 0.2) / 2)
    #expect(isClose(gradient[1][0], Float(expected)))
  }

  @Test func gradientIsAveragedOverMiniBatchesOf64() throws {
    let model = ScoringFixtures.randomModel([4, 5, 3, 3], seed: 11)
    let data = ScoringFixtures.randomData(samples: 100, rows: 2, columns: 2, classes: 3, seed: 12)
    let batched = ReferenceCalibration(model, data, samples: 100, batchSize: 64)
    let wholeSet = ReferenceCalibration(model, data, samples: 100, batchSize: 100)
    let scores = try ScoringFixtures.scores(.gradient, model: model, layers: [0, 2, 4], data: data)
    for position in 0..<3 {
      expectClose(scores[position], batched.meanAbsoluteGradient[position], tolerance: 1e-5, "layer \(position)")
    }
    // The batching matters: one batch of 100 gives other scores.
    let differs = zip(scores[0], wholeSet.meanAbsoluteGradient[0]).contains { abs(Double($0) - $1) > 1e-4 }
    #expect(differs)
    // Only the first `calibrationSamples` samples count.
    let prefix = try ScoringFixtures.scores(.gradient, model: model, layers: [2], data: data, samples: 30)
    let reference = ReferenceCalibration(model, data, samples: 30, batchSize: 64)
    expectClose(prefix[0], reference.meanAbsoluteGradient[1], "30 samples")
  }

  @Test func taylorNeuronIsNormalisedMeanOfActivationTimesGradient() throws {
    let model = ScoringFixtures.randomModel([4, 6, 5, 3], seed: 21)
    let data = ScoringFixtures.randomData(samples: 90, rows: 2, columns: 2, classes: 3, seed: 22)
    let reference = ReferenceCalibration(model, data, samples: 90, batchSize: 64)
    let scores = try ScoringFixtures.scores(.taylor, .neuron, model: model, layers: [0, 2], data: data)
    for position in 0..<2 {
      let magnitudes = reference.meanActivationTimesGradient[position].map { abs($0) }
      let norm = magnitudes.reduce(0) { $0 + $1 * $1 }.squareRoot()
      expectClose(scores[position], magnitudes.map { $0 / norm }, "layer \(position)")
      let squares = scores[position].reduce(0) { $0 + $1 * $1 }
      #expect(isClose(squares, 1), "layer-wise ℓ2-normalised")
    }
  }

  @Test func taylorNeuronOnTinyModelByHand() throws {
    // Neuron 2 is zero on both samples: score 0. Neuron 1 is zero on sample 1, so only sample 2
    // counts: a = 0.4, ∂ℓ/∂a = Σ_c (p_c − y_c) W2[c, 1] = p0 · (−1) + (p1 − 1) · 2 with p from
    // logits (−0.1, 0.5). Neuron 0: sample 1 a = 1, ∂ℓ/∂a = (p0 − 1) · 1 + p1 · (−0.5) with
    // logits (1.1, −0.7); sample 2 a = 0.2, ∂ℓ/∂a = p0 · 1 + (p1 − 1) · (−0.5).
    func softmax0(_ a: Double, _ b: Double) -> Double { 1 / (1 + exp(b - a)) }
    let q1 = softmax0(1.1, -0.7)
    let q2 = softmax0(-0.1, 0.5)
    let neuron0 = abs((1 * ((q1 - 1) - 0.5 * (1 - q1)) + 0.2 * (q2 + 0.5 * q2)) / 2)
    let neuron1 = abs(0.4 * (-q2 + 2 * (1 - q2 - 1)) / 2)
    let norm = (neuron0 * neuron0 + neuron1 * neuron1).squareRoot()
    expectClose(try ScoringFixtures.scores(.taylor, .neuron)[0], [neuron0 / norm, neuron1 / norm, 0], "tiny")
  }

  @Test(arguments: [
    (Criterion.gradient, Granularity.weight), (.taylor, .weight), (.taylor, .neuron), (.activation, .neuron),
    (.apoz, .neuron),
  ])
  func dataDrivenCriteriaWithoutDataThrow(criterion: Criterion, granularity: Granularity) {
    let empty = Dataset(images: [], labels: [], rows: 1, columns: 2)
    for (data, samples) in [(nil, 2048), (empty, 2048), (ScoringFixtures.tinyData, 0)] as [(Dataset?, Int)] {
      let error = #expect(throws: ShearsError.self) {
        try ScoringFixtures.scores(criterion, granularity, data: data, samples: samples)
      }
      #expect(error?.subject == "--criterion \(criterion.rawValue)")
      #expect(error?.problem.hasPrefix("needs data") == true)
    }
  }

  @Test func calibrationDataMustFitTheModel() {
    let wrongSize = Dataset(images: [1, 2, 3], labels: [0], rows: 1, columns: 3)
    let wrongLabels = Dataset(images: [1, 2], labels: [5], rows: 1, columns: 2)
    for data in [wrongSize, wrongLabels] {
      let error = #expect(throws: ShearsError.self) { try ScoringFixtures.scores(.activation, data: data) }
      #expect(error?.subject == "calibration data")
    }
  }
}

// MARK: - Requests that do not fit

struct ScoringRequestTests {
  @Test func neuronScoresOfTheOutputLayerThrow() {
    let error = #expect(throws: ShearsError.self) { try ScoringFixtures.scores(.neuronL2, layers: [2]) }
    #expect(error?.subject == "layer 2")
  }

  @Test func unknownLayerThrows() {
    let error = #expect(throws: ShearsError.self) { try ScoringFixtures.scores(.magnitude, layers: [1]) }
    #expect(error?.description == "layer 1: no such Linear layer (the model has 0, 2)")
  }

  @Test func unsupportedGranularityThrows() {
    let error = #expect(throws: ShearsError.self) { try ScoringFixtures.scores(.magnitude, .neuron) }
    #expect(error?.subject == "--criterion magnitude")
  }

  @Test func scoresMatchGranularityAndLayerShapes() throws {
    let model = ScoringFixtures.randomModel([4, 6, 5, 3], seed: 31)
    let data = ScoringFixtures.randomData(samples: 10, rows: 2, columns: 2, classes: 3, seed: 32)
    // bn-scale needs BatchNorm, which the MLP has none of (ChannelGroupTests scores it).
    for criterion in Criterion.allCases where criterion.scorer.problem(with: model) == nil {
      for granularity in criterion.supportedGranularities {
        let layers: [ParameterPath] = granularity == .weight ? [0, 2, 4] : [0, 2]
        let scores = try Scoring.scores(
          criterion, granularity: granularity, model: model, layers: layers,
          context: ScoringContext(calibration: data, threads: 1))
        #expect(scores.map(\.layer) == layers)
        #expect(scores.allSatisfy { $0.granularity == granularity })
        let expectedCounts = layers.map { index -> Int in
          guard let dense = model.weightedLayer(at: index) else { return 0 }
          return granularity == .weight ? dense.weight.count : dense.outputCount
        }
        #expect(scores.map(\.values.count) == expectedCounts, "\(criterion) \(granularity)")
        #expect(scores.allSatisfy { $0.values.allSatisfy(\.isFinite) })
      }
    }
  }
}
