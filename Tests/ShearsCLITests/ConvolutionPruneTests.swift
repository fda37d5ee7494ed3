import Foundation
import PruneEngine
import Testing

/// `prune`, `sweep`, `sensitivity`, `finetune` and `info` on a small trained convolutional model:
/// filter pruning with `--shrink` (same outputs, smaller layers, FLOPs per output position),
/// every criterion's counts per layer, the filters column of the tables, and bad input.
@Suite(.trainedConvolutionalModel) struct ConvolutionPruneTests {
  let trained: ConvolutionalModel
  let output: TemporaryFolder

  init() throws {
    trained = try ConvolutionalModel.shared()
    output = try TemporaryFolder()
  }

  /// `shears <command> --model <model> --data <fixture> <arguments>`.
  private func run(_ command: String, _ arguments: [String], model: String? = nil) throws -> ShearsRun {
    try shears([command, "--model", model ?? trained.model, "--data", trained.data.path] + arguments)
  }

  /// `prune ... --out <name> --json <arguments>`, which must succeed with only the data source on
  /// stderr; returns the JSON.
  private func prune(
    _ arguments: [String], out name: String = "out.safetensors", model: String? = nil,
    sourceLocation: SourceLocation = #_sourceLocation
  ) throws -> [String: Any] {
    let result = try run("prune", arguments + ["--out", output.path(name), "--json"], model: model)
    try requireSuccess(result, sourceLocation: sourceLocation)
    #expect(result.stderrLines == [trained.dataNote], "\(result)", sourceLocation: sourceLocation)
    return try jsonObject(result, sourceLocation: sourceLocation)
  }

  /// The `pruned` entries of `prune --json`: (layer, pruned, kept before).
  private func prunedEntries(_ json: [String: Any]) -> [[Int?]] {
    let layers = column(json, "layer", of: "pruned", as: Int.self)
    let pruned = column(json, "pruned", of: "pruned", as: Int.self)
    let keptBefore = column(json, "kept_before", of: "pruned", as: Int.self)
    return zip(layers, zip(pruned, keptBefore)).map { [$0, $1.0, $1.1] }
  }

  // MARK: - Filter pruning and shrinking

  /// Half of conv 3's four filters by L1 norm, masked and then shrunk: the shrunk file has 2
  /// filters in layer 3 and 2 · 25 flattened features fewer in layer 7, FLOPs count every output
  /// position, and the two models evaluate alike.
  @Test func filterL1WithShrinkRemovesFiltersAndKeepsTheOutputs() throws {
    let arguments = ["--criterion", "filter-l1", "--layers", "3", "--amount", "0.5"]
    let masked = try prune(arguments, out: "masked.safetensors")
    let shrunk = try prune(arguments + ["--shrink"], out: "shrunk.safetensors")
    #expect(prunedEntries(masked) == [[3, 2, 4]] && prunedEntries(shrunk) == [[3, 2, 4]])

    // Masked: 2 of 4 filters kept; the dense count is per output position: conv 0
    // (2 · 75 + 3) · 576, conv 3 (2 · 108 + 4) · 100, then 2 · 1600 + 16 and 2 · 160 + 10.
    #expect(column(masked, "nonzero", as: Int.self) == [75, 54, 1600, 160])
    #expect(column(masked, "live_rows", as: Int.self) == [3, 2, 16, 10])
    #expect(column(masked, "rows", as: Int.self) == [3, 4, 16, 10])
    #expect(column(masked, "kind", as: String.self) == ["conv", "conv", "linear", "linear"])
    #expect(masked["flops_dense"] as? Int == 88128 + 22000 + 3216 + 330)
    #expect(masked["flops_sparse"] as? Int == 88128 + (2 * 54 + 4) * 100 + 3216 + 330)
    #expect(column(masked, "flops_dense", as: Int.self) == [88128, 22000, 3216, 330])

    // Shrunk: layer 3 is 2x3x3x3, layer 7 reads 2 channels of 5x5.
    #expect(column(shrunk, "shape", as: [Int].self) == [[3, 1, 5, 5], [2, 3, 3, 3], [16, 50], [10, 16]])
    #expect(shrunk["params"] as? Int == 75 + 54 + 800 + 160)
    #expect(shrunk["flops_dense"] as? Int == 88128 + (2 * 54 + 2) * 100 + (2 * 800 + 16) + 330)
    #expect(shrunk["flops_sparse"] as? Int == shrunk["flops_dense"] as? Int)
    let file = try SafetensorsFile(path: output.path("shrunk.safetensors"))
    #expect(file.tensors["3.weight"]?.shape == [2, 3, 3, 3] && file.tensors["7.weight"]?.shape == [16, 50])
    #expect(file.history.last == "prune filter-l1 scope=layer layers=3 amount=0.5 shrink")

    // The same predictions and loss, here and from `eval`.
    #expect(masked["accuracy"] as? Double == shrunk["accuracy"] as? Double)
    let lossDifference = abs((masked["loss"] as? Double ?? 0) - (shrunk["loss"] as? Double ?? 1))
    #expect(lossDifference <= 1e-5, "loss differs by \(lossDifference)")
    let evaluations = try ["masked", "shrunk"].map { name in
      let result = try shears(
        "eval", "--model", output.path("\(name).safetensors"), "--data", trained.data.path, "--json")
      try requireSuccess(result)
      return try jsonObject(result)
    }
    #expect(evaluations[0]["accuracy"] as? Double == evaluations[1]["accuracy"] as? Double)
    #expect(abs((evaluations[0]["loss"] as? Double ?? 0) - (evaluations[1]["loss"] as? Double ?? 1)) <= 1e-5)
    #expect(fileBytes(trained.model) == trained.modelBytes, "the input checkpoint changed")
  }

  /// The text tables of `prune` and `info` show filters kept out of each convolution's filters.
  @Test func tablesShowFiltersKeptForConvolutions() throws {
    let out = output.path("out.safetensors")
    let result = try run("prune", ["--criterion", "filter-l1", "--layers", "3", "--amount", "0.5", "--out", out])
    try requireSuccess(result)
    let lines = result.stdoutLines
    let table = [
      "layer      shape         params   nonzero  sparsity  compression  ties at cut  filters",
      "0.weight   3x1x5x5           75        75     0.00%         1.0x            0      3/3",
      "3.weight   4x3x3x3          108        54    50.00%         2.0x            0      2/4",
      "7.weight   16x100          1600      1600     0.00%         1.0x            0",
      "9.weight   10x16            160       160     0.00%         1.0x            0",
      "total                      1943      1889     2.78%         1.0x",
    ]
    #expect(Array(lines.prefix(6)) == table, "\(result)")
    #expect(lines.contains("layer 3: pruned 2 of 4 filters still kept"), "\(result)")
    #expect(!lines.contains { $0.hasPrefix("shrink:") }, "nothing is removed without --shrink")
    let shrunk = try run(
      "prune",
      [
        "--criterion", "filter-l1", "--layers", "3", "--amount", "0.5", "--shrink", "--out",
        output.path("s.safetensors"),
      ])
    try requireSuccess(shrunk)
    #expect(
      shrunk.stdoutLines.contains(
        "3.weight   2x3x3x3           54        54     0.00%         1.0x            0      2/2"))
    #expect(shrunk.stdoutLines.contains("shrink: layer 3 keeps 2 of 4 filters"), "\(shrunk)")

    let info = try shears("info", "--model", out)
    try requireSuccess(info)
    #expect(info.stdoutLines.contains(table[2]) && info.stdoutLines.contains(table[0]), "\(info)")
  }

  // MARK: - Every criterion

  struct Case: CustomTestStringConvertible, Sendable {
    var arguments: [String]
    /// (layer, pruned, kept before) per pruned layer.
    var entries: [[Int?]]
    var testDescription: String { arguments.joined(separator: " ") }
  }

  /// Half of each layer's weights: round(0.5 · n) with n = 75, 108, 1600, 160 (37.5 rounds to 38).
  static let weightEntries: [[Int?]] = [[0, 38, 75], [3, 54, 108], [7, 800, 1600], [9, 80, 160]]
  /// Half of each hidden layer's filters or neurons: round(1.5) = 2 of 3, 2 of 4, 8 of 16.
  static let rowEntries: [[Int?]] = [[0, 2, 3], [3, 2, 4], [7, 8, 16]]

  static let cases: [Case] =
    ["magnitude", "random", "gradient", "taylor"].map { Case(arguments: ["--criterion", $0], entries: weightEntries) }
    + ["neuron-l2", "filter-l1", "activation", "apoz", "redundancy"].map {
      Case(arguments: ["--criterion", $0], entries: rowEntries)
    } + [Case(arguments: ["--criterion", "taylor", "--structured"], entries: rowEntries)]

  @Test(arguments: cases)
  func everyCriterionPrunesConvolutionsInLayerScope(_ test: Case) throws {
    let json = try prune(test.arguments + ["--amount", "0.5"])
    #expect(prunedEntries(json) == test.entries)
    let nonzero = try #require(json["nonzero"] as? Int)
    let pruned = test.entries.reduce(0) { sum, entry in
      let layer = ConvolutionalModel.layers.firstIndex(of: entry[0] ?? -1) ?? 0
      // Weights pruned: one per unit, or a whole row of weights per filter or neuron.
      let perUnit =
        test.entries == Self.rowEntries ? ConvolutionalModel.weights[layer] / ConvolutionalModel.rows[layer] : 1
      return sum + (entry[1] ?? 0) * perUnit
    }
    #expect(nonzero <= 1943 - pruned, "a pruned weight is exactly zero")
  }

  /// Global scope ranks Linear and Conv2d weights together: round(0.5 · 1943) = 972 (971.5 to
  /// even); taylor and apoz rank filters and neurons together: round(0.5 · 23) = 12.
  @Test(arguments: [
    (["--criterion", "magnitude"], 972), (["--criterion", "gradient"], 972),
    (["--criterion", "taylor", "--structured"], 12), (["--criterion", "apoz"], 12),
  ])
  func globalScopeRanksConvolutionsWithLinearLayers(_ arguments: [String], _ total: Int) throws {
    let json = try prune(arguments + ["--scope", "global", "--amount", "0.5"])
    let entries = prunedEntries(json)
    #expect(entries.reduce(0) { $0 + ($1[1] ?? 0) } == total, "\(entries)")
    #expect(entries.map { $0[0] } == (total == 972 ? [0, 3, 7, 9] : [0, 3, 7]))
  }

  @Test func filterL1RefusesGlobalScopeAndLayersItCannotPrune() throws {
    let cases: [([String], String, String)] = [
      (
        ["--criterion", "filter-l1", "--scope", "global"], "--criterion filter-l1",
        "neuron scores are not comparable across layers; use --scope layer"
      ),
      (
        ["--criterion", "filter-l1", "--layers", "9"], "--layers 9",
        "is the output layer; its neurons are the classes and cannot be pruned"
      ),
      (
        ["--criterion", "magnitude", "--layers", "2"], "--layers 2",
        "no such Linear or Conv2d layer (the model has 0, 3, 7, 9)"
      ),
    ]
    for (arguments, subject, problem) in cases {
      let result = try run("prune", arguments + ["--amount", "0.5", "--out", output.path("out.safetensors")])
      #expect(expectInputError(result, subject: subject, notes: [trained.dataNote]) == problem)
    }
    #expect(try output.contents().isEmpty)
  }

  // MARK: - Sweep, sensitivity and fine-tuning

  @Test func sweepAndSensitivityRunOnConvolutions() throws {
    let sweep = try run("sweep", ["--criterion", "filter-l1", "--amounts", "0,0.5", "--json"])
    try requireSuccess(sweep)
    let rows = try #require(try jsonObject(sweep)["rows"] as? [[String: Any]])
    // Half of the filters and hidden neurons: 2 · 25 + 2 · 27 + 8 · 100 weights.
    let sparsities = rows.map { $0["sparsity"] as? Double ?? -1 }
    #expect(sparsities.count == 2 && isClose(sparsities[0], 0) && isClose(sparsities[1], 904.0 / 1943))

    let sensitivity = try run("sensitivity", ["--amounts", "0.5", "--json"])
    try requireSuccess(sensitivity)
    let layers = try #require(try jsonObject(sensitivity)["rows"] as? [[String: Any]])
    #expect(layers.map { $0["layer"] as? Int } == [0, 3, 7, 9])
    let expected = [38.0 / 75, 0.5, 0.5, 0.5]
    #expect(zip(layers.map { $0["sparsity"] as? Double ?? -1 }, expected).allSatisfy { isClose($0, $1) })
  }

  /// Every schedule, with weights (magnitude, global) and filters (filter-l1, per layer).
  @Test(arguments: [
    ("none", []), ("oneshot", ["magnitude", "global"]), ("oneshot", ["filter-l1", "layer"]),
    ("iterative", ["magnitude", "global"]), ("iterative", ["filter-l1", "layer"]),
    ("gradual", ["magnitude", "global"]), ("gradual", ["filter-l1", "layer"]),
  ])
  func finetuneSchedulesRunOnConvolutions(_ schedule: String, _ criterion: [String]) throws {
    let out = output.path("tuned.safetensors")
    var arguments = ["--epochs", "1", "--out", out, "--json", "--schedule", schedule]
    if let name = criterion.first, let scope = criterion.last {
      arguments += ["--target-sparsity", "0.5", "--criterion", name, "--scope", scope]
    }
    let result = try run("finetune", arguments)
    try requireSuccess(result)
    let json = try jsonObject(result)
    let sparsity = try #require(json["sparsity"] as? Double)
    let liveRows = column(json, "live_rows", as: Int.self).map { $0 ?? -1 }
    switch (schedule, criterion.first) {
    case (_, nil): #expect(sparsity == 0)
    case (_, "magnitude"): #expect(abs(sparsity - 0.5) < 0.001, "\(sparsity)")
    case ("oneshot", _): #expect(liveRows == [1, 2, 8, 10], "half of each hidden layer's rows, rounded to even")
    default:
      // Each step rounds its share of the rows still kept, so a small layer can end a row off.
      #expect(zip(liveRows, ConvolutionalModel.rows).dropLast().allSatisfy { $0 < $1 } && liveRows.last == 10)
    }
    let file = try SafetensorsFile(path: out)
    for layer in ConvolutionalModel.layers {
      let weights = try file.floats("\(layer).weight")
      let mask = file.mask(layer: layer) ?? [UInt8](repeating: 1, count: weights.count)
      #expect(zip(weights, mask).allSatisfy { $1 != 0 || $0 == 0 }, "layer \(layer): pruned weights stay zero")
    }
  }
}

/// Shears' masks on a convolutional model equal `torch.nn.utils.prune`'s for the same weights
/// and amounts, twice in a row (cumulative): `ln_structured(n=1, dim=0)` per hidden layer =
/// filter-l1, `global_unstructured(L1Unstructured)` over every Conv2d and Linear weight =
/// magnitude with global scope.
@Suite(
  .enabled(
    if: PythonInterop.isAvailable,
    "needs python3 with torch, safetensors and numpy (pip install torch safetensors numpy)"))
struct ConvolutionTorchPruneTests {
  static let script = """
    import json, sys, torch
    from safetensors.torch import load_file
    from torch.nn.utils import prune
    state = load_file(sys.argv[1])
    def modules(names):
        result = {}
        for name in names:
            module = torch.nn.Module()
            module.weight = torch.nn.Parameter(state[name + ".weight"].clone())
            result[name] = module
        return result
    masks = {}
    filters = modules(["0", "3", "7"])
    for step, amount in enumerate([0.3, 0.5]):
        for name, module in filters.items():
            prune.ln_structured(module, "weight", amount=amount, n=1, dim=0)
            masks["filter.%d.%s" % (step, name)] = module.weight_mask.flatten().int().tolist()
    every = modules(["0", "3", "7", "9"])
    for step, amount in enumerate([0.4, 0.5]):
        prune.global_unstructured(
            [(module, "weight") for module in every.values()], pruning_method=prune.L1Unstructured, amount=amount)
        for name, module in every.items():
            masks["global.%d.%s" % (step, name)] = module.weight_mask.flatten().int().tolist()
    print(json.dumps(masks))
    """

  @Test func masksEqualTorchPruneMasks() throws {
    let folder = try TemporaryFolder(prefix: "shears-conv-torch")
    var generator = SeededGenerator(seed: 9)
    let random = folder.path("random.safetensors")
    let architecture = try Architecture(parsing: "cnn:1x28x28-conv8k5-pool2-conv12k3-pool2-fc16-fc10")
    try Checkpoint.save(
      Model(architecture: architecture, generator: &generator), metadata: CheckpointMetadata(), to: random)
    let python = try PythonInterop.python(["-c", Self.script, random])
    try #require(python.status == 0, "\(python.stderr)")
    let torch = try #require(try JSONSerialization.jsonObject(with: Data(python.stdout.utf8)) as? [String: [Int]])
    let data = try IDXFixture().folder()

    let plans: [(name: String, options: [String], amounts: [String], layers: [Int])] = [
      ("filter", ["--criterion", "filter-l1"], ["0.3", "0.5"], [0, 3, 7]),
      ("global", ["--criterion", "magnitude", "--scope", "global"], ["0.4", "0.5"], [0, 3, 7, 9]),
    ]
    for plan in plans {
      var model = random
      for (step, amount) in plan.amounts.enumerated() {
        let out = folder.path("\(plan.name).\(step).safetensors")
        try requireSuccess(
          try shears(["prune", "--model", model, "--data", data.path, "--out", out, "--amount", amount] + plan.options))
        model = out
        let file = try SafetensorsFile(path: out)
        for layer in plan.layers {
          let theirs = try #require(torch["\(plan.name).\(step).\(layer)"])
          let ours = try #require(file.mask(layer: layer), "\(plan.name) step \(step) layer \(layer) has no mask")
          let differing = zip(ours, theirs).filter { Int($0) != $1 }.count
          #expect(
            ours.count == theirs.count && differing == 0,
            "\(plan.name) step \(step) layer \(layer): \(differing) of \(ours.count) entries differ")
          #expect(ours.contains(0), "\(plan.name) step \(step) layer \(layer) pruned nothing")
        }
      }
    }
  }
}
