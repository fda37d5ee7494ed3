import Foundation
import Testing

/// Every numeric option of every subcommand, given each of a set of hostile values, one option at
/// a time with the rest valid: the process always ends with 0, 1 or 2 and the contract's one
/// error line, never a trap, a crash or a file left behind.
///
/// Every run is quick: the data has 16 images, and a value that would make a run long is
/// outside its option's range, so it is refused before any work starts.
@Suite(.trainedModel) struct NumericOptionFuzzTests {
  /// Where a command writes its result, which must not exist after a failure.
  enum Output: Sendable {
    case out, csv, none
  }

  /// One numeric option and the valid arguments it is tried with.
  struct NumericOption: CustomTestStringConvertible, Sendable {
    var command: String
    var option: String
    /// The other arguments, valid, besides `--model`, `--data` and the output.
    var context: [String]
    var output: Output

    init(_ command: String, _ option: String, _ context: [String], output: Output = .none) {
      self.command = command
      self.option = option
      self.context = context
      self.output = output
    }

    var testDescription: String { "\(command) \(option)" }
  }

  static let trainContext = ["--arch", "mlp:784-16-10", "--epochs", "1", "--batch", "16"]
  static let finetuneContext = ["--epochs", "1", "--batch", "16"]
  static let sweepContext = ["--criterion", "magnitude", "--amounts", "0.5"]

  static let options: [NumericOption] = [
    NumericOption("train", "--epochs", ["--arch", "mlp:784-16-10", "--batch", "16"], output: .out),
    NumericOption("train", "--batch", ["--arch", "mlp:784-16-10", "--epochs", "1"], output: .out),
    NumericOption("train", "--lr", trainContext, output: .out),
    NumericOption("train", "--l1", trainContext, output: .out),
    NumericOption("train", "--rewind-epoch", trainContext, output: .out),
    NumericOption("train", "--seed", trainContext, output: .out),
    NumericOption("eval", "--repetitions", []),
    NumericOption("prune", "--amount", ["--criterion", "magnitude"], output: .out),
    NumericOption("prune", "--threshold", ["--criterion", "magnitude"], output: .out),
    NumericOption("prune", "--alpha", ["--criterion", "magnitude"], output: .out),
    NumericOption("prune", "--std", ["--criterion", "magnitude"], output: .out),
    NumericOption("prune", "--seed", ["--criterion", "random", "--amount", "0.5"], output: .out),
    NumericOption("prune", "--layers", ["--criterion", "magnitude", "--amount", "0.5"], output: .out),
    NumericOption("finetune", "--epochs", ["--batch", "16"], output: .out),
    NumericOption("finetune", "--batch", ["--epochs", "1"], output: .out),
    NumericOption("finetune", "--lr", finetuneContext, output: .out),
    NumericOption("finetune", "--l1", finetuneContext, output: .out),
    NumericOption("finetune", "--seed", finetuneContext, output: .out),
    NumericOption("finetune", "--target-sparsity", finetuneContext + ["--schedule", "oneshot"], output: .out),
    NumericOption(
      "finetune", "--steps", finetuneContext + ["--schedule", "iterative", "--target-sparsity", "0.75"], output: .out),
    NumericOption(
      "finetune", "--interval", finetuneContext + ["--schedule", "gradual", "--target-sparsity", "0.75"], output: .out),
    NumericOption("sweep", "--amounts", ["--criterion", "magnitude"], output: .csv),
    NumericOption("sweep", "--finetune-epochs", sweepContext, output: .csv),
    NumericOption("sweep", "--seed", ["--criterion", "random", "--amounts", "0.5"], output: .csv),
    NumericOption("sweep", "--layers", sweepContext, output: .csv),
    NumericOption("sensitivity", "--amounts", [], output: .csv),
    // A whole benchmark takes minutes in a debug build: with a missing data folder an accepted
    // value stops at the data (exit 1), so only the option's check is exercised.
    NumericOption("bench", "--repetitions", ["--suite", "mlp"]),
  ]

  /// Below, at and above the usual bounds, past the largest integers, not finite, not a number.
  static let values = ["-1", "0", "1", "4611686018427387904", "9223372036854775807", "nan", "inf", "1e309", "1e", ""]

  /// What a crashed or trapped Swift program prints.
  static let crashMarkers = ["Fatal error", "Backtracing", "Swift runtime failure", "Program crashed"]

  let trained: TrainedModel
  let data: TemporaryFolder
  let output: TemporaryFolder

  init() throws {
    trained = try TrainedModel.shared()
    data = try IDXFixture(trainCount: 16, testCount: 16).folder()
    output = try TemporaryFolder()
  }

  @Test(arguments: options, values)
  func valueEndsTheRunCleanly(_ numeric: NumericOption, _ value: String) throws {
    let written = output.path(numeric.output == .csv ? "rows.csv" : "out.safetensors")
    var arguments = [numeric.command]
    switch numeric.command {
    case "train": arguments += ["--data", data.path]
    case "bench": arguments += ["--data", output.path("missing")]
    case "finetune": arguments += ["--model", trained.pruned, "--data", data.path]
    default: arguments += ["--model", trained.model, "--data", data.path]
    }
    switch numeric.output {
    case .out: arguments += ["--out", written]
    case .csv: arguments += ["--csv", written]
    case .none: break
    }
    // `--option=value`, last: a value starting with a dash reaches the option, and an empty one
    // is not mistaken for the next argument.
    let run = try shears(arguments + numeric.context + ["\(numeric.option)=\(value)"])

    #expect(run.exitedNormally && [0, 1, 2].contains(run.status), "\(run)")
    for marker in Self.crashMarkers {
      #expect(!run.stderr.contains(marker), "\(run)")
    }
    let lines = run.stderrLines
    switch run.status {
    case 0:
      if numeric.output != .none { #expect(FileManager.default.fileExists(atPath: written), "\(run)") }
    case 1:
      #expect(lines.filter { $0.hasPrefix("shears: error:") }.count == 1, "\(run)")
      #expect(lines.last?.hasPrefix("shears: error:") == true, "\(run)")
      #expect(try output.contents() == [], "a failed run wrote a file:\n\(run)")
    default:
      // The parser's message names the option; its usage lines may follow.
      #expect(lines.first?.hasPrefix("Error: ") == true, "\(run)")
      #expect(lines.first?.contains(numeric.option) == true, "\(run)")
      #expect(lines.filter { $0.hasPrefix("Error:") }.count == 1, "\(run)")
      #expect(try output.contents() == [], "a refused run wrote a file:\n\(run)")
    }
    #expect(fileBytes(trained.model) == trained.modelBytes && fileBytes(trained.pruned) == trained.prunedBytes)
  }

  /// The values the reliability probe found trapping, crashing or running for hours are now
  /// refused as bad usage, with the option and the value named, before any work starts.
  @Test(arguments: [
    (["train", "--arch", "mlp:784-16-10", "--epochs", "9223372036854775807"], "--epochs", "9223372036854775807"),
    (["finetune", "--epochs", "92233720368547758"], "--epochs", "92233720368547758"),
    (
      ["finetune", "--epochs", "1", "--schedule", "iterative", "--target-sparsity", "0.5", "--steps", "1000000"],
      "--steps", "1000000"
    ),
    (
      ["sweep", "--criterion", "magnitude", "--amounts", "0.5", "--finetune-epochs", "92233720368547758"],
      "--finetune-epochs", "92233720368547758"
    ),
    (["eval", "--repetitions", "1000000000"], "--repetitions", "1000000000"),
    (["eval", "--repetitions", "9223372036854775807"], "--repetitions", "9223372036854775807"),
    (["bench", "--suite", "mlp", "--repetitions", "1000000000"], "--repetitions", "1000000000"),
    (["bench", "--suite", "mlp", "--repetitions", "9223372036854775807"], "--repetitions", "9223372036854775807"),
  ])
  func probeValueIsRefusedByName(_ arguments: [String], _ option: String, _ value: String) throws {
    let command = arguments[0]
    let model = command == "train" || command == "bench" ? [] : ["--model", trained.pruned]
    let out = command == "train" || command == "finetune" ? ["--out", output.path("out.safetensors")] : []
    let run = try shears([command] + model + ["--data", data.path] + out + arguments.dropFirst())
    let first = expectUsageError(run).first ?? ""
    #expect(first.hasPrefix("Error: \(option) must be ") && first.hasSuffix("(got \(value))"), "\(run)")
    #expect(try output.contents() == [])
  }

  /// Many amounts are refused rather than swept for hours.
  @Test(arguments: ["sweep", "sensitivity"])
  func thousandsOfAmountsAreRefused(_ command: String) throws {
    let amounts = (0..<2000).map { String(format: "%.4f", Double($0) / 2000) }.joined(separator: ",")
    let criterion = command == "sweep" ? ["--criterion", "magnitude"] : []
    let run = try shears([command, "--model", trained.model, "--data", data.path, "--amounts", amounts] + criterion)
    #expect(expectUsageError(run).first == "Error: --amounts must have 1 to 100 entries (got 2000)")
  }
}
