import PruneEngine

/// The explorer's state on the UI thread: the latest session snapshot plus what only the screen
/// knows (selection, display toggles, prompts, the size of the terminal) and the settings the
/// user asked for that the session has not caught up with yet.
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
  /// Position of the first layer the table shows when it scrolls.
  public var tableTop = 0
  /// Target sparsity per layer position as the user set it; shown at once, before the session
  /// has pruned.
  public var targets: [ParameterPath: Double] = [:]
  /// The criterion as the user chose it (the snapshot's until a `c` press is handled).
  public var criterion: Criterion = .magnitude
  /// The scope as the user chose it.
  public var scope: PruningScope = .layer
  /// Commands sent to the session (`.cancel` not counted); while the snapshot has handled fewer,
  /// `targets`, `criterion` and `scope` are the user's, not the snapshot's.
  public var sentCommands = 0
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

  // MARK: - Derived values

  public var selected: LayerView? {
    snapshot.layers.indices.contains(selectedLayer) ? snapshot.layers[selectedLayer] : nil
  }

  /// Whether commands sent are still on their way through the session.
  public var isAwaitingSession: Bool { snapshot.handledCommands < sentCommands }

  public var isFineTuning: Bool {
    if case .fineTuning = snapshot.phase { return true }
    return false
  }

  /// True until there is a model to prune (loading, or training the baseline).
  public var isStarting: Bool {
    switch snapshot.phase {
    case .starting, .trainingBaseline: return true
    case .idle, .evaluating, .fineTuning: return snapshot.layers.isEmpty
    }
  }

  /// Target of a layer: the user's, else the session's.
  public func target(of layer: LayerView) -> Double { targets[layer.path] ?? layer.target }

  /// The one target of global scope: the largest target of a prunable layer (they are equal
  /// once set in global scope).
  public var globalTarget: Double {
    snapshot.layers.filter(\.isPrunable).map { target(of: $0) }.max() ?? 0
  }

  /// The global cut, when the scope is global and the criterion ranks layers together.
  public var globalCut: Float? {
    guard scope == .global, let global = snapshot.globalScores else { return nil }
    return global.cut(at: globalTarget)
  }

  /// The score below which a layer's units are pruned for the targets on screen, or `nil` when
  /// nothing new is pruned.
  public func cut(of layer: LayerView) -> Float? {
    guard layer.isPrunable else { return nil }
    if scope == .global, snapshot.globalScores != nil { return globalCut }
    return layer.scores.cut(at: target(of: layer))
  }

  /// The sparsity (of units) a layer will have for the targets on screen: the target in layer
  /// scope, the share under the global cut in global scope, the weights' sparsity when the
  /// criterion does not prune the layer.
  public func expectedSparsity(of layer: LayerView) -> Double {
    guard layer.isPrunable else { return layer.sparsity }
    return Double(expectedPrunedUnits(of: layer)) / Double(layer.scores.unitCount)
  }

  /// The units (weights or rows) of a prunable layer that the targets on screen prune, those
  /// pruned before included.
  func expectedPrunedUnits(of layer: LayerView) -> Int {
    if scope == .global, snapshot.globalScores != nil {
      return globalPrunedUnits[layer.path] ?? layer.scores.prunedCount
    }
    return layer.scores.prunedCount + layer.scores.newlyPruned(at: target(of: layer))
  }

  /// Rows (neurons or filters) of a layer that keep a weight: for a layer the criterion prunes
  /// by rows, those its targets on screen leave; otherwise the session's count.
  public func expectedKeptRows(of layer: LayerView) -> Int {
    guard layer.isPrunable, layer.granularity == .neuron else { return layer.keptRows }
    return layer.scores.unitCount - expectedPrunedUnits(of: layer)
  }

  /// The units each prunable layer has pruned under the global target, as the engine selects
  /// them: every kept unit scoring below the cut, then the units tied at the cut, lowest layer
  /// first, until the count is reached.
  public var globalPrunedUnits: [ParameterPath: Int] {
    guard scope == .global, let global = snapshot.globalScores else { return [:] }
    let layers = snapshot.layers.filter(\.isPrunable)
    var units = Dictionary(layers.map { ($0.path, $0.scores.prunedCount) }, uniquingKeysWith: { first, _ in first })
    let count = global.newlyPruned(at: globalTarget)
    guard count > 0 else { return units }
    let cut = global.sorted[count - 1]
    var remaining = count - layers.reduce(0) { $0 + $1.scores.countBelow(cut) }
    for layer in layers {
      let tied = min(layer.scores.equalCount(cut), max(0, remaining))
      remaining -= tied
      units[layer.path, default: 0] += layer.scores.countBelow(cut) + tied
    }
    return units
  }

  /// Nonzero weights of a layer: the session's count once it has pruned to the targets on
  /// screen, estimated from the expected sparsity until then.
  public func expectedNonzero(of layer: LayerView) -> Int {
    let isCurrent =
      target(of: layer) == layer.target && scope == snapshot.scope && criterion == snapshot.criterion
    guard layer.isPrunable, !isCurrent else { return layer.nonzero }
    return Int(((1 - expectedSparsity(of: layer)) * Double(layer.parameters)).rounded())
  }

  /// Units tied at a layer's cut (some pruned, some kept).
  public func ties(of layer: LayerView) -> Int {
    guard layer.isPrunable else { return 0 }
    if scope == .global, let global = snapshot.globalScores {
      guard global.ties(at: globalTarget) > 0, let cut = globalCut else { return 0 }
      return layer.scores.equalCount(cut)
    }
    return layer.scores.ties(at: target(of: layer))
  }

  /// The share of all prunable units that the targets on screen prune (the global target that
  /// keeps the same amount pruned).
  public var expectedUnitSparsity: Double {
    var pruned = 0.0
    var total = 0
    for layer in snapshot.layers where layer.isPrunable {
      pruned += expectedSparsity(of: layer) * Double(layer.scores.unitCount)
      total += layer.scores.unitCount
    }
    return total == 0 ? 0 : pruned / Double(total)
  }
}

/// Characters for bars, plots and arrows, with an ASCII set for terminals without UTF-8.
public struct Glyphs: Sendable, Equatable {
  /// Eighths of a cell, from empty to full.
  public var levels: [Character]
  public var full: Character
  public var empty: Character
  public var marker: Character
  /// Under the histogram, pointing up at the cut.
  public var cutMarker: Character
  public var arrow: String
  public var ellipsis: String
  public var usesBraille: Bool

  public static let unicode = Glyphs(
    levels: [" ", "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"], full: "█", empty: "░", marker: "│", cutMarker: "▲",
    arrow: "→", ellipsis: "…", usesBraille: true)
  public static let ascii = Glyphs(
    levels: [" ", ".", ".", "-", "-", "=", "=", "#", "#"], full: "#", empty: "-", marker: "|", cutMarker: "^",
    arrow: "->", ellipsis: "...", usesBraille: false)
}
