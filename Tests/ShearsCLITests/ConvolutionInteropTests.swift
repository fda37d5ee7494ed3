import Foundation
import PruneEngine
import Testing

/// Shears and PyTorch exchanging convolutional networks (issue 6): a LeNet-5 trained in PyTorch
/// and saved with `safetensors.torch.save_file` (no metadata) evaluates in Shears to the same
/// count of correct predictions; a LeNet-5 trained by Shears, dense and pruned, loads into the
/// PyTorch module and gives the same logits; and Shears' masks on conv weights equal
/// `torch.nn.utils.prune`'s.
///
/// Debug builds of Shears run LeNet-5 at a few milliseconds per image, so the tests use the first
/// images of the embedded subset: 500 test images for the accuracy, 128 to train on.
@Suite(
  .enabled(
    if: PythonInterop.isAvailable,
    "needs python3 with torch, safetensors and numpy (pip install torch safetensors numpy)"))
struct ConvolutionInteropTests {
  static let lenet5Arch = "cnn:1x28x28-conv20k5-pool2-conv50k5-pool2-fc500-fc10"

  let folder: TemporaryFolder

  init() throws {
    folder = try TemporaryFolder(prefix: "shears-conv-interop")
  }

  /// A folder in the test's folder holding the first `train` training and `test` test images
  /// of the embedded subset, as IDX files.
  private func subset(_ name: String, train: Int, test: Int) throws -> String {
    let splits = try DataSource(directory: PythonInterop.datasets, origin: .option).load()
    let path = folder.path(name)
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
    for (data, count, images, labels) in [
      (splits.train, train, IDXFixture.trainImages, IDXFixture.trainLabels),
      (splits.test, test, IDXFixture.testImages, IDXFixture.testLabels),
    ] {
      let part = data.prefix(count)
      guard case .bytes(let pixels) = part.pixels else { throw ShearsError(PythonInterop.datasets, "not bytes") }
      try IDXFixture.write(
        IDXFixture.imageFile(pixels, count: part.count, rows: part.rows, columns: part.columns),
        to: path + "/" + images)
      try IDXFixture.write(IDXFixture.labelFile(part.labels), to: path + "/" + labels)
    }
    return path
  }

  @Test func pytorchLeNet5EvaluatesAlikeInShears() throws {
    let data = try subset("test-500", train: 64, test: 500)
    let trained = folder.path("torch-lenet5.safetensors")
    let torch = try PythonInterop.run("train-lenet5", PythonInterop.datasets, data, trained)
    #expect(try #require(torch["accuracy"] as? Double) > 0.7, "200 steps reach about 0.8")

    // `info` reads the state dict as LeNet-5, not tensor by tensor.
    let info = try infoJSON(trained)
    #expect(info["arch"] as? String == Self.lenet5Arch)
    #expect(info["kind"] as? String == "cnn")
    #expect(column(info, "name", as: String.self) == ["0.weight", "3.weight", "7.weight", "9.weight"])
    #expect(column(info, "shape", as: [Int].self) == [[20, 1, 5, 5], [50, 20, 5, 5], [500, 800], [10, 500]])
    let text = try shears("info", "--model", trained)
    try requireSuccess(text)
    #expect(text.stdoutLines.first == "\(trained): \(Self.lenet5Arch)")

    let run = try shears("eval", "--model", trained, "--data", data, "--json")
    try requireSuccess(run)
    let evaluation = try jsonObject(run)
    #expect(evaluation["samples"] as? Int == 500)
    // Float sums in another order can flip argmax only where the two largest logits tie.
    let correct = try #require(evaluation["correct"] as? Int)
    let torchCorrect = try #require(torch["correct"] as? Int)
    let ties = try #require(torch["near_ties"] as? Int)
    #expect(
      abs(correct - torchCorrect) <= ties, "Shears \(correct), PyTorch \(torchCorrect) correct; \(ties) near ties")
    #expect(isClose(evaluation["loss"] as? Double ?? 0, torch["loss"] as? Double ?? 1, relative: 1e-5))
  }

  @Test func shearsLeNet5LoadsIntoPyTorch() throws {
    let data = try subset("train-128", train: 128, test: 64)
    let model = folder.path("lenet5.safetensors")
    try requireSuccess(
      try shears("train", "--arch", "lenet5", "--epochs", "1", "--seed", "1", "--data", data, "--out", model))
    let file = try SafetensorsFile(path: model)
    #expect(
      Set(file.tensors.keys) == [
        "0.weight", "0.bias", "3.weight", "3.bias", "7.weight", "7.bias", "9.weight", "9.bias",
      ])
    #expect(file.tensors["3.weight"]?.shape == [50, 20, 5, 5])
    let dense = try PythonInterop.run("predict", model, data, folder.path("dense-logits.safetensors"), "64")
    #expect(dense["missing_keys"] as? [String] == [])
    #expect(dense["unexpected_keys"] as? [String] == [])
    try expectSameLogits(model, folder.path("dense-logits.safetensors"), data: data, count: 64)

    // Pruned by Shears: PyTorch ignores the masks and computes with the zeroed weights; the
    // compact export rebuilt with numpy gives the same weights.
    let pruned = folder.path("pruned.safetensors")
    try requireSuccess(
      try shears(
        "prune", "--model", model, "--data", data, "--criterion", "magnitude", "--scope", "global", "--amount", "0.8",
        "--out", pruned))
    let compact = folder.path("compact.safetensors")
    try requireSuccess(try shears("export", "--model", pruned, "--format", "compact", "--out", compact))
    #expect(try Checkpoint.load(from: compact).model == (try Checkpoint.load(from: pruned)).model)
    let loaded = try PythonInterop.run("predict", pruned, data, folder.path("pruned-logits.safetensors"), "64", compact)
    #expect(loaded["missing_keys"] as? [String] == [])
    #expect(
      loaded["unexpected_keys"] as? [String] == ["0.weight_mask", "3.weight_mask", "7.weight_mask", "9.weight_mask"])
    #expect(loaded["compact_matches"] as? Bool == true, "\(loaded)")
    try expectSameLogits(pruned, folder.path("pruned-logits.safetensors"), data: data, count: 64)
  }

  /// Shears' logits for the first `count` test images against PyTorch's: the same argmax
  /// everywhere and every logit within 1e-4.
  private func expectSameLogits(
    _ modelPath: String, _ torchPath: String, data: String, count: Int,
    sourceLocation: SourceLocation = #_sourceLocation
  ) throws {
    let torchLogits = try #require(
      try PruneEngine.SafetensorsFile(contentsOf: torchPath).entry(named: "logits"), sourceLocation: sourceLocation)
    #expect(torchLogits.shape == [count, 10], sourceLocation: sourceLocation)
    let model = try Checkpoint.load(from: modelPath).model
    let test = try DataSource(directory: data, origin: .option).loadTest()
    let ours = Evaluator(model: model).logits(test, limit: count)
    let theirs = torchLogits.floats
    var largest: Float = 0
    var argmaxDiffers = 0
    for sample in 0..<count {
      let a = ours[(sample * 10)..<(sample * 10 + 10)]
      let b = theirs[(sample * 10)..<(sample * 10 + 10)]
      largest = max(largest, zip(a, b).map { abs($0 - $1) }.max() ?? 0)
      if a.indices.max(by: { a[$0] < a[$1] }) != b.indices.max(by: { b[$0] < b[$1] }) { argmaxDiffers += 1 }
    }
    print(
      "LeNet-5 logits of \(modelPath) against PyTorch: largest difference \(largest), argmax differs \(argmaxDiffers)")
    #expect(argmaxDiffers == 0, sourceLocation: sourceLocation)
    #expect(largest <= 1e-4, "largest logit difference \(largest)", sourceLocation: sourceLocation)
  }

  /// How a conv net is pruned twice in Shears, under the name `interop.py masks` gives torch's
  /// masks for the same steps.
  struct Plan {
    var name: String
    var options: [String]
    var amounts: [String]
    /// Layers the plan prunes (`neuron-l2` leaves the output layer, `filter-l1` here the Linear ones).
    var prunedLayers: Set<Int>

    static let all: [Plan] = [
      Plan(
        name: "layer", options: ["--criterion", "magnitude"], amounts: ["0.3", "0.5"], prunedLayers: [0, 3, 7, 9]),
      Plan(
        name: "global", options: ["--criterion", "magnitude", "--scope", "global"], amounts: ["0.4", "0.5"],
        prunedLayers: [0, 3, 7, 9]),
      Plan(name: "neuron", options: ["--criterion", "neuron-l2"], amounts: ["0.25", "0.5"], prunedLayers: [0, 3, 7]),
      // Needs the filter-l1 criterion (Li et al. 2017), from the `pruning` branch.
      Plan(
        name: "filter", options: ["--criterion", "filter-l1", "--layers", "0,3"], amounts: ["0.25", "0.5"],
        prunedLayers: [0, 3]),
    ]
  }

  /// `torch.nn.utils.prune` and Shears on the same random conv net (no ties), twice in a row:
  /// `l1_unstructured` on every weight = magnitude/layer, `global_unstructured` over conv and
  /// Linear weights = magnitude/global, `ln_structured(n=2, dim=0)` on the hidden layers =
  /// neuron-l2, `ln_structured(n=1, dim=0)` on the convolutions = filter-l1. The recipe exported
  /// after the second step, applied by its own Python function, gives the same masks again.
  /// (PyTorch runs once for all plans: importing torch is the slow part.)
  @Test func shearsMasksOnConvolutionsEqualTorchPrune() throws {
    var generator = SeededGenerator(seed: 3)
    let random = folder.path("random.safetensors")
    let architecture = try Architecture(parsing: "cnn:1x28x28-conv8k5-pool2-conv16k5-pool2-fc32-fc10")
    try Checkpoint.save(
      Model(architecture: architecture, generator: &generator), metadata: CheckpointMetadata(), to: random)
    let fixture = try IDXFixture(trainCount: 16, testCount: 16).folder()
    var pruned: [(plan: Plan, files: [String], recipe: String)] = []
    for plan in Plan.all {
      var model = random
      var files: [String] = []
      for (step, amount) in plan.amounts.enumerated() {
        let out = folder.path("\(plan.name).\(step).safetensors")
        let run = try shears(
          ["prune", "--model", model, "--data", fixture.path, "--out", out] + plan.options + ["--amount", amount])
        guard run.exitedNormally, run.status == 0 else {
          // The other plans are still compared.
          Issue.record("\(plan.name): \(run)")
          break
        }
        model = out
        files.append(out)
      }
      guard files.count == plan.amounts.count else { continue }
      let recipe = folder.path("\(plan.name).recipe.json")
      try requireSuccess(try shears("export", "--model", model, "--format", "recipe", "--out", recipe))
      pruned.append((plan, files, recipe))
    }
    let masksPath = folder.path("torch-masks.safetensors")
    _ = try PythonInterop.run(["masks", random, masksPath] + pruned.map(\.recipe))
    let torch = try PruneEngine.SafetensorsFile(contentsOf: masksPath)

    for (number, (plan, files, _)) in pruned.enumerated() {
      let torchNames = plan.amounts.indices.map { "\(plan.name).\($0)" } + ["recipe.\(number)"]
      for (torchName, shearsFile) in zip(torchNames, files + [files[1]]) {
        let file = try SafetensorsFile(path: shearsFile)
        for layer in [0, 3, 7, 9] {
          let torchMask = try #require(torch.entry(named: "\(torchName)/\(layer)"))
          let theirs = torchMask.floats
          let ours = file.mask(layer: layer) ?? [UInt8](repeating: 1, count: theirs.count)
          if let mask = file.tensors["\(layer).weight_mask"] { #expect(mask.shape == torchMask.shape) }
          let differing = zip(ours, theirs).filter { Float($0) != $1 }.count
          #expect(differing == 0, "\(torchName) layer \(layer): \(differing) of \(ours.count) mask entries differ")
          #expect(ours.contains(0) == plan.prunedLayers.contains(layer), "\(torchName) layer \(layer)")
        }
      }
    }
  }
}
