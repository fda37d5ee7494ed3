import ArgumentParser
import Foundation
import PruneEngine

/// The `shears` command: an interactive explorer (the default) and headless subcommands that
/// drive the same engine.
struct Shears: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "shears",
    abstract: "Explore neural-network pruning: score, prune, measure and fine-tune a model.",
    discussion: """
      Data: --data DIR or FILE.npz, else $SHEARS_DATA, else /usr/share/datasets/fashion-mnist, \
      else the embedded Fashion-MNIST subset; the chosen source is printed on stderr.
      """,
    subcommands: [
      ExploreCommand.self, TrainCommand.self, EvalCommand.self, InfoCommand.self, PruneCommand.self,
      FinetuneCommand.self, SweepCommand.self, SensitivityCommand.self, ExportCommand.self, BenchCommand.self,
    ],
    defaultSubcommand: ExploreCommand.self)
}

/// Entry point: runs the command and maps failures to the exit codes of the command-line
/// contract — 1 with one line on stderr for bad input or a failure, 2 for bad usage.
@main
enum Main {
  static func main() {
    // A write to a pipe whose reader has gone fails with EPIPE (`OutputFailure`) instead of
    // killing the process in the middle of a line.
    signal(SIGPIPE, SIG_IGN)
    do {
      var command = try Shears.parseAsRoot()
      // Kernel crossovers measured by an earlier run are reused; what this run measures is kept.
      KernelSelector.shared.useCache(CrossoverCache(folder: CacheFolder.path(ProcessInfo.processInfo.environment)))
      try command.run()
    } catch let error as ShearsError {
      Console.error(error.description)
      exit(1)
    } catch let error as ExitCode {
      exit(error.rawValue)
    } catch let failure as OutputFailure {
      exit(failure.report())
    } catch {
      exit(reportParserMessage(for: error))
    }
  }

  /// Writes what the argument parser has to say — help on stdout (exit 0), a parse or
  /// validation error with the usage on stderr (exit 2) — and returns the exit status.
  ///
  /// This is `Shears.exit(withError:)` on this program's streams, which do not trap when
  /// full or closed.
  static func reportParserMessage(for error: Error) -> Int32 {
    let code = Shears.exitCode(for: error)
    let message = Shears.fullMessage(for: error)
    guard code == .success else {
      if !message.isEmpty { Console.note(message) }
      return code == .validationFailure ? 2 : code.rawValue
    }
    do {
      if !message.isEmpty { try Console.output(message) }
      return 0
    } catch {
      return error.report()
    }
  }
}
