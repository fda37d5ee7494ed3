import PruneEngine

/// Something that happened: a key, a new snapshot, a new terminal size.
public enum AppEvent: Sendable, Equatable {
  case key(Key)
  case snapshot(SessionSnapshot)
  case resize(width: Int, height: Int)
}

/// Something the loop must do besides redrawing.
public enum Effect: Sendable, Equatable {
  case send(SessionCommand)
  case quit
}

/// The explorer's state machine: events in, new state and effects out. Pure, so every key is
/// tested without a terminal or a session.
public enum Reducer {
  /// Sparsity moved by one fine and one coarse threshold step.
  public static let fineStep = 0.01
  public static let coarseStep = 0.10
  /// The order `c` cycles through.
  public static let criteria: [Criterion] = Criterion.allCases

  /// Applies one event to `state`.
  /// - Returns: the commands for the session (in order) and whether to quit.
  public static func reduce(_ state: inout AppState, _ event: AppEvent) -> [Effect] {
    var effects: [Effect] = []
    switch event {
    case .resize(let width, let height):
      state.width = width
      state.height = height
    case .snapshot(let snapshot):
      adopt(snapshot, into: &state)
    case .key(let key):
      state.notice = nil
      effects = handle(key, in: &state)
      state.sentCommands += effects.filter { $0 != .quit && $0 != .send(.cancel) }.count
    }
    state.tableTop = LayerTablePanel.firstVisible(state)
    return effects
  }

  /// Takes a new snapshot; the session's targets, criterion and scope replace the user's once
  /// it has handled every command sent (until then the user's are newer).
  private static func adopt(_ snapshot: SessionSnapshot, into state: inout AppState) {
    state.snapshot = snapshot
    if snapshot.handledCommands >= state.sentCommands {
      state.targets = Dictionary(snapshot.layers.map { ($0.path, $0.target) }, uniquingKeysWith: { first, _ in first })
      state.criterion = snapshot.criterion
      state.scope = snapshot.scope
    }
    state.selectedLayer = min(state.selectedLayer, max(0, snapshot.layers.count - 1))
  }

  // MARK: - Keys

  private static func handle(_ key: Key, in state: inout AppState) -> [Effect] {
    switch state.mode {
    case .help:
      state.mode = .normal
      return []
    case .epochsPrompt(let text):
      return prompt(key, typed: text, in: &state)
    case .confirmQuit:
      state.mode = .normal
      if key == .character("y") || key == .character("Y") {
        state.shouldQuit = true
        return [.quit]
      }
      state.notice = "not quitting"
      return []
    case .normal:
      if case .click(_, let row) = key { return click(row: row, in: &state) }
      guard let action = Keymap.action(for: key) else { return [] }
      return perform(action, in: &state)
    }
  }

  /// Keys while typing the number of epochs: digits (up to three), Backspace, Enter, Esc.
  private static func prompt(_ key: Key, typed text: String, in state: inout AppState) -> [Effect] {
    switch key {
    case .character(let character) where character.isASCII && character.isNumber && text.count < 3:
      state.mode = .epochsPrompt(text + String(character))
    case .backspace:
      state.mode = .epochsPrompt(String(text.dropLast()))
    case .enter:
      state.mode = .normal
      let epochs = text.isEmpty ? 1 : Int(text) ?? 0
      guard epochs > 0 else {
        state.notice = "fine-tune needs at least 1 epoch"
        return []
      }
      guard !blockedByFineTune(&state) else { return [] }
      return [.send(.fineTune(epochs: epochs))]
    case .escape:
      state.mode = .normal
    default:
      break
    }
    return []
  }

  private static func perform(_ action: Action, in state: inout AppState) -> [Effect] {
    if state.isStarting && action != .quit && action != .help {
      state.notice = "wait for the model to load"
      return []
    }
    switch action {
    case .raiseThreshold(let coarse):
      return moveThreshold(by: coarse ? coarseStep : fineStep, in: &state)
    case .lowerThreshold(let coarse):
      return moveThreshold(by: -(coarse ? coarseStep : fineStep), in: &state)
    case .previousLayer:
      state.selectedLayer = max(0, state.selectedLayer - 1)
    case .nextLayer:
      state.selectedLayer = min(max(0, state.snapshot.layers.count - 1), state.selectedLayer + 1)
    case .toggleScope:
      guard !blockedByFineTune(&state) else { return [] }
      return toggleScope(in: &state)
    case .cycleCriterion:
      guard !blockedByFineTune(&state) else { return [] }
      return cycleCriterion(in: &state)
    case .toggleLogCounts:
      state.logCounts.toggle()
    case .toggleAbsolute:
      state.histogramAbsolute.toggle()
    case .fineTune:
      guard !blockedByFineTune(&state) else { return [] }
      state.mode = .epochsPrompt("")
    case .cancelFineTune:
      guard state.isFineTuning else {
        state.notice = "no fine-tune is running"
        return []
      }
      return [.send(.cancel)]
    case .save:
      if state.isFineTuning { state.notice = "the checkpoint is saved when the fine-tune ends" }
      return [.send(.save)]
    case .undo:
      guard !blockedByFineTune(&state) else { return [] }
      guard state.snapshot.canUndo || state.isAwaitingSession else {
        state.notice = "nothing to undo"
        return []
      }
      return [.send(.undo)]
    case .reset:
      guard !blockedByFineTune(&state) else { return [] }
      return [.send(.reset)]
    case .exportCurve:
      return [.send(.exportCurve)]
    case .help:
      state.mode = .help
    case .quit:
      // A command the session has not handled yet may be a change (or a save): ask as well.
      if state.snapshot.hasUnsavedChanges || state.isAwaitingSession {
        state.mode = .confirmQuit
        return []
      }
      state.shouldQuit = true
      return [.quit]
    }
    return []
  }

  private static func blockedByFineTune(_ state: inout AppState) -> Bool {
    guard state.isFineTuning else { return false }
    state.notice = "a fine-tune is running: wait for it or press x to cancel"
    return true
  }

  // MARK: - Threshold, scope and criterion

  /// A sparsity moved by `step`, kept on the grid of fine steps and within `floor...1`.
  static func moved(_ value: Double, by step: Double, floor: Double) -> Double {
    min(1, max(floor, ((value + step) * 100).rounded() / 100))
  }

  /// Moves the selected layer's target (layer scope) or every prunable layer's (global scope).
  private static func moveThreshold(by step: Double, in state: inout AppState) -> [Effect] {
    guard !blockedByFineTune(&state), let selected = state.selected else { return [] }
    var targets = state.targets
    let floor: Double
    let old: Double
    switch state.scope {
    case .layer, .row:
      guard selected.isPrunable else {
        state.notice = "\(state.criterion.rawValue) does not prune \(selected.name): its neurons are the classes"
        return []
      }
      floor = selected.scores.floor
      old = state.target(of: selected)
      targets[selected.path] = moved(old, by: step, floor: floor)
    case .global:
      floor = state.snapshot.globalScores?.floor ?? 0
      old = state.globalTarget
      let global = moved(old, by: step, floor: floor)
      for layer in state.snapshot.layers where layer.isPrunable { targets[layer.path] = global }
    }
    guard targets != state.targets else {
      if step < 0 && floor > 0 && old <= floor + 1e-9 {
        state.notice = "\(Format.percent(floor)) was pruned before this session's targets: u undoes, r resets"
      }
      return []
    }
    state.targets = targets
    return [.send(.setTargets(targets))]
  }

  /// Switches between layer and global scope keeping what is pruned: the global target is the
  /// share of units pruned now, and back in layer scope each layer keeps its sparsity.
  private static func toggleScope(in state: inout AppState) -> [Effect] {
    let granularity = state.criterion.defaultGranularity
    var targets = state.targets
    switch state.scope {
    case .layer:
      guard state.criterion.supportsGlobalScope(granularity) else {
        let global = criteria.filter { $0.supportsGlobalScope($0.defaultGranularity) }.map(\.rawValue)
        state.notice =
          "\(state.criterion.rawValue) ranks within each layer; global scope needs "
          + global.joined(separator: ", ")
        return []
      }
      let global = state.expectedUnitSparsity
      for layer in state.snapshot.layers where layer.isPrunable { targets[layer.path] = global }
      state.scope = .global
    case .global, .row:
      targets = layerTargets(state)
      state.scope = .layer
    }
    state.targets = targets
    return [.send(.setScope(state.scope, targets: targets))]
  }

  /// Each prunable layer's sparsity on screen, as layer-scope targets.
  private static func layerTargets(_ state: AppState) -> [ParameterPath: Double] {
    var targets = state.targets
    for layer in state.snapshot.layers where layer.isPrunable { targets[layer.path] = state.expectedSparsity(of: layer) }
    return targets
  }

  /// The next criterion; leaves global scope first when it cannot rank layers together.
  private static func cycleCriterion(in state: inout AppState) -> [Effect] {
    let position = criteria.firstIndex(of: state.criterion) ?? 0
    let next = criteria[(position + 1) % criteria.count]
    var effects: [Effect] = []
    if state.scope == .global && !next.supportsGlobalScope(next.defaultGranularity) {
      state.targets = layerTargets(state)
      state.scope = .layer
      effects.append(.send(.setScope(.layer, targets: state.targets)))
      state.notice = "\(next.rawValue) ranks within each layer: scope is now layer"
    }
    state.criterion = next
    effects.append(.send(.setCriterion(next)))
    return effects
  }

  // MARK: - Mouse

  private static func click(row: Int, in state: inout AppState) -> [Effect] {
    let layout = Layout(width: state.width, height: state.height, layerCount: state.snapshot.layers.count)
    guard !layout.isTooSmall, let position = LayerTablePanel.layerPosition(atRow: row, in: layout.table, state) else {
      return []
    }
    state.selectedLayer = position
    return []
  }
}
