import Dispatch
import Foundation
import PruneEngine
import Synchronization

/// What the UI asks the session to do. Results come back only as later snapshots.
public enum SessionCommand: Sendable, Equatable {
  /// Target sparsity per layer position (layer scope) or one for all layers (global scope).
  case setTargets([Int: Double])
  case setCriterion(Criterion)
  case setScope(PruningScope)
  case fineTune(epochs: Int)
  case cancel
  case save
  case undo
  case reset
  case exportCurve
}

/// Owns the model and does all engine work on its own serial queue; the UI thread reads the
/// latest `SessionSnapshot` and sends `SessionCommand`s.
///
/// Threshold changes are cheap to ask for and expensive to evaluate, so evaluation is done in
/// two steps (a quick estimate on a fixed subset, then the full test set) and abandoned as soon
/// as a newer command has arrived: the latest command wins.
public final class Session: Sendable {
  /// Test images of the quick accuracy estimate.
  public static let estimateSamples = 1000

  private let queue = DispatchQueue(label: "shears.session")
  private let published = Mutex(SessionSnapshot())
  private let requested = Atomic<Int>(0)
  private let cancellation = Mutex<CancellationToken?>(nil)
  private let setup: Setup
  // Confined to `queue`.
  nonisolated(unsafe) private var state = State()

  /// Where the model and data come from.
  public struct Setup: Sendable {
    /// A checkpoint to open; `nil` opens the cached baseline, training it first if needed.
    public var modelPath: String?
    public var data: DataSource
    /// Where the baseline is cached and saved checkpoints go when no model path was given.
    public var cacheDirectory: String
    /// The baseline trained when there is no cached one.
    public var baselineArchitecture: Architecture = .lenet300100
    public var baselineEpochs = 10

    public init(modelPath: String?, data: DataSource, cacheDirectory: String) {
      self.modelPath = modelPath
      self.data = data
      self.cacheDirectory = cacheDirectory
    }
  }

  private struct State {
    var train: Dataset?
    var test: Dataset?
    var original: Model?
    var base: Model?
    var current: Model?
    var targets: [Int: Double] = [:]
    var criterion: Criterion = .magnitude
    var scope: PruningScope = .layer
    var scores: [Int: LayerScores] = [:]
    var distributions: [Int: ScoreDistribution] = [:]
    /// The base model's kept units ranked by the scores, for the current scope.
    var ranking: RankedPruning?
    var undo: [(base: Model, targets: [Int: Double])] = []
    var curve: [CurvePoint] = []
    var modelPath: String?
    var rewind: Model?
    var metadata = CheckpointMetadata()
    var denseSeconds: Double?
  }

  public init(_ setup: Setup) {
    self.setup = setup
  }

  /// The newest snapshot and its generation (which grows with every publication).
  public var snapshot: SessionSnapshot { published.withLock { $0 } }

  /// Loads (or trains) the model and data in the background.
  public func start() {
    queue.async { self.load() }
  }

  /// Queues a command; commands run in order, and a newer threshold change makes an older one's
  /// evaluation stale.
  public func send(_ command: SessionCommand) {
    let id = requested.add(1, ordering: .sequentiallyConsistent).newValue
    if command == .cancel {
      cancellation.withLock { $0?.cancel() }
      return
    }
    queue.async { self.handle(command, id: id) }
  }

  /// Waits until every command sent so far has been handled (tests and orderly shutdown).
  public func waitUntilIdle() {
    queue.sync {}
  }

  // MARK: - Work on the session queue

  private func isStale(_ id: Int) -> Bool { requested.load(ordering: .sequentiallyConsistent) != id }

  private func publish(_ change: (inout SessionSnapshot) -> Void) {
    published.withLock { snapshot in
      change(&snapshot)
      snapshot.generation += 1
    }
  }

  private func fail(_ error: Error) {
    publish {
      $0.message = "\(error)"
      $0.isError = true
      if case .starting = $0.phase { return }
      $0.phase = .idle
    }
  }

  private func load() {
    do {
      publish { $0.phase = .starting("loading \(setup.data)") }
      let splits = try setup.data.load()
      state.train = splits.train
      state.test = splits.test
      let model: Model
      if let path = setup.modelPath {
        let loaded = try Checkpoint.loadWithRewind(from: path)
        model = loaded.model
        state.metadata = loaded.metadata
        state.rewind = loaded.rewind
        state.modelPath = path
      } else {
        model = try cachedBaseline(splits: splits)
      }
      guard model.inputCount == splits.test.featureCount, splits.test.classCount <= model.classCount else {
        throw ShearsError(
          setup.modelPath ?? "baseline",
          "model takes \(model.inputCount) inputs and \(model.classCount) classes; the data has "
            + "\(splits.test.featureCount) pixels and \(splits.test.classCount) classes")
      }
      state.original = model
      state.base = model
      state.current = model
      state.targets = Dictionary(uniqueKeysWithValues: ModelMetrics(model).layers.compactMap { layer in
        Int(layer.name.prefix { $0 != "." }).map { ($0, layer.sparsity) }
      })
      try rescore()
      let baseline = evaluate(model, limit: nil)
      state.denseSeconds = timeEvaluation(model)
      state.curve = [CurvePoint(sparsity: ModelMetrics(model).sparsity, accuracy: baseline.accuracy)]
      publish {
        $0.modelDescription =
          setup.modelPath.map { ($0 as NSString).lastPathComponent } ?? "baseline \(model.architecture) (cached)"
        $0.dataDescription = setup.data.description
        $0.baseline = baseline
        $0.accuracy = baseline
        $0.curve = state.curve
        $0.phase = .idle
        $0.message = setup.modelPath == nil ? "baseline: \(cachePath)" : "opened \(setup.modelPath ?? "")"
      }
      publishModel(accuracy: baseline)
    } catch {
      fail(error)
    }
  }

  private var cachePath: String {
    let dataKey = setup.data.description.map { $0.isLetter || $0.isNumber ? $0 : "-" }
    let name = "baseline-\(setup.baselineArchitecture)-\(String(dataKey))".replacingOccurrences(of: ":", with: "-")
    return (setup.cacheDirectory as NSString).appendingPathComponent(name + ".safetensors")
  }

  /// The cached baseline for this data, trained and cached first when missing.
  private func cachedBaseline(splits: DataSplits) throws -> Model {
    if FileManager.default.fileExists(atPath: cachePath) {
      publish { $0.phase = .starting("loading the cached baseline \(cachePath)") }
      return try Checkpoint.load(from: cachePath).model
    }
    var generator = SeededGenerator(seed: 1)
    let initial = Model(architecture: setup.baselineArchitecture, generator: &generator)
    var lastPublished = -1.0
    let report = try Trainer.train(
      initial, on: splits.train, options: TrainingOptions(epochs: setup.baselineEpochs),
      events: { event in
        guard case .batchFinished(let progress) = event, progress.elapsedSeconds - lastPublished > 0.1 else { return }
        lastPublished = progress.elapsedSeconds
        self.publish {
          $0.phase = .fineTuning(progress)
          $0.message = "training the baseline \(self.setup.baselineArchitecture); it is cached for next time"
        }
      })
    try FileManager.default.createDirectory(atPath: setup.cacheDirectory, withIntermediateDirectories: true)
    let accuracy = Evaluator(model: report.model).evaluate(splits.test).accuracy
    try Checkpoint.save(
      report.model,
      metadata: CheckpointMetadata(
        dataset: setup.data.description, accuracy: accuracy, created: ISO8601DateFormatter().string(from: Date()),
        history: ["train epochs=\(setup.baselineEpochs) adam lr=0.001 schedule=cosine seed=1"]),
      to: cachePath)
    return report.model
  }

  private func handle(_ command: SessionCommand, id: Int) {
    guard state.base != nil else { return }
    do {
      switch command {
      case .setTargets(let targets):
        guard targets != state.targets else { return }
        state.undo.append((state.base!, state.targets))
        state.targets = targets
        try prune(id: id)
      case .setCriterion(let criterion):
        state.criterion = criterion
        try rescore()
        try prune(id: id)
      case .setScope(let scope):
        state.scope = scope
        try prune(id: id)
      case .fineTune(let epochs):
        try fineTune(epochs: epochs)
      case .cancel:
        break
      case .save:
        try save()
      case .undo:
        guard let last = state.undo.popLast() else {
          publish { $0.message = "nothing to undo" }
          return
        }
        state.base = last.base
        state.targets = last.targets
        try rescore()
        try prune(id: id)
      case .reset:
        guard let original = state.original else { return }
        state.undo.append((state.base!, state.targets))
        state.base = original
        state.targets = state.targets.mapValues { _ in 0 }
        try rescore()
        try prune(id: id)
      case .exportCurve:
        try exportCurve()
      }
    } catch {
      fail(error)
    }
  }

  /// Scores the base model with the criterion, for pruning and for the histograms.
  private func rescore() throws {
    guard let base = state.base else { return }
    let layers = base.denseLayers.map(\.index)
    let granularity = state.criterion.defaultGranularity
    let request = PruningRequest(criterion: state.criterion, granularity: granularity, rule: .fraction(0))
    let targets = try Pruner.targetLayers(of: base, request: request)
    let context = ScoringContext(calibration: state.train, seed: 1)
    let scores = try Scoring.scores(state.criterion, granularity: granularity, model: base, layers: targets, context: context)
    state.scores = Dictionary(uniqueKeysWithValues: scores.map { ($0.layerIndex, $0) })
    state.ranking = nil
    state.distributions = [:]
    for index in layers {
      guard let layerScores = state.scores[index], case .dense(let dense) = base.layers[index] else { continue }
      let values = state.criterion == .magnitude ? dense.weight.scalars : layerScores.values
      state.distributions[index] = ScoreDistribution(sorted: layerScores.values.sorted(), values: values)
    }
  }

  /// Prunes the base model to the targets, publishes the new structure at once, then the
  /// accuracy: a quick estimate, then the full test set, unless a newer command came meanwhile.
  private func prune(id: Int) throws {
    guard let base = state.base else { return }
    let ranking =
      state.ranking.flatMap { $0.scope == state.scope ? $0 : nil }
      ?? RankedPruning(
        model: base, scores: state.scores.values.sorted { $0.layerIndex < $1.layerIndex }, scope: state.scope)
    state.ranking = ranking
    var pruned = ranking.pruned(base, targets: state.targets)
    if state.criterion == .redundancy { pruned = Redundancy.mergeRemoved(original: base, pruned: pruned) }
    state.current = pruned
    publishModel(accuracy: nil)
    guard !isStale(id) else { return }
    publish { $0.phase = .evaluating }
    let estimate = evaluate(pruned, limit: Self.estimateSamples)
    guard !isStale(id) else { return }
    publish { $0.accuracy = estimate }
    let full = evaluate(pruned, limit: nil)
    guard !isStale(id) else { return }
    let sparsity = ModelMetrics(pruned).sparsity
    state.curve.append(CurvePoint(sparsity: sparsity, accuracy: full.accuracy))
    let speedup = state.denseSeconds.map { $0 / max(1e-9, timeEvaluation(pruned)) }
    publish {
      $0.accuracy = full
      $0.phase = .idle
      $0.curve = state.curve
      $0.measuredSpeedup = speedup
    }
  }

  private func evaluate(_ model: Model, limit: Int?) -> AccuracyReading {
    guard let test = state.test else { return AccuracyReading(accuracy: 0, loss: 0, samples: 0, isFull: false) }
    let evaluation = Evaluator(model: model).evaluate(test, limit: limit)
    return AccuracyReading(
      accuracy: evaluation.accuracy, loss: evaluation.loss, samples: evaluation.samples,
      isFull: evaluation.samples == test.count)
  }

  /// Seconds to evaluate the test set once (after a warm-up), for the measured speed-up.
  private func timeEvaluation(_ model: Model) -> Double {
    guard let test = state.test else { return 0 }
    let evaluator = Evaluator(model: model)
    _ = evaluator.evaluate(test, limit: Self.estimateSamples)
    let start = MonotonicClock.system.nanoseconds()
    _ = evaluator.evaluate(test)
    return MonotonicClock.system.seconds(since: start)
  }

  /// Publishes the current model's structure, scores and metrics.
  private func publishModel(accuracy: AccuracyReading?) {
    guard let current = state.current else { return }
    let metrics = ModelMetrics(current)
    let granularity = state.criterion.defaultGranularity
    let layers: [LayerView] = current.denseLayers.compactMap { index, dense in
      guard let distribution = state.distributions[index] else {
        return LayerView(
          index: index, shape: dense.weight.shape, parameters: dense.weight.count, nonzero: dense.weight.nonzeroCount,
          target: state.targets[index] ?? 0, granularity: granularity,
          scores: ScoreDistribution(sorted: [], values: []))
      }
      return LayerView(
        index: index, shape: dense.weight.shape, parameters: dense.weight.count, nonzero: dense.weight.nonzeroCount,
        target: state.targets[index] ?? 0, granularity: granularity, scores: distribution)
    }
    publish {
      $0.layers = layers
      $0.metrics = metrics
      $0.criterion = state.criterion
      $0.scope = state.scope
      if let accuracy { $0.accuracy = accuracy }
      $0.canUndo = !state.undo.isEmpty
      $0.hasUnsavedChanges = current != state.original || $0.hasUnsavedChanges
      $0.isError = false
    }
  }

  private func fineTune(epochs: Int) throws {
    guard let current = state.current, let train = state.train else { return }
    let token = CancellationToken()
    cancellation.withLock { $0 = token }
    defer { cancellation.withLock { $0 = nil } }
    var lastPublished = -1.0
    let options = TrainingOptions(epochs: epochs, optimizer: .adam(learningRate: 8e-3))
    let report = try Trainer.train(
      current, on: train, options: options, cancellation: token,
      events: { event in
        guard case .batchFinished(let progress) = event, progress.elapsedSeconds - lastPublished > 0.1 else { return }
        lastPublished = progress.elapsedSeconds
        self.publish { $0.phase = .fineTuning(progress) }
      },
      epochModels: { model in
        self.state.current = model
        self.publishModel(accuracy: self.evaluate(model, limit: Self.estimateSamples))
      })
    // A cancelled fine-tune keeps the model as of its last finished batch.
    state.undo.append((state.base!, state.targets))
    state.base = report.model
    state.current = report.model
    try rescore()
    let full = evaluate(report.model, limit: nil)
    state.curve.append(CurvePoint(sparsity: ModelMetrics(report.model).sparsity, accuracy: full.accuracy))
    publishModel(accuracy: full)
    publish {
      $0.phase = .idle
      $0.curve = state.curve
      $0.hasUnsavedChanges = true
      $0.message =
        report.wasCancelled
        ? "fine-tune cancelled after \(report.epochsCompleted) epochs; the model keeps the batches done"
        : String(format: "fine-tuned %d epochs: accuracy %.4f", report.epochsCompleted, full.accuracy)
    }
  }

  /// Saves the current model under a new name that carries its sparsity; never overwrites.
  private func save() throws {
    guard let current = state.current else { return }
    let sparsity = ModelMetrics(current).sparsity
    let folder = state.modelPath.map { ($0 as NSString).deletingLastPathComponent } ?? setup.cacheDirectory
    let stem = state.modelPath.map { (($0 as NSString).lastPathComponent as NSString).deletingPathExtension } ?? "model"
    let base = "\(stem)-sparsity\(Int((sparsity * 100).rounded()))"
    var path = ((folder.isEmpty ? "." : folder) as NSString).appendingPathComponent(base + ".safetensors")
    var attempt = 2
    while FileManager.default.fileExists(atPath: path) {
      path = ((folder.isEmpty ? "." : folder) as NSString).appendingPathComponent("\(base)-\(attempt).safetensors")
      attempt += 1
    }
    let accuracy = evaluate(current, limit: nil).accuracy
    var history = state.metadata.history
    history.append(
      "explore criterion=\(state.criterion.rawValue) scope=\(state.scope.rawValue) sparsity="
        + String(format: "%.4f", sparsity))
    try Checkpoint.save(
      current,
      metadata: CheckpointMetadata(
        dataset: setup.data.description, accuracy: accuracy, created: ISO8601DateFormatter().string(from: Date()),
        history: history),
      to: path)
    publish {
      $0.hasUnsavedChanges = false
      $0.message = "saved \(path)"
      $0.isError = false
    }
  }

  private func exportCurve() throws {
    let folder = state.modelPath.map { ($0 as NSString).deletingLastPathComponent } ?? setup.cacheDirectory
    var path = ((folder.isEmpty ? "." : folder) as NSString).appendingPathComponent("curve.csv")
    var attempt = 2
    while FileManager.default.fileExists(atPath: path) {
      path = ((folder.isEmpty ? "." : folder) as NSString).appendingPathComponent("curve-\(attempt).csv")
      attempt += 1
    }
    var text = "sparsity,accuracy\n"
    for point in state.curve { text += String(format: "%.6f,%.6f\n", point.sparsity, point.accuracy) }
    try writeAtomically(Data(text.utf8), to: path)
    publish { $0.message = "exported \(state.curve.count) points to \(path)" }
  }
}
