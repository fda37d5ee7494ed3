import Foundation
import NPZFixture
import PruneEngine
import Testing

/// The explorer gives the terminal back in a usable state however it ends, and refuses a
/// terminal it cannot draw on before touching it (issue 13); driven in tmux like
/// `ExplorerEndToEndTests`.
@Suite(.enabled(if: TmuxTerminal.path != nil, "needs tmux on the PATH to drive the explorer in a terminal"), .trainedModel)
struct ExplorerTerminalTests {
  /// A shell in an 80x24 tmux window, its files in `folder`.
  private func shell(in folder: TemporaryFolder) throws -> TmuxTerminal {
    try TmuxTerminal(
      folder: folder, width: 80, height: 24,
      environment: ["LANG": "C.UTF-8", "PS1": "$ ", "XDG_CACHE_HOME": folder.path("cache"), "HOME": folder.path])
  }

  /// The shell line that runs the explorer on the suite's model (or `model`, or `data`), then
  /// prints its exit status.
  private func explorerCommand(
    prefix: String = "", suffix: String = "", model: String? = nil, data: String? = nil
  ) throws -> String {
    let trained = try TrainedModel.shared()
    let binary = try ShearsBinary.located()
    return "\(prefix)'\(binary)' explore --model '\(model ?? trained.model)' --data '\(data ?? trained.data.path)'\(suffix)"
      + "; echo \"explorer exit status $?\""
  }

  /// Whether the explorer's exit status is on the screen: at the end of a row, as a line typed
  /// before the shell had started shows its output after the prompt.
  private func isExitStatus(_ status: Int32, on screen: [String]) -> Bool {
    screen.contains { $0.hasSuffix("explorer exit status \(status)") }
  }

  /// Types `stty -a` filtered to the echo and canonical-input modes, and waits for them both on.
  private func expectTerminalModesRestored(_ terminal: TmuxTerminal, sourceLocation: SourceLocation = #_sourceLocation) throws {
    try terminal.type("stty -a | tr -s ' ;' '\\n\\n' | grep -x -e icanon -e -icanon -e echo -e -echo | sort | paste -sd, -")
    try terminal.waitFor("the terminal modes restored", seconds: 10, sourceLocation: sourceLocation) { $0.contains("echo,icanon") }
  }

  /// Each signal that would end the process stops the explorer, which restores the terminal and
  /// exits with 128 + the signal's number, as the shell reports a process the signal killed.
  @Test(arguments: [SIGHUP, SIGINT, SIGQUIT, SIGPIPE, SIGALRM, SIGTERM, SIGUSR1])
  func aTerminatingSignalRestoresTheTerminal(signal: Int32) throws {
    let folder = try TemporaryFolder(prefix: "shears-e2e")
    let terminal = try shell(in: folder)
    let pidFile = folder.path("explorer.pid")
    // The shell that writes its pid becomes the explorer (exec), so the pid is the explorer's.
    try terminal.type(try explorerCommand(prefix: "sh -c 'echo $$ > \"$0\"; exec \"$@\"' '\(pidFile)' "))
    try terminal.waitFor("the explorer's screen") { $0.contains { $0.hasPrefix("> 0.weight ") } }
    let pid = try #require(pid_t((try String(contentsOfFile: pidFile, encoding: .utf8)).trimmingCharacters(in: .whitespacesAndNewlines)))

    #expect(kill(pid, signal) == 0)
    let status = 128 + signal
    try terminal.waitFor("exit status \(status)", seconds: 10) { isExitStatus(status, on: $0) }
    try expectTerminalModesRestored(terminal)
  }

  /// A terminal that cannot show a screen is refused with one line before anything is drawn
  /// (TERM=dumb used to leave the explorer running blind).
  @Test(arguments: [
    ("dumb", "terminal 'dumb' cannot move the cursor; run it in a full-screen terminal (xterm, screen, tmux)"),
    ("shears-no-such-terminal", "terminal 'shears-no-such-terminal' is unknown (no terminfo entry for it)"),
  ])
  func aTerminalWithoutCursorAddressingIsRefused(term: String, problem: String) throws {
    let folder = try TemporaryFolder(prefix: "shears-e2e")
    let terminal = try shell(in: folder)
    let errors = folder.path("stderr")
    try terminal.type(try explorerCommand(prefix: "TERM=\(term) ", suffix: " 2> '\(errors)'"))
    try terminal.waitFor("exit status 1", seconds: 20) { isExitStatus(1, on: $0) }
    #expect(try String(contentsOfFile: errors, encoding: .utf8) == "shears: error: explore: \(problem)\n")
    try expectTerminalModesRestored(terminal)
  }

  /// A checkpoint whose weights hold NaN and infinities opens with a warning line, prunes at a
  /// key press and quits with q (the histogram used to trap converting NaN to a column).
  @Test func nanAndInfiniteWeightsOpenWithAWarning() throws {
    let folder = try TemporaryFolder(prefix: "shears-e2e")
    var model = try Checkpoint.load(from: try TrainedModel.shared().model).model
    guard case .weighted(var dense) = model.layers[0] else { throw TmuxTerminal.Failure(description: "no first layer") }
    dense.weight.scalars[0] = .nan
    dense.weight.scalars[1] = .infinity
    model.layers[0] = .weighted(dense)
    let path = folder.path("nan.safetensors")
    try Checkpoint.save(model, metadata: CheckpointMetadata(), to: path)

    let terminal = try shell(in: folder)
    try terminal.type(try explorerCommand(model: path))
    try terminal.waitFor("the warning line") {
      $0.contains { $0.contains("warning: 0.weight holds 1 NaN and 1 infinite value") }
    }
    try terminal.waitFor("the histogram counting them apart") { $0.contains { $0.contains("0.0% pruned, 2 NaN/inf") } }
    try terminal.press("Right")
    try terminal.waitFor("the pruned histogram") { $0.contains { $0.contains("1.0% pruned, 2 NaN/inf") } }
    try terminal.press("q")
    try terminal.waitFor("the quit question") { $0.contains { $0.contains("quit anyway?") } }
    try terminal.press("y")
    try terminal.waitFor("exit status 0", seconds: 10) { isExitStatus(0, on: $0) }
    try expectTerminalModesRestored(terminal)
  }

  /// Training labels the model has no output for are refused when the explorer opens (a
  /// fine-tune from the explorer used to trap on them): the message line says why, q quits with
  /// the same line on stderr and the terminal restored.
  @Test func trainingLabelsBeyondTheModelsOutputsAreRefused() throws {
    let folder = try TemporaryFolder(prefix: "shears-e2e")
    let data = try IDXFixture().folder()
    let labels = URL(fileURLWithPath: data.path("train-labels-idx1-ubyte"))
    var bytes = try [UInt8](Data(contentsOf: labels))
    bytes[bytes.count - 1] = 200
    try Data(bytes).write(to: labels)
    let errors = folder.path("stderr")
    let terminal = try shell(in: folder)
    try terminal.type(try explorerCommand(suffix: " 2> '\(errors)'", data: data.path))
    try terminal.waitFor("the error on the message line") { $0.contains { $0.hasSuffix("201 classes") } }
    try terminal.press("q")
    try terminal.waitFor("exit status 1", seconds: 10) { isExitStatus(1, on: $0) }
    let message = try String(contentsOfFile: errors, encoding: .utf8)
    #expect(message.hasSuffix("model takes 784 inputs and 10 classes; the data has 784 pixels and 201 classes\n"), "\(message)")
    try expectTerminalModesRestored(terminal)
  }

  /// A convolutional model trained on a 3-channel `.npz` opens on that archive: the header names
  /// it, the convolution is a row of the table, its accuracy is measured on the archive's test
  /// images, and a key press prunes it.
  @Test func aColourModelOpensOnItsArchive() throws {
    let folder = try TemporaryFolder(prefix: "shears-e2e")
    let data = folder.path("colour.npz")
    try KerasData().write(to: data, compressed: true)
    let model = folder.path("colour.safetensors")
    try requireSuccess(
      try shears("train", "--arch", "cnn:3x8x8-conv4k3-pool2-fc3", "--epochs", "1", "--data", data, "--out", model))
    let terminal = try shell(in: folder)
    try terminal.type(try explorerCommand(model: model, data: data))
    try terminal.waitFor("the full accuracy on the archive's test images") {
      $0.contains { $0.contains("colour.npz (--data)") } && $0.contains { $0.contains("(32 images)") }
    }
    let screen = try terminal.screen()
    let table = screen.filter { $0.hasPrefix("> 0.weight ") || $0.hasPrefix("  4.weight ") }
    #expect(table.count == 2, "\(screen.joined(separator: "\n"))")
    try terminal.press("Right")
    try terminal.waitFor("the first convolution pruned") {
      $0.contains { $0.contains("0.weight") && $0.contains("0.9% pruned") }
    }
    try terminal.press("q")
    try terminal.waitFor("the quit question") { $0.contains { $0.contains("quit anyway?") } }
    try terminal.press("y")
    try terminal.waitFor("exit status 0", seconds: 10) { isExitStatus(0, on: $0) }
    try expectTerminalModesRestored(terminal)
  }
}
