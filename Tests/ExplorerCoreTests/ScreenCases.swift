@testable import ExplorerCore
@testable import PruneEngine

/// The states the whole-screen tests render.
enum ScreenCases {
  static var layerScope: AppState { Fixture.state() }

  static var large: AppState { Fixture.state(width: 120, height: 40) }

  static var minimum: AppState { Fixture.state(width: 60, height: 18) }

  static var tooSmall: AppState { Fixture.state(width: 50, height: 15) }

  static var tooNarrow: AppState { Fixture.state(width: 30, height: 24) }

  static var globalScope: AppState {
    var state = Fixture.state()
    _ = Reducer.reduce(&state, .key(.character("g")))
    return state
  }

  static var fineTuning: AppState {
    var snapshot = Fixture.snapshot()
    snapshot.phase = .fineTuning(Fixture.progress)
    var state = Fixture.state(snapshot: snapshot)
    _ = Reducer.reduce(&state, .key(.down))
    return state
  }

  static var epochsPrompt: AppState {
    var state = Fixture.state()
    for key: Key in [.character("f"), .character("1"), .character("2")] { _ = Reducer.reduce(&state, .key(key)) }
    return state
  }

  static var confirmQuit: AppState {
    var state = Fixture.state()
    _ = Reducer.reduce(&state, .key(.character("q")))
    return state
  }

  static var help: AppState {
    var state = Fixture.state()
    _ = Reducer.reduce(&state, .key(.character("?")))
    return state
  }

  static var ascii: AppState { Fixture.state(glyphs: .ascii) }

  static var trainingBaseline: AppState {
    var snapshot = SessionSnapshot()
    snapshot.phase = .trainingBaseline(Fixture.progress)
    snapshot.message = "training the baseline mlp:784-300-100-10; it is cached for next time"
    return Fixture.state(snapshot: snapshot)
  }

  /// The convolutional fixture by magnitude: the first convolution's weights.
  static var convolution: AppState { Fixture.state(snapshot: ConvFixture.magnitude()) }

  /// The convolutional fixture by neuron-l2, the second convolution selected: its filters' scores.
  static var filters: AppState {
    var state = Fixture.state(snapshot: ConvFixture.filters())
    _ = Reducer.reduce(&state, .key(.down))
    return state
  }

  static let all: [(String, AppState)] = [
    ("layerScope", layerScope), ("large", large), ("minimum", minimum), ("tooSmall", tooSmall),
    ("tooNarrow", tooNarrow), ("globalScope", globalScope), ("fineTuning", fineTuning),
    ("epochsPrompt", epochsPrompt), ("confirmQuit", confirmQuit), ("help", help), ("ascii", ascii),
    ("trainingBaseline", trainingBaseline), ("convolution", convolution), ("filters", filters),
  ]
}

/// The panels the panel tests render, each into a buffer of its own.
enum PanelCases {
  /// Neuron-l2 on the fixture: half the neurons of `0.weight`, a quarter of `2.weight`'s; the
  /// output layer keeps its magnitude-pruned weights.
  static var neuronCriterion: AppState {
    var snapshot = Fixture.snapshot()
    snapshot.criterion = .neuronL2
    snapshot.layers = [
      Fixture.rowLayer(0, shape: [15, 20], weights: Fixture.weights0, target: 0.5),
      Fixture.rowLayer(2, shape: [3, 4], weights: Fixture.weights2, target: 0.25),
      Fixture.unscored(snapshot.layers[2]),
    ]
    snapshot.globalScores = nil
    snapshot.metrics = Fixture.metrics(snapshot.layers)
    return Fixture.state(snapshot: snapshot)
  }

  static var fiveLayers: AppState {
    var snapshot = Fixture.snapshot()
    snapshot.layers += [6, 8].map { Fixture.layer($0, shape: [2, 3], weights: Fixture.weights4, target: 0) }
    var state = Fixture.state(snapshot: snapshot)
    for _ in 0..<4 { _ = Reducer.reduce(&state, .key(.down)) }
    return state
  }

  static func with(_ change: (inout AppState) -> Void) -> AppState {
    var state = Fixture.state()
    change(&state)
    return state
  }

  static func snapshot(_ change: (inout SessionSnapshot) -> Void) -> AppState {
    var snapshot = Fixture.snapshot()
    change(&snapshot)
    return Fixture.state(snapshot: snapshot)
  }

  static var table: ScreenBuffer { render(LayerTablePanel.render, Fixture.state(), width: 80, height: 4) }

  static var tableNarrow: ScreenBuffer { render(LayerTablePanel.render, Fixture.state(), width: 60, height: 4) }

  static var tableScrolled: ScreenBuffer { render(LayerTablePanel.render, fiveLayers, width: 80, height: 4) }

  static var tableResidual: ScreenBuffer {
    var state = Fixture.state(snapshot: ResidualFixture.snapshot())
    for _ in 0..<5 { _ = Reducer.reduce(&state, .key(.down)) }
    return render(LayerTablePanel.render, state, width: 80, height: 8)
  }

  static var tableResidualNarrow: ScreenBuffer {
    render(LayerTablePanel.render, Fixture.state(snapshot: ResidualFixture.snapshot()), width: 60, height: 8)
  }

  static var tableNeurons: ScreenBuffer { render(LayerTablePanel.render, neuronCriterion, width: 80, height: 4) }

  static var tableNeuronsPending: ScreenBuffer {
    var state = neuronCriterion
    _ = Reducer.reduce(&state, .key(.pageUp))
    return render(LayerTablePanel.render, state, width: 80, height: 4)
  }

  static var histogramNeurons: ScreenBuffer { render(HistogramPanel.render, neuronCriterion, width: 40, height: 10) }

  static var histogramAbsolute: ScreenBuffer { render(HistogramPanel.render, Fixture.state(), width: 40, height: 10) }

  static var histogramSigned: ScreenBuffer {
    render(HistogramPanel.render, with { $0.histogramAbsolute = false }, width: 40, height: 10)
  }

  static var histogramLog: ScreenBuffer {
    render(HistogramPanel.render, with { $0.logCounts = true }, width: 40, height: 10)
  }

  static var histogramSignedLog: ScreenBuffer {
    render(HistogramPanel.render, with { $0.histogramAbsolute = false; $0.logCounts = true }, width: 40, height: 10)
  }

  static var histogramASCII: ScreenBuffer {
    render(HistogramPanel.render, Fixture.state(glyphs: .ascii), width: 40, height: 10)
  }

  static var histogramNothingPruned: ScreenBuffer {
    render(HistogramPanel.render, with { $0.targets[0] = 0 }, width: 40, height: 10)
  }

  static var histogramNotPruned: ScreenBuffer {
    render(HistogramPanel.render, with { $0 = neuronCriterion; $0.selectedLayer = 2 }, width: 40, height: 10)
  }

  static var metrics: ScreenBuffer { render(MetricsPanel.render, Fixture.state(), width: 33, height: 7) }

  static var metricsEstimate: ScreenBuffer {
    render(MetricsPanel.render, snapshot { $0.accuracy = AccuracyReading(accuracy: 0.8, loss: 0.6, samples: 1000, isFull: false) }, width: 33, height: 7)
  }

  static var metricsEstimateWide: ScreenBuffer {
    render(MetricsPanel.render, snapshot { $0.accuracy = AccuracyReading(accuracy: 0.8, loss: 0.6, samples: 1000, isFull: false) }, width: 40, height: 7)
  }

  static var metricsMeasuring: ScreenBuffer {
    render(MetricsPanel.render, snapshot { $0.accuracy = nil; $0.measuredSpeedup = nil }, width: 33, height: 7)
  }

  static var curve: ScreenBuffer { render(CurvePanel.render, Fixture.state(), width: 33, height: 7) }

  static var curveASCII: ScreenBuffer { render(CurvePanel.render, Fixture.state(glyphs: .ascii), width: 33, height: 7) }

  static var curveEmpty: ScreenBuffer { render(CurvePanel.render, snapshot { $0.curve = [] }, width: 33, height: 7) }

  static var all: [(String, ScreenBuffer)] {
    [
      ("table", table),
      ("tableNarrow", tableNarrow),
      ("tableScrolled", tableScrolled),
      ("tableNeurons", tableNeurons),
      ("tableNeuronsPending", tableNeuronsPending),
      ("histogramNeurons", histogramNeurons),
      ("histogramAbsolute", histogramAbsolute),
      ("histogramSigned", histogramSigned),
      ("histogramLog", histogramLog),
      ("histogramSignedLog", histogramSignedLog),
      ("histogramASCII", histogramASCII),
      ("histogramNothingPruned", histogramNothingPruned),
      ("histogramNotPruned", histogramNotPruned),
      ("metrics", metrics),
      ("metricsEstimate", metricsEstimate),
      ("metricsEstimateWide", metricsEstimateWide),
      ("metricsMeasuring", metricsMeasuring),
      ("curve", curve),
      ("curveASCII", curveASCII),
      ("curveEmpty", curveEmpty),
    ]
  }
}
