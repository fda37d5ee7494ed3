import ArgumentParser
import Foundation
import PruneEngine

struct SweepCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "sweep",
    abstract: "Prune the whole model to each amount and report the accuracy-sparsity curve.",
    discussion: "Each amount starts from the input checkpoint; scores are computed once.")

  @Option(name: .long, help: ArgumentHelp("Checkpoint to sweep (safetensors).", valueName: "PATH"))
  var model: String

  @OptionGroup var criterionOptions: CriterionOptions

  @Option(
    name: .long, parsing: .unconditional,
    help: ArgumentHelp(
      "Amounts to prune, e.g. 0,0.5,0.9: \(AmountList.sizeText), each as --amount.", valueName: "LIST"))
  var amounts: String

  @Option(
    name: .long,
    help: "Fine-tune this many epochs at each amount before evaluating, \(OptionRange<Int>.finetuneEpochs.text).")
  var finetuneEpochs = 0

  @OptionGroup var dataOptions: DataOptions

  @Option(name: .long, help: ArgumentHelp("Also write the rows as CSV.", valueName: "PATH"))
  var csv: String?

  @OptionGroup var memory: MemoryOptions
  @OptionGroup var output: OutputOptions

  func validate() throws {
    _ = try AmountList.parse(amounts)
    try OptionRange<Int>.finetuneEpochs.check(finetuneEpochs, option: "--finetune-epochs")
  }

  func run() throws {
    let rules = try AmountList.parse(amounts)
    if let csv { try OutputPath.checkWritable(csv, input: model) }
    let loaded = try memory.loadCheckpoint(model).model
    let baseRequest = try criterionOptions.request(rule: .fraction(0))
    let work = try DataWork(
      options: dataOptions, model: loaded, modelPath: model,
      needsTraining: baseRequest.criterion.needsData || finetuneEpochs > 0, memory: memory.budget)
    let scores = try PruningPipeline.scores(
      for: baseRequest, model: loaded, context: work.scoringContext(seed: criterionOptions.seed))
    var rows: [CurveRow] = []
    for (text, rule) in rules {
      var request = baseRequest
      request.rule = rule
      var pruned = try AmountList.naming(text) {
        try PruningPipeline.apply(request, to: loaded, scores: scores).model
      }
      if finetuneEpochs > 0, let train = work.train {
        if output.showsProgress { Console.note("sweep: fine-tuning at amount \(text)") }
        pruned = try Trainer.train(pruned, on: train, options: FineTuning.options(epochs: finetuneEpochs)).model
      }
      let evaluation = Evaluator(model: pruned).evaluate(work.test)
      rows.append(
        CurveRow(
          layer: nil, amount: text, sparsity: ModelMetrics(pruned).sparsity, accuracy: evaluation.accuracy,
          loss: evaluation.loss))
      if output.showsProgress {
        Console.note(String(format: "sweep: amount %@ accuracy %.4f", text, evaluation.accuracy))
      }
    }
    try CurveOutput.emit(rows, json: output.json, csv: csv)
  }
}

struct SensitivityCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "sensitivity",
    abstract: "Prune each layer alone to each amount and report the accuracy (Distiller-style).",
    discussion: "Every row starts from the input checkpoint: one layer is pruned, evaluated and restored.")

  @Option(name: .long, help: ArgumentHelp("Checkpoint to analyse (safetensors).", valueName: "PATH"))
  var model: String

  @Option(name: .long, help: ArgumentHelp("Criterion (default magnitude).", valueName: "C"))
  var criterion: Criterion = .magnitude

  @Option(
    name: .long, parsing: .unconditional,
    help: ArgumentHelp(
      "Amounts to prune, e.g. 0.1,0.3,0.5,0.7,0.9: \(AmountList.sizeText), each as --amount.", valueName: "LIST"))
  var amounts: String

  @OptionGroup var dataOptions: DataOptions

  @Option(name: .long, help: ArgumentHelp("Also write the rows as CSV.", valueName: "PATH"))
  var csv: String?

  @OptionGroup var memory: MemoryOptions
  @OptionGroup var output: OutputOptions

  func validate() throws {
    _ = try AmountList.parse(amounts)
  }

  func run() throws {
    let rules = try AmountList.parse(amounts)
    if let csv { try OutputPath.checkWritable(csv, input: model) }
    let loaded = try memory.loadCheckpoint(model).model
    let work = try DataWork(
      options: dataOptions, model: loaded, modelPath: model, needsTraining: criterion.needsData,
      memory: memory.budget)
    let context = work.scoringContext(seed: 1)
    let granularity = criterion.defaultGranularity
    let allLayers = PruningRequest(criterion: criterion, rule: .fraction(0))
    let layers = try Pruner.targetLayers(of: loaded, request: allLayers)
    let scores = try PruningPipeline.scores(for: allLayers, model: loaded, context: context)
    var rows: [CurveRow] = []
    for layer in layers {
      for (text, rule) in rules {
        let request = PruningRequest(criterion: criterion, granularity: granularity, rule: rule, layers: [layer])
        let pruned = try AmountList.naming(text) {
          try PruningPipeline.apply(request, to: loaded, scores: scores).model
        }
        let evaluation = Evaluator(model: pruned).evaluate(work.test)
        let sparsity = ModelMetrics(pruned).layers.first { $0.name == layer.appending("weight").description }?.sparsity ?? 0
        rows.append(
          CurveRow(layer: layer, amount: text, sparsity: sparsity, accuracy: evaluation.accuracy, loss: evaluation.loss))
      }
      if output.showsProgress { Console.note("sensitivity: layer \(layer) done") }
    }
    try CurveOutput.emit(rows, json: output.json, csv: csv)
  }
}

/// `--amounts 0,0.5,0.9`: each entry a fraction or a count, as `--amount`.
enum AmountList {
  /// How many entries a list may have, in words for help: each entry prunes and evaluates the
  /// model once (and fine-tunes it with `sweep --finetune-epochs`), so a list is a bounded run.
  static var sizeText: String { "\(OptionRange<Int>.amountCount.text) entries" }

  /// The entries and their rules.
  /// - Throws: `ValidationError` (bad usage) for an empty entry, too many entries or an entry
  ///   that is not an amount.
  static func parse(_ text: String) throws -> [(text: String, rule: PruningRule)] {
    let fields = text.split(separator: ",", omittingEmptySubsequences: false).map {
      $0.trimmingCharacters(in: .whitespaces)
    }
    guard !fields.contains("") else {
      throw ValidationError("--amounts must be a comma-separated list such as 0,0.5,0.9 (got '\(text)')")
    }
    guard OptionRange<Int>.amountCount.contains(fields.count) else {
      throw ValidationError("--amounts must have \(sizeText) (got \(fields.count))")
    }
    return try fields.map { ($0, try AmountOptions.parseAmount($0, option: "--amounts")) }
  }

  /// Runs `body` for one entry of `--amounts`; an engine error about the amount (which the
  /// engine names `--amount N`, the `prune` option) is reported as `--amounts N`, the option given.
  static func naming<Result>(_ entry: String, _ body: () throws -> Result) throws -> Result {
    do {
      return try body()
    } catch let error as ShearsError where error.subject.hasPrefix("--amount ") {
      throw ShearsError("--amounts \(entry)", error.problem)
    }
  }
}

/// One point of an accuracy-sparsity curve; `layer` is set for sensitivity rows.
struct CurveRow: Encodable {
  var layer: ParameterPath?
  var amount: String
  var sparsity: Double
  var accuracy: Double
  var loss: Double

  enum CodingKeys: String, CodingKey { case layer, amount, sparsity, accuracy, loss }

  func encode(to encoder: Encoder) throws {
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encodeIfPresent(layer.map(LayerName.init), forKey: .layer)
    // A count stays an integer in JSON; a fraction a number.
    if let count = Int(amount) { try container.encode(count, forKey: .amount) } else {
      try container.encode(Double(amount) ?? 0, forKey: .amount)
    }
    try container.encode(sparsity, forKey: .sparsity)
    try container.encode(accuracy, forKey: .accuracy)
    try container.encode(loss, forKey: .loss)
  }
}

/// Prints curve rows as a table or JSON and writes them as CSV.
enum CurveOutput {
  static func emit(_ rows: [CurveRow], json: Bool, csv: String?) throws {
    let hasLayer = rows.contains { $0.layer != nil }
    if let csv {
      var text = (hasLayer ? "layer," : "") + "amount,sparsity,accuracy,loss\n"
      for row in rows {
        text += (row.layer.map { "\($0)," } ?? "")
          + String(format: "%@,%.6f,%.6f,%.6f\n", row.amount, row.sparsity, row.accuracy, row.loss)
      }
      try writeAtomically(Data(text.utf8), to: csv)
    }
    if json {
      struct Rows: Encodable { var rows: [CurveRow] }
      try JSONOutput.print(Rows(rows: rows))
      return
    }
    try Console.output((hasLayer ? "layer  " : "") + "amount  sparsity  accuracy    loss")
    for row in rows {
      try Console.output(
        (row.layer.map { $0.description.leftPadded(to: 5) + "  " } ?? "")
          + row.amount.padding(toLength: 6, withPad: " ", startingAt: 0)
          + String(format: "  %7.2f%%  %8.4f  %6.4f", row.sparsity * 100, row.accuracy, row.loss))
    }
  }
}
