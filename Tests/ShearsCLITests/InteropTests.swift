import Foundation
import PruneEngine
import Testing

/// Running `Tests/Interop/interop.py` (the PyTorch side of the interop tests).
enum PythonInterop {
  /// The repository, found from this file's path.
  static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()
  static let script = repository.appendingPathComponent("Tests/Interop/interop.py").path
  /// The embedded Fashion-MNIST subset (10,000 training and 10,000 test images).
  static let datasets = repository.appendingPathComponent("datasets").path

  /// Whether `python3 -c "import torch, safetensors"` succeeds (checked once).
  static let isAvailable: Bool = (try? python(["-c", "import torch, safetensors, numpy"]).status) == 0

  struct Failure: Error, CustomStringConvertible {
    var description: String
  }

  /// Runs `python3 <arguments>`.
  static func python(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
    let run = try runProcess("/usr/bin/env", ["python3"] + arguments)
    return (run.status, run.stdout, run.stderr)
  }

  /// Runs a command of `interop.py`, which must succeed; returns the JSON object it prints.
  static func run(_ arguments: String...) throws -> [String: Any] { try run(arguments) }

  static func run(_ arguments: [String]) throws -> [String: Any] {
    let result = try python([script] + arguments)
    guard result.status == 0 else {
      throw Failure(
        description: "interop.py \(arguments.joined(separator: " ")) exited \(result.status):\n\(result.stderr)")
    }
    let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8))
    guard let json = object as? [String: Any] else { throw Failure(description: "not a JSON object: \(result.stdout)") }
    return json
  }
}

/// Shears and PyTorch reading each other's files and pruning alike (issue 4): a model trained
/// in PyTorch evaluates in Shears to the same accuracy, a Shears checkpoint loads into
/// `nn.Sequential` and predicts the same, a `torch.nn.utils.prune` state dict loads with its
/// sparsity, and Shears' masks equal torch's for the same weights and amounts.
@Suite(
  .enabled(
    if: PythonInterop.isAvailable,
    "needs python3 with torch, safetensors and numpy (pip install torch safetensors numpy)"))
struct InteropTests {
  let folder: TemporaryFolder

  init() throws {
    folder = try TemporaryFolder(prefix: "shears-interop")
  }

  /// `shears prune` into the folder, which must succeed.
  private func prune(_ model: String, _ out: String, data: String, _ arguments: String...) throws -> String {
    try prune(model, out, data: data, arguments)
  }

  private func prune(_ model: String, _ out: String, data: String, _ arguments: [String]) throws -> String {
    let path = folder.path(out)
    try requireSuccess(try shears(["prune", "--model", model, "--data", data, "--out", path] + arguments))
    return path
  }

  @Test func modelsCrossBetweenPyTorchAndShears() throws {
    // Trained in PyTorch, saved with safetensors.torch.save_file: the same test accuracy in Shears.
    let trained = folder.path("torch.safetensors")
    let torch = try PythonInterop.run("train", PythonInterop.datasets, trained)
    let run = try shears("eval", "--model", trained, "--data", PythonInterop.datasets, "--json")
    try requireSuccess(run)
    let evaluation = try jsonObject(run)
    let torchAccuracy = try #require(torch["accuracy"] as? Double)
    let accuracy = try #require(evaluation["accuracy"] as? Double)
    #expect(evaluation["samples"] as? Int == 10000)
    #expect(abs(accuracy - torchAccuracy) <= 0.001, "Shears \(accuracy), PyTorch \(torchAccuracy)")
    #expect(torchAccuracy > 0.7, "400 steps reach about 0.79 on the subset")
    #expect(isClose(evaluation["loss"] as? Double ?? 0, torch["loss"] as? Double ?? 1, relative: 1e-5))

    // Pruned and saved by Shears, loaded by PyTorch: the same logits; the compact export
    // rebuilt with numpy gives the same weights.
    let fixture = try IDXFixture().folder()
    let pruned = try prune(
      trained, "pruned.safetensors", data: fixture.path, "--criterion", "magnitude", "--amount", "0.7")
    let compact = folder.path("compact.safetensors")
    try requireSuccess(try shears("export", "--model", pruned, "--format", "compact", "--out", compact))
    let logitsPath = folder.path("logits.safetensors")
    let count = 1000
    let loaded = try PythonInterop.run("predict", pruned, PythonInterop.datasets, logitsPath, String(count), compact)
    #expect(loaded["missing_keys"] as? [String] == [])
    #expect(loaded["unexpected_keys"] as? [String] == ["0.weight_mask", "2.weight_mask", "4.weight_mask"])
    #expect(loaded["compact_matches"] as? Bool == true, "\(loaded)")

    let torchLogits = try #require(try PruneEngine.SafetensorsFile(contentsOf: logitsPath).entry(named: "logits"))
    #expect(torchLogits.shape == [count, 10])
    let model = try Checkpoint.load(from: pruned).model
    let test = try DataSource(directory: PythonInterop.datasets, origin: .option).loadTest()
    let logits = Evaluator(model: model).logits(test, limit: count)
    let theirs = torchLogits.floats
    var largest: Float = 0
    var argmaxDiffers = 0
    for sample in 0..<count {
      let ours = logits[(sample * 10)..<(sample * 10 + 10)]
      let other = theirs[(sample * 10)..<(sample * 10 + 10)]
      largest = max(largest, zip(ours, other).map { abs($0 - $1) }.max() ?? 0)
      if ours.indices.max(by: { ours[$0] < ours[$1] }) != other.indices.max(by: { other[$0] < other[$1] }) {
        argmaxDiffers += 1
      }
    }
    #expect(argmaxDiffers == 0)
    #expect(largest <= 1e-4, "largest logit difference \(largest)")
  }

  /// numpy itself writes a 3-channel dataset with `np.savez` and `np.savez_compressed`, as
  /// uint8 and as float32 (x / 255), with int64 labels: Shears finds each value numpy wrote at
  /// `[n, y, x, c]` at `[n, c, y, x]`, and trains the same model from all four files, since
  /// float32 x / 255 is exactly the scaled byte.
  @Test func numpyArchivesTrainAlike() throws {
    let written = try PythonInterop.run("npz", folder.path)
    let files = try #require(written["files"] as? [String: String])
    let probes = try #require(written["probes"] as? [[Int]])
    let bytesFile = try #require(files["uint8-savez"])
    let test = try DataSource(path: bytesFile, format: .npz, origin: .option).loadTest()
    guard case .bytes(let pixels) = test.pixels else {
      throw PythonInterop.Failure(description: "uint8 read as floats")
    }
    #expect(test.channels == 3 && test.rows == 8 && test.columns == 8 && test.count == 64)
    for probe in probes {
      let (n, y, x, c, value) = (probe[0], probe[1], probe[2], probe[3], probe[4])
      #expect(Int(pixels[n * 192 + c * 64 + y * 8 + x]) == value, "value at [\(n), \(y), \(x), \(c)]")
    }
    var results: [(accuracy: Double, loss: Double)] = []
    for name in ["uint8-savez", "uint8-savez_compressed", "float32-savez", "float32-savez_compressed"] {
      let data = try #require(files[name])
      let trained = try jsonObject(
        try shears(
          "train", "--arch", "cnn:3x8x8-conv8k3-pool2-fc3", "--epochs", "6", "--batch", "16", "--lr", "0.01",
          "--data", data,
          "--out", folder.path("\(name).safetensors"), "--json"))
      results.append((try #require(trained["accuracy"] as? Double), try #require(trained["loss"] as? Double)))
    }
    #expect(results[0].accuracy > 0.9, "accuracy \(results[0].accuracy)")
    #expect(results.allSatisfy { $0 == results[0] }, "\(results)")
  }

  @Test func pytorchPrunedStateDictLoadsWithItsSparsity() throws {
    let path = folder.path("torch-pruned.safetensors")
    let torch = try PythonInterop.run("prune", path)
    #expect(
      torch["keys"] as? [String] == [
        "0.bias", "0.weight_mask", "0.weight_orig", "2.bias", "2.weight_mask", "2.weight_orig",
      ])
    let kept = try #require(torch["kept"] as? [Int])
    let info = try infoJSON(path)
    #expect(info["arch"] as? String == "mlp:784-32-10")
    #expect(column(info, "nonzero", as: Int.self) == kept.map { $0 })
    #expect(column(info, "params", as: Int.self) == [25088, 320])
    #expect(kept == [25088 - 15053, 320 - 96], "l1_unstructured prunes round(0.6 x 25088) and round(0.3 x 320)")
    #expect(isClose(info["sparsity"] as? Double ?? -1, Double(15053 + 96) / Double(25088 + 320)))
    // The masks came through: Shears prunes only what is still kept.
    let fixture = try IDXFixture().folder()
    let pruned = try prune(path, "again.safetensors", data: fixture.path, "--criterion", "magnitude", "--amount", "0.5")
    let halved = kept.map { $0 - Int((Double($0) / 2).rounded(.toNearestOrEven)) }
    #expect(column(try infoJSON(pruned), "nonzero", as: Int.self) == halved)
  }

  /// `torch.nn.utils.prune` and Shears on the same random weights (no ties), twice in a row:
  /// `l1_unstructured` = magnitude/layer, `global_unstructured(L1Unstructured)` =
  /// magnitude/global, `ln_structured(n=2, dim=0)` on the hidden layers = neuron-l2. Each
  /// exported recipe, applied by its own Python function to the unpruned weights, gives the
  /// same masks again.
  @Test func shearsMasksEqualTorchPruneMasks() throws {
    var generator = SeededGenerator(seed: 3)
    let random = folder.path("random.safetensors")
    try Checkpoint.save(
      Model(architecture: .mlp(widths: [784, 32, 16, 10]), generator: &generator), metadata: CheckpointMetadata(),
      to: random)
    let fixture = try IDXFixture().folder()
    let data = fixture.path
    let plans: [(name: String, options: [String], amounts: [String])] = [
      ("layer", ["--criterion", "magnitude"], ["0.3", "0.5"]),
      ("global", ["--criterion", "magnitude", "--scope", "global"], ["0.4", "0.5"]),
      ("neuron", ["--criterion", "neuron-l2"], ["0.25", "0.5"]),
    ]
    var steps: [String: [String]] = [:]
    for plan in plans {
      var model = random
      var files: [String] = []
      for (step, amount) in plan.amounts.enumerated() {
        model = try prune(model, "\(plan.name).\(step).safetensors", data: data, plan.options + ["--amount", amount])
        files.append(model)
      }
      steps[plan.name] = files
    }
    let recipeSources = ["layer", "neuron", "global"]
    let recipes = try recipeSources.map { name in
      let path = folder.path("\(name).recipe.json")
      try requireSuccess(try shears("export", "--model", steps[name]![1], "--format", "recipe", "--out", path))
      return path
    }
    let masksPath = folder.path("torch-masks.safetensors")
    _ = try PythonInterop.run(["masks", random, masksPath] + recipes)
    let torch = try PruneEngine.SafetensorsFile(contentsOf: masksPath)

    /// Compares the masks of layers 0, 2 and 4; `neurons` when the output layer is left unpruned.
    func expectSameMasks(
      _ torchName: String, _ shearsFile: String, neurons: Bool, sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
      let file = try SafetensorsFile(path: shearsFile)
      for layer in [0, 2, 4] {
        let theirs = try #require(torch.entry(named: "\(torchName)/\(layer)"), sourceLocation: sourceLocation).floats
        let ours = file.mask(layer: layer) ?? [UInt8](repeating: 1, count: theirs.count)
        let differing = zip(ours, theirs).filter { Float($0) != $1 }.count
        #expect(
          differing == 0, "\(torchName) layer \(layer): \(differing) of \(ours.count) mask entries differ",
          sourceLocation: sourceLocation)
        #expect(
          ours.contains(0) == !(neurons && layer == 4), "\(torchName) layer \(layer)", sourceLocation: sourceLocation)
      }
    }
    for (name, files) in steps {
      for (step, file) in files.enumerated() { try expectSameMasks("\(name).\(step)", file, neurons: name == "neuron") }
    }
    for (number, name) in recipeSources.enumerated() {
      try expectSameMasks("recipe.\(number)", steps[name]![1], neurons: name == "neuron")
    }
  }
}

/// Shears's ResNets name and shape every tensor as the equivalent PyTorch module does
/// (`Tests/Interop/resnet.py`), buffers and their dtypes included, so state dicts load both ways
/// with `strict=True`.
@Suite(.enabled(if: PythonInterop.isAvailable, "needs python3 with torch, safetensors and numpy"))
struct ResNetLayoutInteropTests {
  @Test(arguments: [(1, 10), (3, 7)])
  func resnet20StateDictMatchesTorch(channels: Int, classes: Int) throws {
    let torch = try PythonInterop.run("resnet-state", String(channels), String(classes))
    let entries = try #require(torch["state"] as? [[Any]])
    let module = ResNet.module(channels: channels, stages: ResNet.resnet20Stages, classes: classes)
    let shears = module.parameterShapes().map { path, _, shape in
      [path.description, shape.map(String.init).joined(separator: "x"), path.name == "num_batches_tracked" ? "torch.int64" : "torch.float32"]
    }
    let expected = entries.map { entry in
      [entry[0] as? String ?? "", (entry[1] as? [Int] ?? []).map(String.init).joined(separator: "x"), entry[2] as? String ?? ""]
    }
    #expect(shears == expected)
    var generator = SeededGenerator(seed: 1)
    let model = Model(module: module, inputShape: [channels, 28, 28], generator: &generator)
    #expect(model.parameterCount == torch["parameters"] as? Int)
  }
}

/// Channels pruned as groups (a residual stream in every block, with its BatchNorms) replay in
/// PyTorch through the exported recipe: its own function, run on the unpruned ResNet-20, makes
/// exactly the masks Shears saved.
@Suite(.enabled(if: PythonInterop.isAvailable, "needs python3 with torch, safetensors and numpy"))
struct ResNetRecipeInteropTests {
  @Test(arguments: [["--criterion", "bn-scale", "--scope", "global"], ["--criterion", "filter-l1"]])
  func groupMasksReplayInTorch(criterion: [String]) throws {
    let folder = try TemporaryFolder(prefix: "shears-resnet-recipe")
    // Pruning evaluates on the test images: a few, as the debug build is slow on ResNet-20.
    let data = try IDXFixture(trainCount: 16, testCount: 16).folder()
    var generator = SeededGenerator(seed: 7)
    let architecture = try Architecture(parsing: "resnet20")
    let dense = folder.path("dense.safetensors")
    try Checkpoint.save(
      Model(architecture: architecture, generator: &generator),
      metadata: CheckpointMetadata(architecture: architecture.description), to: dense)
    let pruned = folder.path("pruned.safetensors")
    try requireSuccess(
      try shears(["prune", "--model", dense, "--out", pruned, "--amount", "0.3", "--data", data.url.path] + criterion))
    let recipe = folder.path("recipe.json")
    try requireSuccess(try shears("export", "--model", pruned, "--format", "recipe", "--out", recipe))
    let torchMasks = folder.path("torch-masks.safetensors")
    _ = try PythonInterop.run("resnet-recipe", dense, recipe, torchMasks)

    let shearsMasks = try PruneEngine.SafetensorsFile(contentsOf: pruned).entries.filter { $0.name.hasSuffix("_mask") }
    let torch = Dictionary(
      uniqueKeysWithValues: try PruneEngine.SafetensorsFile(contentsOf: torchMasks).entries.map { ($0.name, $0) })
    #expect(shearsMasks.contains { $0.name == "layer1.0.bn2.weight_mask" })
    for entry in shearsMasks {
      let replayed = try #require(torch[entry.name], "\(entry.name) not pruned in torch")
      #expect(replayed.floats == entry.bytes.map(Float.init), "\(entry.name)")
    }
    // Torch pruned nothing Shears did not: every other mask keeps everything.
    let names = Set(shearsMasks.map(\.name))
    for (name, entry) in torch where !names.contains(name) {
      #expect(entry.floats.allSatisfy { $0 == 1 }, "\(name)")
    }
  }
}
