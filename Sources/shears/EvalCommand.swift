import ArgumentParser
import Foundation
import PruneEngine

struct EvalCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "eval", abstract: "Evaluate a checkpoint on the test set: accuracy and loss.",
    discussion: """
      A language model (gpt:...) is evaluated on text instead: --data FILE.txt, by default the \
      embedded text, its validation part or all of it (--split), in windows of the model's \
      context whose last input token is the first of the next window, so every token but the \
      first is predicted once; it reports the loss in nats per token, the perplexity and the \
      tokens predicted.
      """)

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

  @Option(name: .long, help: "Text a language model is evaluated on: validation (the last tenth) or all.")
  var split: TextSplit = .validation

  @OptionGroup var memory: MemoryOptions
  @OptionGroup var output: JSONOption

  enum TextSplit: String, ExpressibleByArgument, CaseIterable {
    case validation, all
  }

  func validate() throws {
    try OptionRange<Int>.repetitions.check(repetitions, option: "--repetitions")
  }

  func run() throws {
    let loaded = try memory.loadCheckpoint(model).model
    for warning in Checkpoint.nonFiniteWarnings(in: loaded) { Console.warning("\(model): \(warning)") }
    if let shape = loaded.languageModel {
      try evaluateLanguageModel(loaded, shape: shape)
      return
    }
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

extension EvalCommand {
  /// `eval` of a language model: loss and perplexity on the chosen text.
  private func evaluateLanguageModel(_ loaded: Model, shape: GPT.Shape) throws {
    if repetitions != nil { throw ShearsError("--repetitions", "times image evaluation; \(model) is a language model") }
    let corpus = try dataOptions.resolveText()
    let tokens = split == .all ? corpus.all : corpus.validation
    if let largest = tokens.max(), largest >= shape.vocabulary {
      throw ShearsError(model, "has a vocabulary of \(shape.vocabulary) tokens but \(corpus.path) holds token \(largest)")
    }
    try memory.budget.check(
      loaded.architecture.evaluationMemory(threads: GEMM.defaultThreads), for: model)
    let evaluation = LanguageModelEvaluator(model: loaded).evaluate(tokens)
    if output.json {
      try JSONOutput.print(TextEvaluationResult(evaluation: evaluation, split: split.rawValue))
    } else {
      try Console.output(
        String(
          format: "perplexity %.4f  loss %.4f nats/token  (%d tokens, %@ text)", evaluation.perplexity, evaluation.loss,
          evaluation.tokens, split.rawValue))
    }
  }
}

/// `eval --json` of a language model.
struct TextEvaluationResult: Encodable {
  var evaluation: TextEvaluation
  var split: String

  enum CodingKeys: String, CodingKey {
    case perplexity, loss, tokens, split
  }

  func encode(to encoder: Encoder) throws {
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encode(evaluation.perplexity, forKey: .perplexity)
    try container.encode(evaluation.loss, forKey: .loss)
    try container.encode(evaluation.tokens, forKey: .tokens)
    try container.encode(split, forKey: .split)
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
