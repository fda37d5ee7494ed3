import Foundation
import Testing

@testable import PruneEngine

/// Coupled channels found from the module graph, pruned and removed together.
struct ChannelGroupTests {
  static func resnet(_ stages: [ResNet.Stage], seed: UInt64 = 1) -> Model {
    let module = ResNet.module(channels: 1, stages: stages, classes: 3)
    return Model(module: module, parameters: GradientCheckTests.randomStore(module, seed: seed), inputShape: [1, 8, 8])
  }

  /// ResNet-20 has one group per block's inner channels and one per stage's residual stream,
  /// which every block of the stage writes and the next stage's first block reads.
  @Test func resnet20GroupsFollowTheResidualStreams() throws {
    var generator = SeededGenerator(seed: 1)
    let model = Model(
      module: ResNet.module(channels: 1, stages: ResNet.resnet20Stages, classes: 10), inputShape: [1, 28, 28],
      generator: &generator)
    let groups = model.channelGroups
    #expect(groups.count == 3 + 9)
    let names = { (paths: [ParameterPath]) in paths.map(\.description) }
    let stem = try #require(groups.first)
    #expect(names(stem.producers) == ["conv1", "layer1.0.conv2", "layer1.1.conv2", "layer1.2.conv2"])
    #expect(names(stem.norms) == ["bn1", "layer1.0.bn2", "layer1.1.bn2", "layer1.2.bn2"])
    #expect(
      names(stem.consumers.map(\.layer))
        == ["layer1.0.conv1", "layer1.1.conv1", "layer1.2.conv1", "layer2.0.conv1", "layer2.0.downsample.0"])
    #expect(stem.consumers.map(\.span) == [9, 9, 9, 9, 1])
    let inner = try #require(groups.first { $0.leader.description == "layer2.1.conv1" })
    #expect(names(inner.norms) == ["layer2.1.bn1"] && names(inner.consumers.map(\.layer)) == ["layer2.1.conv2"])
    #expect(inner.channels == 32)
    let last = try #require(groups.first { $0.leader.description == "layer3.0.conv2" })
    #expect(names(last.producers) == ["layer3.0.conv2", "layer3.0.downsample.0", "layer3.1.conv2", "layer3.2.conv2"])
    #expect(last.consumers.last == ChannelGroup.Consumer(layer: ParameterPath("fc")!, span: 1))
    #expect(!groups.contains { $0.producers.contains(ParameterPath("fc")!) })
  }

  /// In a Sequential network each hidden layer is its own group, read by the next weighted
  /// layer: a filter before Flatten as its pooled pixels.
  @Test func sequentialLayersAreTheirOwnGroups() throws {
    var generator = SeededGenerator(seed: 1)
    let model = Model(architecture: try Architecture(parsing: "lenet5"), generator: &generator)
    let groups = model.channelGroups
    #expect(groups.map(\.leader.description) == ["0", "3", "7"])
    #expect(groups.map { $0.consumers.map(\.span) } == [[25], [16], [1]])
    #expect(groups.allSatisfy { $0.norms.isEmpty && $0.producers.count == 1 })
  }

  /// Pruning a channel of a residual stream masks it in every producer and BatchNorm, which
  /// silences it exactly; the masks survive a checkpoint.
  @Test func pruningAStreamChannelSilencesItEverywhere() throws {
    let model = Self.resnet([.init(width: 4, blocks: 2), .init(width: 6, blocks: 1)])
    let stem = try #require(model.channelGroups.first)
    let pruned = model.pruningChannels([1, 3], of: stem)
    #expect(pruned.keptChannels(of: stem) == [true, false, true, false])
    for norm in stem.norms {
      #expect(pruned.parameters[norm.appending("weight")]?.mask == [1, 0, 1, 0])
      #expect(pruned.parameters[norm.appending("bias")]?.tensor?.scalars[3] == 0)
    }
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("groups-\(UUID().uuidString).safetensors").path
    defer { try? FileManager.default.removeItem(atPath: path) }
    try Checkpoint.save(pruned, metadata: CheckpointMetadata(), to: path)
    let file = try SafetensorsFile(contentsOf: path)
    #expect(file.entries.contains { $0.name == "layer1.1.bn2.bias_mask" })
    #expect(try Checkpoint.load(from: path).model == pruned)
  }

  /// Channels pruned by their BatchNorm scales are removed from every coupled layer, and the
  /// smaller network computes the masked one's logits (with running statistics) within 1e-4.
  @Test(arguments: [Criterion.batchNormScale, .filterL1])
  func shrunkResNetsComputeWhatMaskedOnesDo(criterion: Criterion) throws {
    let model = Self.resnet([.init(width: 4, blocks: 2), .init(width: 6, blocks: 1)], seed: 3)
    let scope: PruningScope = criterion == .batchNormScale ? .global : .layer
    let outcome = try PruningPipeline.apply(
      PruningRequest(criterion: criterion, scope: scope, rule: .fraction(0.5)), to: model, context: ScoringContext())
    let (shrunk, removed) = outcome.model.shrunk()
    #expect(!removed.isEmpty)
    #expect(removed.values.reduce(0) { $0 + $1.count } == outcome.layers.reduce(0) { $0 + $1.prunedUnits })
    #expect(shrunk.parameterCount < model.parameterCount * 6 / 10)
    let dataset = bandDataset(samples: 20, classes: 3, side: 8, seed: 6)
    let masked = Evaluator(model: outcome.model, threads: 1, kernels: .dense).logits(dataset)
    let small = Evaluator(model: shrunk, threads: 1, kernels: .dense).logits(dataset)
    #expect(masked.count == small.count)
    let difference = zip(masked, small).map { abs($0 - $1) }.max() ?? .infinity
    #expect(difference < 1e-4, "largest difference \(difference)")
  }

  /// `bn-scale` ranks channels by |γ| (averaged over a stream's BatchNorms) and refuses models
  /// without BatchNorm.
  @Test func batchNormScaleScoresChannelsByTheirScales() throws {
    let model = Self.resnet([.init(width: 4, blocks: 1), .init(width: 6, blocks: 1)], seed: 2)
    let scores = try PruningPipeline.scores(
      for: PruningRequest(criterion: .batchNormScale, rule: .fraction(0.5)), model: model, context: ScoringContext())
    let inner = try #require(scores.first { $0.layer.description == "layer1.0.conv1" })
    let gamma = try #require(model.parameters[ParameterPath("layer1.0.bn1.weight")!]?.tensor?.scalars)
    #expect(inner.values == gamma.map { abs($0) })
    var generator = SeededGenerator(seed: 1)
    let mlp = Model(architecture: .mlp(widths: [4, 3, 2]), generator: &generator)
    #expect(throws: ShearsError.self) {
      try PruningPipeline.apply(PruningRequest(criterion: .batchNormScale, rule: .fraction(0.5)), to: mlp, context: ScoringContext())
    }
  }

  /// `l1BatchNorm` pulls BatchNorm scales towards zero and leaves the weights' penalty alone.
  @Test func theBatchNormPenaltyShrinksScales() throws {
    let model = Self.resnet([.init(width: 4, blocks: 1)], seed: 4)
    let dataset = bandDataset(samples: 64, classes: 3, side: 8, seed: 7)
    func scales(_ penalty: Float) throws -> Double {
      let options = TrainingOptions(epochs: 3, batchSize: 16, optimizer: .sgd(learningRate: 0.05, momentum: 0.9), l1BatchNorm: penalty)
      let trained = try Trainer.train(model, on: dataset, options: options).model
      return trained.parameters.parameters.filter { $0.role == .scale }.reduce(0.0) { total, parameter in
        total + (parameter.tensor?.scalars.reduce(0.0) { $0 + Double(abs($1)) } ?? 0)
      }
    }
    #expect(try scales(0.05) < scales(0) - 0.1)
  }
}
