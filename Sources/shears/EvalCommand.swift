import ArgumentParser
import Foundation
import PruneEngine

struct EvalCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "eval", abstract: "Evaluate a checkpoint on the test set: accuracy and loss.")

  @Option(name: .long, help: ArgumentHelp("Checkpoint to evaluate (safetensors).", valueName: "PATH"))
  var model: String

  @OptionGroup var dataOptions: DataOptions
  @OptionGroup var output: JSONOption

  func run() throws {
    let (loaded, _) = try Checkpoint.load(from: model)
    for warning in Checkpoint.nonFiniteWarnings(in: loaded) { Console.warning("\(model): \(warning)") }
    let source = try dataOptions.resolveSource()
    let test = try source.loadTest()
    try ModelCompatibility.check(loaded, modelPath: model, with: test, source: source)
    let evaluation = Evaluator(model: loaded).evaluate(test)
    if output.json {
      try JSONOutput.print(evaluation)
    } else {
      print(
        String(format: "accuracy %.4f  loss %.4f  (%d of %d test images correct)",
          evaluation.accuracy, evaluation.loss, evaluation.correct, evaluation.samples))
    }
  }
}

/// Checks that a model can run on a dataset before evaluating or training it.
enum ModelCompatibility {
  static func check(_ model: Model, modelPath: String, with dataset: Dataset, source: DataSource) throws {
    guard model.inputCount == dataset.featureCount else {
      throw ShearsError(
        modelPath,
        "model takes \(model.inputCount) inputs but the images in \(source.directory) have \(dataset.featureCount) pixels")
    }
    let largestLabel = Int(dataset.labels.max() ?? 0)
    guard largestLabel < model.classCount else {
      throw ShearsError(
        modelPath, "model has \(model.classCount) outputs but the labels in \(source.directory) go up to \(largestLabel)")
    }
  }
}
