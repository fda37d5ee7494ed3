import Foundation

/// Facts about the machine the engine runs on.
public enum System {
  /// Number of cores the process may use.
  public static let coreCount = ProcessInfo.processInfo.activeProcessorCount
}
