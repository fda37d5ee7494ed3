import Foundation
import Testing
@testable import ExplorerCore
@testable import PruneEngine

/// The session on a tiny convolutional network (`SessionFixture.convolutionalArchitecture`):
/// convolutions are layers like Linear ones, and criteria that prune rows prune whole filters.
struct SessionConvolutionTests {
  private func run(_ command: SessionCommand, on session: Session) -> SessionSnapshot {
    SessionFixture.run(command, on: session)
  }

  /// The L2 norm of each row (filter or neuron) of a layer's weight.
  private func rowNorms(_ layer: WeightedLayer) -> [Float] {
    let columns = layer.inputCount
    return (0..<layer.outputCount).map { row in
      layer.weight.scalars[row * columns..<(row + 1) * columns].reduce(0) { $0 + $1 * $1 }.squareRoot()
    }
  }

  /// The model the session saves now, read back.
  private func saved(_ session: Session) throws -> (model: Model, metadata: CheckpointMetadata) {
    let message = try #require(run(.save, on: session).message)
    let path = try #require(message.hasPrefix("saved ") ? String(message.dropFirst(6)) : nil, "\(message)")
    let loaded = try Checkpoint.load(from: path)
    return (loaded.model, loaded.metadata)
  }

  @Test func theConvolutionsAreLayersOfTheTable() throws {
    let fixture = try SessionFixture(convolutional: true)
    let snapshot = fixture.session().snapshot
    #expect(!snapshot.isError, "\(snapshot.message ?? "")")
    #expect(snapshot.layers.map(\.name) == ["0.weight", "3.weight", "7.weight", "9.weight"])
    #expect(snapshot.layers.map(\.shape) == [[4, 1, 5, 5], [6, 4, 3, 3], [12, 150], [10, 12]])
    #expect(snapshot.layers.map(\.isConvolution) == [true, true, false, false])
    #expect(snapshot.layers.map(\.nonzero) == [100, 216, 1800, 120])
    #expect(snapshot.layers.map(\.keptRows) == [4, 6, 12, 10])
    #expect(snapshot.layers.map(\.scores.unitCount) == [100, 216, 1800, 120])
    #expect(snapshot.globalScores?.unitCount == 2236)
    #expect(snapshot.metrics?.parameters == 2236)
    let accuracy = try #require(snapshot.accuracy)
    #expect(accuracy.isFull && accuracy.samples == 64)
    #expect(accuracy.accuracy > 0.5, "the fixture model should have learned the bands")
  }

  @Test func magnitudePrunesConvolutionWeightsInEitherScope() throws {
    let fixture = try SessionFixture(convolutional: true)
    let session = fixture.session()
    // round(0.5 * 100) = 50, round(0.25 * 216) = 54, round(0.5 * 1800) = 900, none of 120.
    let layer = run(.setTargets([0: 0.5, 3: 0.25, 7: 0.5, 9: 0]), on: session)
    #expect(layer.layers.map(\.nonzero) == [50, 162, 900, 120])
    #expect(layer.metrics?.nonzero == 1232)
    #expect(layer.accuracy?.isFull == true)
    let global = run(.setScope(.global, targets: [0: 0.5, 3: 0.5, 7: 0.5, 9: 0.5]), on: session)
    #expect(global.metrics?.nonzero == 1118)
    var state = AppState(width: 80, height: 24)
    _ = Reducer.reduce(&state, .snapshot(global))
    #expect(global.layers.map { state.expectedNonzero(of: $0) } == global.layers.map(\.nonzero))
  }

  @Test func rowScopeIsRefusedAndNothingIsPruned() throws {
    let fixture = try SessionFixture(convolutional: true)
    let session = fixture.session()
    let snapshot = run(.setScope(.row, targets: [0: 0.5, 3: 0.5, 7: 0.5, 9: 0.5]), on: session)
    #expect(snapshot.isError)
    #expect(snapshot.message?.contains("layer or global scope") == true, "\(snapshot.message ?? "")")
    #expect(snapshot.scope == .layer)
    #expect(snapshot.layers.map(\.nonzero) == [100, 216, 1800, 120])
  }

  @Test func aRowCriterionPrunesTheFiltersWithTheLowestScores() throws {
    let fixture = try SessionFixture(convolutional: true)
    let session = fixture.session()
    let scored = run(.setCriterion(.neuronL2), on: session)
    #expect(scored.layers.map(\.granularity) == [.neuron, .neuron, .neuron, .neuron])
    #expect(scored.layers.map(\.isPrunable) == [true, true, true, false])
    // The histogram shows one score per filter: the L2 norm of its weights (kept ascending).
    let layers = fixture.model.weightedLayers.map(\.layer)
    for position in 0..<3 {
      let expected = rowNorms(layers[position]).sorted()
      let shown = scored.layers[position].scores.values
      #expect(shown.count == expected.count)
      #expect(zip(shown, expected).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, $1) }, "layer \(position)")
    }

    var state = AppState(width: 80, height: 24)
    _ = Reducer.reduce(&state, .snapshot(scored))
    let targets: [ParameterPath: Double] = [0: 0.5, 3: 0.5, 7: 0.25, 9: 0]
    state.targets = targets
    let pruned = run(.setTargets(targets), on: session)
    // 2 of 4 and 3 of 6 filters, 3 of 12 neurons, whole rows of 25, 36 and 150 weights.
    #expect(pruned.layers.map(\.keptRows) == [2, 3, 9, 10])
    #expect(pruned.layers.map(\.nonzero) == [2 * 25, 3 * 36, 9 * 150, 120])
    // The screen showed the same counts before the session answered.
    #expect(scored.layers.map { state.expectedKeptRows(of: $0) } == [2, 3, 9, 10])
    #expect(scored.layers.map { state.expectedNonzero(of: $0) } == pruned.layers.map(\.nonzero))

    let model = try saved(session).model
    for (position, (original, kept)) in zip(layers, model.weightedLayers.map(\.layer)).enumerated().prefix(3) {
      let norms = rowNorms(original)
      let removed = Set(norms.indices.sorted { (norms[$0], $0) < (norms[$1], $1) }.prefix(original.outputCount - pruned.layers[position].keptRows))
      let zeroRows = Set((0..<kept.outputCount).filter { rowNorms(kept)[$0] == 0 })
      #expect(zeroRows == removed, "layer \(position)")
    }
  }

  @Test func everyCriterionPrunesTheConvolutionalNetwork() throws {
    let fixture = try SessionFixture(convolutional: true)
    let session = fixture.session()
    _ = run(.setTargets([0: 0.5, 3: 0.5, 7: 0.5, 9: 0]), on: session)
    // bn-scale needs BatchNorm, which this network has none of (SessionResidualTests has).
    for criterion in Criterion.allCases where criterion != .batchNormScale {
      let snapshot = run(.setCriterion(criterion), on: session)
      #expect(!snapshot.isError, "\(criterion): \(snapshot.message ?? "")")
      #expect(snapshot.criterion == criterion)
      #expect(snapshot.accuracy?.isFull == true, "\(criterion)")
      for layer in snapshot.layers.prefix(3) {
        let unitCount = layer.granularity == .neuron ? layer.rows : layer.parameters
        #expect(layer.scores.unitCount == unitCount, "\(criterion) \(layer.name)")
        let pruned = Int((0.5 * Double(unitCount)).rounded(.toNearestOrEven))
        if layer.granularity == .neuron {
          #expect(layer.keptRows == layer.rows - pruned, "\(criterion) \(layer.name)")
        } else {
          #expect(layer.parameters - layer.nonzero == pruned, "\(criterion) \(layer.name)")
        }
      }
    }
  }

  @Test func fineTuningAndSavingKeepThePrunedFiltersRemoved() throws {
    let fixture = try SessionFixture(convolutional: true)
    let session = fixture.session()
    _ = run(.setCriterion(.neuronL2), on: session)
    let pruned = run(.setTargets([0: 0.5, 3: 0.5, 7: 0, 9: 0]), on: session)
    let before = try saved(session).model
    let tuned = run(.fineTune(epochs: 1), on: session)
    #expect(tuned.message?.hasPrefix("fine-tuned 1 epochs: accuracy ") == true, "\(tuned.message ?? "")")
    #expect(tuned.layers.map(\.keptRows) == pruned.layers.map(\.keptRows))
    // The removed filters are the new base's: the targets cannot bring them back.
    #expect(tuned.layers.map(\.scores.prunedCount) == [2, 3, 0, 0])
    let (after, metadata) = try saved(session)
    #expect(after.architecture == fixture.model.architecture)
    #expect(metadata.history.last?.hasPrefix("explore criterion=neuron-l2 scope=layer sparsity=") == true)
    #expect(metadata.accuracy == tuned.accuracy?.accuracy)
    for ((index, old), (_, new)) in zip(before.weightedLayers, after.weightedLayers) {
      #expect(new.mask == old.mask, "layer \(index)")
      #expect(zip(new.weight.scalars, new.keptMask).allSatisfy { $1 != 0 || $0 == 0 }, "layer \(index)")
      #expect(new.weight != old.weight, "layer \(index) did not train")
    }
  }
}

/// The explorer on a residual network: layers by path, pruning, criteria that need a
/// Sequential model refused with a message, fine-tuning and saving.
struct SessionResidualTests {
  @Test func aResNetOpensPrunesFineTunesAndSaves() throws {
    let fixture = try SessionFixture(residual: true)
    let session = fixture.session()
    let opened = session.snapshot
    #expect(opened.layers.first?.name == "conv1.weight")
    #expect(opened.layers.contains { $0.name == "layer2.0.downsample.0.weight" })
    #expect(opened.layers.last?.name == "fc.weight")
    let pruned = SessionFixture.run(.setTargets([ParameterPath("layer1.0.conv1")!: 0.5]), on: session)
    let layer = try #require(pruned.layers.first { $0.name == "layer1.0.conv1.weight" })
    #expect(layer.nonzero == layer.parameters / 2)
    #expect(pruned.hasUnsavedChanges)
    let refused = SessionFixture.run(.setCriterion(.redundancy), on: session)
    #expect(refused.isError && refused.message?.contains("nn.Sequential") == true, "\(refused.message ?? "")")
    #expect(SessionFixture.run(.setCriterion(.filterL1), on: session).criterion == .filterL1)
    let tuned = SessionFixture.run(.fineTune(epochs: 1), on: session)
    #expect(tuned.phase == .idle && tuned.accuracy?.isFull == true)
    let saved = SessionFixture.run(.save, on: session)
    #expect(!saved.hasUnsavedChanges && saved.message?.hasPrefix("saved ") == true)
    let path = String(try #require(saved.message).dropFirst("saved ".count))
    let reloaded = try Checkpoint.load(from: path).model
    #expect(reloaded.architecture.description == SessionFixture.residualArchitecture)
  }
}
