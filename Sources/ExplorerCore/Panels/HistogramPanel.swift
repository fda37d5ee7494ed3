import Foundation

/// The selected layer's histogram of weights (signed or |w|) or criterion scores, linear or
/// log counts, with the pruning threshold drawn on it and the pruned part dimmed.
enum HistogramPanel {
  static func render(_ state: AppState, in rect: Rect, into screen: inout ScreenBuffer) {
    guard rect.height >= 4, rect.width >= 10, let layer = state.selected else { return }
    let target = state.target(of: layer)
    let cut = layer.scores.cut(at: target)
    let absolute = state.histogramAbsolute || state.snapshot.criterion != .magnitude
    let subject = state.snapshot.criterion == .magnitude ? (absolute ? "|w|" : "w") : "\(state.snapshot.criterion.rawValue) score"
    let title = "\(layer.name) \(subject), \(state.logCounts ? "log" : "linear") counts"
    screen.write(Format.fit(title, rect.width), column: rect.left, row: rect.top, style: .bold)

    let values = layer.scores.values
    guard !values.isEmpty else { return }
    var low = Float.infinity
    var high = -Float.infinity
    for value in values {
      let v = absolute ? abs(value) : value
      low = min(low, v)
      high = max(high, v)
    }
    if absolute { low = 0 }
    if high <= low { high = low + 1 }
    let plotHeight = rect.height - 2
    let bins = rect.width
    var counts = [Int](repeating: 0, count: bins)
    let scale = Float(bins) / (high - low)
    for value in values {
      let v = absolute ? abs(value) : value
      counts[min(bins - 1, max(0, Int((v - low) * scale)))] += 1
    }
    let height: (Int) -> Double = { state.logCounts ? log1p(Double($0)) : Double($0) }
    let tallest = max(1e-9, counts.map(height).max() ?? 1)
    let cutMagnitude = cut.map { abs($0) }
    for bin in 0..<bins {
      let eighths = Int((height(counts[bin]) / tallest * Double(plotHeight * 8)).rounded())
      let center = low + (Float(bin) + 0.5) / scale
      let isPruned = cutMagnitude.map { (absolute ? center : abs(center)) <= $0 } ?? false
      for level in 0..<plotHeight {
        let row = rect.top + 1 + plotHeight - 1 - level
        let filled = min(8, max(0, eighths - level * 8))
        if filled > 0 {
          screen.write(String(state.glyphs.levels[filled]), column: rect.left + bin, row: row, style: isPruned ? .dim : .accent)
        }
      }
    }
    // The threshold: a marker at the cut (both signs when the weights are signed).
    if let cutMagnitude {
      var columns = [Int((cutMagnitude - low) * scale)]
      if !absolute { columns.append(Int((-cutMagnitude - low) * scale)) }
      for column in columns where column >= 0 && column < bins {
        for row in (rect.top + 1)..<(rect.top + 1 + plotHeight) where screen[rect.left + column, row] == " " {
          screen.write(String(state.glyphs.marker), column: rect.left + column, row: row, style: .warning)
        }
      }
    }
    let axis = rect.top + rect.height - 1
    let lowLabel = Format.score(low)
    let highLabel = Format.score(high)
    let cutLabel = cut.map { "cut \(Format.score($0)), \(Format.percent(target)) pruned" } ?? "nothing pruned"
    screen.write(lowLabel, column: rect.left, row: axis, style: .dim)
    screen.write(Format.right(highLabel, highLabel.count), column: rect.right - highLabel.count, row: axis, style: .dim)
    let middle = rect.left + max(lowLabel.count + 1, (rect.width - cutLabel.count) / 2)
    if middle + cutLabel.count < rect.right - highLabel.count {
      screen.write(cutLabel, column: middle, row: axis, style: .warning)
    }
  }
}
