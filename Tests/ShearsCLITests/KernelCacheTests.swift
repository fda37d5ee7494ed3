import Foundation
import Testing

/// The kernel crossover cache seen from the command line: where it goes, that processes
/// sharing it leave a readable file, and that without it nothing a user sees changes.
@Suite(.trainedModel) struct KernelCacheTests {
  /// The 50%-pruned fixture is near the crossovers, so `eval` times it and keeps the result.
  @Test func evalKeepsMeasuredCrossoversUnderXDGCacheHome() throws {
    let trained = try TrainedModel.shared()
    let cache = try TemporaryFolder(prefix: "shears-kernel-cache")
    let first = try shears(
      ["eval", "--model", trained.pruned, "--data", trained.data.path, "--json"],
      environment: ["XDG_CACHE_HOME": cache.path])
    try requireSuccess(first)
    let text = try String(contentsOfFile: cache.path("shears/kernel-crossovers.txt"), encoding: .utf8)
    let lines = text.split(separator: "\n")
    #expect(lines.first == "shears kernel crossovers 1")
    #expect(lines.contains { $0.hasPrefix("linear 16 784 ") })
    #expect(lines.last == "end \(lines.count - 3)")
    // A later run reads it and prints the same.
    let second = try shears(
      ["eval", "--model", trained.pruned, "--data", trained.data.path, "--json"],
      environment: ["XDG_CACHE_HOME": cache.path])
    #expect(second.stdout == first.stdout && second.stderr == first.stderr)
  }

  /// Processes started together all measure and write; the file they leave is whole.
  @Test func concurrentProcessesLeaveAReadableFile() async throws {
    let trained = try TrainedModel.shared()
    let cache = try TemporaryFolder(prefix: "shears-kernel-cache")
    let (model, data, folder) = (trained.pruned, trained.data.path, cache.path)
    let runs = try await withThrowingTaskGroup(of: ShearsRun.self) { group in
      for _ in 0..<4 {
        group.addTask {
          try shears(["eval", "--model", model, "--data", data, "--json"], environment: ["XDG_CACHE_HOME": folder])
        }
      }
      return try await group.reduce(into: []) { $0.append($1) }
    }
    for run in runs {
      try requireSuccess(run)
      #expect(run.stdout == runs[0].stdout)
    }
    let text = try String(contentsOfFile: cache.path("shears/kernel-crossovers.txt"), encoding: .utf8)
    let lines = text.split(separator: "\n")
    #expect(lines.first == "shears kernel crossovers 1")
    #expect(lines.last == "end \(lines.count - 3)")
    #expect(try cache.contents() == ["shears"])
  }

  /// A cache folder that cannot be created changes nothing: same output, no message.
  @Test func unwritableCacheFolderChangesNothing() throws {
    let trained = try TrainedModel.shared()
    let cache = try TemporaryFolder(prefix: "shears-kernel-cache")
    try Data("not a folder".utf8).write(to: URL(fileURLWithPath: cache.path("file")))
    let arguments = ["eval", "--model", trained.pruned, "--data", trained.data.path, "--json"]
    let blocked = try shears(arguments, environment: ["XDG_CACHE_HOME": cache.path("file")])
    let usual = try shears(arguments)
    try requireSuccess(blocked)
    #expect(blocked.stdout == usual.stdout)
    #expect(blocked.stderr == usual.stderr)
    #expect(blocked.stderrLines == [trained.dataNote])
  }
}
