import PruneEngine

/// The explorer's state on the UI thread: the latest session snapshot plus what only the screen
/// knows (selection, display toggles, prompts, the size of the terminal).
public struct AppState: Sendable, Equatable {
  /// What the keyboard is talking to.
  public enum Mode: Sendable, Equatable {
    case normal
    case help
    /// Typing the number of fine-tune epochs.
    case epochsPrompt(String)
    /// Asked before quitting with unsaved changes.
    case confirmQuit
  }

  public var snapshot = SessionSnapshot()
  public var width: Int
  public var height: Int
  public var mode = Mode.normal
  /// Position in `snapshot.layers` of the selected layer.
  public var selectedLayer = 0
  /// Target sparsity per layer position as the user set it; shown at once.
  public var targets: [Int: Double] = [:]
  /// Targets sent to the session and not yet reflected in a snapshot.
  public var awaitingTargets: [Int: Double]?
  public var histogramAbsolute = true
  public var logCounts = false
  /// A note from the UI itself (not the session), cleared by the next key.
  public var notice: String?
  public var glyphs: Glyphs
  public var shouldQuit = false

  public init(width: Int, height: Int, glyphs: Glyphs = .unicode) {
    self.width = width
    self.height = height
    self.glyphs = glyphs
  }

  /// Target of a layer: the user's, else the session's.
  public func target(of layer: LayerView) -> Double { targets[layer.index] ?? layer.target }

  public var selected: LayerView? {
    snapshot.layers.indices.contains(selectedLayer) ? snapshot.layers[selectedLayer] : nil
  }

  public var isFineTuning: Bool {
    if case .fineTuning = snapshot.phase { return true }
    return false
  }

  public var isStarting: Bool {
    if case .starting = snapshot.phase { return true }
    return snapshot.layers.isEmpty
  }
}

/// Characters for bars, plots and arrows, with an ASCII set for terminals without UTF-8.
public struct Glyphs: Sendable, Equatable {
  /// Eighths of a cell, from empty to full.
  public var levels: [Character]
  public var full: Character
  public var empty: Character
  public var marker: Character
  public var arrow: String
  public var usesBraille: Bool

  public static let unicode = Glyphs(
    levels: [" ", "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"], full: "█", empty: "░", marker: "│", arrow: "→",
    usesBraille: true)
  public static let ascii = Glyphs(
    levels: [" ", ".", ".", "-", "-", "=", "=", "#", "#"], full: "#", empty: "-", marker: "|", arrow: "->",
    usesBraille: false)
}
