import Testing
@testable import ExplorerCore
@testable import PruneEngine

/// The one-line panels: header, settings, progress, message and status, and the help's lines.
struct ChromePanelTests {
  private func line(_ panel: (AppState, Rect, inout ScreenBuffer) -> Void, _ state: AppState, width: Int = 80) -> String {
    render(panel, state, width: width, height: 1).description
  }

  private func state(_ change: (inout AppState) -> Void) -> AppState {
    var state = Fixture.state()
    change(&state)
    return state
  }

  // MARK: - Header and settings

  @Test func theHeaderShortensTheDataFolderFirst() {
    var snapshot = Fixture.snapshot()
    snapshot.modelDescription = "baseline mlp:784-300-100-10"
    snapshot.dataDescription = "/usr/share/datasets/fashion-mnist (system)"
    let state = Fixture.state(snapshot: snapshot)
    #expect(
      line(ChromePanels.header, state, width: 110)
        == " shears  model: baseline mlp:784-300-100-10  data: /usr/share/datasets/fashion-mnist (system)  [unsaved]")
    #expect(
      line(ChromePanels.header, state, width: 90)
        == " shears  model: baseline mlp:784-300-100-10  data: …/fashion-mnist (system)  [unsaved]")
    #expect(line(ChromePanels.header, state) == " shears  baseline mlp:784-300-100-10  …/fashion-mnist (system)  [unsaved]")
    #expect(line(ChromePanels.header, state, width: 66) == " baseline mlp:784-300-100-10  …/fashion-mnist (system)  [unsaved]")
    #expect(line(ChromePanels.header, state, width: 60) == " baseline mlp:784-3…-10  …/fashion-mnist (system)  [unsaved]")
    var saved = snapshot
    saved.hasUnsavedChanges = false
    #expect(
      line(ChromePanels.header, Fixture.state(snapshot: saved))
        == " shears  model: baseline mlp:784-300-100-10  data: …/fashion-mnist (system)")
    #expect(line(ChromePanels.header, AppState(width: 80, height: 24)) == " shears")
  }

  @Test func theSettingsLineShowsWhatTheUserChose() {
    #expect(
      line(ChromePanels.settings, Fixture.state())
        == " criterion magnitude (weights)   scope layer   histogram |w| linear")
    let chosen = state {
      _ = Reducer.reduce(&$0, .key(.character("c")))
      _ = Reducer.reduce(&$0, .key(.character("l")))
    }
    #expect(line(ChromePanels.settings, chosen) == " criterion random (weights)   scope layer   histogram scores log")
    let neurons = state { $0.criterion = .activation; $0.scope = .layer }
    #expect(line(ChromePanels.settings, neurons, width: 64) == " criterion activation (neurons)  scope layer  hist scores linear")
    #expect(line(ChromePanels.settings, neurons, width: 60) == " activation (neurons)  layer scope  scores linear")
    let signed = state { $0.histogramAbsolute = false; $0.scope = .global }
    #expect(line(ChromePanels.settings, signed, width: 50) == " magnitude (weights)  global scope  signed linear")
  }

  /// A row criterion on a convolutional network names what it prunes: filters, and neurons of
  /// the hidden Linear layers (not the output layer's, which are the classes).
  @Test func theSettingsLineNamesFiltersForAConvolutionalNetwork() {
    let lenet = Fixture.state(snapshot: ConvFixture.filters())
    #expect(line(ChromePanels.settings, lenet) == " criterion neuron-l2 (filters, neurons)   scope layer   histogram scores linear")
    var convolutionsOnly = ConvFixture.filters()
    convolutionsOnly.layers.remove(at: 2)
    #expect(
      line(ChromePanels.settings, Fixture.state(snapshot: convolutionsOnly))
        == " criterion neuron-l2 (filters)   scope layer   histogram scores linear")
    #expect(
      line(ChromePanels.settings, Fixture.state(snapshot: ConvFixture.magnitude()))
        == " criterion magnitude (weights)   scope layer   histogram |w| linear")
  }

  // MARK: - Progress

  @Test func theProgressLineWhileTraining() {
    var snapshot = Fixture.snapshot()
    snapshot.phase = .fineTuning(Fixture.progress)
    let state = Fixture.state(snapshot: snapshot)
    #expect(
      line(ChromePanels.progress, state)
        == " epoch 2/3 batch 50/100 [██████░░░░░░] 50%  loss 0.4321  12k samples/s  ETA 0:30")
    #expect(line(ChromePanels.progress, state, width: 100) == " epoch 2/3 batch 50/100 [████████████████░░░░░░░░░░░░░░░░] 50%  loss 0.4321  12k samples/s  ETA 0:30")
    #expect(line(ChromePanels.progress, state, width: 60) == " epoch 2/3 [██████████░░░░░░░░░░] 50%  loss 0.4321  ETA 0:30")
    #expect(line(ChromePanels.progress, state, width: 40) == " epoch 2/3 [██████░░░░░░░] 50%  ETA 0:30")
    snapshot.phase = .trainingBaseline(Fixture.progress)
    #expect(line(ChromePanels.progress, Fixture.state(snapshot: snapshot)) == line(ChromePanels.progress, state))
    #expect(
      line(ChromePanels.progress, Fixture.state(snapshot: snapshot, glyphs: .ascii))
        == " epoch 2/3 batch 50/100 [######------] 50%  loss 0.4321  12k samples/s  ETA 0:30")
  }

  @Test func theProgressLineOtherwise() {
    #expect(line(ChromePanels.progress, Fixture.state()) == "")
    #expect(line(ChromePanels.progress, state { _ = Reducer.reduce(&$0, .key(.right)) }) == " evaluating...")
    var snapshot = Fixture.snapshot()
    snapshot.phase = .evaluating
    #expect(line(ChromePanels.progress, Fixture.state(snapshot: snapshot)) == " evaluating...")
    snapshot.phase = .starting("loading datasets/ (embedded subset)")
    #expect(line(ChromePanels.progress, Fixture.state(snapshot: snapshot)) == " loading datasets/ (embedded subset)...")
  }

  // MARK: - Message

  @Test func theMessageLineShowsTheSessionsMessageOrTheUIsNotice() {
    #expect(line(ChromePanels.message, Fixture.state()) == " opened /models/tiny.safetensors")
    let noticed = state { _ = Reducer.reduce(&$0, .key(.character("x"))) }
    #expect(line(ChromePanels.message, noticed) == " no fine-tune is running")
    #expect(render(ChromePanels.message, noticed, width: 80, height: 1).style(column: 1, row: 0) == .warning)
    var failed = Fixture.snapshot()
    failed.message = "model.safetensors: no such file"
    failed.isError = true
    let error = Fixture.state(snapshot: failed)
    #expect(line(ChromePanels.message, error) == " model.safetensors: no such file")
    #expect(render(ChromePanels.message, error, width: 80, height: 1).style(column: 1, row: 0) == .warning)
  }

  @Test func aLongMessageKeepsItsStartAndTheFileName() {
    var snapshot = Fixture.snapshot()
    snapshot.message = "saved /home/someone/experiments/2024/lenet/checkpoints/baseline-sparsity90.safetensors"
    #expect(
      line(ChromePanels.message, Fixture.state(snapshot: snapshot))
        == " saved /home/someone/exper…024/lenet/checkpoints/baseline-sparsity90.safetensors")
    #expect(
      line(ChromePanels.message, Fixture.state(snapshot: snapshot, glyphs: .ascii))
        == " saved /home/someone/expe...24/lenet/checkpoints/baseline-sparsity90.safetensors")
  }

  @Test func theMessageLineAsksInPromptsAndQuestions() {
    let prompt = state { _ = Reducer.reduce(&$0, .key(.character("f"))) }
    #expect(line(ChromePanels.message, prompt) == " fine-tune epochs [1]: _")
    let quitting = state { _ = Reducer.reduce(&$0, .key(.character("q"))) }
    #expect(line(ChromePanels.message, quitting) == " unsaved changes: quit anyway? (y/n)")
  }

  // MARK: - Status

  @Test func theStatusLineListsThePrimaryKeysThatFit() {
    let state = Fixture.state()
    #expect(
      line(ChromePanels.status, state) == " ←→ prune  ↑↓ layer  g scope  c criterion  f fine-tune  s save  ? help  q quit")
    #expect(line(ChromePanels.status, state, width: 70) == " ←→ prune  ↑↓ layer  g scope  f fine-tune  s save  ? help  q quit")
    #expect(line(ChromePanels.status, state, width: 60) == " ←→ prune  ↑↓ layer  f fine-tune  s save  ? help  q quit")
    #expect(line(ChromePanels.status, state, width: 40) == " ←→ prune  ↑↓ layer  ? help  q quit")
    #expect(
      line(ChromePanels.status, Fixture.state(glyphs: .ascii), width: 100)
        == " Left/Right prune  Up/Down layer  g scope  c criterion  f fine-tune  s save  ? help  q quit")
  }

  @Test func theStatusLineInEachMode() {
    var training = Fixture.snapshot()
    training.phase = .fineTuning(Fixture.progress)
    #expect(
      line(ChromePanels.status, Fixture.state(snapshot: training))
        == " x cancel fine-tune  ↑↓ layer  h/l histogram  ? help  q quit")
    #expect(
      line(ChromePanels.status, Fixture.state(snapshot: training), width: 50) == " x cancel fine-tune  ↑↓ layer  ? help  q quit")
    #expect(line(ChromePanels.status, AppState(width: 80, height: 24)) == " ? help  q quit")
    #expect(line(ChromePanels.status, state { $0.mode = .help }) == " any key: back")
    #expect(line(ChromePanels.status, state { $0.mode = .confirmQuit }) == " y quit  any other key: stay")
    #expect(
      line(ChromePanels.status, state { $0.mode = .epochsPrompt("") })
        == " 0-9 epochs  Backspace erase  Enter start  Esc cancel")
    #expect(
      line(ChromePanels.status, state { $0.mode = .epochsPrompt("") }, width: 45)
        == " 0-9 epochs  Enter start  Esc cancel")
  }

  // MARK: - Help

  @Test func theHelpHasALineForEveryBinding() {
    let lines = HelpPanel.lines(unicode: true)
    #expect(lines.count == Keymap.bindings.count + 2)
    #expect(lines.first == "Keys")
    for (binding, line) in zip(Keymap.bindings, lines.dropFirst()) {
      #expect(line.hasSuffix(binding.summary))
      #expect(line.hasPrefix(binding.keys.map { $0.label(unicode: true) }.joined(separator: ", ")))
    }
    #expect(lines.last == "click     select the layer of a table row")
    #expect(lines[3] == "⇧→, PgUp  prune 10% more")
    #expect(HelpPanel.lines(unicode: false)[3] == "S-Right, PgUp  prune 10% more")
  }
}
