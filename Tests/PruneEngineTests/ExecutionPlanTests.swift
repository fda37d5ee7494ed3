import Foundation
import Testing
@testable import PruneEngine

struct ParameterPathTests {
  @Test func pathsParseAndCompose() throws {
    let path = try #require(ParameterPath("layer1.0.conv1.weight"))
    #expect(path.components == ["layer1", "0", "conv1", "weight"])
    #expect(path.name == "weight")
    #expect(path.parent == ParameterPath("layer1.0.conv1"))
    #expect(ParameterPath.root.appending("layer1").appending("0") == ParameterPath("layer1.0"))
    #expect(ParameterPath("0")?.parent == .root)
    #expect(ParameterPath.root.parent == nil)
    #expect(path.isWithin(ParameterPath("layer1.0")!))
    #expect(!path.isWithin(ParameterPath("layer1.0.conv")!))
    #expect(path.isWithin(.root))
  }

  @Test(arguments: ["layer1..weight", ".weight", "weight.", "conv 1.weight", "fc-1", "a.b/c"])
  func malformedPathsAreRejected(_ dotted: String) {
    #expect(ParameterPath(dotted) == nil)
  }
}

struct ExecutionPlanTests {
  /// Sequential models keep today's parameter names, masks included, and come back unchanged.
  @Test func sequentialModelsRoundTripThroughTheirStore() throws {
    var generator = SeededGenerator(seed: 2)
    var model = Model(architecture: try Architecture(parsing: "cnn:1x6x6-conv2k3-pool2-fc3"), generator: &generator)
    guard case .weighted(var conv) = model.layers[0] else { return }
    conv.setMask((0..<conv.weight.count).map { $0 % 2 == 0 ? 1 : 0 })
    model.layers[0] = .weighted(conv)
    let store = model.parameters
    #expect(store.paths.map(\.description) == ["0.weight", "0.bias", "4.weight", "4.bias"])
    #expect(store[ParameterPath("0.weight")!]?.mask == conv.mask)
    #expect(store[ParameterPath("4.weight")!]?.mask == nil)
    #expect(Model(module: model.module, parameters: store, inputShape: model.inputShape) == model)
    #expect(model.module.parameterShapes().map(\.path) == store.paths)
  }

  /// One plan computes, in inference, the same bits as the evaluator's own inference pass, for
  /// today's models dense and pruned.
  @Test(arguments: ["mlp:36-20-12-4", "cnn:1x6x6-conv3k3-pool2-fc4", "cnn:1x6x6-conv4k3s2p1-conv3k2-fc5-fc4"])
  func planLogitsAreTheEvaluatorsBits(arch: String) throws {
    var generator = SeededGenerator(seed: 8)
    var model = Model(architecture: try Architecture(parsing: arch), generator: &generator)
    let dataset = bandDataset(samples: 64, classes: 4, side: 6, seed: 9)
    for pruned in [false, true] {
      if pruned {
        for (path, layer) in model.weightedLayers {
          var layer = layer
          layer.setMask((0..<layer.weight.count).map { ($0 * 7) % 10 < 6 ? 0 : 1 })
          model.replaceWeightedLayer(at: path, with: layer)
        }
      }
      let plan = ExecutionPlan(
        model: model, capacity: 64,
        gradients: false)
      dataset.gatherFeatureMajor(range: 0..<64, into: plan.input, leadingDimension: 64)
      plan.forward(count: 64, mode: .inference, threads: 2)
      let expected = Evaluator(model: model, threads: 1, kernels: .dense).logits(dataset)
      for sample in 0..<64 {
        for c in 0..<4 {
          #expect(plan.logits[c * 64 + sample].bitPattern == expected[sample * 4 + c].bitPattern, "\(arch) \(sample)")
        }
      }
    }
  }

  /// BatchNorm in training normalises with the batch's statistics and moves the running ones by
  /// PyTorch's momentum with the unbiased variance; in inference it uses the running ones.
  @Test func batchNormUpdatesRunningStatisticsAsPyTorch() throws {
    let module = Module.sequential([.init("bn", .batchNorm(features: 2))])
    let path = ParameterPath("bn")!
    let store = ParameterStore([
      Parameter(path: path.appending("weight"), role: .scale, tensor: Tensor(shape: [2], scalars: [2, 1])),
      Parameter(path: path.appending("bias"), role: .bias, tensor: Tensor(shape: [2], scalars: [0, 1])),
      Parameter(path: path.appending("running_mean"), role: .buffer, tensor: Tensor(shape: [2], scalars: [0, 1])),
      Parameter(path: path.appending("running_var"), role: .buffer, tensor: Tensor(shape: [2], scalars: [1, 4])),
      Parameter(path: path.appending("num_batches_tracked"), role: .buffer, value: .int64(shape: [], scalars: [7])),
    ])
    let plan = ExecutionPlan(module: module, inputShape: [2], store: store, capacity: 4, gradients: false)
    // Feature 0: 1, 2, 3, 6 (mean 3, biased variance 3.5, unbiased 14/3); feature 1: all 5.
    let input: [Float] = [1, 2, 3, 6, 5, 5, 5, 5]
    plan.input.update(from: input, count: 8)
    plan.forward(count: 4, mode: .training, threads: 1)
    let deviation = (3.5 + 1e-5).squareRoot()
    for (j, x) in [1.0, 2, 3, 6].enumerated() {
      #expect(isClose(plan.logits[j], Float(2 * (x - 3) / deviation)))
      #expect(plan.logits[4 + j] == 1)
    }
    let trained = plan.parameterStore()
    #expect(trained[path.appending("running_mean")]?.tensor?.scalars == [Float(0.1 * 3), Float(0.9 * 1 + 0.1 * 5)])
    let variance = try #require(trained[path.appending("running_var")]?.tensor?.scalars)
    #expect(isClose(variance[0], Float(0.9 + 0.1 * 14.0 / 3)))
    #expect(isClose(variance[1], Float(0.9 * 4)))
    #expect(trained[path.appending("num_batches_tracked")]?.value == .int64(shape: [], scalars: [8]))

    plan.input.update(from: input, count: 8)
    plan.forward(count: 4, mode: .inference, threads: 1)
    for (j, x) in [1.0, 2, 3, 6].enumerated() {
      #expect(isClose(plan.logits[j], Float(2 * (x - 0.3) / (Double(variance[0]) + 1e-5).squareRoot())))
    }
    #expect(plan.parameterStore()[path.appending("num_batches_tracked")]?.value == .int64(shape: [], scalars: [8]))
  }

  /// Dropout zeroes about its probability of the values in training, scales the rest and sends
  /// gradients through the same factors; in inference it is the identity.
  @Test func dropoutDropsInTrainingOnly() {
    let module = Module.sequential([
      .init("fc", .linear(inputs: 1, outputs: 100)), .init("drop", .dropout(probability: 0.25)),
    ])
    let store = ParameterStore([
      Parameter(path: ParameterPath("fc.weight")!, role: .weight, tensor: Tensor(shape: [100, 1], repeating: 1)),
      Parameter(path: ParameterPath("fc.bias")!, role: .bias, tensor: Tensor(shape: [100])),
    ])
    let plan = ExecutionPlan(module: module, inputShape: [1], store: store, capacity: 20, gradients: true)
    for j in 0..<20 { plan.input[j] = Float(j + 1) }
    plan.forward(count: 20, mode: .inference, threads: 1)
    #expect((0..<2000).allSatisfy { plan.logits[$0] == Float($0 % 20 + 1) })

    plan.forward(count: 20, mode: .training, threads: 1)
    let outputs = (0..<2000).map { plan.logits[$0] }
    let dropped = outputs.filter { $0 == 0 }.count
    #expect(dropped > 400 && dropped < 600)
    #expect(outputs.enumerated().allSatisfy { index, value in value == 0 || isClose(value, Float(index % 20 + 1) / 0.75) })
    for index in 0..<2000 { plan.logitsGradient[index] = 1 }
    plan.backward(count: 20, mode: .training, threads: 1)
    // ∂/∂w_o of Σ_j drop(w_o · x_j) = Σ_j factor_oj · x_j = Σ_j out_oj / w_o, with w_o = 1.
    let gradient = plan.parameter(ParameterPath("fc.weight")!)!.gradient!
    for o in 0..<100 {
      #expect(isClose(gradient[o], outputs[(o * 20)..<(o * 20 + 20)].reduce(0, +)))
    }
  }
}

struct LayerSelectionTests {
  /// A model whose layers sit in nested modules, as in a ResNet or a transformer.
  static let nested: Model = {
    let module = Module.sequential([
      .init(
        "features",
        .sequential([
          .init("0", .linear(inputs: 4, outputs: 3)), .init("1", .relu), .init("2", .linear(inputs: 3, outputs: 3)),
        ])),
      .init("relu", .relu), .init("fc", .linear(inputs: 3, outputs: 2)),
    ])
    return Model(module: module, parameters: GradientCheckTests.randomStore(module, seed: 1), inputShape: [4])
  }()

  @Test func layersAreFoundByModulePathWeightOrEnclosingModule() throws {
    let model = Self.nested
    #expect(model.weightedLayers.map(\.path.description) == ["features.0", "features.2", "fc"])
    #expect(try Pruner.layers(named: ParameterPath("features")!, in: model).map(\.description) == ["features.0", "features.2"])
    #expect(try Pruner.layers(named: ParameterPath("features.2.weight")!, in: model).map(\.description) == ["features.2"])
    #expect(try Pruner.layers(named: ParameterPath("fc")!, in: model).map(\.description) == ["fc"])
    for missing in ["feature", "features.1", "fc.bias", "classifier"] {
      #expect(throws: ShearsError.self) { try Pruner.layers(named: ParameterPath(missing)!, in: model) }
    }
  }

  /// Pruning, scoring and their reports work on nested paths as on Sequential indices.
  @Test func nestedLayersPruneByPath() throws {
    let request = PruningRequest(criterion: .magnitude, rule: .fraction(0.5), layers: [ParameterPath("features")!])
    let outcome = try PruningPipeline.apply(request, to: Self.nested, context: ScoringContext(seed: 1, threads: 1))
    #expect(outcome.layers.map(\.layer.description) == ["features.0", "features.2"])
    #expect(outcome.model.weightedLayer(at: ParameterPath("features.0")!)?.keptCount == 6)
    // round(0.5 · 9) = 4 pruned, Python's half to even.
    #expect(outcome.model.weightedLayer(at: ParameterPath("features.2")!)?.keptCount == 5)
    #expect(outcome.model.weightedLayer(at: ParameterPath("fc")!)?.mask == nil)
  }
}

struct ResNetTests {
  /// ResNet-20 has the paper's 0.27M parameters under torchvision's names.
  @Test func resnet20IsNamedAsTorchvision() {
    let module = ResNet.module(channels: 3, stages: ResNet.resnet20Stages, classes: 10)
    let paths = module.parameterShapes().map(\.path.description)
    for expected in [
      "conv1.weight", "bn1.running_mean", "layer1.0.conv1.weight", "layer1.2.bn2.num_batches_tracked",
      "layer2.0.downsample.0.weight", "layer3.0.downsample.1.running_var", "fc.weight", "fc.bias",
    ] {
      #expect(paths.contains(expected), "\(expected)")
    }
    #expect(!paths.contains("layer1.0.downsample.0.weight"))
    var generator = SeededGenerator(seed: 1)
    #expect(Model(module: module, inputShape: [3, 32, 32], generator: &generator).parameterCount == 272_474)
  }

  /// A small residual network learns an easy problem through the trainer, moves its BatchNorm
  /// statistics, and the evaluator runs it.
  @Test func aSmallResNetLearns() throws {
    let module = ResNet.module(channels: 1, stages: [.init(width: 4, blocks: 1), .init(width: 6, blocks: 1)], classes: 3)
    var generator = SeededGenerator(seed: 2)
    let model = Model(module: module, inputShape: [1, 6, 6], generator: &generator)
    let dataset = bandDataset(samples: 96, classes: 3, side: 6, seed: 3)
    let before = Evaluator(model: model, threads: 1).evaluate(dataset)
    let report = try Trainer.train(
      model, on: dataset, options: TrainingOptions(epochs: 15, batchSize: 16, optimizer: .adam(learningRate: 0.01)))
    let after = Evaluator(model: report.model, threads: 2).evaluate(dataset)
    #expect(after.loss < before.loss / 2, "loss \(before.loss) -> \(after.loss)")
    #expect(after.accuracy > 0.9)
    let tracked = report.model.parameters[ParameterPath("layer2.0.bn1.num_batches_tracked")!]?.value
    #expect(tracked == .int64(shape: [], scalars: [15 * 6]))
    #expect(report.model.parameters[ParameterPath("bn1.running_var")!]?.tensor?.scalars != [1, 1, 1, 1])
  }
}

struct ResNetArchitectureTests {
  @Test func resnetArchitecturesParseAndDescribeThemselves() throws {
    #expect(try Architecture(parsing: "resnet20").description == "resnet:1x28x28-16x3-32x3-64x3-10")
    #expect(try Architecture(parsing: "resnet20:3x32x32").description == "resnet:3x32x32-16x3-32x3-64x3-10")
    let small = try Architecture(parsing: "resnet:1x8x8-4x1-6x2-3")
    #expect(small.classCount == 3 && !small.isSequential)
    #expect(try Architecture(parsing: small.description) == small)
    for bad in ["resnet:1x8x8-3", "resnet:1x8x8-4-3", "resnet:1x8-4x1-3", "resnet20:1x28x28-16x3", "resnet:1x8x8-0x1-3"] {
      #expect(throws: ShearsError.self, "\(bad)") { try Architecture(parsing: bad) }
    }
  }

  /// A pruned ResNet goes through a checkpoint with its masks and BatchNorm buffers, the batch
  /// count as I64, and comes back equal.
  @Test func aPrunedResNetRoundTripsThroughItsCheckpoint() throws {
    var generator = SeededGenerator(seed: 4)
    let architecture = try Architecture(parsing: "resnet:1x8x8-4x1-6x1-3")
    let trained = try Trainer.train(
      Model(architecture: architecture, generator: &generator), on: bandDataset(samples: 32, classes: 3, side: 8, seed: 5),
      options: TrainingOptions(epochs: 1, batchSize: 16)
    ).model
    let pruned = try PruningPipeline.apply(
      PruningRequest(criterion: .magnitude, rule: .fraction(0.5)), to: trained, context: ScoringContext()
    ).model
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("resnet-\(UUID().uuidString).safetensors").path
    defer { try? FileManager.default.removeItem(atPath: path) }
    try Checkpoint.save(pruned, metadata: CheckpointMetadata(), to: path)
    let file = try SafetensorsFile(contentsOf: path)
    #expect(file.entries.first { $0.name == "layer1.0.bn1.num_batches_tracked" }?.dtype == .i64)
    #expect(file.entries.contains { $0.name == "layer2.0.downsample.0.weight_mask" })
    let loaded = try Checkpoint.load(from: path)
    #expect(loaded.model == pruned)
    #expect(loaded.model.architecture == architecture)
    #expect(loaded.metadata.architecture == architecture.description)
  }
}
