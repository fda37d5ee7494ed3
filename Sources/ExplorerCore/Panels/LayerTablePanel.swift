/// The layer table: name, shape, threshold, a sparsity bar with its percentage, nonzeros and
/// the ties at the cut; the selected layer is highlighted.
enum LayerTablePanel {
  static func render(_ state: AppState, in rect: Rect, into screen: inout ScreenBuffer) {
    let fixed = 2 + 9 + 10 + 11 + 8 + 9 + 6
    let barWidth = max(6, rect.width - fixed - 1)
    let header =
      "  " + Format.fit("layer", 9) + Format.fit("shape", 10) + Format.fit("threshold", 11)
      + Format.fit("sparsity", barWidth + 8) + Format.right("nonzero", 9) + Format.right("ties", 6)
    screen.write(Format.fit(header, rect.width), column: rect.left, row: rect.top, style: .bold)
    for (position, layer) in state.snapshot.layers.enumerated() {
      let row = rect.top + 1 + position
      guard row < rect.bottom else { break }
      let target = state.target(of: layer)
      let threshold = layer.scores.cut(at: target).map(Format.score) ?? "-"
      let filled = Int((target * Double(barWidth)).rounded())
      let bar =
        String(repeating: state.glyphs.full, count: filled)
        + String(repeating: state.glyphs.empty, count: barWidth - filled)
      let isSelected = position == state.selectedLayer
      let line =
        (isSelected ? "> " : "  ") + Format.fit(layer.name, 9)
        + Format.fit(layer.shape.map(String.init).joined(separator: "x"), 10) + Format.fit(threshold, 11)
        + bar + Format.right(Format.percent(target), 8) + Format.right("\(layer.nonzero)", 9)
        + Format.right("\(layer.scores.ties(at: target))", 6)
      screen.write(Format.fit(line, rect.width), column: rect.left, row: row, style: isSelected ? .reverse : .normal)
      if !isSelected {
        screen.setStyle(.accent, column: rect.left + 2 + 9 + 10 + 11, row: row, length: filled)
      }
    }
  }
}
