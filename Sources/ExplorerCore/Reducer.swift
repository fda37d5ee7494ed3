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

  public static func reduce(_ state: inout AppState, _ event: AppEvent) -> [Effect] {
    switch event {
    case .resize(let width, let height):
      state.width = width
      state.height = height
      return []
    case .snapshot(let snapshot):
      adopt(snapshot, into: &state)
      return []
    case .key(let key):
      state.notice = nil
      return handle(key, in: &state)
    }
  }

  private static func adopt(_ snapshot: SessionSnapshot, into state: inout AppState) {
    state.snapshot = snapshot
    let sessionTargets = Dictionary(uniqueKeysWithValues: snapshot.layers.map { ($0.index, $0.target) })
    if state.awaitingTargets == nil || state.awaitingTargets == sessionTargets {
      state.targets = sessionTargets
      state.awaitingTargets = nil
    }
    state.selectedLayer = min(state.selectedLayer, max(0, snapshot.layers.count - 1))
  }

  private static func handle(_ key: Key, in state: inout AppState) -> [Effect] {
    switch state.mode {
    case .help:
      state.mode = .normal
      return []
    case .epochsPrompt(let text):
      switch key {
      case .character(let character) where character.isASCII && character.isNumber && text.count < 3:
        state.mode = .epochsPrompt(text + String(character))
      case .backspace:
        state.mode = .epochsPrompt(String(text.dropLast()))
      case .enter:
        state.mode = .normal
        let epochs = Int(text) ?? 1
        guard epochs > 0 else {
          state.notice = "fine-tune needs at least 1 epoch"
          return []
        }
        return [.send(.fineTune(epochs: epochs))]
      case .escape:
        state.mode = .normal
      default:
        break
      }
      return []
    case .confirmQuit:
      state.mode = .normal
      if key == .character("y") {
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
      return [.send(.setScope(state.snapshot.scope == .layer ? .global : .layer))]
    case .cycleCriterion:
      guard !blockedByFineTune(&state) else { return [] }
      let position = criteria.firstIndex(of: state.snapshot.criterion) ?? 0
      return [.send(.setCriterion(criteria[(position + 1) % criteria.count]))]
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
      return [.send(.save)]
    case .undo:
      guard !blockedByFineTune(&state) else { return [] }
      state.awaitingTargets = nil
      return [.send(.undo)]
    case .reset:
      guard !blockedByFineTune(&state) else { return [] }
      state.awaitingTargets = nil
      return [.send(.reset)]
    case .exportCurve:
      return [.send(.exportCurve)]
    case .help:
      state.mode = .help
    case .quit:
      if state.snapshot.hasUnsavedChanges {
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

  /// Moves the selected layer's target (layer scope) or every layer's (global scope).
  private static func moveThreshold(by step: Double, in state: inout AppState) -> [Effect] {
    guard !blockedByFineTune(&state), let selected = state.selected else { return [] }
    func moved(_ value: Double) -> Double { min(1, max(0, ((value + step) * 100).rounded() / 100)) }
    var targets = state.targets
    switch state.snapshot.scope {
    case .layer:
      targets[selected.index] = moved(state.target(of: selected))
    case .global:
      let global = moved(state.snapshot.layers.map { state.target(of: $0) }.max() ?? 0)
      for layer in state.snapshot.layers { targets[layer.index] = global }
    }
    guard targets != state.targets else { return [] }
    state.targets = targets
    state.awaitingTargets = targets
    return [.send(.setTargets(targets))]
  }

  private static func click(row: Int, in state: inout AppState) -> [Effect] {
    let layout = Layout(width: state.width, height: state.height)
    let position = row - layout.table.top - 1
    if position >= 0 && position < state.snapshot.layers.count { state.selectedLayer = position }
    return []
  }
}
