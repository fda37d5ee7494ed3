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
      Data: --data DIR, else $SHEARS_DATA, else /usr/share/datasets/fashion-mnist, else the \
      embedded Fashion-MNIST subset; the chosen source is printed on stderr.
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
    do {
      var command = try Shears.parseAsRoot()
      try command.run()
    } catch let error as ShearsError {
      Console.error(error.description)
      exit(1)
    } catch let error as CleanExit {
      Shears.exit(withError: error)
    } catch let error as ExitCode {
      exit(error.rawValue)
    } catch {
      let code = Shears.exitCode(for: error)
      if code == .success {
        Shears.exit(withError: error)
      }
      // Parse and validation errors: the parser's message and usage, exit 2.
      FileHandle.standardError.write(Data((Shears.fullMessage(for: error) + "\n").utf8))
      exit(code == .validationFailure ? 2 : code.rawValue)
    }
  }
}
