import Testing
@testable import ExplorerCore
@testable import PruneEngine

/// What text comparison cannot see: the styles the terminal turns into colours or attributes.
struct ScreenStyleTests {
  /// The styles of a row's cells, one character each: `n`ormal, `d`im, `b`old, `r`everse,
  /// `a`ccent, `w`arning.
  private func styles(_ screen: ScreenBuffer, row: Int) -> String {
    String(
      (0..<screen.width).map { column in
        switch screen.style(column: column, row: row) {
        case .normal: "n"
        case .dim: "d"
        case .bold: "b"
        case .reverse: "r"
        case .accent: "a"
        case .warning: "w"
        }
      })
  }

  @Test func thePrunedPartOfTheHistogramIsDimAndTheCutStandsOut() {
    let screen = PanelCases.histogramAbsolute
    // The bottom row of bars: pruned bins (up to the cut's column, 10) dim, kept ones accent.
    #expect(screen.lines[8] == "█████████████████▃█████████▃▆█▆▆███▆▆▃ ▃")
    #expect(styles(screen, row: 8) == "ddddddddddaaaaaaaaaaaaaaaaaaaaaaaaaaaana")
    // The axis: the ends dim, the marker and its label in the warning style.
    #expect(styles(screen, row: 9) == "dnnnnnnnnnwnwwwwwwwwwwnnnnnnnnnnnndddddd")
    #expect(styles(screen, row: 0).hasPrefix("bbbbbbbbbbbbbbbbbbbbbbbbbb"))
  }

  @Test func theSignedHistogramDimsBothSidesOfZero() {
    let screen = PanelCases.histogramSigned
    #expect(screen.lines[8] == "████▆████████████████████████████▃█▃▆█▃▃")
    #expect(styles(screen, row: 8) == "aaaaaaaaaaaaadddddddddddaaaaaaaaaaaaaaaa")
    // The lines through the empty cells above the bars at both cuts.
    #expect(screen.lines[1] == "             │   █      │")
    #expect(screen.style(column: 13, row: 1) == .warning && screen.style(column: 24, row: 1) == .warning)
  }

  @Test func theTableHighlightsTheSelectionAndColoursTheBars() {
    let screen = PanelCases.table
    #expect(styles(screen, row: 0) == String(repeating: "b", count: 80))
    #expect(styles(screen, row: 1) == String(repeating: "r", count: 80))
    // Layer 2 at 25%: 7 of 26 bar cells in the accent colour.
    #expect(styles(screen, row: 2) == String(repeating: "n", count: 32) + String(repeating: "a", count: 7) + String(repeating: "n", count: 41))
    // A layer the criterion does not prune is dim, bar included.
    #expect(styles(PanelCases.tableNeurons, row: 3) == String(repeating: "d", count: 80))
  }

  @Test func anAccuracyOfOlderTargetsIsDimUntilTheNewOneArrives() {
    var state = Fixture.state()
    #expect(render(MetricsPanel.render, state, width: 33, height: 7).style(column: 0, row: 0) == .bold)
    _ = Reducer.reduce(&state, .key(.right))
    #expect(render(MetricsPanel.render, state, width: 33, height: 7).style(column: 0, row: 0) == .dim)
    var evaluating = Fixture.snapshot(handled: 1)
    evaluating.phase = .evaluating
    _ = Reducer.reduce(&state, .snapshot(evaluating))
    #expect(render(MetricsPanel.render, state, width: 33, height: 7).style(column: 0, row: 0) == .dim)
    _ = Reducer.reduce(&state, .snapshot(Fixture.snapshot([0.51, 0.25, 0.5], handled: 1)))
    #expect(render(MetricsPanel.render, state, width: 33, height: 7).style(column: 0, row: 0) == .bold)
  }

  @Test func aDropOfMoreThanOnePointIsAWarning() {
    // The fixture is 4.69 points below the dense model.
    #expect(PanelCases.metrics.style(column: 2, row: 1) == .warning)
    var close = Fixture.snapshot()
    close.accuracy?.accuracy = 0.855
    #expect(render(MetricsPanel.render, Fixture.state(snapshot: close), width: 33, height: 7).style(column: 2, row: 1) == .normal)
  }

  @Test func theChromeIsReversedAndTheCurrentPointIsAccented() {
    let screen = Screen.render(ScreenCases.layerScope)
    #expect(styles(screen, row: 0) == String(repeating: "r", count: 80))
    #expect(styles(screen, row: 23) == String(repeating: "r", count: 80))
    #expect(styles(screen, row: 1) == String(repeating: "d", count: 80))
    let curve = PanelCases.curve
    #expect(curve[15, 4] == "o" && curve.style(column: 15, row: 4) == .accent)
  }
}
