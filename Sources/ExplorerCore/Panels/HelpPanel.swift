/// The help screen, generated from the keymap: one line per binding, its keys and what it
/// does, in a box over the middle of the screen.
enum HelpPanel {
  /// The help's lines: a title, every binding (its keys in a column wide enough for the
  /// longest, then the summary), the mouse.
  static func lines(unicode: Bool) -> [String] {
    let keys = Keymap.bindings.map { $0.keys.map { $0.label(unicode: unicode) }.joined(separator: ", ") }
    let keyWidth = (keys.map(\.count).max() ?? 0) + 2
    var lines = ["Keys"]
    for (keys, binding) in zip(keys, Keymap.bindings) { lines.append(Format.fit(keys, keyWidth) + binding.summary) }
    lines.append(Format.fit("click", keyWidth) + "select the layer of a table row")
    return lines
  }

  /// Clears `rect` and draws the box in its middle; when it is too short for every line, the
  /// last one says so.
  static func render(_ state: AppState, in rect: Rect, into screen: inout ScreenBuffer) {
    var lines = lines(unicode: state.glyphs.usesBraille)
    let width = min(rect.width - 2, (lines.map(\.count).max() ?? 0) + 4)
    let height = min(rect.height, lines.count + 2)
    guard width > 4, height > 2 else { return }
    if lines.count > height - 2 {
      lines = Array(lines.prefix(height - 3)) + ["\(state.glyphs.ellipsis) (a taller terminal shows every key)"]
    }
    let left = rect.left + (rect.width - width) / 2
    let top = rect.top + (rect.height - height) / 2
    for row in rect.top..<rect.bottom {
      screen.write(String(repeating: " ", count: rect.width), column: rect.left, row: row)
    }
    for row in 0..<height {
      screen.write(String(repeating: " ", count: width), column: left, row: top + row, style: .reverse)
    }
    for (offset, line) in lines.enumerated() {
      screen.write(Format.fit(line, width - 4), column: left + 2, row: top + 1 + offset, style: .reverse)
    }
  }
}
