import Testing
@testable import ExplorerCore
@testable import PruneEngine

/// A small made-up model for screen and reducer tests: three Linear layers (`0.weight` 15x20,
/// `2.weight` 3x4, `4.weight` 2x3) with fixed weights, scored by magnitude, as a session would
/// publish it. Nothing here runs the engine.
enum Fixture {
  /// Layer 0: 300 seeded normal weights (standard deviation 0.1), a bell-shaped histogram.
  static let weights0: [Float] = {
    var generator = SeededGenerator(seed: 3)
    return (0..<300).map { _ in (generator.nextNormal() * 1000).rounded() / 10_000 }
  }()
  static let weights2: [Float] = [0.8, -0.6, 0.4, -0.2, 0.1, -0.3, 0.5, -0.7, 0.9, -1.0, 0.05, -0.15]
  /// Two weights of |w| 0.3: cutting at 50% separates them (a tie).
  static let weights4: [Float] = [0.3, -0.2, 0.6, -0.3, 0.1, -0.4]

  /// A layer scored by magnitude with `target` of its weights pruned (the smallest |w|, the
  /// lowest index first among equal ones, as the engine prunes).
  static func layer(_ index: Int, shape: [Int], weights: [Float], target: Double) -> LayerView {
    let scores = ScoreDistribution(sorted: weights.map(abs).sorted(), values: weights)
    let pruned = scores.newlyPruned(at: target)
    let order = weights.indices.sorted { (abs(weights[$0]), $0) < (abs(weights[$1]), $1) }
    let prunedWeights = Set(order.prefix(pruned))
    let columns = weights.count / shape[0]
    let keptRows = (0..<shape[0]).count { row in (row * columns..<(row + 1) * columns).contains { !prunedWeights.contains($0) } }
    return LayerView(
      path: ParameterPath(integerLiteral: index), shape: shape, parameters: weights.count, nonzero: weights.count - pruned, keptRows: keptRows,
      target: target, granularity: .weight, scores: scores)
  }

  /// A layer scored by neuron-l2 (the L2 norm of each row's weights) with `target` of its rows
  /// (neurons or filters) pruned.
  static func rowLayer(_ index: Int, shape: [Int], weights: [Float], target: Double) -> LayerView {
    let columns = weights.count / shape[0]
    let norms = (0..<shape[0]).map { row in
      weights[row * columns..<(row + 1) * columns].reduce(0) { $0 + $1 * $1 }.squareRoot()
    }
    let scores = ScoreDistribution(sorted: norms.sorted(), values: norms)
    let pruned = scores.newlyPruned(at: target)
    return LayerView(
      path: ParameterPath(integerLiteral: index), shape: shape, parameters: weights.count, nonzero: weights.count - pruned * columns,
      keptRows: shape[0] - pruned, target: target, granularity: .neuron, scores: scores)
  }

  /// `layer` as a row criterion shows the output layer it does not prune: no scores.
  static func unscored(_ layer: LayerView) -> LayerView {
    var layer = layer
    layer.granularity = .neuron
    layer.scores = ScoreDistribution(sorted: [], values: [])
    return layer
  }

  /// The three layers at the given targets.
  static func layers(_ targets: [Double] = [0.5, 0.25, 0.5]) -> [LayerView] {
    [
      layer(0, shape: [15, 20], weights: weights0, target: targets[0]),
      layer(2, shape: [3, 4], weights: weights2, target: targets[1]),
      layer(4, shape: [2, 3], weights: weights4, target: targets[2]),
    ]
  }

  /// Metrics as the engine computes them for `layers` (biases: one per output).
  static func metrics(_ layers: [LayerView]) -> ModelMetrics {
    ModelMetrics(
      layers: layers.map {
        LayerMetrics(name: $0.name, shape: $0.shape, parameters: $0.parameters, nonzero: $0.nonzero, biasCount: $0.shape[0])
      })
  }

  /// An idle session after a prune to `targets`, with an accuracy, a baseline and a curve.
  static func snapshot(_ targets: [Double] = [0.5, 0.25, 0.5], handled: Int = 0) -> SessionSnapshot {
    var snapshot = SessionSnapshot()
    snapshot.generation = 7
    snapshot.handledCommands = handled
    snapshot.phase = .idle
    snapshot.modelDescription = "tiny.safetensors"
    snapshot.dataDescription = "/data/tiny (--data)"
    snapshot.layers = layers(targets)
    snapshot.globalScores = ScoreDistribution(
      sorted: (weights0 + weights2 + weights4).map(abs).sorted(), values: [])
    snapshot.metrics = metrics(snapshot.layers)
    snapshot.accuracy = AccuracyReading(accuracy: 0.8125, loss: 0.5432, samples: 64, isFull: true)
    snapshot.baseline = AccuracyReading(accuracy: 0.8594, loss: 0.4102, samples: 64, isFull: true)
    snapshot.curve = [
      CurvePoint(sparsity: 0, accuracy: 0.8594), CurvePoint(sparsity: 0.2, accuracy: 0.8594),
      CurvePoint(sparsity: 0.5, accuracy: 0.7969), CurvePoint(sparsity: 0.342, accuracy: 0.8125),
    ]
    snapshot.measuredSpeedup = 1.3
    snapshot.message = "opened /models/tiny.safetensors"
    snapshot.hasUnsavedChanges = true
    snapshot.canUndo = true
    return snapshot
  }

  /// The state of a UI that has taken `snapshot`.
  static func state(
    width: Int = 80, height: Int = 24, snapshot: SessionSnapshot = Fixture.snapshot(), glyphs: Glyphs = .unicode
  ) -> AppState {
    var state = AppState(width: width, height: height, glyphs: glyphs)
    _ = Reducer.reduce(&state, .snapshot(snapshot))
    return state
  }

  /// Fine-tuning progress half-way through the second of three epochs.
  static let progress = TrainingProgress(
    epoch: 2, epochs: 3, batch: 50, batchesPerEpoch: 100, loss: 0.4321, samplesPerSecond: 12_345, elapsedSeconds: 30)
}

/// A small made-up convolutional network laid out as LeNet-5 (`cnn:1x8x8-conv8k3-pool2-conv12k2-pool2-fc16-fc10`:
/// conv `0.weight` 8x1x3x3, conv `3.weight` 12x8x2x2, Linear `7.weight` 16x12 and `9.weight`
/// 10x16) with seeded weights, as a session publishes it for magnitude or for neuron-l2. Its
/// metrics are `Fixture.metrics`: one multiply-add per weight.
enum ConvFixture {
  static let shapes: [(index: Int, shape: [Int])] = [(0, [8, 1, 3, 3]), (3, [12, 8, 2, 2]), (7, [16, 12]), (9, [10, 16])]

  /// Seeded normal weights (standard deviation 0.3), four decimals, per layer of `shapes`.
  static let weights: [[Float]] = {
    var generator = SeededGenerator(seed: 11)
    return shapes.map { layer in
      (0..<layer.shape.reduce(1, *)).map { _ in (generator.nextNormal() * 3000).rounded() / 10_000 }
    }
  }()

  /// Magnitude at `targets` (one per layer), every layer ranked together in global scope.
  static func magnitude(_ targets: [Double] = [0.3, 0.5, 0.6, 0.2]) -> SessionSnapshot {
    var snapshot = base()
    snapshot.layers = shapes.indices.map {
      Fixture.layer(shapes[$0].index, shape: shapes[$0].shape, weights: weights[$0], target: targets[$0])
    }
    snapshot.globalScores = ScoreDistribution(sorted: weights.joined().map(abs).sorted(), values: [])
    snapshot.metrics = Fixture.metrics(snapshot.layers)
    return snapshot
  }

  /// Neuron-l2 at `targets` for the two convolutions (filters) and the hidden Linear layer
  /// (neurons); the output layer is not pruned.
  static func filters(_ targets: [Double] = [0.25, 0.5, 0.25]) -> SessionSnapshot {
    var snapshot = base()
    snapshot.criterion = .neuronL2
    snapshot.layers =
      (0..<3).map { Fixture.rowLayer(shapes[$0].index, shape: shapes[$0].shape, weights: weights[$0], target: targets[$0]) }
      + [Fixture.unscored(Fixture.layer(shapes[3].index, shape: shapes[3].shape, weights: weights[3], target: 0))]
    snapshot.metrics = Fixture.metrics(snapshot.layers)
    return snapshot
  }

  /// The fixture snapshot's accuracy, curve and messages for this model.
  private static func base() -> SessionSnapshot {
    var snapshot = Fixture.snapshot()
    snapshot.modelDescription = "lenet-tiny.safetensors"
    snapshot.message = "opened /models/lenet-tiny.safetensors"
    return snapshot
  }
}

extension ScreenBuffer {
  /// The rows of `description`, for comparing parts of a screen.
  var lines: [String] { description.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) }
}

/// Renders one panel into a buffer of its own size.
func render(
  _ panel: (AppState, Rect, inout ScreenBuffer) -> Void, _ state: AppState, width: Int, height: Int
) -> ScreenBuffer {
  var screen = ScreenBuffer(width: width, height: height)
  panel(state, Rect(left: 0, top: 0, width: width, height: height), &screen)
  return screen
}

/// Compares a screen with expected text (trailing blank rows left out) and shows both when they
/// differ.
func expectText(_ screen: ScreenBuffer, _ expected: String, sourceLocation: SourceLocation = #_sourceLocation) {
  var lines = screen.lines
  while lines.last == "" { lines.removeLast() }
  let actual = lines.joined(separator: "\n")
  #expect(actual == expected, "got:\n\(actual)\nexpected:\n\(expected)", sourceLocation: sourceLocation)
}

/// A made-up residual network's layers as the explorer lists them: a stem, two blocks (the
/// second with a shortcut convolution) and the classifier, scored by magnitude.
enum ResidualFixture {
  static let paths = ["conv1", "layer1.0.conv1", "layer1.0.conv2", "layer2.0.conv1", "layer2.0.conv2", "layer2.0.shortcut.0", "fc"]

  static func snapshot() -> SessionSnapshot {
    var snapshot = Fixture.snapshot()
    snapshot.layers = paths.enumerated().map { index, path in
      var layer = Fixture.layer(index, shape: [2, 3], weights: Fixture.weights4, target: index % 2 == 0 ? 0.5 : 0)
      layer.path = ParameterPath(path)!
      return layer
    }
    snapshot.metrics = Fixture.metrics(snapshot.layers)
    return snapshot
  }
}
