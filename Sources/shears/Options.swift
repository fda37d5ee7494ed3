import ArgumentParser
import PruneEngine

/// `--data DIR` or `--data FILE.npz`: where the images and labels are.
struct DataOptions: ParsableArguments {
  @Option(
    name: .long,
    help: ArgumentHelp(
      """
      Folder of MNIST-format IDX files (optionally .gz), or a NumPy .npz of x_train, y_train, x_test, y_test; \
      a UTF-8 .txt for language models.
      """,
      valueName: "DIR"))
  var data: String?

  /// Resolves the data source and says which one was chosen on stderr.
  func resolveSource() throws -> DataSource {
    let source = try DataSource.resolve(option: data)
    Console.note("data: \(source)")
    return source
  }

  /// Resolves the text of a language model (`--data FILE.txt`, else the embedded text) and says
  /// which one was chosen on stderr.
  func resolveText() throws -> TextCorpus {
    let (corpus, description) = try TextCorpus.resolve(option: data)
    Console.note("data: \(description)")
    return corpus
  }
}

/// `--augment`, for commands that train (`train`, `finetune`).
struct AugmentationOption: ParsableArguments {
  @Flag(
    name: .long,
    help: """
      Shift each training image by up to 4 pixels (zero padded) and mirror it left to right at random, \
      afresh for every sample and epoch (RandomCrop(padding=4) and RandomHorizontalFlip).
      """)
  var augment = false

  var augmentation: ImageAugmentation? { augment ? .standard : nil }
  /// The words the checkpoint's history records for it.
  var historyEntry: String { augment ? " augment" : "" }
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

/// `--max-memory GiB`, for commands that load a model or train one: work whose estimated
/// memory does not fit is refused before it starts, instead of the process aborting when an
/// allocation fails.
struct MemoryOptions: ParsableArguments {
  @Option(
    name: .long,
    help: ArgumentHelp(
      "Memory the command may use, in GiB (default: this machine's memory; limits set by ulimit apply too).",
      valueName: "GiB"))
  var maxMemory: Double?

  func validate() throws {
    try OptionRange<Double>.memoryGiB.check(maxMemory, option: "--max-memory")
  }

  /// The limits this command runs under, `--max-memory` in place of the machine's memory.
  var budget: MemoryBudget {
    .current(memory: maxMemory.map { Int($0 * Double(1 << 30)) }, memoryName: "--max-memory is")
  }

  /// Loads a checkpoint after checking, from its header, that loading it fits in memory.
  /// - Throws: `ShearsError` naming `path`: the file is not a checkpoint (as `Checkpoint.load`
  ///   says), or loading it needs more memory than the budget allows.
  func loadCheckpoint(_ path: String) throws -> (model: Model, metadata: CheckpointMetadata, rewind: Model?) {
    let file = try MappedSafetensorsFile(path: path)
    try budget.check(Checkpoint.loadingMemory(of: file), for: path)
    return try Checkpoint.loadWithRewind(file.loadFile(), subject: path)
  }
}
