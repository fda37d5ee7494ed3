/// Draws the whole explorer for a state: a pure function, so every screen can be compared with
/// expected text in tests.
public enum Screen {
  public static func render(_ state: AppState) -> ScreenBuffer {
    var screen = ScreenBuffer(width: state.width, height: state.height)
    let layout = Layout(width: state.width, height: state.height, layerCount: state.snapshot.layers.count)
    if layout.isTooSmall {
      tooSmall(state, into: &screen)
      return screen
    }
    ChromePanels.header(state, in: layout.header, into: &screen)
    // Until a model is open there is nothing to draw but the progress and the messages.
    if !state.snapshot.layers.isEmpty {
      ChromePanels.settings(state, in: layout.settings, into: &screen)
      LayerTablePanel.render(state, in: layout.table, into: &screen)
      HistogramPanel.render(state, in: layout.histogram, into: &screen)
      MetricsPanel.render(state, in: layout.metrics, into: &screen)
      CurvePanel.render(state, in: layout.curve, into: &screen)
    }
    ChromePanels.progress(state, in: layout.progress, into: &screen)
    ChromePanels.message(state, in: layout.message, into: &screen)
    ChromePanels.status(state, in: layout.status, into: &screen)
    if state.mode == .help {
      HelpPanel.render(state, in: Rect(left: 0, top: 1, width: state.width, height: state.height - 2), into: &screen)
    }
    return screen
  }

  /// One clear line (split when even that is too wide), and the quit question when asked.
  private static func tooSmall(_ state: AppState, into screen: inout ScreenBuffer) {
    let size = "terminal too small: \(state.width)x\(state.height)"
    let need = "needs \(Layout.minimumWidth)x\(Layout.minimumHeight)"
    let line = "\(size), \(need) (q quits)"
    var lines = line.count <= state.width ? [line] : [size, need, "q quits"]
    if state.mode == .confirmQuit { lines.append("unsaved changes: quit anyway? (y/n)") }
    for (row, text) in lines.enumerated() {
      screen.write(Format.fit(text, state.width), column: 0, row: row, style: row == 0 ? .warning : .normal)
    }
  }
}
