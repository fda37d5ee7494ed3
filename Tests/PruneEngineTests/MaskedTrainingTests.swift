import Testing
@testable import PruneEngine

struct MaskedTrainingTests {
  /// A small trained-from-scratch model with half of every layer's weights pruned by magnitude.
  private func prunedModel() throws -> Model {
    var generator = SeededGenerator(seed: 3)
    let model = Model(architecture: .mlp(widths: [16, 12, 4]), generator: &generator)
    let scores = model.weightedLayers.map {
      LayerScores(layerIndex: $0.index, granularity: .weight, values: $0.layer.weight.scalars.map(abs))
    }
    return try Pruner.prune(model, request: PruningRequest(criterion: .magnitude, rule: .fraction(0.5)), scores: scores)
      .model
  }

  @Test(arguments: [OptimizerKind.sgd(learningRate: 0.05, momentum: 0.9), .adam(learningRate: 0.01)])
  func prunedWeightsStayZeroThroughTrainingWithMomentumAndWeightDecay(optimizer kind: OptimizerKind) throws {
    // Train the network's own buffers step by step: converting back to a Model re-applies the
    // masks, which would hide a weight that came back during training.
    let pruned = try prunedModel()
    let dataset = bandDataset(samples: 120, classes: 4, seed: 5)
    let network = Network(model: pruned)
    let workspace = BatchWorkspace(network: network, capacity: 8, forTraining: true)
    let parameters = network.parameterBuffers
    let gradients = parameters.map { UnsafeMutableBufferPointer<Float>.zeros($0.count) }
    defer { for buffer in gradients { buffer.deallocate() } }
    let optimizer = Optimizer(
      kind: kind, parameters: parameters, roles: network.parameterRoles(l1: 0.001), weightDecay: 0.01)
    let indices: [Int32] = Array(0..<Int32(dataset.count))
    for step in 0..<150 {
      let first = (step * 8) % dataset.count
      _ = indices.withUnsafeBufferPointer { all in
        Trainer.step(
          indices: UnsafeBufferPointer(rebasing: all[first..<(first + 8)]), dataset: dataset, network: network,
          workspace: workspace, gradients: gradients, optimizer: optimizer, learningRateScale: 1, threads: 1)
      }
    }
    for (layer, (_, before)) in zip(network.layers, pruned.weightedLayers) {
      let mask = before.keptMask
      var moved = 0
      for index in mask.indices {
        if mask[index] == 0 {
          #expect(layer.weight[index] == 0)
        } else if layer.weight[index] != before.weight.scalars[index] {
          moved += 1
        }
      }
      #expect(moved > before.keptCount / 2)
    }
    #expect(network.model().weightedLayers.map(\.layer.mask) == pruned.weightedLayers.map(\.layer.mask))
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
