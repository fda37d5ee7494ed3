import Testing
@testable import PruneEngine

struct MaskedTrainingTests {
  /// A small trained-from-scratch model with half of every layer's weights pruned by magnitude.
  private func prunedModel() throws -> Model {
    var generator = SeededGenerator(seed: 3)
    let model = Model(architecture: .mlp(widths: [16, 12, 4]), generator: &generator)
    let scores = model.weightedLayers.map {
      LayerScores(layer: $0.path, granularity: .weight, values: $0.layer.weight.scalars.map(abs))
    }
    return try Pruner.prune(model, request: PruningRequest(criterion: .magnitude, rule: .fraction(0.5)), scores: scores)
      .model
  }

  @Test(arguments: [OptimizerKind.sgd(learningRate: 0.05, momentum: 0.9), .adam(learningRate: 0.01)])
  func prunedWeightsStayZeroThroughTrainingWithMomentumAndWeightDecay(optimizer kind: OptimizerKind) throws {
    // Train the plan's own buffers step by step: converting back to a Model re-applies the
    // masks, which would hide a weight that came back during training.
    let pruned = try prunedModel()
    let dataset = bandDataset(samples: 120, classes: 4, seed: 5)
    let state = TrainingState(
      model: pruned, capacity: 8, optimizer: kind, l1: 0.001, l1BatchNorm: 0, weightDecay: 0.01, maskAll: false)
    let indices: [Int32] = Array(0..<Int32(dataset.count))
    for step in 0..<150 {
      let first = (step * 8) % dataset.count
      _ = indices.withUnsafeBufferPointer { all in
        state.step(
          indices: UnsafeBufferPointer(rebasing: all[first..<(first + 8)]), dataset: dataset, learningRateScale: 1,
          threads: 1)
      }
    }
    for (index, before) in pruned.weightedLayers {
      let weight = try #require(state.plan.parameter(ParameterPath("\(index).weight")!)).value
      let mask = before.keptMask
      var moved = 0
      for element in mask.indices {
        if mask[element] == 0 {
          #expect(weight[element] == 0)
        } else if weight[element] != before.weight.scalars[element] {
          moved += 1
        }
      }
      #expect(moved > before.keptCount / 2)
    }
    #expect(state.model().weightedLayers.map(\.layer.mask) == pruned.weightedLayers.map(\.layer.mask))
  }

  @Test func l1PenaltyShrinksWeights() throws {
    var generator = SeededGenerator(seed: 3)
    let model = Model(architecture: .mlp(widths: [16, 12, 4]), generator: &generator)
    let dataset = bandDataset(samples: 120, classes: 4, seed: 5)
    func meanMagnitude(l1: Float) throws -> Float {
      let trained = try Trainer.train(
        model, on: dataset,
        options: TrainingOptions(epochs: 10, batchSize: 8, optimizer: .sgd(learningRate: 0.05, momentum: 0.9), l1: l1)
      ).model
      let weights = trained.weightedLayers.flatMap(\.layer.weight.scalars)
      return weights.map(abs).reduce(0, +) / Float(weights.count)
    }
    #expect(try meanMagnitude(l1: 0.01) < 0.7 * meanMagnitude(l1: 0))
  }
}
