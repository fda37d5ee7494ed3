import Testing
@testable import ExplorerCore
@testable import PruneEngine

/// The reducer, key by key and mode by mode, on the fixture model (targets 50%, 25%, 50%).
struct ReducerTests {
  /// Presses keys in order and returns every effect.
  @discardableResult
  private func press(_ keys: Key..., in state: inout AppState) -> [Effect] {
    keys.flatMap { Reducer.reduce(&state, .key($0)) }
  }

  private func targets(_ values: [Double]) -> [ParameterPath: Double] { [0: values[0], 2: values[1], 4: values[2]] }

  /// A snapshot in global scope with every layer at `target`.
  private func globalSnapshot(_ target: Double) -> SessionSnapshot {
    var snapshot = Fixture.snapshot([target, target, target])
    snapshot.scope = .global
    return snapshot
  }

  // MARK: - The keymap

  @Test func everyKeyOfTheKeymapHasItsAction() {
    for binding in Keymap.bindings {
      for key in binding.keys { #expect(Keymap.action(for: key) == binding.action, "\(key)") }
    }
    let actions: [Action] = [
      .raiseThreshold(coarse: false), .lowerThreshold(coarse: false), .raiseThreshold(coarse: true),
      .lowerThreshold(coarse: true), .previousLayer, .nextLayer, .toggleScope, .cycleCriterion, .toggleLogCounts,
      .toggleAbsolute, .fineTune, .cancelFineTune, .save, .undo, .reset, .exportCurve, .help, .quit,
    ]
    #expect(Keymap.bindings.map(\.action) == actions)
    #expect(Keymap.action(for: .character("z")) == nil)
    #expect(Keymap.action(for: .enter) == nil)
  }

  @Test func aKeyWithoutActionChangesNothingButTheNotice() {
    var state = Fixture.state()
    state.notice = "old"
    var expected = state
    expected.notice = nil
    #expect(press(.character("z"), .enter, .escape, .backspace, in: &state).isEmpty)
    #expect(state == expected)
  }

  // MARK: - Threshold

  @Test func arrowsMoveTheSelectedLayersTargetByFineAndCoarseSteps() {
    let cases: [(Key, Double)] = [
      (.right, 0.51), (.left, 0.49), (.shiftRight, 0.6), (.pageUp, 0.6), (.shiftLeft, 0.4), (.pageDown, 0.4),
    ]
    for (key, target) in cases {
      var state = Fixture.state()
      let effects = press(key, in: &state)
      #expect(effects == [.send(.setTargets(targets([target, 0.25, 0.5])))], "\(key)")
      #expect(state.targets == targets([target, 0.25, 0.5]))
      #expect(state.sentCommands == 1)
      #expect(state.isAwaitingSession)
    }
  }

  @Test func targetsOnScreenChangeOnTheKeyPressItself() {
    var state = Fixture.state()
    press(.right, .right, .right, in: &state)
    #expect(state.targets[0] == 0.53)
    #expect(state.expectedSparsity(of: state.snapshot.layers[0]) == 0.53)
    #expect(state.expectedNonzero(of: state.snapshot.layers[0]) == 141)
    #expect(state.sentCommands == 3)
  }

  @Test func targetsAreClampedToZeroAndOne() {
    var state = Fixture.state(snapshot: Fixture.snapshot([0.95, 0.05, 0.5]))
    #expect(press(.pageUp, in: &state) == [.send(.setTargets(targets([1, 0.05, 0.5])))])
    #expect(press(.right, .pageUp, in: &state).isEmpty)
    #expect(state.notice == nil)
    press(.down, in: &state)
    #expect(press(.pageDown, in: &state) == [.send(.setTargets(targets([1, 0, 0.5])))])
    #expect(press(.left, in: &state).isEmpty)
    #expect(state.notice == nil)
    #expect(state.sentCommands == 2)
  }

  @Test func targetsStopAtWhatWasPrunedBefore() {
    var snapshot = Fixture.snapshot([0.5, 0.25, 0.5])
    // Layer 2 was fine-tuned with 3 of its 12 weights pruned: 25% is as low as it goes.
    snapshot.layers[1].scores = ScoreDistribution(sorted: [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1, 1.1], values: [], prunedCount: 3)
    var state = Fixture.state(snapshot: snapshot)
    press(.down, in: &state)
    #expect(press(.left, in: &state).isEmpty)
    #expect(state.notice == "25.0% was pruned before this session's targets: u undoes, r resets")
    #expect(press(.right, .left, in: &state).count == 2)
    #expect(state.targets[2] == 0.25)
  }

  @Test func globalScopeMovesEveryPrunableLayerTogether() {
    var state = Fixture.state(snapshot: globalSnapshot(0.4))
    #expect(press(.right, in: &state) == [.send(.setTargets(targets([0.41, 0.41, 0.41])))])
    press(.down, .down, in: &state)
    #expect(press(.pageUp, in: &state) == [.send(.setTargets(targets([0.51, 0.51, 0.51])))])
    state = Fixture.state(snapshot: globalSnapshot(0.97))
    #expect(press(.pageUp, in: &state) == [.send(.setTargets(targets([1, 1, 1])))])
    state = Fixture.state(snapshot: globalSnapshot(0.03))
    #expect(press(.shiftLeft, in: &state) == [.send(.setTargets(targets([0, 0, 0])))])
  }

  @Test func aLayerTheCriterionDoesNotPruneKeepsItsTarget() {
    var snapshot = Fixture.snapshot()
    snapshot.criterion = .neuronL2
    snapshot.layers[2].scores = ScoreDistribution(sorted: [], values: [])
    var state = Fixture.state(snapshot: snapshot)
    press(.down, .down, in: &state)
    #expect(press(.right, in: &state).isEmpty)
    #expect(state.notice == "neuron-l2 does not prune 4.weight: its neurons are the classes")
  }

  // MARK: - Selection

  @Test func upAndDownSelectWithinTheLayers() {
    var state = Fixture.state()
    #expect(press(.up, in: &state).isEmpty)
    #expect(state.selectedLayer == 0)
    press(.down, in: &state)
    #expect(state.selectedLayer == 1)
    press(.down, .down, .down, in: &state)
    #expect(state.selectedLayer == 2)
    press(.up, in: &state)
    #expect(state.selectedLayer == 1)
    #expect(state.sentCommands == 0)
  }

  @Test func aClickOnATableRowSelectsItsLayer() {
    var state = Fixture.state()
    // The table starts at row 2 with its header; the layers are on rows 3, 4 and 5.
    press(.click(column: 30, row: 5), in: &state)
    #expect(state.selectedLayer == 2)
    press(.click(column: 0, row: 3), in: &state)
    #expect(state.selectedLayer == 0)
    for row in [0, 2, 6, 12, 23] {
      press(.click(column: 5, row: row), in: &state)
      #expect(state.selectedLayer == 0, "row \(row)")
    }
    var small = Fixture.state(width: 50, height: 15)
    press(.click(column: 5, row: 4), in: &small)
    #expect(small.selectedLayer == 0)
  }

  @Test func theTableScrollsToTheSelectionAndClicksFollowIt() {
    // 60x18 leaves the table 5 rows (a header and 4 layers); with 5 layers it scrolls.
    var snapshot = Fixture.snapshot()
    snapshot.layers += [6, 8].map { Fixture.layer($0, shape: [2, 3], weights: Fixture.weights4, target: 0) }
    var state = Fixture.state(width: 60, height: 18, snapshot: snapshot)
    press(.down, .down, .down, in: &state)
    #expect(state.tableTop == 0)
    press(.down, in: &state)
    #expect(state.selectedLayer == 4)
    #expect(state.tableTop == 1)
    // Row 3 now shows the second layer; selecting it does not scroll the table back.
    press(.click(column: 3, row: 3), in: &state)
    #expect(state.selectedLayer == 1)
    #expect(state.tableTop == 1)
    press(.up, in: &state)
    #expect(state.selectedLayer == 0 && state.tableTop == 0)
    // Growing the terminal shows every layer.
    press(.down, .down, .down, .down, in: &state)
    _ = Reducer.reduce(&state, .resize(width: 80, height: 30))
    #expect(state.tableTop == 0)
  }

  // MARK: - Scope and criterion

  @Test func gToGlobalKeepsTheShareOfUnitsPruned() {
    var state = Fixture.state()
    // 150 + 3 + 3 of 318 weights.
    let global = 156.0 / 318
    let effects = press(.character("g"), in: &state)
    #expect(effects == [.send(.setScope(.global, targets: targets([global, global, global])))])
    #expect(state.scope == .global)
    #expect(state.snapshot.scope == .layer)
    #expect(state.globalPrunedUnits == [0: 155, 2: 1, 4: 0])
    #expect(state.globalPrunedUnits.values.reduce(0, +) == 156)
  }

  @Test func gToLayerKeepsEachLayersSparsity() {
    var state = Fixture.state(snapshot: globalSnapshot(0.5))
    let pruned = state.globalPrunedUnits
    let effects = press(.character("g"), in: &state)
    let expected = targets([Double(pruned[0] ?? 0) / 300, Double(pruned[2] ?? 0) / 12, Double(pruned[4] ?? 0) / 6])
    #expect(effects == [.send(.setScope(.layer, targets: expected))])
    #expect(state.scope == .layer)
    #expect(pruned.values.reduce(0, +) == 159)
  }

  @Test func gRefusesGlobalScopeForCriteriaThatRankWithinALayer() {
    var snapshot = Fixture.snapshot()
    snapshot.criterion = .neuronL2
    var state = Fixture.state(snapshot: snapshot)
    #expect(press(.character("g"), in: &state).isEmpty)
    #expect(
      state.notice == "neuron-l2 ranks within each layer; global scope needs magnitude, random, gradient, taylor, apoz, bn-scale")
    #expect(state.scope == .layer)
  }

  @Test func cCyclesTheCriteriaAndRemembersPressesTheSessionHasNotSeen() {
    var state = Fixture.state()
    #expect(press(.character("c"), in: &state) == [.send(.setCriterion(.random))])
    #expect(press(.character("c"), in: &state) == [.send(.setCriterion(.gradient))])
    #expect(state.criterion == .gradient)
    #expect(state.snapshot.criterion == .magnitude)
    var last = Fixture.snapshot()
    last.criterion = .batchNormScale
    state = Fixture.state(snapshot: last)
    #expect(press(.character("c"), in: &state) == [.send(.setCriterion(.magnitude))])
  }

  @Test func cLeavesGlobalScopeForACriterionThatRanksWithinALayer() {
    var snapshot = globalSnapshot(0.5)
    snapshot.criterion = .taylor
    var state = Fixture.state(snapshot: snapshot)
    let layerTargets = state.snapshot.layers.map { state.expectedSparsity(of: $0) }
    let effects = press(.character("c"), in: &state)
    #expect(effects == [.send(.setScope(.layer, targets: targets(layerTargets))), .send(.setCriterion(.neuronL2))])
    #expect(state.scope == .layer)
    #expect(state.criterion == .neuronL2)
    #expect(state.notice == "neuron-l2 ranks within each layer: scope is now layer")
    #expect(state.sentCommands == 2)
  }

  // MARK: - Histogram toggles

  @Test func lAndHToggleTheHistogram() {
    var state = Fixture.state()
    #expect(press(.character("l"), in: &state).isEmpty)
    #expect(state.logCounts)
    #expect(press(.character("h"), in: &state).isEmpty)
    #expect(!state.histogramAbsolute)
    press(.character("l"), .character("h"), in: &state)
    #expect(!state.logCounts && state.histogramAbsolute)
  }

  // MARK: - Fine-tune

  @Test func fAsksForEpochsAndEnterStartsWithTheDefaultOfOne() {
    var state = Fixture.state()
    #expect(press(.character("f"), in: &state).isEmpty)
    #expect(state.mode == .epochsPrompt(""))
    #expect(press(.enter, in: &state) == [.send(.fineTune(epochs: 1))])
    #expect(state.mode == .normal)
  }

  @Test func theEpochsPromptTakesUpToThreeDigitsAndBackspace() {
    var state = Fixture.state()
    press(.character("f"), .character("1"), .character("x"), .character("2"), in: &state)
    #expect(state.mode == .epochsPrompt("12"))
    press(.backspace, .character("5"), .character("0"), .character("7"), in: &state)
    #expect(state.mode == .epochsPrompt("150"))
    press(.backspace, .backspace, .backspace, .backspace, in: &state)
    #expect(state.mode == .epochsPrompt(""))
    press(.character("3"), .right, .character("q"), in: &state)
    #expect(state.mode == .epochsPrompt("3"))
    #expect(press(.enter, in: &state) == [.send(.fineTune(epochs: 3))])
    #expect(state.sentCommands == 1)
  }

  @Test func zeroEpochsAndEscStartNothing() {
    var state = Fixture.state()
    #expect(press(.character("f"), .character("0"), .enter, in: &state).isEmpty)
    #expect(state.notice == "fine-tune needs at least 1 epoch")
    #expect(state.mode == .normal)
    #expect(press(.character("f"), .character("4"), .escape, in: &state).isEmpty)
    #expect(state.mode == .normal)
    #expect(state.sentCommands == 0)
  }

  @Test func xCancelsOnlyWhileFineTuning() {
    var state = Fixture.state()
    #expect(press(.character("x"), in: &state).isEmpty)
    #expect(state.notice == "no fine-tune is running")
    var training = Fixture.snapshot()
    training.phase = .fineTuning(Fixture.progress)
    state = Fixture.state(snapshot: training)
    #expect(press(.character("x"), in: &state) == [.send(.cancel)])
    // The session does not count a cancel as a command it handles in turn.
    #expect(state.sentCommands == 0)
  }

  @Test func whileFineTuningOnlyViewKeysWork() {
    var training = Fixture.snapshot()
    training.phase = .fineTuning(Fixture.progress)
    let blocked: [Key] = [.right, .left, .pageUp, .shiftLeft, .character("g"), .character("c"), .character("f"), .character("u"), .character("r")]
    for key in blocked {
      var state = Fixture.state(snapshot: training)
      #expect(press(key, in: &state).isEmpty, "\(key)")
      #expect(state.notice == "a fine-tune is running: wait for it or press x to cancel")
      #expect(state.mode == .normal)
      #expect(state.targets == targets([0.5, 0.25, 0.5]))
    }
    var state = Fixture.state(snapshot: training)
    press(.down, .character("l"), .character("h"), in: &state)
    #expect(state.selectedLayer == 1 && state.logCounts && !state.histogramAbsolute)
    #expect(press(.character("s"), in: &state) == [.send(.save)])
    #expect(state.notice == "the checkpoint is saved when the fine-tune ends")
    #expect(press(.character("e"), in: &state) == [.send(.exportCurve)])
  }

  @Test func whileStartingOnlyHelpAndQuitWork() {
    var state = AppState(width: 80, height: 24)
    for key: Key in [.right, .down, .character("g"), .character("c"), .character("f"), .character("s"), .character("u")] {
      #expect(press(key, in: &state).isEmpty, "\(key)")
      #expect(state.notice == "wait for the model to load")
    }
    press(.character("?"), in: &state)
    #expect(state.mode == .help)
    press(.character("x"), in: &state)
    #expect(press(.character("q"), in: &state) == [.quit])
    #expect(state.shouldQuit)
  }

  // MARK: - Save, undo, reset, export

  @Test func sUREAreSentToTheSession() {
    var state = Fixture.state()
    #expect(press(.character("s"), in: &state) == [.send(.save)])
    #expect(press(.character("u"), in: &state) == [.send(.undo)])
    #expect(press(.character("r"), in: &state) == [.send(.reset)])
    #expect(press(.character("e"), in: &state) == [.send(.exportCurve)])
    #expect(state.sentCommands == 4)
    #expect(state.notice == nil)
  }

  @Test func uWithNothingToUndoSaysSo() {
    var snapshot = Fixture.snapshot()
    snapshot.canUndo = false
    var state = Fixture.state(snapshot: snapshot)
    #expect(press(.character("u"), in: &state).isEmpty)
    #expect(state.notice == "nothing to undo")
    // A change on its way can be undone once it arrives.
    press(.right, in: &state)
    #expect(press(.character("u"), in: &state) == [.send(.undo)])
  }

  // MARK: - Help and quit

  @Test func questionMarkShowsHelpAndAnyKeyLeavesIt() {
    for key: Key in [.character("?"), .character("q"), .right, .escape, .click(column: 1, row: 4)] {
      var state = Fixture.state()
      press(.character("?"), in: &state)
      #expect(state.mode == .help)
      #expect(press(key, in: &state).isEmpty, "\(key)")
      #expect(state.mode == .normal)
      #expect(!state.shouldQuit)
      #expect(state.targets == targets([0.5, 0.25, 0.5]))
    }
  }

  @Test func qQuitsAtOnceWithoutUnsavedChanges() {
    var snapshot = Fixture.snapshot()
    snapshot.hasUnsavedChanges = false
    var state = Fixture.state(snapshot: snapshot)
    #expect(press(.character("q"), in: &state) == [.quit])
    #expect(state.shouldQuit)
  }

  /// A change sent a moment ago is not in the snapshot yet: quitting then asks too, or it would
  /// be lost without a word.
  @Test func qAsksFirstWhileAChangeIsOnItsWay() {
    var snapshot = Fixture.snapshot()
    snapshot.hasUnsavedChanges = false
    var state = Fixture.state(snapshot: snapshot)
    press(.right, in: &state)
    #expect(press(.character("q"), in: &state).isEmpty)
    #expect(state.mode == .confirmQuit && !state.shouldQuit)
  }

  @Test func qAsksFirstWithUnsavedChanges() {
    var state = Fixture.state()
    #expect(press(.character("q"), in: &state).isEmpty)
    #expect(state.mode == .confirmQuit)
    #expect(press(.character("n"), in: &state).isEmpty)
    #expect(state.mode == .normal && !state.shouldQuit)
    #expect(state.notice == "not quitting")
    press(.character("q"), .right, in: &state)
    #expect(state.mode == .normal && !state.shouldQuit)
    #expect(state.targets[0] == 0.5)
    press(.character("q"), in: &state)
    #expect(press(.character("y"), in: &state) == [.quit])
    #expect(state.shouldQuit)
  }

  // MARK: - Resize and snapshots

  @Test func resizeChangesOnlyTheSize() {
    var state = Fixture.state()
    var expected = state
    expected.width = 60
    expected.height = 20
    #expect(Reducer.reduce(&state, .resize(width: 60, height: 20)).isEmpty)
    #expect(state == expected)
  }

  @Test func theUsersTargetsStayUntilTheSessionHasHandledEveryCommand() {
    var state = Fixture.state()
    press(.right, .right, in: &state)
    #expect(state.sentCommands == 2)
    // The session has pruned for the first key only: the screen keeps the newer target.
    _ = Reducer.reduce(&state, .snapshot(Fixture.snapshot([0.51, 0.25, 0.5], handled: 1)))
    #expect(state.targets == targets([0.52, 0.25, 0.5]))
    #expect(state.snapshot.layers[0].target == 0.51)
    #expect(state.isAwaitingSession)
    _ = Reducer.reduce(&state, .snapshot(Fixture.snapshot([0.52, 0.25, 0.5], handled: 2)))
    #expect(state.targets == targets([0.52, 0.25, 0.5]))
    #expect(!state.isAwaitingSession)
  }

  @Test func theSessionsSettingsWinOnceItHasCaughtUp() {
    // After an undo (or an error) the session's targets, criterion and scope differ from what
    // the screen asked for; they are adopted when the command has been handled.
    var state = Fixture.state()
    press(.right, .character("c"), .character("g"), in: &state)
    #expect(state.criterion == .random && state.scope == .global)
    var undone = Fixture.snapshot([0.3, 0.3, 0.3], handled: 3)
    undone.criterion = .magnitude
    _ = Reducer.reduce(&state, .snapshot(undone))
    #expect(state.targets == targets([0.3, 0.3, 0.3]))
    #expect(state.criterion == .magnitude && state.scope == .layer)
  }

  @Test func theSelectionStaysWithinFewerLayers() {
    var state = Fixture.state()
    press(.down, .down, in: &state)
    var smaller = Fixture.snapshot()
    smaller.layers.removeLast()
    _ = Reducer.reduce(&state, .snapshot(smaller))
    #expect(state.selectedLayer == 1)
    _ = Reducer.reduce(&state, .snapshot(SessionSnapshot()))
    #expect(state.selectedLayer == 0)
    #expect(state.selected == nil)
  }

  @Test func aNoticeLastsUntilTheNextKey() {
    var state = Fixture.state()
    press(.character("x"), in: &state)
    #expect(state.notice != nil)
    _ = Reducer.reduce(&state, .snapshot(Fixture.snapshot()))
    #expect(state.notice != nil)
    press(.down, in: &state)
    #expect(state.notice == nil)
  }
}
