import CNcurses
import ExplorerCore
import Foundation
import Synchronization

/// The explorer's UI loop: waits for keys with a short timeout, picks up newer session
/// snapshots, runs the reducer and redraws only when something changed.
public enum ExplorerApp {
  /// How long the loop waits for a key before looking for a new snapshot.
  static let pollMilliseconds: Int32 = 15

  /// The signals whose default action ends the process and that a program can catch: each stops
  /// the loop, so that the terminal is restored before the process exits. (SIGTSTP and SIGCONT
  /// are left to curses, which leaves and re-enters its mode around a suspension.)
  public static let stoppingSignals: [Int32] = [
    SIGHUP, SIGINT, SIGQUIT, SIGPIPE, SIGALRM, SIGTERM, SIGUSR1, SIGUSR2, SIGVTALRM, SIGPROF, SIGXCPU, SIGXFSZ,
  ]

  /// Checks, without writing to it, that the terminal named by `TERM` can show the explorer.
  /// - Throws: an error naming the terminal and what it lacks (`dumb` cannot move the cursor).
  public static func requireUsableTerminal(environment: [String: String]) throws {
    try CursesTerminal.requireUsable(environment: environment)
  }

  /// Runs until the user quits or the process is asked to stop by one of `stoppingSignals`;
  /// the terminal is restored on every path.
  ///
  /// A signal only records itself in `stopRequest`, which the loop polls between keys. This
  /// is a plain handler, not a Dispatch signal source: those read signals that every thread
  /// blocks, and Dispatch's worker threads never block SIGPIPE, so a SIGPIPE sent to the
  /// process would be handled by a worker and never reach the source.
  /// - Returns: the signal that stopped the loop, or `nil` when the user quit.
  /// - Throws: when curses cannot drive the terminal; nothing has been drawn then.
  @discardableResult
  public static func run(_ session: Session, environment: [String: String]) throws -> Int32? {
    stopRequest.store(0, ordering: .relaxed)
    let previousHandlers = stoppingSignals.map { number in
      (number, signal(number) { number in stopRequest.store(number, ordering: .relaxed) })
    }
    defer { for (number, handler) in previousHandlers { signal(number, handler) } }

    let terminal = try CursesTerminal(environment: environment)
    defer { terminal.restore() }
    var state = AppState(width: terminal.size.width, height: terminal.size.height, glyphs: terminal.glyphs)
    var generation = -1
    var needsDraw = true
    while !state.shouldQuit && stopRequest.load(ordering: .relaxed) == 0 {
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
    let stoppedBy = stopRequest.load(ordering: .relaxed)
    return stoppedBy == 0 ? nil : stoppedBy
  }
}

/// The signal that asked the explorer to stop, 0 before one has; set from a signal handler, so
/// a lock-free atomic and nothing else.
private let stopRequest = Atomic<Int32>(0)
