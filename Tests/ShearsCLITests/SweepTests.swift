import Foundation
import Testing

/// `sweep` and `sensitivity` on the suite's model: rows in JSON, CSV and text, and bad input.
@Suite(.trainedModel) struct SweepTests {
  let trained: TrainedModel
  let output: TemporaryFolder
  var csv: String { output.path("rows.csv") }

  init() throws {
    trained = try TrainedModel.shared()
    output = try TemporaryFolder()
  }

  private func run(_ command: String, _ arguments: [String]) throws -> ShearsRun {
    try shears([command, "--model", trained.model, "--data", trained.data.path] + arguments)
  }

  /// The rows of a `--json` run, which must succeed with only the data source on stderr.
  private func rows(_ command: String, _ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation)
    throws -> [[String: Any]]
  {
    try rowsAndStdout(command, arguments, sourceLocation: sourceLocation).rows
  }

  private func rowsAndStdout(
    _ command: String, _ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation
  ) throws -> (rows: [[String: Any]], stdout: String) {
    let result = try run(command, arguments + ["--json"])
    try requireSuccess(result, sourceLocation: sourceLocation)
    #expect(result.stderrLines == [trained.dataNote], "\(result)", sourceLocation: sourceLocation)
    let json = try jsonObject(result, sourceLocation: sourceLocation)
    #expect(json.keys.sorted() == ["rows"], sourceLocation: sourceLocation)
    return (try #require(json["rows"] as? [[String: Any]], sourceLocation: sourceLocation), result.stdout)
  }

  /// The lines of a CSV file.
  private func csvLines() throws -> [String] {
    try String(contentsOfFile: csv, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
      .map(String.init)
  }

  // MARK: - sweep

  @Test func sweepRowsFollowTheAmounts() throws {
    let rows = try rows("sweep", ["--criterion", "magnitude", "--amounts", "0,0.5,0.9", "--csv", csv])
    #expect(rows.map { $0.keys.sorted() } == Array(repeating: ["accuracy", "amount", "loss", "sparsity"], count: 3))
    #expect(rows.map { $0["amount"] as? Double } == [0, 0.5, 0.9])
    let sparsities = rows.compactMap { $0["sparsity"] as? Double }
    // 0.9 of 12,544 and of 160 weights: 11,290 + 144 of 12,704.
    #expect(sparsities.count == 3 && sparsities[0] == 0 && isClose(sparsities[1], 0.5))
    #expect(isClose(sparsities[2], Double(11290 + 144) / 12704))
    for row in rows {
      #expect((0...1).contains(row["accuracy"] as? Double ?? -1))
      #expect((row["loss"] as? Double ?? -1) > 0)
    }
    // Amount 0 is the model itself.
    let evaluation = try jsonObject(try shears("eval", "--model", trained.model, "--data", trained.data.path, "--json"))
    #expect(isClose(rows[0]["accuracy"] as? Double ?? -1, evaluation["accuracy"] as? Double ?? -2))
    #expect(isClose(rows[0]["loss"] as? Double ?? -1, evaluation["loss"] as? Double ?? -2))

    // The CSV: a header and one line per amount, with the JSON's figures.
    let lines = try csvLines()
    #expect(lines.first == "amount,sparsity,accuracy,loss")
    #expect(lines.last == "", "the file ends with a newline")
    #expect(lines.count == 5, "\(lines)")
    for (line, row) in zip(lines.dropFirst(), rows) {
      let fields = line.split(separator: ",").map(String.init)
      #expect(fields.count == 4)
      #expect(Double(fields.first ?? "") == row["amount"] as? Double)
      for (field, key) in zip(fields.dropFirst(), ["sparsity", "accuracy", "loss"]) {
        #expect(abs((Double(field) ?? -1) - (row[key] as? Double ?? -2)) <= 5e-7, "\(key) in \(line)")
      }
    }
    #expect(fileBytes(trained.model) == trained.modelBytes)
  }

  /// Without `--json`: a table on stdout and one progress line per amount on stderr.
  @Test func sweepTextOutput() throws {
    let rows = try rows("sweep", ["--criterion", "magnitude", "--amounts", "0,0.5"])
    let result = try run("sweep", ["--criterion", "magnitude", "--amounts", "0,0.5"])
    try requireSuccess(result)
    let accuracies = rows.map { String(format: "%.4f", $0["accuracy"] as? Double ?? -1) }
    let losses = rows.map { String(format: "%.4f", $0["loss"] as? Double ?? -1) }
    expectSameText(
      result.stdout,
      """
      amount  sparsity  accuracy    loss
      0          0.00%    \(accuracies[0])  \(losses[0])
      0.5       50.00%    \(accuracies[1])  \(losses[1])

      """)
    expectSameText(
      result.stderr,
      """
      \(trained.dataNote)
      sweep: amount 0 accuracy \(accuracies[0])
      sweep: amount 0.5 accuracy \(accuracies[1])

      """)

    // `--progress` brings the progress lines back with `--json`.
    let withProgress = try run("sweep", ["--criterion", "magnitude", "--amounts", "0,0.5", "--json", "--progress"])
    try requireSuccess(withProgress)
    _ = try jsonObject(withProgress)
    expectSameText(withProgress.stderr, result.stderr)
  }

  /// Counts in `--amounts` stay integers in the JSON; fine-tuning at each amount keeps the masks.
  @Test func sweepCountsAndFineTuning() throws {
    let (rows, stdout) = try rowsAndStdout(
      "sweep", ["--criterion", "magnitude", "--amounts", "0,100,0.5", "--finetune-epochs", "1"])
    #expect(rows.map { $0["amount"] as? Double } == [0, 100, 0.5])
    #expect(stdout.contains(#""amount":100,"#), "a count is written as an integer: \(stdout)")
    let sparsities = rows.compactMap { $0["sparsity"] as? Double }
    #expect(sparsities.count == 3)
    #expect(sparsities.first == 0)
    #expect(isClose(sparsities[1], 200.0 / 12704), "100 weights of each layer")
    #expect(isClose(sparsities[2], 0.5), "fine-tuning revives no pruned weight")
  }

  /// A structured criterion: whole neurons of the hidden layer.
  @Test func sweepStructured() throws {
    let rows = try rows("sweep", ["--criterion", "neuron-l2", "--amounts", "0.25,0.5"])
    let sparsities = rows.compactMap { $0["sparsity"] as? Double }
    #expect(sparsities.count == 2)
    #expect(isClose(sparsities[0], Double(4 * 784) / 12704))
    #expect(isClose(sparsities[1], Double(8 * 784) / 12704))
  }

  // MARK: - sensitivity

  @Test func sensitivityRowsForEachLayer() throws {
    let rows = try rows("sensitivity", ["--amounts", "0.5,0.9", "--csv", csv])
    #expect(rows.map { $0["layer"] as? Int } == [0, 0, 2, 2])
    #expect(rows.map { $0["amount"] as? Double } == [0.5, 0.9, 0.5, 0.9])
    #expect(
      rows.map { $0.keys.sorted() } == Array(repeating: ["accuracy", "amount", "layer", "loss", "sparsity"], count: 4))
    // The sparsity is the pruned layer's own.
    let sparsities = rows.compactMap { $0["sparsity"] as? Double }
    let expected = [0.5, 11290.0 / 12544, 0.5, 144.0 / 160]
    #expect(sparsities.count == 4 && zip(sparsities, expected).allSatisfy { isClose($0, $1) }, "\(sparsities)")
    for row in rows { #expect((0...1).contains(row["accuracy"] as? Double ?? -1)) }

    let lines = try csvLines()
    #expect(lines.first == "layer,amount,sparsity,accuracy,loss")
    #expect(
      lines.dropFirst().map { $0.split(separator: ",").prefix(2).joined(separator: ",") } == [
        "0,0.5", "0,0.9", "2,0.5", "2,0.9", "",
      ])
    #expect(fileBytes(trained.model) == trained.modelBytes)
  }

  @Test func sensitivityTextOutput() throws {
    let result = try run("sensitivity", ["--amounts", "0.5"])
    try requireSuccess(result)
    #expect(result.stdoutLines.first == "layer  amount  sparsity  accuracy    loss")
    #expect(
      result.stdoutLines.dropFirst().map { $0.prefix(25) } == [
        "    0  0.5       50.00%  ", "    2  0.5       50.00%  ",
      ])
    #expect(
      result.stderrLines == [trained.dataNote, "sensitivity: layer 0 done", "sensitivity: layer 2 done"])
  }

  /// A neuron criterion analyses the hidden layers only: the output layer's neurons are classes.
  @Test func sensitivityWithANeuronCriterion() throws {
    let rows = try rows("sensitivity", ["--criterion", "neuron-l2", "--amounts", "0.25"])
    #expect(rows.map { $0["layer"] as? Int } == [0])
    #expect(isClose(rows.first?["sparsity"] as? Double ?? -1, 0.25))
  }

  // MARK: - Bad input

  @Test(arguments: [
    (
      "sweep", ["--criterion", "magnitude", "--amounts", "0.5,200"], "--amounts 200",
      "is more than the 160 left to prune in layer 2", true
    ),
    (
      "sweep", ["--criterion", "neuron-l2", "--scope", "global", "--amounts", "0.5"], "--criterion neuron-l2",
      "neuron scores are not comparable across layers; use --scope layer", true
    ),
    (
      "sweep", ["--criterion", "magnitude", "--amounts", "0.5", "--layers", "3"], "--layers 3",
      "no such Linear layer (the model has 0, 2)", true
    ),
    ("sensitivity", ["--amounts", "0.5,200"], "--amounts 200", "is more than the 160 left to prune in layer 2", true),
  ])
  func badValue(_ command: String, _ arguments: [String], _ subject: String, _ problem: String, _ readsData: Bool)
    throws
  {
    // With --json, nothing but the data source may precede the error.
    let result = try run(command, arguments + ["--csv", csv, "--json"])
    #expect(expectInputError(result, subject: subject, notes: readsData ? [trained.dataNote] : []) == problem)
    #expect(try output.contents() == [], "no CSV is written when the command fails")
    #expect(fileBytes(trained.model) == trained.modelBytes)
  }

  @Test(arguments: ["sweep", "sensitivity"])
  func badCSVPath(_ command: String) throws {
    let criterion = command == "sweep" ? ["--criterion", "magnitude"] : []
    let missing = output.path("missing") + "/rows.csv"
    let result = try run(command, criterion + ["--amounts", "0.5", "--csv", missing])
    #expect(expectInputError(result, subject: missing) == "folder \(output.path("missing")) does not exist")
    // These commands have no --force: the message does not offer one.
    let onModel = try run(command, criterion + ["--amounts", "0.5", "--csv", trained.model])
    #expect(expectInputError(onModel, subject: trained.model) == "is the input checkpoint; write elsewhere")
    #expect(fileBytes(trained.model) == trained.modelBytes)
  }

  @Test(arguments: [
    ("sweep", ["--amounts", "0.5"], "Error: Missing expected argument '--criterion <C>'"),
    ("sweep", ["--criterion", "magnitude"], "Error: Missing expected argument '--amounts <LIST>'"),
    (
      "sweep", ["--criterion", "magnitude", "--amounts", "0.5", "--finetune-epochs=-1"],
      "Error: --finetune-epochs must be 0 to 10000 (got -1)"
    ),
    (
      "sweep", ["--criterion", "magnitude", "--amounts", "0.5", "--finetune-epochs", "9223372036854775807"],
      "Error: --finetune-epochs must be 0 to 10000 (got 9223372036854775807)"
    ),
    ("sweep", ["--criterion", "magnitude", "--amounts", "0,1.5"], amountRange("1.5")),
    ("sweep", ["--criterion", "magnitude", "--amounts", "-0.5,0.5"], amountRange("-0.5")),
    ("sweep", ["--criterion", "magnitude", "--amounts", "0.5,nan"], amountRange("nan")),
    (
      "sweep", ["--criterion", "magnitude", "--amounts", "0,,0.5"],
      "Error: --amounts must be a comma-separated list such as 0,0.5,0.9 (got '0,,0.5')"
    ),
    (
      "sweep", ["--criterion", "magnitude", "--amounts", tooManyAmounts],
      "Error: --amounts must have 1 to 100 entries (got 101)"
    ),
    ("sensitivity", ["--amounts", "0.5,x"], amountRange("x")),
    ("sensitivity", ["--amounts", "1e309"], amountRange("1e309")),
    ("sensitivity", ["--amounts", tooManyAmounts], "Error: --amounts must have 1 to 100 entries (got 101)"),
    ("sensitivity", [], "Error: Missing expected argument '--amounts <LIST>'"),
    (
      "sensitivity", ["--amounts", "0.5", "--criterion", "bogus"],
      "Error: The value 'bogus' is invalid for '--criterion <C>'. Please provide one of the following:"
    ),
  ])
  func badUsage(_ command: String, _ arguments: [String], _ firstLine: String) throws {
    let result = try run(command, arguments + ["--csv", csv])
    #expect(expectUsageError(result).first == firstLine)
    #expect(try output.contents() == [], "no CSV is written when the command fails")
  }

  static func amountRange(_ entry: String) -> String {
    "Error: --amounts must be a fraction 0 to 1 or a whole count above 1 (got '\(entry)')"
  }

  /// One entry more than a list may have: each entry prunes and evaluates the model once.
  static let tooManyAmounts = Array(repeating: "0.5", count: 101).joined(separator: ",")

}
