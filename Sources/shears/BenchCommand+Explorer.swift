import ExplorerCore
import Foundation
import PruneEngine

extension BenchCommand {
  /// The models `--suite explorer` opens: LeNet-300-100, ResNet-20 and a ResNet of about a
  /// million parameters, the ResNets on images of the data's shape and evaluated on the first
  /// `explorerResNetTestSamples` test images (the session's full test set).
  static func explorerArchitectures(for data: DataSplits) -> [(name: String, architecture: Architecture, testLimit: Int?)] {
    let shape = "\(data.train.channels)x\(data.train.rows)x\(data.train.columns)"
    let classes = max(10, data.train.classCount, data.test.classCount)
    var result: [(String, Architecture, Int?)] = []
    if data.train.channels == 1 && data.train.rows == 28 && data.train.columns == 28 {
      result.append(("LeNet-300-100", .lenet300100, nil))
    }
    for (name, stages) in [("ResNet-20", "16x3-32x3-64x3"), ("ResNet 1M", "32x3-64x3-128x3")] {
      if let architecture = try? Architecture(parsing: "resnet:\(shape)-\(stages)-\(classes)") {
        result.append((name, architecture, explorerResNetTestSamples))
      }
    }
    return result
  }

  /// Test images the ResNets of `--suite explorer` are evaluated on.
  static let explorerResNetTestSamples = 2000

  /// Opens each explorer model (seeded, untrained: the work of a key press does not depend on
  /// what the weights learnt) in a session without a terminal and presses threshold keys.
  func measureExplorerKeyPresses(data: DataSplits, source: DataSource) throws -> [BenchResult.KeyPressFigure] {
    var figures: [BenchResult.KeyPressFigure] = []
    for (name, architecture, testLimit) in Self.explorerArchitectures(for: data) {
      note("explorer \(name)")
      let folder = FileManager.default.temporaryDirectory.appendingPathComponent("shears-bench-\(UUID().uuidString)")
      try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
      defer { try? FileManager.default.removeItem(at: folder) }
      var generator = SeededGenerator(seed: 1)
      let model = Model(architecture: architecture, generator: &generator)
      let path = folder.appendingPathComponent("model.safetensors").path
      try Checkpoint.save(model, metadata: CheckpointMetadata(), to: path)
      var setup = Session.Setup(modelPath: path, data: source, cacheDirectory: folder.path)
      setup.testLimit = testLimit
      let session = Session(setup)
      session.start()
      let result = ExplorerBenchmark.keyPresses(session, presses: max(8, repetitions * 8))
      session.waitUntilIdle()
      figures.append(
        BenchResult.KeyPressFigure(
          model: name, architecture: architecture.description, parameters: model.parameterCount,
          weightedLayers: model.weightedLayers.count, testSamples: min(testLimit ?? data.test.count, data.test.count),
          presses: result.presses, medianMilliseconds: result.medianMilliseconds,
          worstMilliseconds: result.worstMilliseconds, screenMedianMilliseconds: result.screenMedianMilliseconds,
          estimateMilliseconds: result.estimateMilliseconds, fullAccuracyMilliseconds: result.fullAccuracyMilliseconds))
    }
    return figures
  }
}

extension BenchResult {
  /// Threshold key presses in the explorer on one model (see `ExplorerBenchmark.keyPresses`).
  struct KeyPressFigure: Encodable {
    var model: String
    var architecture: String
    var parameters: Int
    var weightedLayers: Int
    var testSamples: Int
    var presses: Int
    /// Key to a redrawn screen showing the session's new masks.
    var medianMilliseconds: Double
    var worstMilliseconds: Double
    /// Reducer and rendering alone.
    var screenMedianMilliseconds: Double
    /// One press left alone until the estimate, and the full accuracy, are published.
    var estimateMilliseconds: Double
    var fullAccuracyMilliseconds: Double
  }

  static func keyPressTable(_ figures: [KeyPressFigure]) -> String {
    var lines = [
      "explorer key press (80x24)          params  layers   key to screen median   worst   screen only"
        + "   estimate   full accuracy (test images)"
    ]
    for figure in figures {
      lines.append(
        figure.model.padding(toLength: 32, withPad: " ", startingAt: 0)
          + String(
            format: "%10d%8d%17.2f ms%8.1f ms%10.2f ms%8.0f ms%13.0f ms (%d)", figure.parameters, figure.weightedLayers,
            figure.medianMilliseconds, figure.worstMilliseconds, figure.screenMedianMilliseconds,
            figure.estimateMilliseconds, figure.fullAccuracyMilliseconds, figure.testSamples))
    }
    return lines.joined(separator: "\n")
  }
}
