import Foundation
import PruneEngine

/// The header, the settings line, the progress line, the message line and the status line.
enum ChromePanels {
  /// ` shears  model: …  data: …  [unsaved]`, the longest form that fits: the data folder is
  /// shortened to its last component first, then the labels go, then the middle of the line.
  static func header(_ state: AppState, in rect: Rect, into screen: inout ScreenBuffer) {
    let snapshot = state.snapshot
    let model = snapshot.modelDescription
    let data = snapshot.dataDescription
    let unsaved = snapshot.hasUnsavedChanges ? "  [unsaved]" : ""
    let shortData = shortened(data, ellipsis: state.glyphs.ellipsis)
    var candidates = [" shears" + (model.isEmpty ? "" : "  model: \(model)") + (data.isEmpty ? "" : "  data: \(data)")]
    if !data.isEmpty {
      candidates.append(" shears  model: \(model)  data: \(shortData)")
      candidates.append(" shears  \(model)  \(shortData)")
      candidates.append(" \(model)  \(shortData)")
    }
    let text =
      candidates.map { $0 + unsaved }.first { $0.count <= rect.width }
      ?? Format.elide((candidates.last ?? "") + unsaved, rect.width, ellipsis: state.glyphs.ellipsis)
    screen.write(Format.fit(text, rect.width), column: rect.left, row: rect.top, style: .reverse)
  }

  /// `/usr/share/datasets/fashion-mnist (system)` as `…/fashion-mnist (system)`.
  static func shortened(_ data: String, ellipsis: String) -> String {
    guard let split = data.range(of: " (", options: .backwards) else { return data }
    let folder = data[..<split.lowerBound]
    let components = folder.split(separator: "/")
    guard components.count > 1, let last = components.last else { return data }
    return ellipsis + "/" + last + data[split.lowerBound...]
  }

  /// The criterion (and what it scores), the scope and the histogram's display, as the user set
  /// them; the longest form that fits.
  static func settings(_ state: AppState, in rect: Rect, into screen: inout ScreenBuffer) {
    let granularity = state.criterion.defaultGranularity == .neuron ? rowNouns(state.snapshot.layers) : "weights"
    let shows = state.criterion == .magnitude ? (state.histogramAbsolute ? "|w|" : "signed") : "scores"
    let counts = state.logCounts ? "log" : "linear"
    let candidates = [
      " criterion \(state.criterion.rawValue) (\(granularity))   scope \(state.scope.rawValue)   histogram \(shows) \(counts)",
      " criterion \(state.criterion.rawValue) (\(granularity))  scope \(state.scope.rawValue)  hist \(shows) \(counts)",
      " \(state.criterion.rawValue) (\(granularity))  \(state.scope.rawValue) scope  \(shows) \(counts)",
    ]
    let text = candidates.first { $0.count <= rect.width } ?? candidates[candidates.count - 1]
    screen.write(Format.fit(text, rect.width), column: rect.left, row: rect.top, style: .dim)
  }

  /// What a row criterion prunes in `layers`: `filters`, `neurons`, or `filters, neurons` for a
  /// convolutional network with hidden Linear layers. The output layer does not count: its
  /// neurons are the classes, which row criteria never prune (`Pruner.targetLayers`). `neurons`
  /// when there are no other layers (or none yet).
  static func rowNouns(_ layers: [LayerView]) -> String {
    let nouns = Set(layers.dropLast().map(\.rowNoun))
    guard !nouns.isEmpty else { return "neurons" }
    return ["filter", "neuron"].filter(nouns.contains).map { $0 + "s" }.joined(separator: ", ")
  }

  /// What the session is doing (or is about to, for keys it has not handled yet); while
  /// training, a bar with epoch, batch, loss, samples/s and ETA (the figures that do not fit
  /// are left out, least useful first).
  static func progress(_ state: AppState, in rect: Rect, into screen: inout ScreenBuffer) {
    let progress: TrainingProgressView
    switch state.snapshot.phase {
    case .idle:
      // Keys the session has not caught up with yet: what is shown is being evaluated.
      if state.isAwaitingSession {
        screen.write(Format.fit(" evaluating...", rect.width), column: rect.left, row: rect.top, style: .dim)
      }
      return
    case .starting(let what):
      screen.write(Format.fit(" \(what)...", rect.width), column: rect.left, row: rect.top, style: .dim)
      return
    case .evaluating:
      screen.write(Format.fit(" evaluating...", rect.width), column: rect.left, row: rect.top, style: .dim)
      return
    case .fineTuning(let training), .trainingBaseline(let training):
      progress = TrainingProgressView(training)
    }
    let minimumBar = 10
    for (label, figures) in progress.variants {
      let barWidth = rect.width - label.count - figures.count - 2
      guard barWidth >= minimumBar || figures.isEmpty else { continue }
      let width = max(1, barWidth)
      let filled = min(width, Int((progress.fraction * Double(width)).rounded(.down)))
      let bar = String(repeating: state.glyphs.full, count: filled) + String(repeating: state.glyphs.empty, count: width - filled)
      screen.write(label, column: rect.left, row: rect.top, style: .bold)
      screen.write("[" + bar + "]", column: rect.left + label.count, row: rect.top, style: .accent)
      screen.write(figures, column: rect.left + label.count + width + 2, row: rect.top)
      return
    }
  }

  /// The epochs prompt, the quit question, a notice from the UI, the session's last message or
  /// the model's standing warning;
  /// a long message loses its middle, so a saved file's name stays visible.
  static func message(_ state: AppState, in rect: Rect, into screen: inout ScreenBuffer) {
    let text: String
    var style = CellStyle.normal
    switch state.mode {
    case .epochsPrompt(let typed):
      text = " fine-tune epochs [1]: \(typed)_"
      style = .bold
    case .confirmQuit:
      text = " unsaved changes: quit anyway? (y/n)"
      style = .warning
    case .normal, .help:
      if let notice = state.notice {
        text = " " + notice
        style = .warning
      } else if let message = state.snapshot.message {
        text = " " + message
        style = state.snapshot.isError ? .warning : .normal
      } else {
        text = state.snapshot.warning.map { " warning: " + $0 } ?? ""
        style = .warning
      }
    }
    let shown = Format.elide(text, rect.width, ellipsis: state.glyphs.ellipsis)
    screen.write(Format.fit(shown, rect.width), column: rect.left, row: rect.top, style: style)
  }

  /// The keys that matter now; the last items (help and quit) always stay, the others are
  /// dropped from the end when the line is too narrow.
  static func status(_ state: AppState, in rect: Rect, into screen: inout ScreenBuffer) {
    let unicode = state.glyphs.usesBraille
    let pair = unicode ? "" : "/"
    let arrows = Key.left.label(unicode: unicode) + pair + Key.right.label(unicode: unicode)
    let upDown = Key.up.label(unicode: unicode) + pair + Key.down.label(unicode: unicode)
    let items: [String]
    switch state.mode {
    case .help:
      items = ["any key: back"]
    case .epochsPrompt:
      items = ["0-9 epochs", "Backspace erase", "Enter start", "Esc cancel"]
    case .confirmQuit:
      items = ["y quit", "any other key: stay"]
    case .normal where state.isStarting:
      items = ["? help", "q quit"]
    case .normal where state.isFineTuning:
      items = ["x cancel fine-tune", "\(upDown) layer", "h/l histogram", "? help", "q quit"]
    case .normal:
      items = Keymap.bindings.filter(\.isPrimary).map { binding in
        let keys: String
        switch binding.action {
        case .raiseThreshold: keys = arrows
        case .previousLayer: keys = upDown
        default: keys = binding.keys.map { $0.label(unicode: unicode) }.joined(separator: "/")
        }
        return "\(keys) \(binding.shortName)"
      }
    }
    // The bottom-right cell cannot be drawn, and the line starts with a space.
    let kept = fitting(items, width: rect.width - 2)
    let text = " " + kept.joined(separator: "  ")
    screen.write(Format.fit(text, rect.width), column: rect.left, row: rect.top, style: .reverse)
  }

  /// Items dropped, least important first (then those before help and quit), until the rest
  /// fit; the order stays.
  private static func fitting(_ items: [String], width: Int) -> [String] {
    var kept = items
    while kept.count > 1 && kept.joined(separator: "  ").count > width {
      let expendable = dropOrder.lazy.compactMap { word in kept.lastIndex { $0.hasSuffix(" " + word) } }.first
      kept.remove(at: expendable ?? max(0, kept.count - 3))
    }
    return kept
  }

  /// Status items by the word after their key, the first dropped first.
  private static let dropOrder = ["criterion", "scope", "histogram", "erase"]
}

/// The figures of a training run as the progress line writes them.
private struct TrainingProgressView {
  var fraction: Double
  /// (label before the bar, figures after it), from the fullest to the leanest.
  var variants: [(String, String)]

  init(_ progress: TrainingProgress) {
    fraction = progress.fraction
    let epoch = " epoch \(progress.epoch)/\(progress.epochs) "
    let batch = "batch \(progress.batch)/\(progress.batchesPerEpoch) "
    let percent = " \(Int(progress.fraction * 100))%"
    let loss = "  loss " + String(format: "%.4f", progress.loss)
    let speed = "  \(Format.count(Int(progress.samplesPerSecond.rounded()))) samples/s"
    let eta = "  ETA \(Format.duration(progress.remainingSeconds))"
    variants = [
      (epoch + batch, percent + loss + speed + eta),
      (epoch, percent + loss + speed + eta),
      (epoch, percent + loss + eta),
      (epoch, percent + eta),
      (epoch, percent),
      (epoch, ""),
    ]
  }
}
