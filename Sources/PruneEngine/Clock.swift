import Dispatch
import Synchronization

/// A monotonic time source in nanoseconds, passed into long-running work so the engine never
/// reads the clock on its own (tests can pass a fake one).
public struct MonotonicClock: Sendable {
  public let nanoseconds: @Sendable () -> UInt64

  public init(nanoseconds: @escaping @Sendable () -> UInt64) {
    self.nanoseconds = nanoseconds
  }

  /// The system's monotonic clock.
  public static let system = MonotonicClock { DispatchTime.now().uptimeNanoseconds }

  /// Seconds elapsed since `start`, a value of `nanoseconds()`.
  public func seconds(since start: UInt64) -> Double {
    Double(nanoseconds() &- start) / 1e9
  }
}

/// A flag that asks long-running work to stop at its next safe point (between batches).
public final class CancellationToken: Sendable {
  private let flag = Atomic<Bool>(false)

  public init() {}

  public func cancel() { flag.store(true, ordering: .relaxed) }
  public var isCancelled: Bool { flag.load(ordering: .relaxed) }
}
