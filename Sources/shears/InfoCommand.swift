import ArgumentParser
import Foundation
import PruneEngine

struct InfoCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "info", abstract: "Show a checkpoint's layers, sparsity, size, FLOPs and history.")

  @Option(name: .long, help: ArgumentHelp("Checkpoint to describe (safetensors).", valueName: "PATH"))
  var model: String

  @OptionGroup var output: JSONOption

  func run() throws {
    let (loaded, metadata) = try Checkpoint.load(from: model)
    let report = ModelReport(loaded)
    if output.json {
      try JSONOutput.print(InfoResult(model: report, metadata: metadata))
    } else {
      print("\(model): \(report.arch)")
      if let dataset = metadata.dataset { print("dataset   \(dataset)") }
      if let accuracy = metadata.accuracy { print(String(format: "accuracy  %.4f (recorded)", accuracy)) }
      if let created = metadata.created { print("created   \(created)") }
      for entry in metadata.history { print("history   \(entry)") }
      if let epoch = metadata.rewindEpoch { print("rewind    weights of epoch \(epoch) kept") }
      print(report.table)
    }
  }
}

/// `info --json`: the model's figures plus its recorded metadata.
struct InfoResult: Encodable {
  var model: ModelReport
  var metadata: CheckpointMetadata

  enum CodingKeys: String, CodingKey { case accuracy, dataset, created, history, rewindEpoch }

  func encode(to encoder: Encoder) throws {
    try model.encode(to: encoder)
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encodeIfPresent(metadata.accuracy, forKey: .accuracy)
    try container.encodeIfPresent(metadata.dataset, forKey: .dataset)
    try container.encodeIfPresent(metadata.created, forKey: .created)
    try container.encode(metadata.history, forKey: .history)
    try container.encodeIfPresent(metadata.rewindEpoch, forKey: .rewindEpoch)
  }
}
