import Foundation
import PruneEngine

/// Accuracy now against the dense baseline, loss, sparsity, compression, size and FLOPs (dense
/// to effective) and the measured speed-up.
enum MetricsPanel {
  /// Metrics of the model as the targets on screen will make it: exact once the session has
  /// pruned, estimated from the targets until then, so they change on the key press itself.
  static func expectedMetrics(_ state: AppState) -> ModelMetrics? {
    guard let metrics = state.snapshot.metrics else { return nil }
    let views = Dictionary(state.snapshot.layers.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
    return ModelMetrics(
      layers: metrics.layers.map { layer in
        var estimate = layer
        if let view = views[layer.name] { estimate.nonzero = state.expectedNonzero(of: view) }
        return estimate
      })
  }

  static func render(_ state: AppState, in rect: Rect, into screen: inout ScreenBuffer) {
    var lines: [(String, CellStyle)] = []
    let snapshot = state.snapshot
    if let accuracy = snapshot.accuracy {
      // An accuracy of other targets than those on screen is dimmed until the new one arrives.
      let isCurrent = !state.isAwaitingSession && snapshot.phase != .evaluating
      let value = String(format: "accuracy %.4f ", accuracy.accuracy)
      let long = accuracy.isFull ? "(\(accuracy.samples) images)" : "(estimate, \(accuracy.samples) images)"
      let short = accuracy.isFull ? "(\(accuracy.samples) img)" : "(est., \(accuracy.samples) img)"
      lines.append((value + (value.count + long.count <= rect.width ? long : short), isCurrent ? .bold : .dim))
      if let baseline = snapshot.baseline {
        let delta = (accuracy.accuracy - baseline.accuracy) * 100
        lines.append(
          (String(format: "  dense  %.4f  %+.2f pts", baseline.accuracy, delta), delta < -1 ? .warning : .normal))
      }
      lines.append((String(format: "loss     %.4f", accuracy.loss), .normal))
    } else {
      lines.append(("accuracy measuring...", .dim))
    }
    if let metrics = expectedMetrics(state) {
      lines.append(
        ("sparsity \(Format.percent(metrics.sparsity))  " + String(format: "%.1fx smaller", metrics.compressionRatio), .normal))
      let compact = min(metrics.denseBytes, metrics.sparseBytes)
      lines.append(("size     \(Format.bytes(metrics.denseBytes)) \(state.glyphs.arrow) \(Format.bytes(compact))", .normal))
      lines.append(
        ("FLOPs    \(Format.count(metrics.denseFLOPs)) \(state.glyphs.arrow) \(Format.count(metrics.sparseFLOPs))", .normal))
    }
    if let speedup = snapshot.measuredSpeedup {
      lines.append((String(format: "speed-up %.1fx measured", speedup), .normal))
    }
    for (offset, line) in lines.prefix(rect.height).enumerated() {
      screen.write(Format.fit(line.0, rect.width), column: rect.left, row: rect.top + offset, style: line.1)
    }
  }
}
