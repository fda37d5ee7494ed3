/// How a cell is drawn; the terminal layer maps each to colours or attributes.
public enum CellStyle: Sendable, Equatable {
  case normal
  /// Less important text, and the pruned part of a histogram.
  case dim
  case bold
  /// Header and selection bars.
  case reverse
  /// Kept weights, the threshold and the current point.
  case accent
  /// Accuracy that dropped, errors.
  case warning
}

/// A grid of character cells that panels draw into and the terminal layer copies to the screen.
///
/// `description` is the grid as plain text, one line per row with trailing spaces removed, so
/// screens can be compared with expected text in tests without a terminal.
public struct ScreenBuffer: Sendable, Equatable, CustomStringConvertible {
  public let width: Int
  public let height: Int
  private var cells: [Character]
  private var styles: [CellStyle]

  public init(width: Int, height: Int) {
    self.width = max(0, width)
    self.height = max(0, height)
    cells = Array(repeating: " ", count: self.width * self.height)
    styles = Array(repeating: .normal, count: self.width * self.height)
  }

  /// The character at a cell.
  public subscript(column: Int, row: Int) -> Character {
    cells[row * width + column]
  }

  /// The style of a cell.
  public func style(column: Int, row: Int) -> CellStyle {
    styles[row * width + column]
  }

  /// Writes text from a cell to the right, clipped at the buffer's edge.
  public mutating func write(_ text: String, column: Int, row: Int, style: CellStyle = .normal) {
    guard row >= 0, row < height else { return }
    var x = column
    for character in text {
      if x >= width { break }
      if x >= 0 {
        cells[row * width + x] = character
        styles[row * width + x] = style
      }
      x += 1
    }
  }

  /// Sets the style of a run of cells without changing their characters.
  public mutating func setStyle(_ style: CellStyle, column: Int, row: Int, length: Int) {
    guard row >= 0, row < height else { return }
    for x in max(0, column)..<min(width, column + length) { styles[row * width + x] = style }
  }

  public var description: String {
    (0..<height).map { row in
      var line = String(cells[(row * width)..<((row + 1) * width)])
      while line.last == " " { line.removeLast() }
      return line
    }.joined(separator: "\n")
  }
}
