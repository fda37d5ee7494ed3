import Foundation
import Testing

/// Stdout and stderr that cannot be written — a full device, a closed descriptor, a pipe whose
/// reader has gone — end a command with the right status and at most one error line, never a
/// trap (issue 13).
@Suite(.trainedModel)
struct OutputStreamTests {
  /// What each command writes its result with: JSON, a table, the parser's help.
  static let resultWriters: [[String]] = [
    ["info", "--json"], ["eval", "--json"], ["info"], ["--help"], ["prune", "--help"],
  ]

  /// The arguments of `command` for the suite's model and data.
  private func arguments(_ command: [String]) throws -> [String] {
    let trained = try TrainedModel.shared()
    switch command.first {
    case "info": return command + ["--model", trained.model]
    case "eval": return command + ["--model", trained.model, "--data", trained.data.path]
    default: return command
    }
  }

  /// The data note `command` prints on stderr before its result.
  private func notes(_ command: [String]) throws -> [String] {
    command.first == "eval" ? [try TrainedModel.shared().dataNote] : []
  }

  @Test(arguments: resultWriters)
  func stdoutOnAFullDeviceIsAnError(command: [String]) throws {
    let run = try shears(try arguments(command), stdout: .full)
    let problem = expectInputError(run, subject: "stdout", notes: try notes(command))
    #expect(problem == "cannot write: No space left on device")
  }

  @Test(arguments: resultWriters)
  func aClosedStdoutIsAnError(command: [String]) throws {
    let run = try shears(try arguments(command), stdout: .closed)
    let problem = expectInputError(run, subject: "stdout", notes: try notes(command))
    #expect(problem == "cannot write: Bad file descriptor")
  }

  /// As a process killed by SIGPIPE would, with nothing said: the reader chose to stop reading.
  @Test(arguments: resultWriters)
  func aPipeWithoutReaderEndsQuietlyWith141(command: [String]) throws {
    let run = try shears(try arguments(command), stdout: .pipeWithoutReader)
    #expect(run.exitedNormally && run.status == 141, "\(run)")
    #expect(run.stderrLines == (try notes(command)), "\(run)")
  }

  /// Notes and errors that cannot be written are dropped; the exit status still tells.
  @Test(arguments: [OutputTarget.full, .closed, .pipeWithoutReader])
  func anUnwritableStderrKeepsTheExitStatus(stderr: OutputTarget) throws {
    let trained = try TrainedModel.shared()
    let missing = try shears(["eval", "--model", trained.folder.path("missing.safetensors")], stdout: .captured, stderr: stderr)
    #expect(missing.exitedNormally && missing.status == 1, "\(missing)")

    let usage = try shears(["eval", "--bogus"], stdout: .captured, stderr: stderr)
    #expect(usage.exitedNormally && usage.status == 2, "\(usage)")

    let evaluated = try shears(
      ["eval", "--json", "--model", trained.model, "--data", trained.data.path], stdout: .captured, stderr: stderr)
    expectSuccess(evaluated)
    #expect(try jsonObject(evaluated)["accuracy"] is Double)
  }

  @Test func bothStreamsUnwritableExitWith1() throws {
    let run = try shears(try arguments(["info", "--json"]), stdout: .full, stderr: .closed)
    #expect(run.exitedNormally && run.status == 1, "\(run)")
  }
}
