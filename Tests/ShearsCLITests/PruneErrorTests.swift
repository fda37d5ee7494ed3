import Foundation
import Testing

/// `prune` refusing values the model or data rule out (exit 1, one error line naming the value)
/// and bad usage, values outside an option's range included (exit 2, the parser's message); in
/// every case the input checkpoint is byte-identical afterwards and no
/// output file is written.
@Suite(.trainedModel) struct PruneErrorTests {
  let trained: TrainedModel
  let output: TemporaryFolder
  var out: String { output.path("out.safetensors") }

  init() throws {
    trained = try TrainedModel.shared()
    output = try TemporaryFolder()
  }

  /// A bad value: the arguments after `--model/--data/--out`, the subject and problem of the
  /// error line, and whether the data was read (its source line comes first) before it was found.
  struct BadValue: CustomTestStringConvertible, Sendable {
    var arguments: [String]
    var subject: String
    var problem: String
    var readsData = true
    /// Prune the fixture's 50%-pruned model instead of the dense one.
    var onPruned = false

    var testDescription: String { arguments.joined(separator: " ") + (onPruned ? " (on pruned)" : "") }
  }

  static let badValues: [BadValue] = [
    BadValue(
      arguments: ["--criterion", "magnitude", "--amount", "200"], subject: "--amount 200",
      problem: "is more than the 160 left to prune in layer 2"),
    BadValue(
      arguments: ["--criterion", "magnitude", "--amount", "100"], subject: "--amount 100",
      problem: "is more than the 80 left to prune in layer 2", onPruned: true),
    BadValue(
      arguments: ["--criterion", "magnitude", "--amount", "0.5", "--layers", "7"], subject: "--layers 7",
      problem: "no such Linear layer (the model has 0, 2)"),
    BadValue(
      arguments: ["--criterion", "magnitude", "--amount", "0.5", "--layers", "1"], subject: "--layers 1",
      problem: "no such Linear layer (the model has 0, 2)"),
    BadValue(
      arguments: ["--criterion", "magnitude", "--amount", "0.5", "--layers", "0,x-1"], subject: "--layers 0,x-1",
      problem: "'x-1' is not a layer name (a module path as the state dict names it: 0,2 in an MLP)",
      readsData: false),
    BadValue(
      arguments: ["--criterion", "magnitude", "--amount", "0.5", "--layers", "0,layer1"], subject: "--layers layer1",
      problem: "no such Linear layer (the model has 0, 2)"),
    BadValue(
      arguments: ["--criterion", "neuron-l2", "--amount", "0.5", "--layers", "2"], subject: "--layers 2",
      problem: "is the output layer; its neurons are the classes and cannot be pruned"),
    BadValue(
      arguments: ["--criterion", "neuron-l2", "--amount", "0.5", "--layers", "4"], subject: "--layers 4",
      problem: "no such Linear layer (the model has 0, 2)"),
    BadValue(
      arguments: ["--criterion", "neuron-l2", "--scope", "global", "--amount", "0.5"],
      subject: "--criterion neuron-l2", problem: "neuron scores are not comparable across layers; use --scope layer"),
    BadValue(
      arguments: ["--criterion", "magnitude", "--scope", "global", "--std", "1"], subject: "--std",
      problem: "is a per-layer rule; use it with --scope layer"),
  ]

  @Test(arguments: badValues)
  func badValue(_ bad: BadValue) throws {
    let model = bad.onPruned ? trained.pruned : trained.model
    let run = try shears(["prune", "--model", model, "--data", trained.data.path, "--out", out] + bad.arguments)
    let message = expectInputError(run, subject: bad.subject, notes: bad.readsData ? [trained.dataNote] : [])
    #expect(message == bad.problem)
    expectUntouched()
  }

  /// A data-driven criterion with a data folder that does not exist.
  @Test func missingDataFolder() throws {
    let run = try shears(
      "prune", "--model", trained.model, "--data", "/nope", "--criterion", "gradient", "--amount", "0.5", "--out", out)
    #expect(expectInputError(run, subject: "/nope") == "no such data folder")
    expectUntouched()
  }

  @Test func outputFolderDoesNotExist() throws {
    let folder = output.path("missing")
    let run = try shears(
      "prune", "--model", trained.model, "--data", trained.data.path, "--criterion", "magnitude", "--amount", "0.5",
      "--out", folder + "/out.safetensors")
    #expect(expectInputError(run, subject: folder + "/out.safetensors") == "folder \(folder) does not exist")
    expectUntouched()
  }

  @Test func outputIsTheInputWithoutForce() throws {
    let run = try shears(
      "prune", "--model", trained.model, "--data", trained.data.path, "--criterion", "magnitude", "--amount", "0.5",
      "--out", trained.model)
    #expect(
      expectInputError(run, subject: trained.model)
        == "is the input checkpoint; write elsewhere or pass --force to replace it")
    expectUntouched()
  }

  @Test func missingModel() throws {
    let model = output.path("none.safetensors")
    let run = try shears(
      "prune", "--model", model, "--data", trained.data.path, "--criterion", "magnitude", "--amount", "0.5", "--out",
      out)
    #expect(expectInputError(run, subject: model) == "cannot open: No such file or directory")
    #expect(try output.contents() == [])
  }

  static let usage = "Usage: shears prune [<options>] --model <PATH> --criterion <C> --out <PATH>"

  /// Bad usage: exit 2 and the parser's message, whose first line names the problem.
  @Test(arguments: [
    (
      ["--criterion", "bogus", "--amount", "0.5"],
      "Error: The value 'bogus' is invalid for '--criterion <C>'. Please provide one of the following:"
    ),
    (["--criterion", "magnitude", "--amount", "0.5", "--threshold", "0.1"], exactlyOne),
    (["--criterion", "magnitude", "--alpha", "0.1", "--std", "1"], exactlyOne),
    (["--criterion", "magnitude"], exactlyOne),
    (["--amount", "0.5"], "Error: Missing expected argument '--criterion <C>'"),
    (
      ["--criterion", "magnitude", "--amount", "0.5", "--scope", "model"],
      "Error: The value 'model' is invalid for '--scope <scope>'. Please provide one of 'layer', 'global' or 'row'."
    ),
    (["--criterion", "magnitude", "--alpha", "big"], "Error: The value 'big' is invalid for '--alpha <A>'"),
    (["--criterion", "magnitude", "--amount", "1.5"], amountRange("1.5")),
    (["--criterion", "magnitude", "--amount", "-0.1"], amountRange("-0.1")),
    (["--criterion", "magnitude", "--amount", "2.0"], amountRange("2.0")),
    (["--criterion", "magnitude", "--amount", "half"], amountRange("half")),
    (["--criterion", "magnitude", "--amount", "nan"], amountRange("nan")),
    (["--criterion", "magnitude", "--amount", "1e309"], amountRange("1e309")),
    (["--criterion", "magnitude", "--alpha", "-1"], "Error: --alpha must be 0 or more (got -1.0)"),
    (["--criterion", "magnitude", "--alpha", "nan"], "Error: --alpha must be 0 or more (got nan)"),
    (["--criterion", "magnitude", "--std", "-1"], "Error: --std must be 0 or more (got -1.0)"),
    (["--criterion", "magnitude", "--std", "inf"], "Error: --std must be 0 or more (got inf)"),
    (["--criterion", "magnitude", "--threshold", "inf"], "Error: --threshold must be a finite number (got inf)"),
    (["--criterion", "magnitude", "--threshold", "-1e309"], "Error: --threshold must be a finite number (got -inf)"),
  ])
  func badUsage(_ arguments: [String], _ firstLine: String) throws {
    let run = try shears(["prune", "--model", trained.model, "--data", trained.data.path, "--out", out] + arguments)
    let lines = expectUsageError(run)
    #expect(lines.first == firstLine)
    #expect(lines.contains(Self.usage), "\(run)")
    expectUntouched()
  }

  static let exactlyOne = "Error: give exactly one of --amount, --threshold, --alpha or --std"

  static func amountRange(_ value: String) -> String {
    "Error: --amount must be a fraction 0 to 1 or a whole count above 1 (got '\(value)')"
  }

  @Test func missingOutIsBadUsage() throws {
    let run = try shears(
      "prune", "--model", trained.model, "--data", trained.data.path, "--criterion", "magnitude", "--amount", "0.5")
    #expect(expectUsageError(run).first == "Error: Missing expected argument '--out <PATH>'")
    expectUntouched()
  }

  private func expectUntouched(sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(fileBytes(trained.model) == trained.modelBytes, "the input changed", sourceLocation: sourceLocation)
    #expect(fileBytes(trained.pruned) == trained.prunedBytes, "the input changed", sourceLocation: sourceLocation)
    #expect((try? output.contents()) == [], "an output file was written", sourceLocation: sourceLocation)
  }
}
