import PruneEngine

/// The layer table: name, shape, threshold, a sparsity bar with its percentage, what is kept
/// and the ties at the cut; the selected layer is highlighted, and the rows scroll to keep it in
/// view when the layers do not all fit.
///
/// What is kept is counted in the criterion's units: nonzero weights for a weight criterion,
/// rows kept of all rows (`12/20` filters of a convolution, neurons of a Linear layer) for a
/// criterion that prunes whole rows, so a filter criterion reads as filters kept.
///
/// Layers inside modules (a ResNet's `layer1.0.conv1`) are grouped by their block: the first
/// layer of a block is named in full and the next ones are indented under it by their own
/// names (`  conv2`, `  shortcut.0`), elided from the left when the column is too narrow so
/// the part that tells them apart stays visible.
enum LayerTablePanel {
  /// Column widths; the bar takes what is left, and the shape column goes when the bar would
  /// be narrower than `minimumBarWidth`.
  private static let markerWidth = 2
  /// The name column's width, and its widest for grouped names.
  private static let nameWidth = 10
  private static let maximumNameWidth = 16
  private static let shapeWidth = 10
  private static let thresholdWidth = 10
  private static let percentWidth = 7
  /// Of the column of nonzero weights, or of rows kept.
  private static let keptWidth = 9
  private static let tiesWidth = 6
  private static let minimumBarWidth = 10

  static func render(_ state: AppState, in rect: Rect, into screen: inout ScreenBuffer) {
    guard rect.height > 0 else { return }
    let layers = state.snapshot.layers
    let first = firstVisible(state, rows: rect.height - 1)
    var names = displayNames(layers.map(\.path), firstShown: first)
    // A long name takes room from the bar, down to its narrowest, before the shape column goes.
    let base = markerWidth + thresholdWidth + percentWidth + keptWidth + tiesWidth + minimumBarWidth
    let longest = names.map(\.count).max() ?? 0
    let nameWidth = max(Self.nameWidth, min(maximumNameWidth, longest + 1, rect.width - base))
    names = names.map { elideLeft($0, nameWidth - 1, ellipsis: state.glyphs.ellipsis) }
    var fixed = markerWidth + nameWidth + shapeWidth + thresholdWidth + percentWidth + keptWidth + tiesWidth
    let showsShape = rect.width - fixed >= minimumBarWidth
    if !showsShape { fixed -= shapeWidth }
    let barWidth = max(1, rect.width - fixed)
    let countsRows = layers.first?.granularity == .neuron
    let header =
      String(repeating: " ", count: markerWidth) + Format.fit("layer", nameWidth)
      + (showsShape ? Format.fit("shape", shapeWidth) : "") + Format.fit("threshold", thresholdWidth)
      + Format.fit("sparsity", barWidth + percentWidth) + Format.right(countsRows ? "kept" : "nonzero", keptWidth)
      + Format.right("ties", tiesWidth)
    screen.write(Format.fit(header, rect.width), column: rect.left, row: rect.top, style: .bold)

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
        (isSelected ? "> " : "  ") + Format.fit(names[position], nameWidth)
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

  /// What the name column shows for each layer: the weight's name (`0.weight`) when every
  /// layer is a child of the model itself, as in a Sequential model; otherwise the module path,
  /// with a block's layers after its first indented by their names within the block. The
  /// layer at `firstShown`, the top row of a scrolled table, is always named in full.
  static func displayNames(_ paths: [ParameterPath], firstShown: Int = 0) -> [String] {
    let split = paths.map(group)
    guard split.contains(where: { !$0.group.isEmpty }) else { return paths.map { $0.appending("weight").description } }
    var previous: [Substring]?
    return split.enumerated().map { position, entry in
      let (group, tail) = entry
      if position == firstShown { previous = nil }
      defer { previous = group }
      let name = tail.joined(separator: ".")
      guard !group.isEmpty else { return name }
      return group == previous ? "  " + name : (group + tail).joined(separator: ".")
    }
  }

  /// The block a layer belongs to and its name in it: all but the last component
  /// (`layer1.0` of `layer1.0.conv1`), or all but the last two when the last is an index into a
  /// Sequential inside the block (`layer2.0` of `layer2.0.shortcut.0`). Layers of the model
  /// itself (`conv1`, `0`) have no block.
  static func group(of path: ParameterPath) -> (group: [Substring], tail: [Substring]) {
    let components = path.components
    guard components.count >= 2 else { return ([], components) }
    let tail = components.count >= 3 && Int(components[components.count - 1]) != nil ? 2 : 1
    return (Array(components.dropLast(tail)), Array(components.suffix(tail)))
  }

  /// `text` in at most `width` characters, its start replaced by `ellipsis` when too long
  /// (leading indentation kept), so that its end stays readable.
  static func elideLeft(_ text: String, _ width: Int, ellipsis: String) -> String {
    guard text.count > width else { return text }
    let indent = String(text.prefix { $0 == " " })
    let body = text.dropFirst(indent.count)
    let room = width - indent.count - ellipsis.count
    guard room > 0 else { return String(text.suffix(max(0, width))) }
    var end = body.suffix(room)
    if end.first == "." { end = end.dropFirst() }
    return indent + ellipsis + String(end)
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
