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

  public var description: String { subject.isEmpty ? problem : "\(subject): \(problem)" }
}
