import Foundation
import PruneEngine
import Testing

/// `export --format compact|recipe` on a small conv net pruned by `shears prune`: the compact
/// file loads back to the same model, with each Conv2d weight stored as the matrix of one row
/// per filter; the recipe lists the weights' own shapes and structured steps over filters.
@Suite struct ConvolutionExportTests {
  /// Two conv blocks and two Linear layers on the 28x28 fixture images: conv weights
  /// `[4, 1, 5, 5]` and `[8, 4, 5, 5]`, Linear `[16, 128]` and `[10, 16]`.
  static let arch = "cnn:1x28x28-conv4k5-pool2-conv8k5-pool2-fc16-fc10"

  let folder: TemporaryFolder
  let data: TemporaryFolder
  let model: String

  init() throws {
    folder = try TemporaryFolder(prefix: "shears-conv-export")
    data = try IDXFixture(trainCount: 16, testCount: 16).folder()
    model = folder.path("model.safetensors")
    var generator = SeededGenerator(seed: 4)
    try Checkpoint.save(
      Model(architecture: try Architecture(parsing: Self.arch), generator: &generator), metadata: CheckpointMetadata(),
      to: model)
  }

  /// `shears prune` of the model into the folder, which must succeed.
  private func pruned(_ name: String, _ arguments: String...) throws -> String {
    let path = folder.path(name)
    try requireSuccess(try shears(["prune", "--model", model, "--data", data.path, "--out", path] + arguments))
    return path
  }

  /// `shears export ... --json`, which must succeed.
  private func export(_ model: String, format: String, out: String) throws -> [String: Any] {
    let run = try shears("export", "--model", model, "--format", format, "--out", out, "--json")
    try requireSuccess(run)
    return try jsonObject(run)
  }

  @Test func compactConvolutionsLoadBackToTheSameModel() throws {
    let source = try pruned("magnitude.safetensors", "--criterion", "magnitude", "--amount", "0.9")
    let out = folder.path("compact.safetensors")
    let json = try export(source, format: "compact", out: out)
    // 90% pruned in each layer. 0.weight keeps 10 of 100: a 13-byte bitmask beats CSR (10
    // one-byte columns and 5 two-byte row starts, 20 bytes). 3.weight keeps 80 of 800: CSR
    // (80 + 9 x 2 = 98) beats the 100-byte bitmask; 7.weight keeps 205 of 2,048: CSR (205 +
    // 17 x 2 = 239) beats 256; 9.weight keeps 16 of 160: the 20-byte bitmask beats CSR (38).
    #expect(column(json, "name", as: String.self) == ["0.weight", "3.weight", "7.weight", "9.weight"])
    #expect(column(json, "encoding", as: String.self) == ["bitmask", "csr", "csr", "bitmask"])

    let file = try SafetensorsFile(path: out)
    #expect(file.metadata["0.weight.shape"] == "4,1,5,5")
    #expect(file.metadata["3.weight.shape"] == "8,4,5,5")
    #expect(file.metadata["7.weight.shape"] == "16,128")
    #expect(file.tensors["3.weight.indptr"]?.shape == [9], "one row per filter")
    // The positions as another tool reads them: the packed bits of 0.weight are its mask in
    // PyTorch's [filter, channel, kh, kw] order.
    let packed = try #require(file.tensors["0.weight.bitmask"]).uint8s
    let mask = (0..<100).map { packed[$0 / 8] >> UInt8($0 % 8) & 1 }
    #expect(mask == (try SafetensorsFile(path: source)).mask(layer: 0))

    let original = try Checkpoint.load(from: source)
    let loaded = try Checkpoint.load(from: out)
    #expect(loaded.model == original.model, "the same weights, bit for bit, and the same masks")
    #expect(loaded.model.architecture.description == Self.arch)
    #expect(loaded.metadata == original.metadata)
    let evalDense = try jsonObject(try shears("eval", "--model", source, "--data", data.path, "--json"))
    let evalCompact = try jsonObject(try shears("eval", "--model", out, "--data", data.path, "--json"))
    #expect(evalCompact["correct"] as? Int == evalDense["correct"] as? Int)
    #expect(isClose(evalCompact["loss"] as? Double ?? -1, evalDense["loss"] as? Double ?? 1))
  }

  @Test func recipeOfFilterPruningListsFilters() throws {
    let source = try pruned("neurons.safetensors", "--criterion", "neuron-l2", "--amount", "0.5")
    let recipe = try #require(
      try export(source, format: "recipe", out: folder.path("recipe.json"))["recipe"] as? [String: Any])
    #expect(recipe["arch"] as? String == Self.arch)
    #expect(recipe["structured"] as? Bool == true)
    #expect(column(recipe, "shape", as: [Int].self) == [[4, 1, 5, 5], [8, 4, 5, 5], [16, 128], [10, 16]])
    #expect(column(recipe, "params", as: Int.self) == [100, 800, 2048, 160])
    #expect(column(recipe, "pruned_neurons", as: Int.self) == [2, 4, 8, 0], "half the filters and neurons, no classes")
    #expect(column(recipe, "pruned", as: Int.self) == [50, 400, 1024, 0])
    let steps = column(recipe, "steps", as: [[String: Any]].self)
    #expect(steps.map { $0?.first?["method"] as? String } == ["ln_structured", "ln_structured", "ln_structured", nil])
    #expect(steps.map { $0?.first?["n"] as? Int } == [2, 2, 2, nil])
    #expect(steps.map { $0?.first?["count"] as? Int } == [2, 4, 8, nil])

    let text = try shears("export", "--model", source, "--format", "recipe", "--out", folder.path("r.json"))
    try requireSuccess(text)
    #expect(text.stdoutLines.first == "0.weight     50.00% pruned  ln_structured(amount=0.5, n=2)")
  }
}
