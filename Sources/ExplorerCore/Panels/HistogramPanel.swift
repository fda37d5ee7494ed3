import Foundation

/// The selected layer's histogram of kept weights (signed or |w|) or criterion scores (of
/// weights, or of rows: neurons, or filters of a convolution), linear or log counts, with the
/// cut drawn on it: a line through the empty cells above the bars and a marker under the axis,
/// and the pruned bins dimmed.
enum HistogramPanel {
  static func render(_ state: AppState, in rect: Rect, into screen: inout ScreenBuffer) {
    guard rect.height >= 4, rect.width >= 10, let layer = state.selected else { return }
    let criterion = state.snapshot.criterion
    guard layer.isPrunable else {
      let note = "\(layer.name) is not pruned by \(criterion.rawValue)"
      screen.write(Format.fit(note, rect.width), column: rect.left, row: rect.top, style: .bold)
      return
    }
    let cut = state.cut(of: layer)
    let absolute = state.histogramAbsolute || criterion != .magnitude
    // What is counted, shortest last: a row criterion's scores are per filter or per neuron,
    // which matters more than the criterion's name (the settings line has it).
    let subjects =
      criterion == .magnitude
      ? [absolute ? "|w|" : "w"]
      : layer.granularity == .neuron
        ? ["\(criterion.rawValue) per \(layer.rowNoun)", "per \(layer.rowNoun)"] : ["\(criterion.rawValue) score"]
    // NaN and infinite scores have no place on the axis: they are counted in the title instead.
    let nonFinite = layer.scores.nonFiniteCount
    let apart = nonFinite > 0 ? ", \(nonFinite) NaN/inf" : ""
    let titles = subjects.map { "\(layer.name) \($0): \(Format.percent(state.expectedSparsity(of: layer))) pruned\(apart)" }
    let title = titles.first { $0.count <= rect.width } ?? titles[titles.count - 1]
    screen.write(Format.fit(title, rect.width), column: rect.left, row: rect.top, style: .bold)

    let values = layer.scores.values
    guard !values.isEmpty else {
      screen.write(Format.fit("every unit is pruned", rect.width), column: rect.left, row: rect.top + 1, style: .dim)
      return
    }
    var low = Float.infinity
    var high = -Float.infinity
    for value in values where value.isFinite {
      let v = absolute ? abs(value) : value
      low = min(low, v)
      high = max(high, v)
    }
    if nonFinite == values.count { (low, high) = (0, 0) }
    // |w| is drawn from 0, where magnitude pruning starts; scores span their own range, so
    // the few close scores of a layer's filters or neurons do not crowd into a few columns.
    if absolute && criterion == .magnitude { low = 0 }
    if high <= low { high = low + 1 }
    let plotHeight = rect.height - 2
    let bins = rect.width
    let scale = Float(bins) / (high - low)
    // Clamped before converting: a range too wide for Float (-3e38 to 3e38) makes `scale` 0
    // and a position NaN, which Int(_:) would trap on.
    func column(_ value: Float) -> Int {
      let position = (value - low) * scale
      return position.isNaN ? 0 : Int(min(Float(bins - 1), max(0, position)))
    }
    var counts = [Int](repeating: 0, count: bins)
    for value in values where value.isFinite { counts[column(absolute ? abs(value) : value)] += 1 }

    let height: (Int) -> Double = { state.logCounts ? log1p(Double($0)) : Double($0) }
    let tallest = max(1e-9, counts.map(height).max() ?? 1)
    let cutMagnitude = cut.map { abs($0) }
    for bin in 0..<bins {
      let eighths = Int((height(counts[bin]) / tallest * Double(plotHeight * 8)).rounded())
      let center = low + (Float(bin) + 0.5) / scale
      let isPruned = cutMagnitude.map { (absolute ? center : abs(center)) <= $0 } ?? false
      for level in 0..<plotHeight {
        let row = rect.top + plotHeight - level
        let filled = min(8, max(0, eighths - level * 8))
        if filled > 0 {
          screen.write(String(state.glyphs.levels[filled]), column: rect.left + bin, row: row, style: isPruned ? .dim : .accent)
        }
      }
    }

    // The cut: a line where there is no bar, and a marker under the axis (both signs when the
    // weights are signed).
    var markers: [Int] = []
    if let cutMagnitude {
      markers = [column(cutMagnitude)]
      if !absolute { markers.insert(column(-cutMagnitude), at: 0) }
      for marker in markers {
        for row in (rect.top + 1)...(rect.top + plotHeight) where screen[rect.left + marker, row] == " " {
          screen.write(String(state.glyphs.marker), column: rect.left + marker, row: row, style: .warning)
        }
      }
    }
    // Without a new cut, say whether units were pruned before (they are not in the histogram).
    let floor = layer.scores.floor
    let uncut = floor > 0 ? "\(Format.percent(floor)) pruned before" : "nothing pruned"
    axis(
      low: low, high: high, cut: cutMagnitude.map { (absolute ? "" : "±") + Format.score($0) }, uncut: uncut,
      markers: markers, glyphs: state.glyphs,
      in: Rect(left: rect.left, top: rect.bottom - 1, width: rect.width, height: 1), into: &screen)
  }

  /// The axis row: the lowest and highest value at the ends, the cut markers, and the cut's
  /// value between the markers, beside the rightmost (or before the leftmost) when there is no
  /// room between. The cut wins where labels would collide; without a cut, `uncut` is centred.
  private static func axis(
    low: Float, high: Float, cut: String?, uncut: String, markers: [Int], glyphs: Glyphs, in rect: Rect,
    into screen: inout ScreenBuffer
  ) {
    let lowLabel = Format.score(low)
    let highLabel = Format.score(high)
    guard let cut, let marker = markers.last else {
      let middle = uncut
      screen.write(lowLabel, column: rect.left, row: rect.top, style: .dim)
      screen.write(highLabel, column: rect.right - highLabel.count, row: rect.top, style: .dim)
      let start = (rect.width - middle.count) / 2
      if start > lowLabel.count && start + middle.count < rect.width - highLabel.count {
        screen.write(middle, column: rect.left + start, row: rect.top, style: .dim)
      }
      return
    }
    let label = "cut " + cut
    var occupied = markers.map { $0...$0 }
    let first = markers.first ?? marker
    let start: Int? =
      if markers.count > 1 && marker - first - 3 >= label.count + 2 {
        // Between the two markers of signed weights.
        first + 2 + (marker - first - 3 - label.count) / 2
      } else if marker + 2 + label.count <= rect.width {
        marker + 2
      } else if first - 1 - label.count >= 0 {
        first - 1 - label.count
      } else {
        nil
      }
    let labelRange = start.map { $0...($0 + label.count - 1) }
    if let labelRange { occupied.append(labelRange) }
    func isFree(_ range: ClosedRange<Int>) -> Bool {
      occupied.allSatisfy { !$0.overlaps((range.lowerBound - 2)...(range.upperBound + 2)) }
    }
    if isFree(0...(lowLabel.count - 1)) { screen.write(lowLabel, column: rect.left, row: rect.top, style: .dim) }
    if isFree((rect.width - highLabel.count)...(rect.width - 1)) {
      screen.write(highLabel, column: rect.right - highLabel.count, row: rect.top, style: .dim)
    }
    for marker in markers { screen.write(String(glyphs.cutMarker), column: rect.left + marker, row: rect.top, style: .warning) }
    if let labelRange { screen.write(label, column: rect.left + labelRange.lowerBound, row: rect.top, style: .warning) }
  }
}
