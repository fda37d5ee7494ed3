import Foundation

/// Writing to the terminal: results on stdout, everything else on stderr.
enum Console {
  /// One error line: `shears: error: <message>`.
  static func error(_ message: String) {
    note("shears: error: \(message)")
  }

  /// One warning line: `shears: warning: <message>`.
  static func warning(_ message: String) {
    note("shears: warning: \(message)")
  }

  /// A line on stderr (progress, the data source, warnings).
  static func note(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
  }

  /// Text on stderr with no newline (progress lines rewritten with `\r`).
  static func noteInPlace(_ text: String) {
    FileHandle.standardError.write(Data(text.utf8))
  }

  /// Whether stderr is a terminal (progress is redrawn in place only then).
  static var stderrIsTerminal: Bool { isatty(STDERR_FILENO) == 1 }
}
