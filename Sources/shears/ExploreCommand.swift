import ArgumentParser
import CursesShell
import ExplorerCore
import Foundation
import PruneEngine

struct ExploreCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "explore",
    abstract: "Open the interactive pruning explorer (the default command).",
    discussion: """
      Without --model it opens the LeNet-300-100 baseline for the data source, trained on first \
      use and cached under $XDG_CACHE_HOME/shears (or ~/.cache/shears). Press ? for the keys.
      """)

  @Option(name: .long, help: ArgumentHelp("Checkpoint to open (safetensors).", valueName: "PATH"))
  var model: String?

  @OptionGroup var dataOptions: DataOptions
  @OptionGroup var memory: MemoryOptions

  func run() throws {
    guard isatty(STDIN_FILENO) == 1, isatty(STDOUT_FILENO) == 1 else {
      throw ShearsError(
        "explore", "needs a terminal; for scripts use the headless commands (shears --help)")
    }
    let environment = ProcessInfo.processInfo.environment
    do {
      try ExplorerApp.requireUsableTerminal(environment: environment)
    } catch {
      throw ShearsError("explore", "\(error)")
    }
    if let model {
      let loaded = try memory.loadCheckpoint(model).model
      try memory.budget.check(loaded.architecture.evaluationMemory(threads: GEMM.defaultThreads), for: model)
    }
    let source = try DataSource.resolve(option: dataOptions.data)
    let session = Session(
      Session.Setup(modelPath: model, data: source, cacheDirectory: CacheFolder.path(environment)))
    session.start()
    let stoppedBy: Int32?
    do {
      stoppedBy = try ExplorerApp.run(session, environment: environment)
    } catch {
      throw ShearsError("explore", "\(error)")
    }
    // Stopped by a signal, with the terminal restored: exit with the status the signal would have given.
    if let stoppedBy { throw ExitCode(128 + stoppedBy) }
    let snapshot = session.snapshot
    if snapshot.isError, let message = snapshot.message, snapshot.layers.isEmpty {
      throw ShearsError("explore", message)
    }
  }
}
