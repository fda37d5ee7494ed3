import Foundation
import Testing

// MARK: - Driving a terminal with tmux

/// A private tmux server (its own socket, no user configuration) running `sh` in one detached
/// window: keys go in with `send-keys`, the screen comes out with `capture-pane`.
final class TmuxTerminal {
  /// `tmux` on the `PATH`, if installed.
  static let path: String? = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
    .split(separator: ":").map { "\($0)/tmux" }.first { FileManager.default.isExecutableFile(atPath: $0) }

  struct Failure: Error, CustomStringConvertible {
    var description: String
  }

  /// Holds the socket; kept until the server is killed (removing it first would leave the
  /// server running with no way to reach it).
  private let folder: TemporaryFolder
  private var socket: String { folder.path("tmux") }
  private let target = "explorer"

  /// Starts the server, its socket in `folder`, with a `width` x `height` window running `sh`
  /// with `environment`.
  init(folder: TemporaryFolder, width: Int, height: Int, environment: [String: String]) throws {
    self.folder = folder
    let variables = environment.sorted { $0.key < $1.key }.flatMap { ["-e", "\($0.key)=\($0.value)"] }
    try run(["-f", "/dev/null", "new-session", "-d", "-s", target, "-x", "\(width)", "-y", "\(height)"] + variables + ["sh"])
  }

  deinit { _ = try? run(["kill-server"]) }

  /// Presses keys by their tmux names (`Right`, `PageUp`, `Enter`, `q`).
  func press(_ keys: String...) throws {
    try run(["send-keys", "-t", target] + keys)
  }

  /// Types a line of text literally, then Enter.
  func type(_ line: String) throws {
    try run(["send-keys", "-t", target, "-l", line])
    try press("Enter")
  }

  /// The window's text, one string per row.
  func screen() throws -> [String] {
    try run(["capture-pane", "-p", "-t", target]).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
  }

  func resize(width: Int, height: Int) throws {
    try run(["resize-window", "-t", target, "-x", "\(width)", "-y", "\(height)"])
  }

  /// Polls the screen every 50 ms until `condition` holds; fails with the last screen after
  /// `seconds`.
  @discardableResult
  func waitFor(
    _ what: String, seconds: Double = 60, sourceLocation: SourceLocation = #_sourceLocation,
    _ condition: ([String]) -> Bool
  ) throws -> [String] {
    let deadline = Date().addingTimeInterval(seconds)
    var last: [String] = []
    while Date() < deadline {
      last = try screen()
      if condition(last) { return last }
      Thread.sleep(forTimeInterval: 0.05)
    }
    let shown = last.joined(separator: "\n")
    Issue.record("timed out after \(seconds) s waiting for \(what); the screen:\n\(shown)", sourceLocation: sourceLocation)
    throw Failure(description: "timed out waiting for \(what)")
  }

  /// Runs one tmux command and returns what it printed.
  ///
  /// tmux is started with `posix_spawn` and reaped with `waitpid`, not with `Process`: the
  /// server that `new-session` forks keeps every descriptor it inherits, and `Process` on Linux
  /// waits for a socket it hands its child to close. Output goes to a file for the same reason.
  @discardableResult
  private func run(_ arguments: [String]) throws -> String {
    guard let path = Self.path else { throw Failure(description: "tmux is not installed") }
    let outputPath = socket + ".out"
    let argv = [path, "-S", socket, "-u"] + arguments
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    var pointers = argv.map { strdup($0) }
    defer { for pointer in pointers { free(pointer) } }
    pointers.append(nil)
    var pid = pid_t()
    let spawned = withDefaultSignals { attributes in posix_spawn(&pid, path, &actions, &attributes, pointers, environ) }
    guard spawned == 0 else { throw Failure(description: "cannot start tmux: error \(spawned)") }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
    let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
    // Exited normally with status 0.
    guard status & 0x7f == 0, (status >> 8) & 0xff == 0 else {
      throw Failure(description: "tmux \(arguments.joined(separator: " ")) failed (\(status)): \(text)")
    }
    return text
  }
}

// MARK: - Reading the explorer's screen

/// Figures read off an explorer screen.
private enum ExplorerScreen {
  /// The number after `label` on the first row that has it: `accuracy 0.8125` -> 0.8125,
  /// `sparsity 49.1%` -> 49.1.
  static func number(after label: String, in screen: [String]) -> Double? {
    for row in screen {
      guard let range = row.range(of: label + " ") else { continue }
      let digits = row[range.upperBound...].prefix { $0.isNumber || $0 == "." }
      if let value = Double(digits) { return value }
    }
    return nil
  }

  /// The row of the layer table for `name`, selected or not.
  static func tableRow(_ name: String, in screen: [String]) -> String? {
    screen.first { $0.hasPrefix("> \(name)") || $0.hasPrefix("  \(name)") }
  }

  /// The percentage on a table row (`  50.0%`).
  static func percent(_ row: String?) -> Double? {
    guard let row, let sign = row.firstIndex(of: "%") else { return nil }
    return Double(row[..<sign].reversed().prefix { $0.isNumber || $0 == "." }.reversed().map(String.init).joined())
  }

  /// The accuracy is of the full test set (of `images` images) and nothing is being evaluated.
  static func isSettled(_ screen: [String], images: Int = 10000) -> Bool {
    screen.contains { $0.contains("accuracy ") && $0.contains("(\(images) images)") }
      && !screen.contains { $0.contains("evaluating...") || $0.contains(" epoch ") }
  }
}

// MARK: - The test

/// The explorer driven in a real terminal: the built binary in tmux at 80x24 on a small model
/// and the embedded Fashion-MNIST subset, as a person would use it (issue 5), and on a small
/// convolutional network (issue 6).
@Suite(.enabled(if: TmuxTerminal.path != nil, "needs tmux on the PATH to drive the explorer in a terminal"))
struct ExplorerEndToEndTests {
  /// The repository's `datasets/` folder (the embedded data).
  private static let embeddedData = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("datasets").path

  @Test func pruneFineTuneSaveResizeAndQuit() throws {
    let folder = try TemporaryFolder(prefix: "shears-e2e")
    let model = folder.path("model.safetensors")
    try requireSuccess(
      try shears(
        "train", "--arch", "mlp:784-32-16-10", "--epochs", "1", "--seed", "1", "--data", Self.embeddedData, "--out",
        model))
    let terminal = try TmuxTerminal(
      folder: folder, width: 80, height: 24,
      environment: ["LANG": "C.UTF-8", "PS1": "$ ", "XDG_CACHE_HOME": folder.path("cache"), "HOME": folder.path]
    )
    let binary = try ShearsBinary.located()
    try terminal.type("'\(binary)' explore --model '\(model)' --data '\(Self.embeddedData)'; echo \"explorer exit status $?\"")

    // The table and the histogram are drawn once the model is open and evaluated.
    var screen = try terminal.waitFor("the opened model") { ExplorerScreen.isSettled($0) && $0.contains { $0.contains("nothing pruned") } }
    #expect(screen[2].hasPrefix("  layer     shape     threshold sparsity"), "\(screen)")
    #expect(ExplorerScreen.tableRow("0.weight", in: screen)?.hasPrefix("> 0.weight  32x784    -") == true)
    #expect(ExplorerScreen.tableRow("2.weight", in: screen)?.hasPrefix("  2.weight  16x32     -") == true)
    #expect(ExplorerScreen.tableRow("4.weight", in: screen)?.hasPrefix("  4.weight  10x16     -") == true)
    #expect(screen.contains { $0.hasPrefix("0.weight |w|: 0.0% pruned") })
    #expect(screen[0].contains("model: model.safetensors"))
    let dense = try #require(ExplorerScreen.number(after: "accuracy", in: screen))
    #expect(ExplorerScreen.number(after: "sparsity", in: screen) == 0)

    // Right raises the shown sparsity at once, before the accuracy is measured again.
    try terminal.press("Right", "Right", "Right", "Right", "Right")
    screen = try terminal.waitFor("5% in the table", seconds: 10) {
      ExplorerScreen.percent(ExplorerScreen.tableRow("0.weight", in: $0)) == 5
    }
    try terminal.press("PageUp", "PageUp", "PageUp", "PageUp", "PageUp", "PageUp", "PageUp", "PageUp")
    screen = try terminal.waitFor("85% and a settled accuracy") {
      ExplorerScreen.percent(ExplorerScreen.tableRow("0.weight", in: $0)) == 85 && ExplorerScreen.isSettled($0)
    }
    let sparsity = try #require(ExplorerScreen.number(after: "sparsity", in: screen))
    #expect(sparsity > 70, "0.weight holds most of the weights")
    #expect(screen.contains { $0.contains("▲ cut ") || $0.contains("^ cut ") })
    let pruned = try #require(ExplorerScreen.number(after: "accuracy", in: screen))
    #expect(pruned != dense)
    // Settled: the same figure a moment later.
    Thread.sleep(forTimeInterval: 0.3)
    #expect(ExplorerScreen.number(after: "accuracy", in: try terminal.screen()) == pruned)

    // f asks for epochs; the fine-tune shows a progress bar and the selection still moves.
    try terminal.press("f")
    try terminal.waitFor("the epochs prompt", seconds: 10) { $0.contains(" fine-tune epochs [1]: _") }
    try terminal.press("2", "Enter")
    screen = try terminal.waitFor("the progress bar") { $0.contains { $0.hasPrefix(" epoch 1/2 batch ") } }
    #expect(screen.contains { $0.contains("x cancel fine-tune") })
    try terminal.press("Down")
    screen = try terminal.waitFor("the second layer selected") { ExplorerScreen.tableRow("2.weight", in: $0)?.hasPrefix(">") == true }
    #expect(screen.contains { $0.hasPrefix(" epoch ") }, "the fine-tune ended before the selection moved:\n\(screen.joined(separator: "\n"))")
    #expect(screen.contains { $0.hasPrefix("2.weight |w|: ") })
    screen = try terminal.waitFor("the end of the fine-tune", seconds: 120) {
      $0.contains { $0.hasPrefix(" fine-tuned 2 epochs: accuracy ") } && ExplorerScreen.isSettled($0)
    }
    let tuned = try #require(ExplorerScreen.number(after: "fine-tuned 2 epochs: accuracy", in: screen))
    #expect(ExplorerScreen.number(after: "accuracy", in: screen.filter { !$0.hasPrefix(" fine-tuned") }) == tuned)
    #expect(tuned != pruned)
    #expect(ExplorerScreen.percent(ExplorerScreen.tableRow("0.weight", in: screen)) == 85)

    // s saves a new checkpoint that `shears info` reads with the sparsity on screen.
    try terminal.press("s")
    screen = try terminal.waitFor("the saved message") { $0.contains { $0.hasPrefix(" saved ") } }
    let shownSparsity = try #require(ExplorerScreen.number(after: "sparsity", in: screen))
    let saved = try #require(try folder.contents().first { $0.hasPrefix("model-sparsity") })
    #expect(saved == "model-sparsity\(Int(shownSparsity.rounded())).safetensors")
    #expect(screen.contains { $0.hasPrefix(" saved ") && $0.hasSuffix(saved) })
    let info = try jsonObject(try shears("info", "--model", folder.path(saved), "--json"))
    let fileSparsity = try #require(info["sparsity"] as? Double)
    #expect(abs(fileSparsity * 100 - shownSparsity) < 0.051, "file \(fileSparsity), screen \(shownSparsity)%")
    let layers = try #require(info["layers"] as? [[String: Any]])
    for (layer, name) in zip(layers, ["0.weight", "2.weight", "4.weight"]) {
      let shown = try #require(ExplorerScreen.percent(ExplorerScreen.tableRow(name, in: screen)))
      #expect(abs((layer["sparsity"] as? Double ?? -1) * 100 - shown) < 0.051, "\(name)")
    }

    // A resize to 60x20 redraws the compact screen, below the minimum says so, and back again.
    try terminal.resize(width: 60, height: 20)
    screen = try terminal.waitFor("the compact screen", seconds: 10) {
      $0.contains { $0.hasPrefix("  layer     threshold sparsity") } && $0.contains { $0.contains("? help  q quit") }
    }
    #expect(screen.allSatisfy { $0.count <= 60 })
    #expect(ExplorerScreen.tableRow("2.weight", in: screen)?.hasPrefix(">") == true)
    try terminal.resize(width: 50, height: 15)
    try terminal.waitFor("the too-small message", seconds: 10) { $0.first == "terminal too small: 50x15, needs 60x18 (q quits)" }
    try terminal.resize(width: 80, height: 24)
    screen = try terminal.waitFor("the full screen again", seconds: 10) {
      $0.contains { $0.hasPrefix("  layer     shape     threshold sparsity") } && $0.contains { $0.contains("c criterion") }
    }
    #expect(screen.count >= 24 && screen[23].hasPrefix(" ←→ prune") || screen[23].hasPrefix(" Left/Right prune"))

    // q quits with status 0 (answering the question if there is one) and gives the shell back.
    try terminal.press("q")
    screen = try terminal.waitFor("the exit", seconds: 10) {
      $0.contains { $0.contains("quit anyway? (y/n)") } || $0.contains { $0.hasPrefix("explorer exit status ") }
    }
    if screen.contains(where: { $0.contains("quit anyway? (y/n)") }) { try terminal.press("y") }
    screen = try terminal.waitFor("the exit status", seconds: 10) { $0.contains { $0.hasPrefix("explorer exit status ") } }
    #expect(screen.contains("explorer exit status 0"))
    try terminal.type("stty -a | tr -s ' ;' '\\n\\n' | grep -x -e icanon -e -icanon -e echo -e -echo | sort | paste -sd, -")
    try terminal.waitFor("the terminal modes restored", seconds: 10) { $0.contains("echo,icanon") }
  }

  /// A convolutional network laid out as LeNet-5 (convolutions `0` and `3`, Linear layers `7`
  /// and `9`) on the small IDX fixture (64 test images, so a debug build evaluates quickly):
  /// the convolutions are table rows, neuron-l2 prunes and counts whole filters, and the
  /// fine-tuned, saved checkpoint keeps them pruned.
  @Test func pruneFiltersOfAConvolutionalNetwork() throws {
    let folder = try TemporaryFolder(prefix: "shears-e2e")
    try IDXFixture().write(to: folder)
    let model = folder.path("model.safetensors")
    try requireSuccess(
      try shears(
        "train", "--arch", "cnn:1x28x28-conv4k5-pool2-conv6k3-pool2-fc12-fc10", "--epochs", "8", "--batch", "16",
        "--lr", "0.01", "--seed", "1", "--data", folder.path, "--out", model))
    let terminal = try TmuxTerminal(
      folder: folder, width: 80, height: 24,
      environment: ["LANG": "C.UTF-8", "PS1": "$ ", "XDG_CACHE_HOME": folder.path("cache"), "HOME": folder.path]
    )
    let binary = try ShearsBinary.located()
    try terminal.type("'\(binary)' explore --model '\(model)' --data '\(folder.path)'; echo \"explorer exit status $?\"")
    let settled = { (screen: [String]) in ExplorerScreen.isSettled(screen, images: 64) }

    var screen = try terminal.waitFor("the opened model") { settled($0) && $0.contains { $0.contains("nothing pruned") } }
    #expect(ExplorerScreen.tableRow("0.weight", in: screen)?.hasPrefix("> 0.weight  4x1x5x5   -") == true, "\(screen)")
    #expect(ExplorerScreen.tableRow("3.weight", in: screen)?.hasPrefix("  3.weight  6x4x3x3   -") == true)
    #expect(ExplorerScreen.tableRow("7.weight", in: screen)?.hasPrefix("  7.weight  12x150    -") == true)
    #expect(ExplorerScreen.tableRow("9.weight", in: screen)?.hasPrefix("  9.weight  10x12     -") == true)
    #expect(screen.contains { $0.hasPrefix("0.weight |w|: 0.0% pruned") })

    // c four times: random, gradient, taylor, neuron-l2, which counts filters kept.
    try terminal.press("c", "c", "c", "c")
    screen = try terminal.waitFor("neuron-l2") {
      settled($0) && $0.contains { $0.hasPrefix(" criterion neuron-l2 (filters, neurons)") }
        && $0.contains { $0.hasPrefix("0.weight neuron-l2 per filter: 0.0% pruned") }
    }
    #expect(screen[2].hasSuffix("kept  ties"), "\(screen)")
    #expect(ExplorerScreen.tableRow("0.weight", in: screen)?.hasSuffix("4/4     0") == true)
    #expect(ExplorerScreen.tableRow("7.weight", in: screen)?.hasSuffix("12/12     0") == true)
    #expect(ExplorerScreen.tableRow("9.weight", in: screen)?.hasSuffix("10/10     -") == true)

    // Half the filters of each convolution.
    try terminal.press("PageUp", "PageUp", "PageUp", "PageUp", "PageUp", "Down", "PageUp", "PageUp", "PageUp", "PageUp", "PageUp")
    screen = try terminal.waitFor("half the filters pruned") {
      settled($0) && ExplorerScreen.tableRow("3.weight", in: $0)?.contains("3/6") == true
    }
    #expect(ExplorerScreen.tableRow("0.weight", in: screen)?.contains("  50.0%      2/4     ") == true, "\(screen)")
    #expect(ExplorerScreen.tableRow("3.weight", in: screen)?.contains("  50.0%      3/6     ") == true)
    #expect(screen.contains { $0.hasPrefix("3.weight neuron-l2 per filter: 50.0% pruned") })
    #expect(screen.contains { $0.contains("▲ cut ") })

    // A fine-tune keeps the filters pruned, and the saved file has them as zero rows.
    try terminal.press("f")
    try terminal.waitFor("the epochs prompt", seconds: 10) { $0.contains(" fine-tune epochs [1]: _") }
    try terminal.press("Enter")
    screen = try terminal.waitFor("the end of the fine-tune", seconds: 120) {
      $0.contains { $0.hasPrefix(" fine-tuned 1 epochs: accuracy ") } && settled($0)
    }
    #expect(ExplorerScreen.tableRow("0.weight", in: screen)?.contains("2/4") == true, "\(screen)")
    #expect(ExplorerScreen.tableRow("3.weight", in: screen)?.contains("3/6") == true)
    try terminal.press("s")
    screen = try terminal.waitFor("the saved message") { $0.contains { $0.hasPrefix(" saved ") } }
    let saved = try #require(try folder.contents().first { $0.hasPrefix("model-sparsity") })
    let info = try jsonObject(try shears("info", "--model", folder.path(saved), "--json"))
    let layers = try #require(info["layers"] as? [[String: Any]])
    #expect(layers.compactMap { $0["name"] as? String } == ["0.weight", "3.weight", "7.weight", "9.weight"])
    #expect(layers.compactMap { $0["shape"] as? [Int] } == [[4, 1, 5, 5], [6, 4, 3, 3], [12, 150], [10, 12]])
    #expect(layers.compactMap { $0["nonzero"] as? Int }.prefix(2) == [2 * 25, 3 * 36])

    try terminal.press("q")
    screen = try terminal.waitFor("the exit", seconds: 10) {
      $0.contains { $0.contains("quit anyway? (y/n)") } || $0.contains { $0.hasPrefix("explorer exit status ") }
    }
    if screen.contains(where: { $0.contains("quit anyway? (y/n)") }) { try terminal.press("y") }
    screen = try terminal.waitFor("the exit status", seconds: 10) { $0.contains { $0.hasPrefix("explorer exit status ") } }
    #expect(screen.contains("explorer exit status 0"))
  }
}
