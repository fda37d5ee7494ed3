import Foundation
import PruneEngine

extension Session {
  /// The folder saved files go to: the opened model's, else the cache folder.
  private var outputFolder: String {
    let folder = state.modelPath.map { ($0 as NSString).deletingLastPathComponent } ?? setup.cacheDirectory
    return folder.isEmpty ? "." : folder
  }

  /// `<folder>/<stem><suffix>`, or `<stem>-2<suffix>`, `-3`, ... : the first that does not exist.
  private func newPath(stem: String, suffix: String) -> String {
    var path = (outputFolder as NSString).appendingPathComponent(stem + suffix)
    var attempt = 2
    while FileManager.default.fileExists(atPath: path) {
      path = (outputFolder as NSString).appendingPathComponent("\(stem)-\(attempt)\(suffix)")
      attempt += 1
    }
    return path
  }

  /// Saves the current model next to the opened file (the baseline's in the cache folder) under
  /// a new name that carries its sparsity (`model-sparsity90.safetensors`,
  /// `baseline-sparsity90.safetensors`); never overwrites. The file is written atomically.
  func save() throws {
    guard let current = state.current else { return }
    let sparsity = ModelMetrics(current).sparsity
    let stem = state.modelPath.map { (($0 as NSString).lastPathComponent as NSString).deletingPathExtension } ?? "baseline"
    let path = newPath(stem: "\(stem)-sparsity\(Int((sparsity * 100).rounded()))", suffix: ".safetensors")
    let accuracy = evaluate(current, limit: nil).accuracy
    var history = state.metadata.history
    history.append(
      "explore criterion=\(state.criterion.rawValue) scope=\(state.scope.rawValue) sparsity="
        + String(format: "%.4f", sparsity))
    try Checkpoint.save(
      current,
      metadata: CheckpointMetadata(
        dataset: setup.data.description, accuracy: accuracy, created: ISO8601DateFormatter().string(from: Date()),
        history: history, rewindEpoch: state.rewind == nil ? nil : state.metadata.rewindEpoch),
      rewind: state.rewind, to: path)
    state.saved = state.revision
    publish {
      $0.hasUnsavedChanges = false
      $0.message = "saved \(path)"
      $0.isError = false
    }
  }

  /// Writes the visited accuracy-sparsity points as CSV (`sparsity,accuracy`) to a new file.
  func exportCurve() throws {
    let path = newPath(stem: "curve", suffix: ".csv")
    var text = "sparsity,accuracy\n"
    for point in state.curve { text += String(format: "%.6f,%.6f\n", point.sparsity, point.accuracy) }
    try writeAtomically(Data(text.utf8), to: path)
    publish {
      $0.message = "exported \(state.curve.count) points to \(path)"
      $0.isError = false
    }
  }
}
