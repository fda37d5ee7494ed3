import Foundation
import PruneEngine

extension Session {
  /// Loads the data and the model (the cached baseline, trained first when missing), measures
  /// the dense accuracy and speed, and publishes the first full snapshot.
  func load() {
    do {
      publish {
        $0.phase = .starting("loading \(setup.data)")
        $0.modelDescription = setup.modelPath.map { ($0 as NSString).lastPathComponent } ?? "baseline \(setup.baselineArchitecture)"
        $0.dataDescription = setup.data.description
      }
      let splits = try setup.data.load()
      state.train = splits.train
      state.test = setup.testLimit.map { splits.test.prefix($0) } ?? splits.test
      // The baseline is trained on this data, so the data must fit its architecture first.
      if setup.modelPath == nil { try checkFits(setup.baselineArchitecture, subject: "baseline", splits: splits) }
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
      // Fine-tuning and the data-driven criteria read the training labels: both splits must fit.
      try checkFits(model.architecture, subject: setup.modelPath ?? "baseline", splits: splits)
      publish { $0.phase = .starting("scoring and evaluating the model") }
      state.original = model
      state.base = model
      state.current = model
      state.targets = Dictionary(
        zip(model.weightedLayers, ModelMetrics(model).layers).map { ($0.path, $1.sparsity) },
        uniquingKeysWith: { first, _ in first })
      state.initialTargets = state.targets
      state.saved = state.revision
      state.tables = try scoreTables(for: model)
      let measured = measure(model)
      let baseline = measured.full
      state.denseSeconds = measured.seconds
      state.curve = [CurvePoint(sparsity: ModelMetrics(model).sparsity, accuracy: baseline.accuracy)]
      publish {
        $0.baseline = baseline
        $0.curve = state.curve
        $0.phase = .idle
        // A model with NaN or infinite weights leaves the message line to its warning.
        let opened = setup.modelPath.map { "opened \($0)" } ?? "baseline: \(cachePath)"
        $0.message = Checkpoint.nonFiniteWarnings(in: model).isEmpty ? opened : nil
      }
      publishModel(accuracy: baseline)
    } catch {
      fail(error)
    }
  }

  /// Throws unless a network of `architecture` takes the data's images and has an output for
  /// every label of both splits (training and evaluation assume both).
  private func checkFits(_ architecture: Architecture, subject: String, splits: DataSplits) throws {
    guard architecture.inputCount == splits.test.featureCount, splits.classCount <= architecture.classCount else {
      throw ShearsError(
        subject,
        "model takes \(architecture.inputCount) inputs and \(architecture.classCount) classes; the data has "
          + "\(splits.test.featureDescription) and \(splits.classCount) classes")
    }
    if let mismatch = architecture.inputMismatch(with: splits.test, in: setup.data.path) {
      throw ShearsError(subject, "model " + mismatch)
    }
  }

  /// Where the baseline for this data source is cached: the architecture and the data source
  /// with every run of other characters than letters and digits as one `-`
  /// (`baseline-mlp-784-300-100-10-usr-share-datasets-fashion-mnist-system.safetensors`).
  var cachePath: String {
    let key = "baseline \(setup.baselineArchitecture) \(setup.data.description)"
    let words = key.split { !($0.isLetter || $0.isNumber) }
    return (setup.cacheDirectory as NSString).appendingPathComponent(words.joined(separator: "-") + ".safetensors")
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
    publish { $0.message = "training the baseline \(setup.baselineArchitecture); it is cached for next time" }
    let report = try Trainer.train(
      initial, on: splits.train, options: TrainingOptions(epochs: setup.baselineEpochs),
      events: { event in
        guard case .batchFinished(let progress) = event, progress.elapsedSeconds - lastPublished > 0.1 else { return }
        lastPublished = progress.elapsedSeconds
        self.publish { $0.phase = .trainingBaseline(progress) }
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
}
