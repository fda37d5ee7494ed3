/// The header, the settings line, the progress line, the message line and the status line.
enum ChromePanels {
  static func header(_ state: AppState, in rect: Rect, into screen: inout ScreenBuffer) {
    let snapshot = state.snapshot
    var text = " shears"
    if !snapshot.modelDescription.isEmpty { text += "  model: \(snapshot.modelDescription)" }
    if !snapshot.dataDescription.isEmpty { text += "  data: \(snapshot.dataDescription)" }
    if snapshot.hasUnsavedChanges { text += "  [unsaved]" }
    screen.write(Format.fit(text, rect.width), column: rect.left, row: rect.top, style: .reverse)
  }

  static func settings(_ state: AppState, in rect: Rect, into screen: inout ScreenBuffer) {
    let snapshot = state.snapshot
    let granularity = snapshot.layers.first?.granularity == .neuron ? "neurons" : "weights"
    let text =
      " criterion \(snapshot.criterion.rawValue) (\(granularity))   scope \(snapshot.scope.rawValue)   "
      + "histogram \(state.histogramAbsolute ? "|w|" : "signed") \(state.logCounts ? "log" : "linear")"
    screen.write(Format.fit(text, rect.width), column: rect.left, row: rect.top, style: .dim)
  }

  static func progress(_ state: AppState, in rect: Rect, into screen: inout ScreenBuffer) {
    switch state.snapshot.phase {
    case .idle:
      return
    case .starting(let what):
      screen.write(Format.fit(" \(what)...", rect.width), column: rect.left, row: rect.top, style: .dim)
    case .evaluating:
      screen.write(Format.fit(" evaluating...", rect.width), column: rect.left, row: rect.top, style: .dim)
    case .fineTuning(let progress):
      let label = " epoch \(progress.epoch)/\(progress.epochs) "
      let figures =
        " \(Int(progress.fraction * 100))%  loss " + String(format: "%.4f", progress.loss) + "  "
        + "\(Int(progress.samplesPerSecond.rounded())) samples/s  ETA \(Format.duration(progress.remainingSeconds))"
      let barWidth = max(5, rect.width - label.count - figures.count - 2)
      let filled = Int((progress.fraction * Double(barWidth)).rounded(.down))
      screen.write(label, column: rect.left, row: rect.top, style: .bold)
      let bar = String(repeating: state.glyphs.full, count: filled) + String(repeating: state.glyphs.empty, count: barWidth - filled)
      screen.write("[" + bar + "]", column: rect.left + label.count, row: rect.top, style: .accent)
      screen.write(figures, column: rect.left + label.count + barWidth + 2, row: rect.top)
    }
  }

  static func message(_ state: AppState, in rect: Rect, into screen: inout ScreenBuffer) {
    let text: String
    var style = CellStyle.normal
    switch state.mode {
    case .epochsPrompt(let typed):
      text = " fine-tune how many epochs? [1] \(typed)_   Enter to start, Esc to cancel"
      style = .bold
    case .confirmQuit:
      text = " unsaved changes: quit anyway? (y/n)"
      style = .warning
    case .normal, .help:
      if let notice = state.notice {
        text = " " + notice
        style = .warning
      } else {
        text = " " + (state.snapshot.message ?? "")
        style = state.snapshot.isError ? .warning : .normal
      }
    }
    screen.write(Format.fit(text, rect.width), column: rect.left, row: rect.top, style: style)
  }

  static func status(_ state: AppState, in rect: Rect, into screen: inout ScreenBuffer) {
    let unicode = state.glyphs.usesBraille
    let text: String
    if state.mode == .help {
      text = " any key: back"
    } else if state.isFineTuning {
      text = " x cancel fine-tune   \(Key.up.label(unicode: unicode))\(Key.down.label(unicode: unicode)) layer   h/l histogram   ? help   q quit"
    } else {
      let bindings = Keymap.bindings.filter(\.isPrimary)
      text =
        " "
        + bindings.map { binding in
          let keys: String
          switch binding.action {
          case .raiseThreshold: keys = Key.left.label(unicode: unicode) + Key.right.label(unicode: unicode)
          case .previousLayer: keys = Key.up.label(unicode: unicode) + Key.down.label(unicode: unicode)
          default: keys = binding.keys.map { $0.label(unicode: unicode) }.joined(separator: "/")
          }
          return "\(keys) \(shortName(binding.action))"
        }.joined(separator: "  ")
    }
    screen.write(Format.fit(text, rect.width), column: rect.left, row: rect.top, style: .reverse)
  }

  private static func shortName(_ action: Action) -> String {
    switch action {
    case .raiseThreshold, .lowerThreshold: "prune"
    case .previousLayer, .nextLayer: "layer"
    case .toggleScope: "scope"
    case .cycleCriterion: "criterion"
    case .fineTune: "fine-tune"
    case .save: "save"
    case .undo: "undo"
    case .help: "help"
    case .quit: "quit"
    default: ""
    }
  }

  /// The help screen, generated from the keymap.
  static func help(_ state: AppState, in rect: Rect, into screen: inout ScreenBuffer) {
    let unicode = state.glyphs.usesBraille
    var lines = ["Keys", ""]
    for binding in Keymap.bindings {
      let keys = binding.keys.map { $0.label(unicode: unicode) }.joined(separator: ", ")
      lines.append(Format.fit(keys, 16) + binding.summary)
    }
    lines.append("")
    lines.append("Mouse: click a layer to select it.")
    let width = min(rect.width - 4, (lines.map(\.count).max() ?? 0) + 4)
    let height = min(rect.height - 2, lines.count + 2)
    let left = rect.left + (rect.width - width) / 2
    let top = rect.top + (rect.height - height) / 2
    for row in 0..<height {
      screen.write(String(repeating: " ", count: width), column: left, row: top + row, style: .reverse)
    }
    for (offset, line) in lines.prefix(height - 2).enumerated() {
      screen.write(Format.fit(line, width - 4), column: left + 2, row: top + 1 + offset, style: .reverse)
    }
  }
}
