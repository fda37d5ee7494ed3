import Foundation
import Testing
@testable import ExplorerCore
@testable import PruneEngine

/// The explorer where it is easy to break: NaN and infinite weights, training labels the model
/// has no output for, a model pruned to nothing, one command after another without waiting.
struct ExplorerRobustnessTests {
  /// The fixture's model with its first weights NaN, +infinity, -infinity and the largest
  /// finite magnitudes of both signs (their range overflows Float), saved over the fixture's
  /// checkpoint.
  private func fixtureWithNonFiniteWeights() throws -> SessionFixture {
    let fixture = try SessionFixture()
    var model = fixture.model
    guard case .weighted(var dense) = model.layers[0] else { throw ShearsError("fixture", "no first layer") }
    dense.weight.scalars[0] = .nan
    dense.weight.scalars[1] = .infinity
    dense.weight.scalars[2] = -.infinity
    dense.weight.scalars[3] = .greatestFiniteMagnitude
    dense.weight.scalars[4] = -.greatestFiniteMagnitude
    model.layers[0] = .weighted(dense)
    try Checkpoint.save(model, metadata: CheckpointMetadata(), to: fixture.modelPath)
    return fixture
  }

  @Test func nanAndInfiniteWeightsOpenWithAWarningAndKeepWorking() throws {
    let session = try fixtureWithNonFiniteWeights().session()
    let opened = session.snapshot
    #expect(!opened.isError, "\(opened.message ?? "")")
    #expect(opened.warning == "0.weight holds 1 NaN and 2 infinite values")
    #expect(opened.layers[0].scores.nonFiniteCount == 3)

    var state = AppState(width: 100, height: 30)
    _ = Reducer.reduce(&state, .snapshot(opened))
    let screen = Screen.render(state).lines
    #expect(screen.contains { $0.contains("0.weight |w|: 0.0% pruned, 3 NaN/inf") }, "\(screen.joined(separator: "\n"))")
    #expect(screen.contains { $0.contains("warning: 0.weight holds 1 NaN and 2 infinite values") })

    // Pruning all but the last three weights of the layer leaves exactly the three that are not
    // finite: they rank above every number.
    let units = opened.layers[0].scores.unitCount
    let pruned = SessionFixture.run(.setTargets([0: Double(units - 3) / Double(units), 2: 0, 4: 0]), on: session)
    #expect(!pruned.isError, "\(pruned.message ?? "")")
    #expect(pruned.layers[0].nonzero == 3)
    _ = Reducer.reduce(&state, .snapshot(pruned))
    for width in [40, 80, 160] {
      _ = Reducer.reduce(&state, .resize(width: width, height: 24))
      _ = Screen.render(state)
    }
    let tuned = SessionFixture.run(.fineTune(epochs: 1), on: session)
    #expect(!tuned.isError, "\(tuned.message ?? "")")
    _ = Reducer.reduce(&state, .snapshot(tuned))
    _ = Screen.render(state)
  }

  @Test func theScoreOrderRanksNaNAboveEveryNumber() {
    let distribution = ScoreDistribution(
      sorted: [-.infinity, -1, 0, 0, 2, .infinity, .nan, .nan], values: [0, .nan, 1, .infinity])
    #expect(distribution.countBelow(0) == 2 && distribution.countAtMost(0) == 4 && distribution.equalCount(0) == 2)
    #expect(distribution.countBelow(-.infinity) == 0 && distribution.equalCount(-.infinity) == 1)
    #expect(distribution.countAtMost(.infinity) == 6 && distribution.equalCount(.infinity) == 1)
    #expect(distribution.countBelow(.nan) == 6 && distribution.equalCount(.nan) == 2)
    #expect(distribution.nonFiniteCount == 2)
    var scores: [Float] = [.nan, 3, -.infinity, .nan, 1, .infinity]
    scores.sort(by: ScoreOrder.ranksBelow)
    #expect(scores.prefix(4) == [-.infinity, 1, 3, .infinity] && scores.suffix(2).allSatisfy(\.isNaN))
  }

  /// Fine-tuning reads the training labels: a training split with a label the model has no
  /// output for is refused when the explorer opens, as `finetune` refuses it.
  @Test func trainingLabelsBeyondTheModelsOutputsAreRefusedOnOpening() throws {
    let fixture = try SessionFixture()
    let labels = fixture.folder.url.appendingPathComponent("train-labels-idx1-ubyte")
    var bytes = try [UInt8](Data(contentsOf: labels))
    bytes[bytes.count - 1] = 200
    try Data(bytes).write(to: labels)
    let snapshot = fixture.session().snapshot
    #expect(snapshot.isError && snapshot.layers.isEmpty)
    #expect(
      snapshot.message
        == "\(fixture.modelPath): model takes 784 inputs and 10 classes; the data has 784 pixels and 201 classes")
  }

  /// Every layer pruned to nothing still fine-tunes (the masks hold every weight at zero) and
  /// draws; commands sent while the fine-tune runs are handled after it, in order.
  @Test func aModelPrunedToNothingFineTunesAndDraws() throws {
    let session = try SessionFixture().session()
    session.send(.setTargets([0: 1, 2: 1, 4: 1]))
    session.send(.fineTune(epochs: 2))
    session.send(.setCriterion(.neuronL2))
    session.send(.fineTune(epochs: 1))
    session.send(.undo)
    session.waitUntilIdle()
    let snapshot = session.snapshot
    #expect(!snapshot.isError, "\(snapshot.message ?? "")")
    #expect(snapshot.handledCommands == 5)
    #expect(snapshot.layers.map(\.nonzero) == [0, 0, 0])
    var state = AppState(width: 80, height: 24)
    _ = Reducer.reduce(&state, .snapshot(snapshot))
    #expect(Screen.render(state).lines.contains { $0.contains("every unit is pruned") })
  }
}
