import Testing

/// `--help` for the root command and every subcommand, compared as whole texts (as
/// apple/swift-argument-parser's MathExampleTests do), and usage errors at the root.
@Suite struct HelpTests {
  /// Runs `shears <arguments> --help` and compares stdout with `expected`; help ends with a
  /// newline the parser sometimes doubles, which is not compared.
  private func expectHelp(_ arguments: [String], _ expected: String, sourceLocation: SourceLocation = #_sourceLocation)
    throws
  {
    let run = try shears(arguments + ["--help"])
    expectSuccess(run, sourceLocation: sourceLocation)
    #expect(run.stderr.isEmpty, "stderr is not empty:\n\(run)", sourceLocation: sourceLocation)
    #expect(run.stdout.hasSuffix("\n"), sourceLocation: sourceLocation)
    var text = run.stdout
    while text.hasSuffix("\n") { text.removeLast() }
    #expect(text == expected, sourceLocation: sourceLocation)
  }

  @Test func root() throws {
    try expectHelp(
      [],
      """
      OVERVIEW: Explore neural-network pruning: score, prune, measure and fine-tune a
      model.

      Data: --data DIR, else $SHEARS_DATA, else /usr/share/datasets/fashion-mnist,
      else the embedded Fashion-MNIST subset; the chosen source is printed on stderr.

      USAGE: shears <subcommand>

      OPTIONS:
        -h, --help              Show help information.

      SUBCOMMANDS:
        explore (default)       Open the interactive pruning explorer (the default
                                command).
        train                   Train a model from scratch, evaluate it on the test
                                set and save a checkpoint.
        eval                    Evaluate a checkpoint on the test set: accuracy and
                                loss.
        info                    Show a checkpoint's layers, sparsity, size, FLOPs and
                                history.
        bench                   Measure the engine: GEMM GFLOP/s, training samples/s
                                and test-set evaluation time.

        See 'shears help <subcommand>' for detailed help.
      """)
  }

  @Test func explore() throws {
    try expectHelp(
      ["explore"],
      """
      OVERVIEW: Open the interactive pruning explorer (the default command).

      USAGE: shears explore [--model <PATH>] [--data <DIR>]

      OPTIONS:
        --model <PATH>          Checkpoint to open (safetensors).
        --data <DIR>            Folder of MNIST-format IDX files (optionally .gz).
        -h, --help              Show help information.
      """)
  }

  @Test func train() throws {
    try expectHelp(
      ["train"],
      """
      OVERVIEW: Train a model from scratch, evaluate it on the test set and save a
      checkpoint.

      ARCH: mlp:W0-W1-...-Wn — Linear layers W0 -> W1 -> ... -> Wn with ReLU between
      and softmax cross-entropy on the outputs; W0 is the input size (784 for 28x28
      images) and Wn the number of classes. mlp:784-300-100-10 is LeNet-300-100.

      USAGE: shears train --arch <ARCH> [--data <DIR>] [--epochs <epochs>] [--batch <batch>] [--optimizer <optimizer>] [--lr <lr>] [--lr-schedule <lr-schedule>] [--seed <seed>] --out <PATH> [--json] [--progress]

      OPTIONS:
        --arch <ARCH>           Architecture, e.g. mlp:784-300-100-10.
        --data <DIR>            Folder of MNIST-format IDX files (optionally .gz).
        --epochs <epochs>       Passes over the training set. (default: 10)
        --batch <batch>         Samples per optimizer step. (default: 64)
        --optimizer <optimizer> adam or sgd (with momentum 0.9). (values: adam, sgd;
                                default: adam)
        --lr <lr>               Learning rate (default 0.001 for adam, 0.05 for sgd).
        --lr-schedule <lr-schedule>
                                Learning-rate schedule: cosine (decays to zero over
                                the run) or constant. (values: constant, cosine;
                                default: cosine)
        --seed <seed>           Seed for initialisation and shuffling. (default: 1)
        --out <PATH>            Checkpoint to write (safetensors).
        --json                  Print exactly one JSON object on stdout.
        --progress              Show progress on stderr even with --json.
        -h, --help              Show help information.
      """)
  }

  @Test func eval() throws {
    try expectHelp(
      ["eval"],
      """
      OVERVIEW: Evaluate a checkpoint on the test set: accuracy and loss.

      USAGE: shears eval --model <PATH> [--data <DIR>] [--json]

      OPTIONS:
        --model <PATH>          Checkpoint to evaluate (safetensors).
        --data <DIR>            Folder of MNIST-format IDX files (optionally .gz).
        --json                  Print exactly one JSON object on stdout.
        -h, --help              Show help information.
      """)
  }

  @Test func info() throws {
    try expectHelp(
      ["info"],
      """
      OVERVIEW: Show a checkpoint's layers, sparsity, size, FLOPs and history.

      USAGE: shears info --model <PATH> [--json]

      OPTIONS:
        --model <PATH>          Checkpoint to describe (safetensors).
        --json                  Print exactly one JSON object on stdout.
        -h, --help              Show help information.
      """)
  }

  @Test func bench() throws {
    try expectHelp(
      ["bench"],
      """
      OVERVIEW: Measure the engine: GEMM GFLOP/s, training samples/s and test-set
      evaluation time.

      Figures are medians of several runs of LeNet-300-100 (mlp:784-300-100-10) at
      batch 64. Build with -c release; a debug build is 10 to 100 times slower.

      USAGE: shears bench [--data <DIR>] [--json] [--progress] [--repetitions <repetitions>]

      OPTIONS:
        --data <DIR>            Folder of MNIST-format IDX files (optionally .gz).
        --json                  Print exactly one JSON object on stdout.
        --progress              Show progress on stderr even with --json.
        --repetitions <repetitions>
                                Repetitions per measurement (the median is reported).
                                (default: 5)
        -h, --help              Show help information.
      """)
  }

  /// `shears help <subcommand>` prints the same text as `shears <subcommand> --help`.
  @Test(arguments: ["explore", "train", "eval", "info", "bench"])
  func helpSubcommandMatchesHelpFlag(_ subcommand: String) throws {
    let viaFlag = try shears(subcommand, "--help")
    let viaHelp = try shears("help", subcommand)
    expectSuccess(viaHelp)
    #expect(viaHelp.stdout == viaFlag.stdout)
  }

  /// An unknown subcommand or option is bad usage: exit 2 and the parser's one-line reason first.
  @Test(arguments: [
    (["frobnicate"], "Error: Unexpected argument 'frobnicate'"),
    (["--frobnicate"], "Error: Unknown option '--frobnicate'"),
    (
      ["train", "--arch", "mlp:784-16-10", "--out", "m.safetensors", "--frobnicate"],
      "Error: Unknown option '--frobnicate'"
    ),
    (["info", "--model", "m.safetensors", "--progress"], "Error: Unknown option '--progress'"),
  ])
  func unknownSubcommandOrOption(_ arguments: [String], _ firstLine: String) throws {
    let lines = expectUsageError(try shears(arguments))
    #expect(lines.first == firstLine)
  }
}
