import Foundation
import Testing

// MARK: - Running the binary

/// What one run of the built `shears` binary produced.
struct ShearsRun: CustomStringConvertible {
  /// The exit status, or the signal number when `exitedNormally` is false.
  var status: Int32
  /// False when the process was killed by a signal (a crash, a trap).
  var exitedNormally: Bool
  var stdout: String
  var stderr: String

  /// The lines of stderr, without the final newline.
  var stderrLines: [String] { Self.lines(stderr) }
  /// The lines of stdout, without the final newline.
  var stdoutLines: [String] { Self.lines(stdout) }

  /// The run as shown in a failed expectation: status, then both streams.
  var description: String {
    "exit \(status)\(exitedNormally ? "" : " (signal)")\n--- stdout\n\(stdout)--- stderr\n\(stderr)---"
  }

  private static func lines(_ text: String) -> [String] {
    var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    if lines.last == "" { lines.removeLast() }
    return lines
  }
}

/// The `shears` executable that `swift build --build-tests` puts next to the test bundle.
enum ShearsBinary {
  struct Missing: Error, CustomStringConvertible {
    var path: String
    var description: String {
      "the shears binary is not at \(path); run `swift build --build-tests` (same --scratch-path) first"
    }
  }

  /// `<scratch>/<triple>/debug/shears`, found from the test runner's own path
  /// (`<scratch>/<triple>/debug/shearsPackageTests.xctest`).
  static let path: String = {
    let runner =
      (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
      ?? CommandLine.arguments[0]
    return URL(fileURLWithPath: runner).deletingLastPathComponent().appendingPathComponent("shears").path
  }()

  /// The binary's path, or an error saying to build it.
  static func located() throws -> String {
    guard FileManager.default.isExecutableFile(atPath: path) else { throw Missing(path: path) }
    return path
  }
}

/// Runs `shears` with `arguments` and waits for it to end.
///
/// The environment is this process's with `SHEARS_DATA` removed and a fixed 80-column terminal
/// size (help text wraps to it), then `environment` on top. Stdin is empty; stdout and stderr go to
/// temporary files, so neither can fill a pipe and block the child.
func shears(_ arguments: [String], environment: [String: String] = [:]) throws -> ShearsRun {
  try runProcess(try ShearsBinary.located(), arguments, environment: shearsEnvironment(environment))
}

/// This process's environment with `SHEARS_DATA` removed, an 80x25 terminal and the caches in
/// `testCacheFolder` (never the real home's), then `environment`.
private func shearsEnvironment(_ environment: [String: String]) -> [String: String] {
  var variables = ProcessInfo.processInfo.environment
  variables["SHEARS_DATA"] = nil
  variables["COLUMNS"] = "80"
  variables["LINES"] = "25"
  variables["XDG_CACHE_HOME"] = testCacheFolder.path
  variables.merge(environment) { _, new in new }
  return variables
}

/// Where `shears(_:stdout:stderr:)` sends one of the child's output streams.
enum OutputTarget: Sendable, CustomTestStringConvertible {
  /// A temporary file, read back into the run.
  case captured
  /// `/dev/full`: every write fails with ENOSPC.
  case full
  /// No descriptor at all (`>&-`): every write fails with EBADF.
  case closed
  /// A pipe whose reader has already gone: every write fails with EPIPE (or raises SIGPIPE).
  case pipeWithoutReader

  var testDescription: String {
    switch self {
    case .captured: "captured"
    case .full: "/dev/full"
    case .closed: "closed"
    case .pipeWithoutReader: "pipe without reader"
    }
  }
}

/// `shears(_:stdout:stderr:)` could not start the binary.
struct SpawnFailure: Error, CustomStringConvertible {
  var description: String
}

/// Runs `shears` like `shears(_:environment:)`, with stdout and stderr going to `stdout` and
/// `stderr`; a stream that is not `.captured` reads back as empty.
///
/// The child is started with `posix_spawn`, which can give it `/dev/full`, a closed descriptor
/// or a pipe with no reader, with no signal blocked and every signal's action the default (the
/// test runner's threads block most signals, and a child inherits the mask).
func shears(_ arguments: [String], stdout: OutputTarget, stderr: OutputTarget = .captured) throws -> ShearsRun {
  let binary = try ShearsBinary.located()
  let folder = try TemporaryFolder(prefix: "shears-run")
  var actions = posix_spawn_file_actions_t()
  posix_spawn_file_actions_init(&actions)
  defer { posix_spawn_file_actions_destroy(&actions) }
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0)
  var pipeWriters: [Int32] = []
  defer { for writer in pipeWriters { close(writer) } }
  for (descriptor, target) in [(STDOUT_FILENO, stdout), (STDERR_FILENO, stderr)] {
    switch target {
    case .captured:
      posix_spawn_file_actions_addopen(
        &actions, descriptor, folder.path("\(descriptor)"), O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    case .full:
      posix_spawn_file_actions_addopen(&actions, descriptor, "/dev/full", O_WRONLY, 0)
    case .closed:
      posix_spawn_file_actions_addclose(&actions, descriptor)
    case .pipeWithoutReader:
      var ends: [Int32] = [0, 0]
      guard pipe(&ends) == 0 else { throw SpawnFailure(description: "cannot make a pipe: error \(errno)") }
      close(ends[0])
      pipeWriters.append(ends[1])
      posix_spawn_file_actions_adddup2(&actions, ends[1], descriptor)
    }
  }
  let argv = [binary] + arguments
  var pointers = argv.map { strdup($0) }
  defer { for pointer in pointers { free(pointer) } }
  pointers.append(nil)
  let environment = shearsEnvironment([:]).map { strdup("\($0.key)=\($0.value)") }
  defer { for pointer in environment { free(pointer) } }
  var pid = pid_t()
  let spawned = withDefaultSignals { attributes in
    posix_spawn(&pid, binary, &actions, &attributes, pointers, environment + [nil])
  }
  guard spawned == 0 else { throw SpawnFailure(description: "cannot start \(binary): error \(spawned)") }
  var status: Int32 = 0
  while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
  let captured = { (descriptor: Int32) in (try? String(contentsOfFile: folder.path("\(descriptor)"), encoding: .utf8)) ?? "" }
  // Exited normally when the low 7 bits (the signal) are 0; the status is then the next byte.
  let signal = status & 0x7f
  return ShearsRun(
    status: signal == 0 ? (status >> 8) & 0xff : signal, exitedNormally: signal == 0,
    stdout: captured(STDOUT_FILENO), stderr: captured(STDERR_FILENO))
}

/// Runs a program with empty stdin, its stdout and stderr going to temporary files (so neither
/// can fill a pipe and block the child), and waits for it.
func runProcess(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws -> ShearsRun {
  let process = Process()
  process.executableURL = URL(fileURLWithPath: executable)
  process.arguments = arguments
  if let environment { process.environment = environment }
  let folder = try TemporaryFolder(prefix: "shears-run")
  let stdoutURL = folder.url.appendingPathComponent("stdout")
  let stderrURL = folder.url.appendingPathComponent("stderr")
  _ = FileManager.default.createFile(atPath: stdoutURL.path, contents: nil)
  _ = FileManager.default.createFile(atPath: stderrURL.path, contents: nil)
  let stdout = try FileHandle(forWritingTo: stdoutURL)
  let stderr = try FileHandle(forWritingTo: stderrURL)
  process.standardInput = FileHandle.nullDevice
  process.standardOutput = stdout
  process.standardError = stderr
  try process.run()
  process.waitUntilExit()
  try stdout.close()
  try stderr.close()
  return ShearsRun(
    status: process.terminationStatus,
    exitedNormally: process.terminationReason == .exit,
    stdout: try String(contentsOf: stdoutURL, encoding: .utf8),
    stderr: try String(contentsOf: stderrURL, encoding: .utf8))
}

/// `shears(arguments)` with the arguments written out.
func shears(_ arguments: String..., environment: [String: String] = [:]) throws -> ShearsRun {
  try shears(arguments, environment: environment)
}

/// Parses stdout as exactly one JSON object on one line (the `--json` contract).
func jsonObject(_ run: ShearsRun, sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: Any] {
  #expect(run.stdoutLines.count == 1, "stdout is not one line:\n\(run)", sourceLocation: sourceLocation)
  let object = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8))
  return try #require(object as? [String: Any], "stdout is not a JSON object:\n\(run)", sourceLocation: sourceLocation)
}

/// Checks the contract for bad input: exit 1, no crash, nothing on stdout, and stderr is the
/// given note lines (the data source, when it was resolved) followed by one
/// `shears: error: <subject>: <problem>` line; returns the problem.
@discardableResult
func expectInputError(
  _ run: ShearsRun, subject: String, notes: [String] = [], sourceLocation: SourceLocation = #_sourceLocation
) -> String? {
  #expect(run.exitedNormally && run.status == 1, "expected exit 1:\n\(run)", sourceLocation: sourceLocation)
  #expect(run.stdout.isEmpty, "stdout is not empty:\n\(run)", sourceLocation: sourceLocation)
  let lines = run.stderrLines
  #expect(
    lines.count == notes.count + 1, "expected \(notes.count + 1) stderr lines:\n\(run)", sourceLocation: sourceLocation)
  #expect(Array(lines.dropLast()) == notes, sourceLocation: sourceLocation)
  let prefix = "shears: error: \(subject): "
  guard let last = lines.last, last.hasPrefix(prefix), last.count > prefix.count else {
    Issue.record("the last stderr line does not start with '\(prefix)':\n\(run)", sourceLocation: sourceLocation)
    return nil
  }
  return String(last.dropFirst(prefix.count))
}

/// Checks the contract for bad usage: exit 2, no crash, nothing on stdout, the parser's message
/// on stderr; returns stderr's lines.
@discardableResult
func expectUsageError(_ run: ShearsRun, sourceLocation: SourceLocation = #_sourceLocation) -> [String] {
  #expect(run.exitedNormally && run.status == 2, "expected exit 2:\n\(run)", sourceLocation: sourceLocation)
  #expect(run.stdout.isEmpty, "stdout is not empty:\n\(run)", sourceLocation: sourceLocation)
  #expect(run.stderr.hasPrefix("Error: "), "stderr has no parser error:\n\(run)", sourceLocation: sourceLocation)
  return run.stderrLines
}

/// Checks that a run succeeded (exit 0, not killed).
func expectSuccess(_ run: ShearsRun, sourceLocation: SourceLocation = #_sourceLocation) {
  #expect(run.exitedNormally && run.status == 0, "expected exit 0:\n\(run)", sourceLocation: sourceLocation)
}

/// Stops the test unless a run succeeded; for the steps that set up what a test checks.
func requireSuccess(_ run: ShearsRun, sourceLocation: SourceLocation = #_sourceLocation) throws {
  try #require(run.exitedNormally && run.status == 0, "expected exit 0:\n\(run)", sourceLocation: sourceLocation)
}

/// The bytes of a file, or nil when there is none (to check an input was left untouched).
func fileBytes(_ path: String) -> Data? {
  FileManager.default.contents(atPath: path)
}

/// Whether two figures read back from JSON agree to within rounding.
func isClose(_ a: Double, _ b: Double, relative: Double = 1e-9) -> Bool {
  abs(a - b) <= relative * max(1, abs(a), abs(b))
}

// MARK: - Temporary folders

/// `XDG_CACHE_HOME` of every run of the binary in this test process, so measured kernel
/// crossovers and trained baselines stay out of the real home. Left behind in the temporary
/// folder when the process ends (a static is never released).
let testCacheFolder: TemporaryFolder = {
  do {
    return try TemporaryFolder(prefix: "shears-cli-cache")
  } catch {
    preconditionFailure("cannot create a temporary cache folder: \(error)")
  }
}()

/// A new empty folder under the system's temporary folder, removed with its contents when the
/// value is released.
final class TemporaryFolder: Sendable {
  let url: URL
  var path: String { url.path }

  init(prefix: String = "shears-cli") throws {
    url = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: false)
  }

  deinit { try? FileManager.default.removeItem(at: url) }

  /// The path of `name` inside the folder.
  func path(_ name: String) -> String { url.appendingPathComponent(name).path }

  /// The names of the folder's entries, hidden ones included, sorted.
  func contents() throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: path).sorted()
  }
}

// MARK: - IDX fixtures

/// A small MNIST-format dataset written as the four IDX files of a `--data` folder.
///
/// Class `c` of `classCount` lights up its own horizontal band of rows, with seeded noise
/// everywhere, so a small MLP learns it in an epoch or two.
struct IDXFixture {
  var trainCount = 128
  var testCount = 64
  var side = 28
  var classCount = 10
  var seed: UInt64 = 7

  static let trainImages = "train-images-idx3-ubyte"
  static let trainLabels = "train-labels-idx1-ubyte"
  static let testImages = "t10k-images-idx3-ubyte"
  static let testLabels = "t10k-labels-idx1-ubyte"

  /// Writes the four files into `folder`.
  func write(to folder: TemporaryFolder) throws {
    var generator = SplitMix64(seed: seed)
    let train = samples(trainCount, generator: &generator)
    let test = samples(testCount, generator: &generator)
    try Self.write(
      Self.imageFile(train.pixels, count: trainCount, rows: side, columns: side), to: folder.path(Self.trainImages))
    try Self.write(Self.labelFile(train.labels), to: folder.path(Self.trainLabels))
    try Self.write(
      Self.imageFile(test.pixels, count: testCount, rows: side, columns: side), to: folder.path(Self.testImages))
    try Self.write(Self.labelFile(test.labels), to: folder.path(Self.testLabels))
  }

  /// A new temporary folder holding the fixture.
  func folder() throws -> TemporaryFolder {
    let folder = try TemporaryFolder(prefix: "shears-data")
    try write(to: folder)
    return folder
  }

  private func samples(_ count: Int, generator: inout SplitMix64) -> (pixels: [UInt8], labels: [UInt8]) {
    var pixels = [UInt8](repeating: 0, count: count * side * side)
    var labels = [UInt8](repeating: 0, count: count)
    for sample in 0..<count {
      let label = sample % classCount
      labels[sample] = UInt8(label)
      for row in 0..<side {
        let inBand = row * classCount / side == label
        for column in 0..<side {
          let noise = Int(generator.next() % 80)
          pixels[(sample * side + row) * side + column] = UInt8(inBand ? 170 + noise : noise)
        }
      }
    }
    return (pixels, labels)
  }

  /// An IDX image file: magic `0x00000803`, count, rows, columns (big-endian), then the pixels.
  static func imageFile(_ pixels: [UInt8], count: Int, rows: Int, columns: Int) -> [UInt8] {
    bigEndian(0x0000_0803) + bigEndian(UInt32(count)) + bigEndian(UInt32(rows)) + bigEndian(UInt32(columns)) + pixels
  }

  /// An IDX label file: magic `0x00000801`, count (big-endian), then one byte per label.
  static func labelFile(_ labels: [UInt8]) -> [UInt8] {
    bigEndian(0x0000_0801) + bigEndian(UInt32(labels.count)) + labels
  }

  /// A file that starts like gzip (magic, deflate, no flags) but whose deflate data is invalid
  /// (the first block has the reserved block type 3).
  static let corruptGzip: [UInt8] = [0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0x03] + [UInt8](repeating: 0xff, count: 32)

  static func write(_ bytes: [UInt8], to path: String) throws {
    try Data(bytes).write(to: URL(fileURLWithPath: path))
  }

  private static func bigEndian(_ value: UInt32) -> [UInt8] {
    [UInt8(value >> 24), UInt8((value >> 16) & 0xff), UInt8((value >> 8) & 0xff), UInt8(value & 0xff)]
  }
}

/// SplitMix64 (Steele et al. 2014): a tiny seeded generator for fixture noise.
struct SplitMix64 {
  private var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}

/// Runs `body` with spawn attributes that start a child with no signal blocked and every signal
/// at its default action. The test runner's threads block most signals and a child inherits the
/// mask: a tmux server that cannot receive SIGCHLD or SIGTERM never exits, and a `shears` would
/// not run as it does from a shell.
func withDefaultSignals<Result>(_ body: (inout posix_spawnattr_t) throws -> Result) rethrows -> Result {
  var attributes = posix_spawnattr_t()
  posix_spawnattr_init(&attributes)
  defer { posix_spawnattr_destroy(&attributes) }
  var none = sigset_t()
  sigemptyset(&none)
  var all = sigset_t()
  sigfillset(&all)
  posix_spawnattr_setsigmask(&attributes, &none)
  posix_spawnattr_setsigdefault(&attributes, &all)
  posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
  return try body(&attributes)
}
