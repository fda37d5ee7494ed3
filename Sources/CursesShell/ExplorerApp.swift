import CNcurses
import Dispatch
import ExplorerCore
import Foundation
import Synchronization

/// The explorer's UI loop: waits for keys with a short timeout, picks up newer session
/// snapshots, runs the reducer and redraws only when something changed.
public enum ExplorerApp {
  /// How long the loop waits for a key before looking for a new snapshot.
  static let pollMilliseconds: Int32 = 15

  /// Runs until the user quits or the process is asked to stop (SIGINT, SIGTERM); the terminal
  /// is restored on every path.
  /// - Returns: the signal that stopped the loop, or `nil` when the user quit.
  /// - Throws: when curses cannot drive the terminal; nothing has been drawn then.
  @discardableResult
  public static func run(_ session: Session, environment: [String: String]) throws -> Int32? {
    let stop = Atomic<Int32>(0)
    let signals = [SIGINT, SIGTERM].map { number in
      signal(number, SIG_IGN)
      let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
      source.setEventHandler { stop.store(number, ordering: .relaxed) }
      source.resume()
      return source
    }
    defer { for source in signals { source.cancel() } }

    let terminal = try CursesTerminal(environment: environment)
    defer { terminal.restore() }
    var state = AppState(width: terminal.size.width, height: terminal.size.height, glyphs: terminal.glyphs)
    var generation = -1
    var needsDraw = true
    while !state.shouldQuit && stop.load(ordering: .relaxed) == 0 {
      let snapshot = session.snapshot
      if snapshot.generation != generation {
        generation = snapshot.generation
        _ = Reducer.reduce(&state, .snapshot(snapshot))
        needsDraw = true
      }
      if needsDraw {
        terminal.draw(Screen.render(state))
        needsDraw = false
      }
      guard let input = terminal.read(waitingUpTo: pollMilliseconds) else { continue }
      let event: AppEvent =
        switch input {
        case .key(let key): .key(key)
        case .resize(let width, let height): .resize(width: width, height: height)
        }
      for effect in Reducer.reduce(&state, event) {
        if case .send(let command) = effect { session.send(command) }
      }
      needsDraw = true
    }
    let stoppedBy = stop.load(ordering: .relaxed)
    return stoppedBy == 0 ? nil : stoppedBy
  }
}
