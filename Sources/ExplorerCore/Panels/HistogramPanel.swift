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

    // Finite, ascending.
    let values = layer.scores.values
    guard !values.isEmpty || nonFinite > 0 else {
      screen.write(Format.fit("every unit is pruned", rect.width), column: rect.left, row: rect.top + 1, style: .dim)
      return
    }
    var (low, high): (Float, Float) = (0, 0)
    if let first = values.first, let last = values.last {
      if absolute {
        let zero = partitionIndex(values, 0..<values.count) { $0 >= 0 }
        low = min(zero < values.count ? abs(values[zero]) : .infinity, zero > 0 ? abs(values[zero - 1]) : .infinity)
        high = max(abs(first), abs(last))
      } else {
        (low, high) = (first, last)
      }
    }
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
    let counts = columnCounts(values, bins: bins, absolute: absolute, column: column)

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

  /// How many of `values` (finite, ascending) fall in each of `bins` columns, `column` being
  /// the column of a value (of its magnitude when `absolute`), which never decreases as the
  /// value grows: the same counts as a pass over every value, in O(bins · log n).
  static func columnCounts(_ values: [Float], bins: Int, absolute: Bool, column: (Float) -> Int) -> [Int] {
    var counts = [Int](repeating: 0, count: bins)
    let n = values.count
    // The values at and above zero (all of them when signed): columns rise with the index.
    let zero = absolute ? partitionIndex(values, 0..<n) { $0 >= 0 } : 0
    var start = zero
    for bin in 0..<bins {
      let end = bin == bins - 1 ? n : partitionIndex(values, start..<n) { column(absolute ? abs($0) : $0) > bin }
      counts[bin] += end - start
      start = end
    }
    // The negative values of a magnitude histogram: columns fall as the index rises.
    guard absolute else { return counts }
    var end = zero
    for bin in 0..<bins {
      let begin = bin == bins - 1 ? 0 : partitionIndex(values, 0..<end) { column(abs($0)) <= bin }
      counts[bin] += end - begin
      end = begin
    }
    return counts
  }

  /// The first index of `range` where `isPast` holds (it holds for a suffix of the range), or
  /// its end.
  private static func partitionIndex(_ values: [Float], _ range: Range<Int>, _ isPast: (Float) -> Bool) -> Int {
    var low = range.lowerBound
    var high = range.upperBound
    while low < high {
      let middle = (low + high) / 2
      if isPast(values[middle]) { high = middle } else { low = middle + 1 }
    }
    return low
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
