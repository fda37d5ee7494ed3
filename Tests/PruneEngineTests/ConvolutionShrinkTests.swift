import Testing

@testable import PruneEngine

/// `Model.shrunk()` on convolutions: dead filters leave their layer and the next layer's input
/// channels or flattened features, their constant output folds into the next bias, and the
/// shrunk model computes the masked model's logits.
struct ConvolutionShrinkTests {
  private func data(side: Int, seed: UInt64) -> Dataset {
    ScoringFixtures.randomData(samples: 40, rows: side, columns: side, classes: 2, seed: seed)
  }

  private func expectSameLogits(_ a: Model, _ b: Model, side: Int, sourceLocation: SourceLocation = #_sourceLocation) {
    let worst = ConvolutionFixtures.largestDifference(a, b, on: data(side: side, seed: 3))
    #expect(worst <= 1e-4, "largest logit difference \(worst)", sourceLocation: sourceLocation)
  }

  /// conv (3 filters of 3x3 on 6x6) -> ReLU -> pool 2 -> Flatten -> Linear(12, 2): filter 1
  /// dead with bias 0.3, so after pooling its 2x2 block, features 4 ..< 8, is the constant 0.3.
  @Test func deadFilterBeforeFlattenLeavesItsFeatureBlockAndFoldsIntoTheLinearBias() throws {
    let original = try ConvolutionFixtures.randomModel("cnn:1x6x6-conv3k3-pool2-fc2", seed: 1)
    let model = ConvolutionFixtures.killing([1], of: 0, in: original, biases: [1: 0.3])
    let (shrunk, removed) = model.shrunk()
    #expect(removed == [0: [1]])
    #expect(shrunk.architecture.description == "cnn:1x6x6-conv2k3-pool2-fc2")
    let conv = ConvolutionFixtures.layer(shrunk, 0)
    let before = ConvolutionFixtures.layer(model, 0)
    #expect(conv.kind == .conv(stride: 1, padding: 0) && conv.weight.shape == [2, 1, 3, 3])
    #expect(conv.weight.scalars == Array(before.weight.scalars[0..<9] + before.weight.scalars[18..<27]))
    #expect(conv.bias.scalars == [before.bias.scalars[0], before.bias.scalars[2]])
    let linear = ConvolutionFixtures.layer(shrunk, 4)
    let next = ConvolutionFixtures.layer(model, 4)
    #expect(linear.weight.shape == [2, 8])
    for row in 0..<2 {
      let weights = next.weight.scalars[(row * 12)..<(row * 12 + 12)]
      #expect(Array(linear.weight.scalars[(row * 8)..<(row * 8 + 8)]) == Array(weights.prefix(4) + weights.suffix(4)))
      let folded = next.bias.scalars[row] + 0.3 * weights.dropFirst(4).prefix(4).reduce(0, +)
      #expect(isClose(linear.bias.scalars[row], folded))
    }
    expectSameLogits(model, shrunk, side: 6)
  }

  /// conv (3 filters of 2x2) -> ReLU -> conv (2 filters of 3 channels x 2x2, no padding): filter 0
  /// dead with bias 0.5 is the next convolution's input channel 0, whose 2x2 kernel weights
  /// leave every next filter; 0.5 × their sum folds into that filter's bias.
  @Test func deadFilterBeforeAConvolutionLeavesItsInputChannel() throws {
    let original = try ConvolutionFixtures.randomModel("cnn:1x5x5-conv3k2-conv2k2-fc2", seed: 2)
    let model = ConvolutionFixtures.killing([0], of: 0, in: original, biases: [0: 0.5])
    let (shrunk, removed) = model.shrunk()
    #expect(removed == [0: [0]])
    #expect(shrunk.architecture.description == "cnn:1x5x5-conv2k2-conv2k2-fc2")
    let next = ConvolutionFixtures.layer(model, 2)
    let conv = ConvolutionFixtures.layer(shrunk, 2)
    #expect(conv.weight.shape == [2, 2, 2, 2])
    for filter in 0..<2 {
      let kernels = next.weight.scalars[(filter * 12)..<(filter * 12 + 12)]
      #expect(Array(conv.weight.scalars[(filter * 8)..<(filter * 8 + 8)]) == Array(kernels.suffix(8)))
      #expect(isClose(conv.bias.scalars[filter], next.bias.scalars[filter] + 0.5 * kernels.prefix(4).reduce(0, +)))
    }
    expectSameLogits(model, shrunk, side: 5)
  }

  /// With zero padding the border windows of the next convolution see zeros, not a dead
  /// filter's constant: a dead filter with a positive bias stays (fully pruned), one whose ReLU
  /// output is 0 goes.
  @Test func paddedNextConvolutionKeepsDeadFiltersWithANonzeroConstant() throws {
    let original = try ConvolutionFixtures.randomModel("cnn:1x5x5-conv3k2-conv2k2p1-pool2-fc2", seed: 3)
    let model = ConvolutionFixtures.killing([0, 1], of: 0, in: original, biases: [0: 0.5, 1: -0.2])
    let (shrunk, removed) = model.shrunk()
    #expect(removed == [0: [1]])
    let conv = ConvolutionFixtures.layer(shrunk, 0)
    #expect(conv.weight.shape == [2, 1, 2, 2] && conv.keptMask.prefix(4).allSatisfy { $0 == 0 })
    #expect(ConvolutionFixtures.layer(shrunk, 2).bias == ConvolutionFixtures.layer(model, 2).bias)
    expectSameLogits(model, shrunk, side: 5)
  }

  /// A LeNet-shaped model pruned by magnitude, with filters and neurons pruned whole on top (some
  /// with positive biases): every dead unit goes, including a next-layer filter whose only kept
  /// weights read removed channels, and the logits stay within 1e-4.
  @Test func shrunkConvolutionalModelComputesTheMaskedModelsLogits() throws {
    var model = try ConvolutionFixtures.randomModel("cnn:1x8x8-conv4k3-pool2-conv4k2-fc5-fc3", seed: 4, biasScale: 0.5)
    model = KernelBenchmark.magnitudePruned(model, sparsity: 0.3)
    model = ConvolutionFixtures.killing([0, 2], of: 0, in: model, biases: [0: 0.4, 2: 0.25])
    // Filter 3 of layer 3 keeps only weights reading channels 0 and 2: dead once they go.
    var second = ConvolutionFixtures.layer(model, 3)
    var mask = second.keptMask
    for channel in [1, 3] { for k in 0..<4 { mask[3 * 16 + channel * 4 + k] = 0 } }
    second.setMask(mask)
    second.bias.scalars[3] = 0.3
    model.layers[3] = .weighted(second)
    model = ConvolutionFixtures.killing([1], of: 6, in: model, biases: [1: 0.2])
    let (shrunk, removed) = model.shrunk()
    #expect(removed == [0: [0, 2], 3: [3], 6: [1]])
    #expect(shrunk.architecture.description == "cnn:1x8x8-conv2k3-pool2-conv3k2-fc4-fc3")
    #expect(ModelMetrics(shrunk).parameters < ModelMetrics(model).parameters)
    expectSameLogits(model, shrunk, side: 8)
  }

  @Test func pruningFiltersByL1ThenShrinkingKeepsTheLogits() throws {
    let model = try ConvolutionFixtures.randomModel("cnn:1x8x8-conv4k3-pool2-conv6k2-pool2-fc5-fc3", seed: 5)
    let outcome = try PruningPipeline.apply(
      PruningRequest(criterion: .filterL1, rule: .fraction(0.5), layers: [3]), to: model, context: ScoringContext())
    let (shrunk, removed) = outcome.model.shrunk()
    #expect(removed[3]?.count == 3)
    #expect(ConvolutionFixtures.layer(shrunk, 7).weight.shape == [5, 3])
    expectSameLogits(outcome.model, shrunk, side: 8)
  }
}

/// Size and FLOPs of convolutions: every weight is applied at every output position.
struct ConvolutionMetricsTests {
  @Test func convolutionFLOPsCountEveryOutputPosition() throws {
    // conv 3x1x3x3 on 6x6: 4x4 = 16 positions, (2 · 27 + 3) · 16 = 912 FLOPs; Linear(12, 2):
    // 2 · 24 + 2 = 50.
    let model = try ConvolutionFixtures.randomModel("cnn:1x6x6-conv3k3-pool2-fc2", seed: 6)
    let metrics = ModelMetrics(model)
    #expect(metrics.layers.map(\.positions) == [16, 1])
    #expect(metrics.layers.map(\.denseFLOPs) == [912, 50])
    #expect(metrics.layers.map(\.isConvolution) == [true, false])
    #expect(metrics.denseFLOPs == 962 && metrics.sparseFLOPs == 962)
    // Filter 1 pruned: 18 nonzero weights, (2 · 18 + 3) · 16 = 624; 2 of 3 filters live.
    let pruned = ModelMetrics(ConvolutionFixtures.killing([1], of: 0, in: model))
    #expect(pruned.layers[0].sparseFLOPs == 624 && pruned.layers[0].denseFLOPs == 912)
    #expect(pruned.layers.map(\.liveRows) == [2, 2] && pruned.layers.map(\.rows) == [3, 2])
    // A Linear model is counted as before: 2 · weights + biases.
    let mlp = ModelMetrics(ScoringFixtures.tinyModel)
    #expect(mlp.layers.map(\.denseFLOPs) == [2 * 6 + 3, 2 * 6 + 2] && mlp.layers.map(\.positions) == [1, 1])
  }
}

/// The schedules on a convolutional model: each reaches its target with masks that hold.
struct ConvolutionFineTuningTests {
  @Test(arguments: [PruningSchedule.oneshot, .iterative(steps: 2), .gradual(interval: 2)])
  func schedulesPruneConvolutionsToTheTarget(_ schedule: PruningSchedule) throws {
    let model = try ConvolutionFixtures.randomModel("cnn:1x6x6-conv4k3-pool2-fc3", seed: 7)
    let data = bandDataset(samples: 48, classes: 3, side: 6, seed: 8)
    for request in [
      PruningRequest(criterion: .magnitude, scope: .global, rule: .fraction(0)),
      PruningRequest(criterion: .filterL1, rule: .fraction(0)),
    ] {
      let report = try FineTuning.run(
        model, schedule: schedule, sparsity: 0.5, request: request, on: data,
        options: TrainingOptions(epochs: 2, batchSize: 8, optimizer: .adam(learningRate: 1e-3), seed: 1),
        context: ScoringContext(calibration: data, seed: 1, threads: 1))
      let layers = try Pruner.targetLayers(of: model, request: request)
      let sparsity = FineTuning.unitSparsity(of: report.model, layers: layers, granularity: request.granularity)
      #expect(isClose(sparsity, 0.5, absolute: 0.02), "\(schedule) \(request.criterion): \(sparsity)")
      for (_, layer) in report.model.weightedLayers {
        let mask = layer.keptMask
        #expect(zip(layer.weight.scalars, mask).allSatisfy { $1 != 0 || $0 == 0 }, "pruned weights stay zero")
      }
    }
  }
}
