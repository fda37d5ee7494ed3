import Testing
@testable import PruneEngine

/// An inference plan folds each BatchNorm after a convolution into it; it must compute what
/// the layers compute one by one, dense, pruned, sparse and on single samples.
struct BatchNormFoldingTests {
  /// A two-stage ResNet on 8x8 images: identity and projection shortcuts, BatchNorm after
  /// every convolution, with running statistics away from the identity.
  static let module = ResNet.module(
    channels: 1, stages: [.init(width: 4, blocks: 1), .init(width: 6, blocks: 1)], classes: 3)
  static let inputShape = [1, 8, 8]

  /// The store, with the first block's first convolution pruned: its filter 1 whole and every
  /// third other weight.
  static func prunedStore() -> ParameterStore {
    var store = GradientCheckTests.randomStore(module, seed: 21)
    let path = ParameterPath("layer1.0.conv1.weight")!
    let weight = store[path]!
    let scalars = weight.tensor!.scalars
    let patch = scalars.count / 4
    let mask: [UInt8] = scalars.indices.map { $0 / patch == 1 || $0 % 3 == 0 ? 0 : 1 }
    let kept = zip(scalars, mask).map { $1 == 0 ? 0 : $0 }
    store.update(Parameter(path: path, role: .weight, tensor: Tensor(shape: weight.value.shape, scalars: kept), mask: mask))
    return store
  }

  /// Logits `[classes, n]` of the layers run one by one (a plan with gradients does not fold),
  /// in inference.
  static func unfoldedLogits(_ store: ParameterStore, _ dataset: Dataset) -> [Float] {
    let n = dataset.count
    let plan = ExecutionPlan(module: module, inputShape: inputShape, store: store, capacity: n, gradients: true)
    dataset.gatherFeatureMajor(range: 0..<n, into: plan.input, leadingDimension: n)
    plan.forward(count: n, mode: .inference, threads: 1)
    return Array(UnsafeBufferPointer(start: plan.logits, count: 3 * n))
  }

  @Test func foldedPlanComputesTheUnfoldedLogits() throws {
    let dataset = bandDataset(samples: 64, classes: 3, side: 8, seed: 5)
    for store in [GradientCheckTests.randomStore(Self.module, seed: 20), Self.prunedStore()] {
      let expected = Self.unfoldedLogits(store, dataset)
      let plan = ExecutionPlan(module: Self.module, inputShape: Self.inputShape, store: store, capacity: 64, gradients: false)
      // Six convolutions and the classifier; every convolution now has a bias, the BatchNorm's shift.
      #expect(plan.weightedSteps.count == 7)
      #expect(plan.weightedSteps.allSatisfy { $0.bias != nil })
      dataset.gatherFeatureMajor(range: 0..<64, into: plan.input, leadingDimension: 64)
      plan.forward(count: 64, mode: .inference, threads: 2)
      for index in 0..<(3 * 64) {
        #expect(abs(plan.logits[index] - expected[index]) <= 1e-4, "logit \(index)")
      }
      // The store is untouched: the BatchNorms and the unscaled weights come back as they were.
      #expect(plan.parameterStore() == store)
    }
  }

  @Test func prunedWeightsStayZeroWhenFolded() throws {
    let store = Self.prunedStore()
    let plan = ExecutionPlan(module: Self.module, inputShape: Self.inputShape, store: store, capacity: 1, gradients: false)
    let step = try #require(plan.weightedSteps.first { $0.path == ParameterPath("layer1.0.conv1")! })
    let mask = try #require(store[ParameterPath("layer1.0.conv1.weight")!]?.mask)
    for index in mask.indices {
      #expect((step.weight.value[index] == 0) == (mask[index] == 0), "weight \(index)")
    }
  }

  /// The evaluator's plans share one folded copy; its dense and sparse kernels, and single
  /// samples, give the unfolded logits.
  @Test func evaluatorRunsTheFoldedWeights() throws {
    let dataset = bandDataset(samples: 70, classes: 3, side: 8, seed: 6)
    let store = Self.prunedStore()
    let expected = Self.unfoldedLogits(store, dataset)
    let model = Model(module: Self.module, parameters: store, inputShape: Self.inputShape)
    let dense = Evaluator(model: model, threads: 2, kernels: .dense)
    let sparse = Evaluator(model: model, threads: 2, kernels: .sparse)
    #expect(sparse.batchKernels.allSatisfy { $0 == .sparse })
    let denseLogits = dense.logits(dataset)
    #expect(zip(denseLogits, sparse.logits(dataset)).allSatisfy { $0.bitPattern == $1.bitPattern })
    let n = dataset.count
    for sample in 0..<n {
      for c in 0..<3 {
        #expect(abs(denseLogits[sample * 3 + c] - expected[c * n + sample]) <= 1e-4, "sample \(sample)")
      }
    }
    for sample in [0, 17, 63, 64, 69] {
      for evaluator in [dense, sparse] {
        let single = evaluator.singleSampleLogits(dataset, sample: sample)
        for c in 0..<3 { #expect(abs(single[c] - expected[c * n + sample]) <= 1e-4, "single sample \(sample)") }
      }
    }
  }
}
