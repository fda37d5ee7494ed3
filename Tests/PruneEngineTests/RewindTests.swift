import Foundation
import Testing

@testable import PruneEngine

struct RewindTests {
  @Test func trainingKeepsTheWeightsOfTheRequestedEpoch() throws {
    let dataset = bandDataset(samples: 40, classes: 4, seed: 1)
    var generator = SeededGenerator(seed: 2)
    let model = Model(architecture: .mlp(widths: [16, 8, 4]), generator: &generator)
    let atStart = try Trainer.train(model, on: dataset, options: TrainingOptions(epochs: 2, batchSize: 8, rewindEpoch: 0))
    #expect(atStart.rewindWeights == model)
    let afterOne = try Trainer.train(model, on: dataset, options: TrainingOptions(epochs: 2, batchSize: 8, rewindEpoch: 1))
    // Epoch 1's weights: trained, but not as far as the end of epoch 2.
    #expect(afterOne.rewindWeights != nil && afterOne.rewindWeights != model && afterOne.rewindWeights != afterOne.model)
    #expect(try Trainer.train(model, on: dataset, options: TrainingOptions(epochs: 1, batchSize: 8)).rewindWeights == nil)
  }

  @Test func checkpointsKeepRewindWeightsBesideTheModel() throws {
    var generator = SeededGenerator(seed: 3)
    let early = Model(architecture: .mlp(widths: [6, 5, 3]), generator: &generator)
    let late = Model(architecture: .mlp(widths: [6, 5, 3]), generator: &generator)
    let path = NSTemporaryDirectory() + "shears-rewind-\(UUID().uuidString).safetensors"
    defer { try? FileManager.default.removeItem(atPath: path) }
    try Checkpoint.save(late, metadata: CheckpointMetadata(rewindEpoch: 2), rewind: early, to: path)
    let loaded = try Checkpoint.loadWithRewind(from: path)
    #expect(loaded.model == late)
    #expect(loaded.rewind == early)
    #expect(loaded.metadata.rewindEpoch == 2)
    // Without rewind weights there are none to load.
    try Checkpoint.save(late, metadata: CheckpointMetadata(), to: path)
    #expect(try Checkpoint.loadWithRewind(from: path).rewind == nil)
  }

  @Test func rewindingKeepsTheMasksOfThePrunedModel() throws {
    var generator = SeededGenerator(seed: 3)
    let early = Model(architecture: .mlp(widths: [4, 3, 2]), generator: &generator)
    var pruned = Model(architecture: .mlp(widths: [4, 3, 2]), generator: &generator)
    guard case .weighted(var first) = pruned.layers[0] else { return }
    first.setMask([1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0])
    pruned.layers[0] = .weighted(first)
    let rewound = FineTuning.rewound(pruned, to: early)
    guard case .weighted(let layer) = rewound.layers[0], case .weighted(let original) = early.layers[0] else { return }
    #expect(layer.mask == first.mask)
    #expect(layer.weight.scalars == zip(original.weight.scalars, first.keptMask).map { $1 == 0 ? 0 : $0 })
    #expect(rewound.layers[2] == early.layers[2])
  }
}
