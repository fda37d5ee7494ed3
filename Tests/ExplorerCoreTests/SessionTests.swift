import Foundation
import Testing
@testable import ExplorerCore
@testable import PruneEngine

/// The session on a real (tiny) model and dataset: every command, through snapshots only, as
/// the UI sees it.
struct SessionTests {
  private func run(_ command: SessionCommand, on session: Session) -> SessionSnapshot {
    SessionFixture.run(command, on: session)
  }

  /// The path in a `saved PATH` or `exported N points to PATH` message.
  private func path(in message: String?, after prefix: String) throws -> String {
    let message = try #require(message)
    let range = try #require(message.range(of: prefix), "\(message)")
    return String(message[range.upperBound...])
  }

  @Test func startOpensTheModelAndMeasuresTheDenseAccuracy() throws {
    let fixture = try SessionFixture()
    let snapshot = fixture.session().snapshot
    #expect(snapshot.phase == .idle)
    #expect(!snapshot.isError, "\(snapshot.message ?? "")")
    #expect(snapshot.modelDescription == "model.safetensors")
    #expect(snapshot.dataDescription == "\(fixture.folder.path) (--data)")
    #expect(snapshot.message == "opened \(fixture.modelPath)")
    #expect(snapshot.layers.map(\.name) == ["0.weight", "2.weight", "4.weight"])
    #expect(snapshot.layers.map(\.shape) == [[16, 784], [8, 16], [10, 8]])
    #expect(snapshot.layers.map(\.nonzero) == [12544, 128, 80])
    #expect(snapshot.layers.map(\.target) == [0, 0, 0])
    #expect(snapshot.layers.map(\.scores.sorted.count) == [12544, 128, 80])
    #expect(snapshot.globalScores?.unitCount == 12752)
    let accuracy = try #require(snapshot.accuracy)
    #expect(accuracy.isFull && accuracy.samples == 64)
    #expect(accuracy.accuracy > 0.5, "the fixture model should have learned the bands")
    #expect(snapshot.baseline == accuracy)
    #expect(snapshot.curve == [CurvePoint(sparsity: 0, accuracy: accuracy.accuracy)])
    #expect(!snapshot.hasUnsavedChanges && !snapshot.canUndo)
    #expect(snapshot.handledCommands == 0)
  }

  @Test func targetsPruneExactlyTheCutTheScreenDraws() throws {
    let fixture = try SessionFixture()
    let session = fixture.session()
    let before = session.snapshot
    var state = AppState(width: 80, height: 24)
    _ = Reducer.reduce(&state, .snapshot(before))
    let snapshot = run(.setTargets([0: 0.5, 2: 0.25, 4: 0]), on: session)
    #expect(snapshot.handledCommands == 1)
    #expect(snapshot.layers.map(\.target) == [0.5, 0.25, 0])
    #expect(snapshot.layers.map(\.nonzero) == [6272, 96, 80])
    #expect(snapshot.metrics?.nonzero == 6448)
    // The screen's estimate for the same targets, before the session answered.
    state.targets = [0: 0.5, 2: 0.25, 4: 0]
    #expect(snapshot.layers.map(\.nonzero) == before.layers.map { state.expectedNonzero(of: $0) })
    let accuracy = try #require(snapshot.accuracy)
    #expect(accuracy.isFull)
    #expect(accuracy != before.accuracy)
    #expect(snapshot.curve.count == 2)
    #expect(abs((snapshot.curve.last?.sparsity ?? 0) - (1 - 6448.0 / 12752)) < 1e-9)
    #expect(snapshot.phase == .idle)
    #expect(snapshot.hasUnsavedChanges && snapshot.canUndo)
  }

  /// Unsaved changes follow what the model is made of: pruning marks them, pruning back to
  /// what was saved clears them, a fine-tune marks them until saved, undoing it clears them.
  @Test func unsavedChangesFollowTheRevisionOfTheModel() throws {
    let fixture = try SessionFixture()
    let session = fixture.session()
    #expect(run(.setTargets([0: 0.5, 2: 0, 4: 0]), on: session).hasUnsavedChanges)
    #expect(!run(.setTargets([0: 0, 2: 0, 4: 0]), on: session).hasUnsavedChanges)
    #expect(run(.fineTune(epochs: 1), on: session).hasUnsavedChanges)
    #expect(!run(.save, on: session).hasUnsavedChanges)
    #expect(run(.setTargets([0: 0.25, 2: 0, 4: 0]), on: session).hasUnsavedChanges)
    #expect(!run(.undo, on: session).hasUnsavedChanges)
    #expect(run(.undo, on: session).hasUnsavedChanges)
  }

  @Test func onlyTheNewestOfManyThresholdsIsEvaluated() throws {
    let fixture = try SessionFixture()
    let session = fixture.session()
    for step in 1...10 { session.send(.setTargets([0: Double(step) / 20, 2: 0, 4: 0])) }
    session.waitUntilIdle()
    let snapshot = session.snapshot
    #expect(snapshot.handledCommands == 10)
    #expect(snapshot.layers[0].nonzero == 6272)
    #expect(snapshot.accuracy?.isFull == true)
    #expect(snapshot.phase == .idle)
    // The dense point and at most a few of the ten, the last among them.
    #expect(snapshot.curve.count >= 2 && snapshot.curve.count < 11)
  }

  @Test func aCriterionChangeRescoresAndPrunesTheSameAmount() throws {
    let fixture = try SessionFixture()
    let session = fixture.session()
    let magnitude = run(.setTargets([0: 0.5, 2: 0.5, 4: 0.5]), on: session)
    let random = run(.setCriterion(.random), on: session)
    #expect(random.criterion == .random)
    #expect(random.layers.map(\.nonzero) == magnitude.layers.map(\.nonzero))
    #expect(random.layers[0].scores != magnitude.layers[0].scores)
    #expect(random.globalScores != nil)
    let neurons = run(.setCriterion(.neuronL2), on: session)
    #expect(neurons.criterion == .neuronL2)
    #expect(neurons.layers.map(\.granularity) == [.neuron, .neuron, .neuron])
    #expect(neurons.layers.map(\.isPrunable) == [true, true, false])
    // Half the neurons: 8 of 16 rows of 784 weights, 4 of 8 rows of 16; the output layer stays.
    #expect(neurons.layers.map(\.nonzero) == [8 * 784, 4 * 16, 80])
    #expect(neurons.globalScores == nil)
  }

  @Test func globalScopeRanksEveryLayerTogether() throws {
    let fixture = try SessionFixture()
    let session = fixture.session()
    let snapshot = run(.setScope(.global, targets: [0: 0.5, 2: 0.5, 4: 0.5]), on: session)
    #expect(snapshot.scope == .global)
    #expect(snapshot.metrics?.nonzero == 6376)
    #expect(snapshot.layers.map(\.nonzero) != [6272, 64, 40])
    // The screen's per-layer counts agree with the engine's selection.
    var state = AppState(width: 80, height: 24)
    _ = Reducer.reduce(&state, .snapshot(snapshot))
    #expect(snapshot.layers.map { state.expectedNonzero(of: $0) } == snapshot.layers.map(\.nonzero))
    #expect(snapshot.layers.map { $0.parameters - (state.globalPrunedUnits[$0.path] ?? -1) } == snapshot.layers.map(\.nonzero))
  }

  @Test func globalScopeIsRefusedForCriteriaThatRankWithinALayer() throws {
    let fixture = try SessionFixture()
    let session = fixture.session()
    _ = run(.setCriterion(.neuronL2), on: session)
    let snapshot = run(.setScope(.global, targets: [0: 0.5, 2: 0.5, 4: 0]), on: session)
    #expect(snapshot.scope == .layer)
    #expect(snapshot.isError)
    #expect(snapshot.message == "neuron-l2 ranks within each layer; global scope needs a weight criterion or apoz")
    // The session still works.
    let after = run(.setTargets([0: 0.25, 2: 0, 4: 0]), on: session)
    #expect(!after.isError && after.message == nil)
    #expect(after.layers[0].nonzero == 12 * 784)
  }

  @Test func undoGoesBackOneChangeAndResetToTheOpenedModel() throws {
    let fixture = try SessionFixture()
    let session = fixture.session()
    let half = run(.setTargets([0: 0.5, 2: 0, 4: 0]), on: session)
    _ = run(.setCriterion(.random), on: session)
    let undone = run(.undo, on: session)
    #expect(undone.criterion == .magnitude)
    #expect(undone.layers == half.layers)
    let first = run(.undo, on: session)
    #expect(first.layers.map(\.nonzero) == [12544, 128, 80])
    #expect(!first.canUndo)
    #expect(!first.hasUnsavedChanges)
    let nothing = run(.undo, on: session)
    #expect(nothing.message == "nothing to undo")
    _ = run(.setTargets([0: 0.9, 2: 0.9, 4: 0.9]), on: session)
    _ = run(.setCriterion(.random), on: session)
    let reset = run(.reset, on: session)
    #expect(reset.layers.map(\.nonzero) == [12544, 128, 80])
    #expect(reset.layers.map(\.target) == [0, 0, 0])
    #expect(reset.criterion == .random)
    #expect(reset.handledCommands == 8)
  }

  @Test func fineTuningKeepsPrunedWeightsZeroAndBecomesTheNewBase() throws {
    let fixture = try SessionFixture()
    let session = fixture.session()
    _ = run(.setTargets([0: 0.8, 2: 0.5, 4: 0]), on: session)
    let before = try Checkpoint.load(from: path(in: run(.save, on: session).message, after: "saved ")).model
    let tuned = run(.fineTune(epochs: 1), on: session)
    #expect(tuned.phase == .idle)
    #expect(tuned.message?.hasPrefix("fine-tuned 1 epochs: accuracy ") == true, "\(tuned.message ?? "")")
    #expect(tuned.layers.map(\.nonzero) == [2509, 64, 80])
    #expect(tuned.hasUnsavedChanges && tuned.canUndo)
    // The pruned units are the base's now: the targets cannot go below them.
    #expect(tuned.layers.map(\.scores.prunedCount) == [10035, 64, 0])
    #expect(tuned.layers.map(\.scores.floor) == [10035.0 / 12544, 0.5, 0])
    let after = try Checkpoint.load(from: path(in: run(.save, on: session).message, after: "saved ")).model
    for ((index, old), (_, new)) in zip(before.weightedLayers, after.weightedLayers) {
      #expect(new.mask == old.mask, "layer \(index)")
      let mask = new.keptMask
      #expect(zip(new.weight.scalars, mask).allSatisfy { $1 != 0 || $0 == 0 }, "layer \(index)")
      #expect(new.weight != old.weight, "layer \(index) did not train")
    }
    // Undo goes back to the model before the fine-tune.
    let undone = run(.undo, on: session)
    #expect(undone.layers.map(\.scores.prunedCount) == [0, 0, 0])
    #expect(undone.layers.map(\.nonzero) == [2509, 64, 80])
  }

  @Test func cancelStopsAFineTuneBetweenBatches() throws {
    let fixture = try SessionFixture()
    let session = fixture.session()
    session.send(.fineTune(epochs: 999))
    let deadline = Date().addingTimeInterval(20)
    while Date() < deadline {
      if case .fineTuning = session.snapshot.phase { break }
      Thread.sleep(forTimeInterval: 0.005)
    }
    guard case .fineTuning(let progress) = session.snapshot.phase else {
      Issue.record("the fine-tune did not start: \(session.snapshot.phase)")
      return
    }
    #expect(progress.epochs == 999)
    session.send(.cancel)
    session.waitUntilIdle()
    let snapshot = session.snapshot
    #expect(snapshot.phase == .idle)
    let message = try #require(snapshot.message)
    #expect(message.hasPrefix("fine-tune cancelled after "), "\(message)")
    #expect(message.hasSuffix(" of 999 epochs; the model keeps the batches done"))
    #expect(snapshot.handledCommands == 1)
  }

  @Test func saveWritesANewFileWithTheSparsityInItsName() throws {
    let fixture = try SessionFixture()
    let session = fixture.session()
    let pruned = run(.setTargets([0: 0.9, 2: 0.5, 4: 0]), on: session)
    let saved = run(.save, on: session)
    let path = try self.path(in: saved.message, after: "saved ")
    #expect(path == fixture.folder.path("model-sparsity89.safetensors"))
    #expect(!saved.hasUnsavedChanges && !saved.isError)
    let loaded = try Checkpoint.load(from: path)
    let metrics = ModelMetrics(loaded.model)
    #expect(metrics.nonzero == pruned.metrics?.nonzero)
    #expect(abs(metrics.sparsity - (pruned.metrics?.sparsity ?? 0)) < 1e-12)
    #expect(loaded.metadata.history.first == "train epochs=3")
    #expect(loaded.metadata.history.last == "explore criterion=magnitude scope=layer sparsity=0.8904")
    #expect(loaded.metadata.accuracy == pruned.accuracy?.accuracy)
    // A second save never overwrites the first.
    let again = try self.path(in: run(.save, on: session).message, after: "saved ")
    #expect(again == fixture.folder.path("model-sparsity89-2.safetensors"))
    #expect(try fixture.folder.contents().filter { $0.hasSuffix(".safetensors") }.count == 3)
  }

  @Test func exportWritesTheVisitedCurveAsCSV() throws {
    let fixture = try SessionFixture()
    let session = fixture.session()
    _ = run(.setTargets([0: 0.5, 2: 0, 4: 0]), on: session)
    let snapshot = run(.setTargets([0: 0.9, 2: 0, 4: 0]), on: session)
    let exported = run(.exportCurve, on: session)
    let path = try self.path(in: exported.message, after: "exported 3 points to ")
    #expect(path == fixture.folder.path("curve.csv"))
    let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map(String.init)
    #expect(lines.count == 4)
    #expect(lines.first == "sparsity,accuracy")
    let rows = lines.dropFirst().map { $0.split(separator: ",").compactMap { Double($0) } }
    #expect(rows.map(\.count) == [2, 2, 2])
    #expect(zip(rows, snapshot.curve).allSatisfy { abs($0[0] - $1.sparsity) < 1e-6 && abs($0[1] - $1.accuracy) < 1e-6 })
    let second = run(.exportCurve, on: session)
    #expect(second.message?.hasSuffix("curve-2.csv") == true)
  }

  @Test func aModelThatDoesNotFitTheDataIsAnErrorOnStart() throws {
    let fixture = try SessionFixture()
    var generator = SeededGenerator(seed: 1)
    let wrong = Model(architecture: .mlp(widths: [100, 10]), generator: &generator)
    let path = fixture.folder.path("wrong.safetensors")
    try Checkpoint.save(wrong, metadata: CheckpointMetadata(), to: path)
    let session = Session(Session.Setup(modelPath: path, data: fixture.data, cacheDirectory: fixture.folder.path("cache")))
    session.start()
    session.waitUntilIdle()
    // Commands before a model is open are handled (counted) and do nothing.
    let snapshot = run(.setTargets([0: 0.5]), on: session)
    #expect(snapshot.isError)
    #expect(snapshot.layers.isEmpty)
    #expect(snapshot.handledCommands == 1)
    #expect(
      snapshot.message
        == "\(path): model takes 100 inputs and 10 classes; the data has 784 pixels and 10 classes")
  }
}

/// Without `--model`: the baseline is trained once, cached, and loaded from the cache next time.
struct SessionBaselineTests {
  @Test func theBaselineIsTrainedOnceAndCached() throws {
    let fixture = try SessionFixture()
    var setup = Session.Setup(modelPath: nil, data: fixture.data, cacheDirectory: fixture.folder.path("cache"))
    setup.baselineArchitecture = .mlp(widths: [784, 8, 10])
    setup.baselineEpochs = 1
    let cached = fixture.folder.path("cache/baseline-mlp-784-8-10-\(fixture.folder.path.split { !($0.isLetter || $0.isNumber) }.joined(separator: "-"))-data.safetensors")
    let first = Session(setup)
    first.start()
    first.waitUntilIdle()
    #expect(first.snapshot.message == "baseline: \(cached)")
    #expect(first.snapshot.modelDescription == "baseline mlp:784-8-10")
    #expect(FileManager.default.fileExists(atPath: cached))
    let second = Session(setup)
    second.start()
    second.waitUntilIdle()
    #expect(second.snapshot.layers == first.snapshot.layers)
    #expect(second.snapshot.baseline == first.snapshot.baseline)
    // Saved checkpoints of the baseline go next to it.
    let saved = SessionFixture.run(.save, on: second)
    #expect(saved.message == "saved \(fixture.folder.path("cache/baseline-sparsity0.safetensors"))")
  }
}
