import ArgumentParser
import Foundation
import PruneEngine

struct ExportCommand: ParsableCommand {
  enum Format: String, ExpressibleByArgument, CaseIterable {
    case compact, recipe
  }

  static let configuration = CommandConfiguration(
    commandName: "export",
    abstract: "Write a pruned checkpoint in compact form, or its pruning recipe for PyTorch.",
    discussion: """
      compact: safetensors with each pruned layer's kept weights as i.weight.values plus a \
      packed bitmask (i.weight.bitmask) or CSR positions (i.weight.indices, i.weight.indptr), \
      whichever is smaller; metadata i.weight.encoding says which. Shears loads it like any \
      checkpoint. recipe: JSON with each layer's sparsity and the torch.nn.utils.prune calls \
      that reproduce it, and a Python function (key "python") that applies them to a model.
      """)

  @Option(name: .long, help: ArgumentHelp("Checkpoint to export (safetensors).", valueName: "PATH"))
  var model: String

  @Option(name: .long, help: "compact (safetensors) or recipe (JSON).")
  var format: Format

  @Option(name: .long, help: ArgumentHelp("File to write.", valueName: "PATH"))
  var out: String

  @Flag(name: .long, help: "Allow --out to overwrite the input checkpoint.")
  var force = false

  @OptionGroup var memory: MemoryOptions
  @OptionGroup var output: JSONOption

  func run() throws {
    try OutputPath.checkWritable(out, input: model, force: force)
    let (loaded, metadata, _) = try memory.loadCheckpoint(model)
    try memory.budget.check(CheckpointSizes.memory(parameterCount: loaded.parameterCount), for: model)
    switch format {
    case .compact: try exportCompact(loaded, metadata: metadata)
    case .recipe: try exportRecipe(loaded, metadata: metadata)
    }
  }

  private func exportCompact(_ loaded: Model, metadata: CheckpointMetadata) throws {
    let (file, layers) = try CompactCheckpoint.file(for: loaded, metadata: metadata, subject: out)
    let bytes = file.encoded
    try writeAtomically(bytes, to: out)
    let sizes = try CheckpointSizes(model: loaded, metadata: metadata, subject: model)
    if output.json {
      try JSONOutput.print(
        CompactExportResult(
          out: out, bytes: bytes.count, gzipBytes: sizes.compactGzip, denseFileBytes: sizes.denseFile, layers: layers))
    } else {
      try Console.output("layer      encoding      bytes")
      for layer in layers {
        try Console.output(
          layer.name.padding(toLength: 10, withPad: " ", startingAt: 0) + " "
            + layer.encoding.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0)
            + String(format: "%11d", layer.byteCount))
      }
      try Console.output(
        "wrote \(out): \(ModelReport.bytes(bytes.count)) compact (\(ModelReport.bytes(sizes.compactGzip)) gzip), "
          + "dense \(ModelReport.bytes(sizes.denseFile))"
          + String(format: " (%.1fx larger)", Double(sizes.denseFile) / Double(bytes.count)))
    }
  }

  private func exportRecipe(_ loaded: Model, metadata: CheckpointMetadata) throws {
    let recipe = PruningRecipe(model: loaded, metadata: metadata)
    let encoder = JSONEncoder()
    encoder.keyEncodingStrategy = .convertToSnakeCase
    encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
    var data = try encoder.encode(recipe)
    data.append(UInt8(ascii: "\n"))
    try writeAtomically(data, to: out)
    if output.json {
      try JSONOutput.print(RecipeExportResult(out: out, bytes: data.count, recipe: recipe))
    } else {
      for layer in recipe.layers {
        let steps = layer.steps.map { "\($0.method)(amount=\($0.amount)" + ($0.n.map { ", n=\($0)" } ?? "") + ")" }
        try Console.output(
          layer.name.padding(toLength: 10, withPad: " ", startingAt: 0)
            + String(format: " %7.2f%% pruned  ", layer.sparsity * 100)
            + (steps.isEmpty ? "not pruned" : steps.joined(separator: " then ")))
      }
      let origin =
        recipe.criterion.map { "criterion \($0)" + (recipe.scope.map { ", scope \($0)" } ?? "") }
        ?? "no pruning in the history; read from the masks"
      try Console.output("wrote \(out): recipe for \(recipe.arch) (\(origin)); apply with its \"python\" function")
    }
  }
}

/// `export --format compact --json`.
struct CompactExportResult: Encodable {
  var format = "compact"
  var out: String
  var bytes: Int
  var gzipBytes: Int
  var denseFileBytes: Int
  var layers: [CompactCheckpoint.LayerEncoding]
}

/// `export --format recipe --json`.
struct RecipeExportResult: Encodable {
  var format = "recipe"
  var out: String
  var bytes: Int
  var recipe: PruningRecipe
}
