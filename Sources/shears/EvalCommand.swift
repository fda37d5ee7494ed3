import ArgumentParser
import Foundation
import PruneEngine

struct EvalCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "eval", abstract: "Evaluate a checkpoint on the test set: accuracy and loss.")

  @Option(name: .long, help: ArgumentHelp("Checkpoint to evaluate (safetensors).", valueName: "PATH"))
  var model: String

  @OptionGroup var dataOptions: DataOptions

  @Option(
    name: .long,
    help: """
      Also time the evaluation: median of this many runs after a warm-up, \(OptionRange<Int>.repetitions.text) \
      (milliseconds in the output).
      """)
  var repetitions: Int?

  @OptionGroup var memory: MemoryOptions
  @OptionGroup var output: JSONOption

  func validate() throws {
    try OptionRange<Int>.repetitions.check(repetitions, option: "--repetitions")
  }

  func run() throws {
    let loaded = try memory.loadCheckpoint(model).model
    for warning in Checkpoint.nonFiniteWarnings(in: loaded) { Console.warning("\(model): \(warning)") }
    let source = try dataOptions.resolveSource()
    let test = try source.loadTest()
    try ModelCompatibility.check(loaded, modelPath: model, with: test, source: source)
    try memory.budget.check(loaded.architecture.evaluationMemory(threads: GEMM.defaultThreads), for: model)
    let evaluator = Evaluator(model: loaded)
    let evaluation = evaluator.evaluate(test)
    let milliseconds = repetitions.map { repetitions in
      1000 * KernelBenchmark.evaluationSeconds(evaluator, on: test, clock: .system, repetitions: repetitions)
    }
    if output.json {
      try JSONOutput.print(EvalResult(evaluation: evaluation, milliseconds: milliseconds))
    } else {
      try Console.output(
        String(format: "accuracy %.4f  loss %.4f  (%d of %d test images correct)",
          evaluation.accuracy, evaluation.loss, evaluation.correct, evaluation.samples))
      if let milliseconds, let repetitions {
        try Console.output(String(format: "evaluation %.2f ms (median of %d runs, %d threads)", milliseconds, repetitions, GEMM.defaultThreads))
      }
    }
  }
}

/// `eval --json`: the evaluation's keys, plus the median time when asked for.
struct EvalResult: Encodable {
  var evaluation: Evaluation
  var milliseconds: Double?

  func encode(to encoder: Encoder) throws {
    try evaluation.encode(to: encoder)
    var container = encoder.container(keyedBy: Key.self)
    try container.encodeIfPresent(milliseconds, forKey: .milliseconds)
  }

  private enum Key: String, CodingKey {
    case milliseconds
  }
}

/// Checks that a model can run on a dataset before evaluating or training it (the kernels
/// assume both, and the loss reads the logit of each label).
enum ModelCompatibility {
  static func check(_ model: Model, modelPath: String, with dataset: Dataset, source: DataSource) throws {
    try check(model.architecture, subject: modelPath, with: dataset, source: source)
  }

  /// - Throws: `ShearsError` naming `subject` when the images do not have the architecture's
  ///   input size or a label has no output.
  static func check(_ model: Architecture, subject modelPath: String, with dataset: Dataset, source: DataSource) throws {
    if let mismatch = model.inputMismatch(with: dataset, in: source.path) {
      throw ShearsError(modelPath, "model " + mismatch)
    }
    let largestLabel = Int(dataset.labels.max() ?? 0)
    guard largestLabel < model.classCount else {
      throw ShearsError(
        modelPath, "model has \(model.classCount) outputs but the labels in \(source.path) go up to \(largestLabel)")
    }
  }
}
