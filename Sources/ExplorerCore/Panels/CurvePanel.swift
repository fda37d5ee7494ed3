/// The accuracy-against-sparsity curve of every point visited in the session, in braille dots
/// (or `*` without UTF-8), with the current point marked.
enum CurvePanel {
  /// Braille dot bits by row (0 to 3) and column (0 or 1) within a cell.
  private static let dots: [[UInt32]] = [[0x01, 0x08], [0x02, 0x10], [0x04, 0x20], [0x40, 0x80]]

  static func render(_ state: AppState, in rect: Rect, into screen: inout ScreenBuffer) {
    guard rect.height >= 4, rect.width >= 12 else { return }
    let points = state.snapshot.curve
    screen.write(Format.fit("accuracy vs sparsity", rect.width), column: rect.left, row: rect.top, style: .bold)
    guard !points.isEmpty else { return }
    let accuracies = points.map(\.accuracy) + [state.snapshot.baseline?.accuracy ?? points[0].accuracy]
    let high = min(1, (accuracies.max() ?? 1) + 0.005)
    let low = max(0, min(high - 0.02, (accuracies.min() ?? 0) - 0.005))
    let labelWidth = 6
    let plot = Rect(left: rect.left + labelWidth, top: rect.top + 1, width: rect.width - labelWidth, height: rect.height - 2)
    screen.write(Format.right(String(format: "%.3f", high), labelWidth - 1), column: rect.left, row: plot.top, style: .dim)
    screen.write(
      Format.right(String(format: "%.3f", low), labelWidth - 1), column: rect.left, row: plot.bottom - 1, style: .dim)
    screen.write("0%", column: plot.left, row: plot.bottom, style: .dim)
    screen.write("100%", column: plot.right - 4, row: plot.bottom, style: .dim)

    let columns = plot.width * (state.glyphs.usesBraille ? 2 : 1)
    let rows = plot.height * (state.glyphs.usesBraille ? 4 : 1)
    var cells = [UInt32](repeating: 0, count: plot.width * plot.height)
    func position(_ point: CurvePoint) -> (x: Int, y: Int) {
      let x = min(columns - 1, max(0, Int(point.sparsity * Double(columns - 1) + 0.5)))
      let y = min(rows - 1, max(0, Int((high - point.accuracy) / (high - low) * Double(rows - 1) + 0.5)))
      return (x, y)
    }
    for point in points {
      let (x, y) = position(point)
      if state.glyphs.usesBraille {
        cells[(y / 4) * plot.width + x / 2] |= dots[y % 4][x % 2]
      } else {
        cells[y * plot.width + x] = 1
      }
    }
    for row in 0..<plot.height {
      for column in 0..<plot.width where cells[row * plot.width + column] != 0 {
        let glyph =
          state.glyphs.usesBraille
          ? Character(Unicode.Scalar(0x2800 + cells[row * plot.width + column]) ?? " ") : "*"
        screen.write(String(glyph), column: plot.left + column, row: plot.top + row, style: .normal)
      }
    }
    if let current = points.last {
      let (x, y) = position(current)
      let cellColumn = state.glyphs.usesBraille ? x / 2 : x
      let cellRow = state.glyphs.usesBraille ? y / 4 : y
      screen.write("o", column: plot.left + cellColumn, row: plot.top + cellRow, style: .accent)
    }
  }
}
