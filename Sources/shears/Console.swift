import Foundation
import PruneEngine

/// Writing to the terminal: results on stdout, everything else on stderr.
///
/// Everything goes through `write(2)` on the descriptors, not `print` or `FileHandle`: `print`
/// drops text silently when the stream is full or closed, and `FileHandle.write` traps. A
/// failed write of a result is an error the command ends with (`OutputFailure`); a failed note
/// on stderr is ignored, as there is nowhere left to report it.
enum Console {
  /// A line of the command's result on stdout.
  /// - Throws: `OutputFailure` when stdout cannot take it (full, closed, a pipe with no reader).
  static func output(_ line: String) throws(OutputFailure) {
    if let code = write(line + "\n", to: STDOUT_FILENO) { throw OutputFailure(code: code) }
  }

  /// One error line: `shears: error: <message>`.
  static func error(_ message: String) {
    note("shears: error: \(message)")
  }

  /// One warning line: `shears: warning: <message>`.
  static func warning(_ message: String) {
    note("shears: warning: \(message)")
  }

  /// A line on stderr (progress, the data source, warnings, the parser's messages).
  static func note(_ message: String) {
    noteInPlace(message + "\n")
  }

  /// Text on stderr with no newline (progress lines rewritten with `\r`).
  static func noteInPlace(_ text: String) {
    _ = write(text, to: STDERR_FILENO)
  }

  /// Whether stderr is a terminal (progress is redrawn in place only then).
  static var stderrIsTerminal: Bool { isatty(STDERR_FILENO) == 1 }

  /// - Returns: the `errno` of a failed write, or nil when all of `text` was written.
  private static func write(_ text: String, to descriptor: Int32) -> Int32? {
    var text = text
    return text.withUTF8 { writeAll(UnsafeRawBufferPointer($0), to: descriptor) }
  }
}

/// Stdout could not take the command's result.
struct OutputFailure: Error {
  /// The `errno` of the failed write.
  var code: Int32

  /// Reports the failure and returns the exit status: 141 and nothing said when the reader of a
  /// pipe has gone (what a process killed by SIGPIPE returns, as `head` expects of a writer),
  /// otherwise 1 with one error line.
  func report() -> Int32 {
    if code == EPIPE { return 128 + SIGPIPE }
    Console.error("stdout: cannot write: \(systemErrorDescription(code))")
    return 1
  }
}
