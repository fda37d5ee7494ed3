/// A key press or mouse click, decoded from the terminal's codes at the edge of the program.
public enum Key: Sendable, Hashable {
  case left, right, up, down
  case shiftLeft, shiftRight
  case pageUp, pageDown
  case enter, escape, backspace
  case character(Character)
  /// A left click at a cell.
  case click(column: Int, row: Int)

  /// How the help screen writes the key.
  public func label(unicode: Bool) -> String {
    switch self {
    case .left: unicode ? "←" : "Left"
    case .right: unicode ? "→" : "Right"
    case .up: unicode ? "↑" : "Up"
    case .down: unicode ? "↓" : "Down"
    case .shiftLeft: unicode ? "⇧←" : "S-Left"
    case .shiftRight: unicode ? "⇧→" : "S-Right"
    case .pageUp: "PgUp"
    case .pageDown: "PgDn"
    case .enter: "Enter"
    case .escape: "Esc"
    case .backspace: "Backspace"
    case .character(let character): String(character)
    case .click: "click"
    }
  }
}

/// What a key does.
public enum Action: Sendable, Equatable {
  case raiseThreshold(coarse: Bool)
  case lowerThreshold(coarse: Bool)
  case previousLayer
  case nextLayer
  case toggleScope
  case cycleCriterion
  case toggleLogCounts
  case toggleAbsolute
  case fineTune
  case cancelFineTune
  case save
  case undo
  case reset
  case exportCurve
  case help
  case quit
}

/// One entry of the keymap: keys, what they do, and the help text.
public struct KeyBinding: Sendable, Equatable {
  public var keys: [Key]
  public var action: Action
  public var summary: String
  /// Shown in the status line (the keys that matter most).
  public var isPrimary: Bool

  /// One word for the status line.
  public var shortName: String {
    switch action {
    case .raiseThreshold, .lowerThreshold: "prune"
    case .previousLayer, .nextLayer: "layer"
    case .toggleScope: "scope"
    case .cycleCriterion: "criterion"
    case .toggleLogCounts: "log"
    case .toggleAbsolute: "|w|"
    case .fineTune: "fine-tune"
    case .cancelFineTune: "cancel"
    case .save: "save"
    case .undo: "undo"
    case .reset: "reset"
    case .exportCurve: "export"
    case .help: "help"
    case .quit: "quit"
    }
  }
}

/// The explorer's keys, as data: the reducer looks actions up here and the help screen is
/// generated from it.
public enum Keymap {
  public static let bindings: [KeyBinding] = [
    KeyBinding(keys: [.right], action: .raiseThreshold(coarse: false), summary: "prune 1% more", isPrimary: true),
    KeyBinding(keys: [.left], action: .lowerThreshold(coarse: false), summary: "prune 1% less", isPrimary: false),
    KeyBinding(
      keys: [.shiftRight, .pageUp], action: .raiseThreshold(coarse: true), summary: "prune 10% more", isPrimary: false),
    KeyBinding(
      keys: [.shiftLeft, .pageDown], action: .lowerThreshold(coarse: true), summary: "prune 10% less", isPrimary: false),
    KeyBinding(keys: [.up], action: .previousLayer, summary: "select the previous layer", isPrimary: true),
    KeyBinding(keys: [.down], action: .nextLayer, summary: "select the next layer", isPrimary: false),
    KeyBinding(keys: [.character("g")], action: .toggleScope, summary: "layer or global scope", isPrimary: true),
    KeyBinding(keys: [.character("c")], action: .cycleCriterion, summary: "next criterion", isPrimary: true),
    KeyBinding(keys: [.character("l")], action: .toggleLogCounts, summary: "log or linear counts", isPrimary: false),
    KeyBinding(keys: [.character("h")], action: .toggleAbsolute, summary: "|w| or signed weights", isPrimary: false),
    KeyBinding(keys: [.character("f")], action: .fineTune, summary: "fine-tune (asks for epochs)", isPrimary: true),
    KeyBinding(keys: [.character("x")], action: .cancelFineTune, summary: "cancel the fine-tune", isPrimary: false),
    KeyBinding(keys: [.character("s")], action: .save, summary: "save a checkpoint", isPrimary: true),
    KeyBinding(keys: [.character("u")], action: .undo, summary: "undo the last prune or fine-tune", isPrimary: false),
    KeyBinding(keys: [.character("r")], action: .reset, summary: "reset to the dense model", isPrimary: false),
    KeyBinding(keys: [.character("e")], action: .exportCurve, summary: "export the curve as CSV", isPrimary: false),
    KeyBinding(keys: [.character("?")], action: .help, summary: "show or hide this help", isPrimary: true),
    KeyBinding(keys: [.character("q")], action: .quit, summary: "quit", isPrimary: true),
  ]

  /// The action bound to a key, if any.
  public static func action(for key: Key) -> Action? {
    bindings.first { $0.keys.contains(key) }?.action
  }
}
