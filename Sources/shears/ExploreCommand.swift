import ArgumentParser
import CursesShell
import PruneEngine

struct ExploreCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "explore", abstract: "Open the interactive pruning explorer (the default command).")

  @Option(name: .long, help: ArgumentHelp("Checkpoint to open (safetensors).", valueName: "PATH"))
  var model: String?

  @OptionGroup var dataOptions: DataOptions

  func run() throws {
    Console.note(
      "shears: the interactive explorer is not built yet (\(Curses.version) found). "
        + "Use the headless commands meanwhile: shears train | eval | info | bench (see shears --help).")
  }
}
