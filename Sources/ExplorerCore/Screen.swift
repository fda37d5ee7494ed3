/// Draws the whole explorer for a state: a pure function, so every screen can be compared with
/// expected text in tests.
public enum Screen {
  public static func render(_ state: AppState) -> ScreenBuffer {
    var screen = ScreenBuffer(width: state.width, height: state.height)
    let layout = Layout(width: state.width, height: state.height, layerCount: state.snapshot.layers.count)
    if layout.isTooSmall {
      let text = "terminal too small: \(state.width)x\(state.height), need \(Layout.minimumWidth)x\(Layout.minimumHeight)"
      screen.write(Format.fit(text, state.width), column: 0, row: 0, style: .warning)
      if state.height > 1 { screen.write(Format.fit("q quits", state.width), column: 0, row: 1, style: .dim) }
      return screen
    }
    ChromePanels.header(state, in: layout.header, into: &screen)
    ChromePanels.settings(state, in: layout.settings, into: &screen)
    LayerTablePanel.render(state, in: layout.table, into: &screen)
    HistogramPanel.render(state, in: layout.histogram, into: &screen)
    MetricsPanel.render(state, in: layout.metrics, into: &screen)
    CurvePanel.render(state, in: layout.curve, into: &screen)
    ChromePanels.progress(state, in: layout.progress, into: &screen)
    ChromePanels.message(state, in: layout.message, into: &screen)
    ChromePanels.status(state, in: layout.status, into: &screen)
    if state.mode == .help {
      ChromePanels.help(state, in: Rect(left: 0, top: 1, width: state.width, height: state.height - 2), into: &screen)
    }
    return screen
  }
}
