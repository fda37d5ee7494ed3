import Foundation
import PruneEngine
import Testing

/// ResNets between Shears and PyTorch both ways (`Tests/Interop/resnet.py`): a ResNet trained
/// in PyTorch and saved with `safetensors.torch.save_file` (no metadata) evaluates in Shears to
/// torch's eval-mode logits, and a ResNet Shears trained and pruned loads into the torch module
/// with `load_state_dict(strict=True)` and predicts the same. BatchNorm's running statistics and
/// batch counts (int64) come through exactly, for ResNet-20 and for blocks of different widths.
@Suite(.enabled(if: PythonInterop.isAvailable, "needs python3 with torch, safetensors and numpy"))
struct ResNetInteropTests {
  let folder: TemporaryFolder

  init() throws {
    folder = try TemporaryFolder(prefix: "shears-resnet-interop")
  }

  /// Test images compared (torch's logits are saved for this many).
  static let count = 256

  /// Logits against torch's in the file at `path` (`logits`, `[count, classes]`): the largest
  /// difference, the images `ours` classifies right and those where the two disagree on argmax.
  private func compareLogits(_ ours: [Float], torch path: String, labels: Dataset, classes: Int) throws -> (
    largest: Float, correct: Int, argmaxDiffers: Int
  ) {
    let theirs = try #require(try PruneEngine.SafetensorsFile(contentsOf: path).entry(named: "logits"))
    let count = ours.count / classes
    #expect(theirs.shape == [count, classes])
    let other = theirs.floats
    var result: (largest: Float, correct: Int, argmaxDiffers: Int) = (0, 0, 0)
    for sample in 0..<min(count, other.count / classes) {
      let range = (sample * classes)..<(sample * classes + classes)
      result.largest = max(result.largest, zip(ours[range], other[range]).map { abs($0 - $1) }.max() ?? 0)
      let mine = range.max { ours[$0] < ours[$1] } ?? 0
      if mine != range.max(by: { other[$0] < other[$1] }) { result.argmaxDiffers += 1 }
      if mine - range.lowerBound == Int(labels.labels[sample]) { result.correct += 1 }
    }
    return result
  }

  /// Every tensor, masks aside, has the same name, dtype, shape and bytes in both lists: float
  /// values bit for bit and the batch counts as I64.
  private func expectSameTensors(
    _ ours: [PruneEngine.SafetensorsFile.Entry], _ theirs: [PruneEngine.SafetensorsFile.Entry],
    sourceLocation: SourceLocation = #_sourceLocation
  ) {
    let unmasked = { (entries: [PruneEngine.SafetensorsFile.Entry]) in
      Dictionary(entries.filter { !$0.name.hasSuffix("_mask") }.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
    }
    let (mine, other) = (unmasked(ours), unmasked(theirs))
    #expect(mine.keys.sorted() == other.keys.sorted(), sourceLocation: sourceLocation)
    let differing = mine.keys.sorted().filter { mine[$0] != other[$0] }
    #expect(differing.isEmpty, "tensors that differ: \(differing.prefix(5))", sourceLocation: sourceLocation)
    let counts = mine.values.filter { $0.name.hasSuffix("num_batches_tracked") }
    #expect(!counts.isEmpty && counts.allSatisfy { $0.dtype == .i64 }, sourceLocation: sourceLocation)
  }

  /// The tensors Shears writes for `model`.
  private func entries(of model: Model) throws -> [PruneEngine.SafetensorsFile.Entry] {
    try Checkpoint.file(for: model, metadata: CheckpointMetadata(), subject: "model").entries
  }

  /// Trains resnet.py's module of `arch` in torch, loads its metadata-less file in Shears and
  /// checks the logits, accuracy and tensors; then saves it from Shears and loads it back in
  /// torch, which must hold the very tensors it wrote. Returns the loaded model.
  private func torchToShearsAndBack(_ arch: String, name: String) throws -> Model {
    let trained = folder.path("\(name).torch.safetensors")
    let torchLogits = folder.path("\(name).torch-logits.safetensors")
    let count = Self.count
    let torch = try PythonInterop.run("resnet-train", PythonInterop.datasets, arch, trained, torchLogits, String(count))
    let file = try PruneEngine.SafetensorsFile(contentsOf: trained)
    #expect(file.metadata["arch"] == nil)

    let loaded = try Checkpoint.load(from: trained)
    #expect(loaded.metadata.architecture == nil)
    #expect(loaded.model.architecture == (try Architecture(parsing: arch)))
    #expect(loaded.model.parameterCount == torch["parameters"] as? Int)
    let test = try DataSource(directory: PythonInterop.datasets, origin: .option).loadTest()
    let classes = loaded.model.architecture.classCount
    let ours = Evaluator(model: loaded.model).logits(test, limit: count)
    let compared = try compareLogits(ours, torch: torchLogits, labels: test, classes: classes)
    let nearTies = try #require(torch["near_ties"] as? Int)
    #expect(compared.largest <= 1e-4, "largest logit difference \(compared.largest)")
    #expect(compared.argmaxDiffers <= nearTies)
    let torchCorrect = try #require(torch["correct"] as? Int)
    #expect(abs(compared.correct - torchCorrect) <= nearTies, "Shears \(compared.correct), torch \(torchCorrect)")
    // The running statistics and batch counts were read as torch wrote them.
    expectSameTensors(try entries(of: loaded.model), file.entries)
    let steps = try #require(torch["steps"] as? Int)
    #expect(
      loaded.model.parameters[ParameterPath("layer1.0.bn1.num_batches_tracked")!]?.value
        == .int64(shape: [], scalars: [Int64(steps)]))

    // Back to torch: strict loading, the same tensors, the same logits.
    let resaved = folder.path("\(name).resaved.safetensors")
    try Checkpoint.save(loaded.model, metadata: CheckpointMetadata(), to: resaved)
    let backLogits = folder.path("\(name).back-logits.safetensors")
    let backState = folder.path("\(name).back-state.safetensors")
    let back = try PythonInterop.run(
      "resnet-predict", resaved, PythonInterop.datasets, backLogits, String(count), backState)
    #expect(back["arch"] as? String == loaded.model.architecture.description)
    #expect(back["masks"] as? [String] == [])
    #expect(back["unchanged"] as? Bool == true)
    #expect((back["dtypes"] as? [String: String])?.values.allSatisfy { $0 == "torch.int64" } == true)
    expectSameTensors(try PruneEngine.SafetensorsFile(contentsOf: backState).entries, file.entries)
    #expect(try compareLogits(ours, torch: backLogits, labels: test, classes: classes).largest <= 1e-4)
    return loaded.model
  }

  /// Shears' pruned `model`, saved with its metadata and masks, loads into torch strictly and
  /// predicts the same on the first `count` images of `data`.
  private func shearsToTorch(_ model: Model, data: String, count: Int, name: String) throws {
    let saved = folder.path("\(name).shears.safetensors")
    try Checkpoint.save(model, metadata: CheckpointMetadata(), to: saved)
    let file = try PruneEngine.SafetensorsFile(contentsOf: saved)
    #expect(file.metadata["arch"] == model.architecture.description)
    let logits = folder.path("\(name).predicted.safetensors")
    let state = folder.path("\(name).torch-state.safetensors")
    let torch = try PythonInterop.run("resnet-predict", saved, data, logits, String(count), state)
    let masks = file.entries.map(\.name).filter { $0.hasSuffix(".weight_mask") }.sorted()
    #expect(!masks.isEmpty)
    #expect(torch["masks"] as? [String] == masks)
    #expect(torch["masked_weights_zero"] as? Bool == true)
    #expect(torch["unchanged"] as? Bool == true)
    #expect((torch["dtypes"] as? [String: String])?.values.allSatisfy { $0 == "torch.int64" } == true)
    expectSameTensors(try PruneEngine.SafetensorsFile(contentsOf: state).entries, file.entries)
    let test = try DataSource(directory: data, origin: .option).loadTest()
    let ours = Evaluator(model: model).logits(test, limit: count)
    let compared = try compareLogits(ours, torch: logits, labels: test, classes: model.architecture.classCount)
    #expect(compared.largest <= 1e-4, "largest logit difference \(compared.largest)")
    #expect(compared.argmaxDiffers == 0)
  }

  @Test func torchTrainedResNet20EvaluatesAlikeInShearsAndGoesBack() throws {
    let model = try torchToShearsAndBack("resnet20", name: "resnet20")
    #expect(model.architecture.description == "resnet:1x28x28-16x3-32x3-64x3-10")
    // The binary reads the file without metadata too.
    let info = try jsonObject(try shears("info", "--model", folder.path("resnet20.torch.safetensors"), "--json"))
    #expect(info["arch"] as? String == "resnet:1x28x28-16x3-32x3-64x3-10")
  }

  /// Trained and pruned by the binary, with its metadata and masks: torch loads it strictly.
  @Test func shearsTrainedPrunedResNet20LoadsInTorchStrictly() throws {
    let data = try IDXFixture().folder()
    let trained = folder.path("r20.safetensors")
    try requireSuccess(
      try shears(
        "train", "--arch", "resnet20", "--data", data.path, "--epochs", "1", "--batch", "32", "--optimizer", "sgd",
        "--out", trained))
    let pruned = folder.path("r20-pruned.safetensors")
    try requireSuccess(
      try shears(
        "prune", "--model", trained, "--data", data.path, "--criterion", "magnitude", "--amount", "0.5", "--out", pruned
      ))
    let model = try Checkpoint.load(from: pruned).model
    // 128 training images in batches of 32.
    #expect(
      model.parameters[ParameterPath("layer3.2.bn2.num_batches_tracked")!]?.value == .int64(shape: [], scalars: [4]))
    try shearsToTorch(model, data: data.path, count: 64, name: "r20")
  }

  /// Blocks of different inner widths: torch's module of those widths and Shears read each
  /// other's files, before and after Shears prunes.
  @Test func variableWidthResNetRoundTripsThroughTorch() throws {
    let arch = "resnet:1x28x28-8:4,8-16:12,6-10"
    let model = try torchToShearsAndBack(arch, name: "narrow")
    #expect(model.architecture.description == arch)
    let pruned = try PruningPipeline.apply(
      PruningRequest(criterion: .magnitude, rule: .fraction(0.3)), to: model, context: ScoringContext()
    ).model
    try shearsToTorch(pruned, data: PythonInterop.datasets, count: Self.count, name: "narrow")
  }
}

/// A ResNet file without metadata through the binary, torch not needed.
struct ResNetWithoutMetadataTests {
  @Test func theBinaryReadsItAndNamesTheAssumedImageShape() throws {
    let folder = try TemporaryFolder(prefix: "shears-resnet-plain")
    var generator = SeededGenerator(seed: 5)
    let architecture = try Architecture(parsing: "resnet:1x28x28-4:2,4-6x1-10")
    let model = Model(architecture: architecture, generator: &generator)
    let path = folder.path("plain.safetensors")
    let entries = try Checkpoint.file(for: model, metadata: CheckpointMetadata(), subject: path).entries
    try PruneEngine.SafetensorsFile(entries: entries).write(to: path)

    let info = try jsonObject(try shears("info", "--model", path, "--json"))
    #expect(info["arch"] as? String == "resnet:1x28x28-4:2,4-6x1-10")
    let data = try IDXFixture(side: 32).folder()
    let run = try shears("eval", "--model", path, "--data", data.path)
    #expect(run.exitedNormally && run.status == 1, "\(run)")
    #expect(
      run.stderrLines.last
        == "shears: error: \(path): model takes 1x28x28 images but the images in \(data.path) are 1x32x32 "
        + "(a ResNet file without arch metadata is read as 1x28x28 or 3x32x32)")
  }
}
