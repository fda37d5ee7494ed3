/// The layer table: name, shape, threshold, a sparsity bar with its percentage, what is kept
/// and the ties at the cut; the selected layer is highlighted, and the rows scroll to keep it in
/// view when the layers do not all fit.
///
/// What is kept is counted in the criterion's units: nonzero weights for a weight criterion,
/// rows kept of all rows (`12/20` filters of a convolution, neurons of a Linear layer) for a
/// criterion that prunes whole rows, so a filter criterion reads as filters kept.
enum LayerTablePanel {
  /// Column widths; the bar takes what is left, and the shape column goes when the bar would
  /// be narrower than `minimumBarWidth`.
  private static let markerWidth = 2
  private static let nameWidth = 10
  private static let shapeWidth = 10
  private static let thresholdWidth = 10
  private static let percentWidth = 7
  /// Of the column of nonzero weights, or of rows kept.
  private static let keptWidth = 9
  private static let tiesWidth = 6
  private static let minimumBarWidth = 10

  static func render(_ state: AppState, in rect: Rect, into screen: inout ScreenBuffer) {
    guard rect.height > 0 else { return }
    var fixed = markerWidth + nameWidth + shapeWidth + thresholdWidth + percentWidth + keptWidth + tiesWidth
    let showsShape = rect.width - fixed >= minimumBarWidth
    if !showsShape { fixed -= shapeWidth }
    let barWidth = max(1, rect.width - fixed)
    let layers = state.snapshot.layers
    let countsRows = layers.first?.granularity == .neuron
    let header =
      String(repeating: " ", count: markerWidth) + Format.fit("layer", nameWidth)
      + (showsShape ? Format.fit("shape", shapeWidth) : "") + Format.fit("threshold", thresholdWidth)
      + Format.fit("sparsity", barWidth + percentWidth) + Format.right(countsRows ? "kept" : "nonzero", keptWidth)
      + Format.right("ties", tiesWidth)
    screen.write(Format.fit(header, rect.width), column: rect.left, row: rect.top, style: .bold)

    let first = firstVisible(state, rows: rect.height - 1)
    for position in first..<layers.count {
      let row = rect.top + 1 + position - first
      guard row < rect.bottom else { break }
      let layer = layers[position]
      let sparsity = state.expectedSparsity(of: layer)
      let threshold = layer.isPrunable ? state.cut(of: layer).map(Format.score) ?? "-" : "-"
      let ties = layer.isPrunable ? "\(state.ties(of: layer))" : "-"
      let filled = min(barWidth, Int((sparsity * Double(barWidth)).rounded()))
      let bar =
        String(repeating: state.glyphs.full, count: filled)
        + String(repeating: state.glyphs.empty, count: barWidth - filled)
      let kept = countsRows ? rowsKept(state.expectedKeptRows(of: layer), of: layer.rows) : "\(state.expectedNonzero(of: layer))"
      let isSelected = position == state.selectedLayer
      let line =
        (isSelected ? "> " : "  ") + Format.fit(layer.name, nameWidth)
        + (showsShape ? Format.fit(layer.shape.map(String.init).joined(separator: "x"), shapeWidth) : "")
        + Format.fit(threshold, thresholdWidth) + bar + Format.right(Format.percent(sparsity), percentWidth)
        + Format.right(kept, keptWidth) + Format.right(ties, tiesWidth)
      let style: CellStyle = isSelected ? .reverse : layer.isPrunable ? .normal : .dim
      screen.write(Format.fit(line, rect.width), column: rect.left, row: row, style: style)
      if !isSelected && layer.isPrunable {
        screen.setStyle(.accent, column: rect.left + fixed - percentWidth - keptWidth - tiesWidth, row: row, length: filled)
      }
    }
  }

  /// `kept/rows`, or only `kept` when both do not fit the column with a space before them.
  private static func rowsKept(_ kept: Int, of rows: Int) -> String {
    let both = "\(kept)/\(rows)"
    return both.count < keptWidth ? both : "\(kept)"
  }

  /// The first layer shown when `rows` rows are available: the state's `tableTop`, moved just
  /// enough to show the selected layer and no blank rows.
  static func firstVisible(_ state: AppState, rows: Int) -> Int {
    let rows = max(1, rows)
    var top = min(state.tableTop, state.selectedLayer)
    top = max(top, state.selectedLayer - rows + 1)
    return max(0, min(top, state.snapshot.layers.count - rows))
  }

  /// `firstVisible` for the table's place in the state's layout, to keep in `tableTop`.
  static func firstVisible(_ state: AppState) -> Int {
    let layout = Layout(width: state.width, height: state.height, layerCount: state.snapshot.layers.count)
    return firstVisible(state, rows: layout.table.height - 1)
  }

  /// The position in `snapshot.layers` of the layer drawn on a screen row, if any.
  static func layerPosition(atRow row: Int, in rect: Rect, _ state: AppState) -> Int? {
    guard row > rect.top, row < rect.bottom else { return nil }
    let position = firstVisible(state, rows: rect.height - 1) + row - rect.top - 1
    return state.snapshot.layers.indices.contains(position) ? position : nil
  }
}
