import Foundation
import PruneEngine

extension ExplorerBenchmark {
  /// What one threshold key press costs in a running session, from the key to a screen that
  /// shows the session's new masks, and how far the accuracy lags behind.
  public struct KeyPressFigures: Sendable, Equatable {
    public var presses: Int
    /// Key to redrawn screen: the reducer, the session's re-prune and publication, the
    /// reducer on the new snapshot and the rendering of the whole screen.
    public var medianMilliseconds: Double
    public var worstMilliseconds: Double
    /// The reducer and rendering alone (what the screen shows before the session answers).
    public var screenMedianMilliseconds: Double
    /// A single press left alone until the quick estimate, and until the full test set's
    /// accuracy, is published.
    public var estimateMilliseconds: Double
    public var fullAccuracyMilliseconds: Double
  }

  /// Presses the threshold keys `presses` times on a started session, as a user holding them
  /// would: each press as soon as the previous one's masks are on screen, while the
  /// evaluation the previous one started may still run. The selection moves to the next
  /// prunable layer every ten presses (five raising its threshold, five lowering it), from
  /// every layer at `startTarget`.
  ///
  /// The session is polled every 0.1 ms; the explorer's own loop polls every 15 ms between keys,
  /// which this leaves out.
  public static func keyPresses(
    _ session: Session, presses: Int, startTarget: Double = 0.5, width: Int = 80, height: Int = 24,
    clock: MonotonicClock = .system
  ) -> KeyPressFigures {
    session.waitUntilIdle()
    let handledBefore = session.snapshot.handledCommands
    let layers = session.snapshot.layers.filter(\.isPrunable).map(\.path)
    session.send(.setTargets(Dictionary(uniqueKeysWithValues: session.snapshot.layers.map { ($0.path, startTarget) })))
    waitUntilEvaluated(session)

    var state = AppState(width: width, height: height)
    _ = Reducer.reduce(&state, .snapshot(session.snapshot))
    var totals: [Double] = []
    var screens: [Double] = []
    for press in 0..<presses {
      let layer = layers[(press / 10) % max(1, layers.count)]
      if let position = state.snapshot.layers.firstIndex(where: { $0.path == layer }) { state.selectedLayer = position }
      let start = clock.nanoseconds()
      let effects = Reducer.reduce(&state, .key(press % 10 < 5 ? .right : .left))
      _ = Screen.render(state)
      screens.append(clock.seconds(since: start))
      for case .send(let command) in effects { session.send(command) }
      let wanted = state.targets[layer]
      var snapshot = session.snapshot
      while snapshot.layers.first(where: { $0.path == layer })?.target != wanted {
        usleep(100)
        snapshot = session.snapshot
      }
      _ = Reducer.reduce(&state, .snapshot(snapshot))
      _ = Screen.render(state)
      totals.append(clock.seconds(since: start))
    }

    // One press left alone: until the estimate, then the full accuracy, is published.
    waitUntilEvaluated(session)
    let target = (session.snapshot.layers.first { $0.path == layers.first }?.target ?? startTarget) + Reducer.fineStep
    var targets = Dictionary(uniqueKeysWithValues: session.snapshot.layers.map { ($0.path, $0.target) })
    if let first = layers.first { targets[first] = target }
    let expected = handledBefore + 1 + state.sentCommands + 1
    let start = clock.nanoseconds()
    session.send(.setTargets(targets))
    var estimate: Double?
    while true {
      let snapshot = session.snapshot
      if estimate == nil, snapshot.accuracy?.isFull == false { estimate = clock.seconds(since: start) }
      if snapshot.handledCommands >= expected, snapshot.phase == .idle { break }
      usleep(100)
    }
    let full = clock.seconds(since: start)
    return KeyPressFigures(
      presses: presses, medianMilliseconds: median(totals) * 1000, worstMilliseconds: (totals.max() ?? 0) * 1000,
      screenMedianMilliseconds: median(screens) * 1000, estimateMilliseconds: (estimate ?? full) * 1000,
      fullAccuracyMilliseconds: full * 1000)
  }

  /// Waits until the session has handled every command and published a full accuracy.
  private static func waitUntilEvaluated(_ session: Session) {
    session.waitUntilIdle()
    while session.snapshot.phase != .idle { usleep(100) }
  }
}
