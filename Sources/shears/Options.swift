import ArgumentParser
import PruneEngine

/// `--data DIR`: where the MNIST-format files are.
struct DataOptions: ParsableArguments {
  @Option(
    name: .long, help: ArgumentHelp("Folder of MNIST-format IDX files (optionally .gz).", valueName: "DIR"))
  var data: String?

  /// Resolves the data source and says which one was chosen on stderr.
  func resolveSource() throws -> DataSource {
    let source = try DataSource.resolve(option: data)
    Console.note("data: \(source)")
    return source
  }
}

/// `--json` alone, for commands that print no progress (`eval`, `info`).
struct JSONOption: ParsableArguments {
  @Flag(name: .long, help: "Print exactly one JSON object on stdout.")
  var json = false
}

/// `--json` and `--progress`, for commands that show progress (`train`, `bench`).
struct OutputOptions: ParsableArguments {
  @Flag(name: .long, help: "Print exactly one JSON object on stdout.")
  var json = false

  @Flag(name: .long, help: "Show progress on stderr even with --json.")
  var progress = false

  var showsProgress: Bool { !json || progress }
}
