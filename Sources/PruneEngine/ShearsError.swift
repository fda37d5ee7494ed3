/// An error a user can act on: what went wrong and with which file or value.
///
/// `description` is one line, suitable for `shears: error: <description>` on stderr.
public struct ShearsError: Error, CustomStringConvertible, Equatable, Sendable {
  /// The file path or value the problem is about (empty when there is none).
  public var subject: String
  /// What is wrong, in a few words.
  public var problem: String

  public init(_ subject: String, _ problem: String) {
    self.subject = subject
    self.problem = problem
  }

  /// The subject and problem on one line: control characters quoted from a file (a newline in
  /// a tensor name or metadata value) are written as escapes such as `\n`.
  public var description: String {
    let line = subject.isEmpty ? problem : "\(subject): \(problem)"
    guard line.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else { return line }
    return String(
      line.unicodeScalars.map { scalar in
        scalar.properties.generalCategory == .control ? scalar.escaped(asASCII: true) : String(scalar)
      }.joined())
  }
}
