import Testing
@testable import PruneEngine

/// Convolutional networks end to end in the engine: training, evaluation on the dense, sparse
/// and single-sample paths.
struct ConvolutionTests {
  /// A small CNN on 6x6 band images: a convolution with padding, a pool, two Linear layers.
  static let architecture = Architecture(
    inputShape: [1, 6, 6],
    steps: [
      .conv(filters: 4, kernel: 3, stride: 1, padding: 1), .relu, .maxPool(size: 2), .flatten,
      .linear(outputs: 8), .relu, .linear(outputs: 4),
    ])

  @Test func learnsATinySeparableProblemPerfectly() throws {
    let dataset = bandDataset(samples: 240, classes: 4, side: 6, seed: 1)
    var generator = SeededGenerator(seed: 2)
    let model = Model(architecture: Self.architecture, generator: &generator)
    let before = Evaluator(model: model, threads: 1).evaluate(dataset)
    let report = try Trainer.train(
      model, on: dataset, options: TrainingOptions(epochs: 15, batchSize: 16, optimizer: .adam(learningRate: 0.01)))
    let after = Evaluator(model: report.model, threads: 1).evaluate(dataset)
    #expect(before.accuracy < 0.9)
    #expect(after.accuracy == 1.0)
    #expect(report.model.architecture == Self.architecture)
  }

  /// The evaluator's chunked, padded-stride pass computes what the training pass computes, and
  /// its sparse kernels over the im2col matrix give the same bits as the dense GEMM.
  @Test func evaluationPathsAgreeOnAPrunedConvolution() {
    // 70 samples: a full chunk of 64 and a chunk of 6 whose rows are padded to 16.
    let dataset = bandDataset(samples: 70, classes: 4, side: 6, seed: 5)
    var generator = SeededGenerator(seed: 6)
    var model = Model(architecture: Self.architecture, generator: &generator)
    guard case .weighted(var conv) = model.layers[0] else { return }
    conv.setMask((0..<conv.weight.count).map { $0 % 3 == 0 ? 0 : 1 })
    conv.bias.scalars = randomFloats(conv.outputCount, seed: 7).map { $0 * 0.1 }
    model.layers[0] = .weighted(conv)

    let dense = Evaluator(model: model, threads: 2, kernels: .dense)
    let sparse = Evaluator(model: model, threads: 2, kernels: .sparse)
    #expect(sparse.batchKernels == [.sparse, .sparse, .sparse])
    let denseLogits = dense.logits(dataset)
    #expect(zip(denseLogits, sparse.logits(dataset)).allSatisfy { $0.bitPattern == $1.bitPattern })

    let plan = ExecutionPlan(
      model: model, capacity: dataset.count,
      gradients: false)
    dataset.gatherFeatureMajor(range: 0..<dataset.count, into: plan.input, leadingDimension: dataset.count)
    plan.forward(count: dataset.count, mode: .training, threads: 1)
    let trainingLogits = plan.logits
    for sample in [0, 37, 63, 64, 69] {
      for c in 0..<4 {
        #expect(isClose(denseLogits[sample * 4 + c], trainingLogits[c * dataset.count + sample]))
      }
      let single = dense.singleSampleLogits(dataset, sample: sample)
      #expect(zip(single, denseLogits[(sample * 4)..<(sample * 4 + 4)]).allSatisfy { isClose($0, $1) })
    }
  }
}
