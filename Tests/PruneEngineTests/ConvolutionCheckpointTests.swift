import Foundation
import Testing

@testable import PruneEngine

/// Checkpoints of convolutional networks: the state dict of PyTorch's `nn.Sequential` read
/// without metadata, `arch` metadata, PyTorch's pruned form, rewind weights, the compact form,
/// and files that are not a network Shears can read, each rejected with one line.

// MARK: - Helpers

/// The weighted layers of `nn.Sequential(Conv2d(1,20,5), ReLU(), MaxPool2d(2), Conv2d(20,50,5),
/// ReLU(), MaxPool2d(2), Flatten(), Linear(800,500), ReLU(), Linear(500,10))`, as its
/// `state_dict()` names and shapes them.
private let lenet5Layers: [(index: Int, shape: [Int])] = [
  (0, [20, 1, 5, 5]), (3, [50, 20, 5, 5]), (7, [500, 800]), (9, [10, 500]),
]

/// A state dict of weights `i.weight` of the given shapes and biases `i.bias`, holding values
/// that differ from tensor to tensor and from element to element, so a mix-up shows.
private func stateDict(
  _ layers: [(index: Int, shape: [Int])], extra: [SafetensorsFile.Entry] = [], metadata: [String: String] = [:]
) -> SafetensorsFile {
  var entries: [SafetensorsFile.Entry] = []
  for (index, shape) in layers {
    let count = shape.reduce(1, *)
    let weight = (0..<count).map { Float(($0 * 7 + index) % 101) / 101 - 0.5 }
    entries.append(.init(name: "\(index).weight", tensor: Tensor(shape: shape, scalars: weight)))
    let bias = (0..<shape[0]).map { Float(index) + Float($0) / 16 }
    entries.append(.init(name: "\(index).bias", tensor: Tensor(shape: [shape[0]], scalars: bias)))
  }
  return SafetensorsFile(entries: entries + extra, metadata: metadata)
}

/// `stateDict` with layer `index`'s weight given another shape.
private func lenet5(reshaping index: Int, to shape: [Int]) -> [(index: Int, shape: [Int])] {
  lenet5Layers.map { $0.index == index ? (index, shape) : $0 }
}

/// The model a file in memory loads to.
private func load(_ file: SafetensorsFile) throws -> (model: Model, metadata: CheckpointMetadata, rewind: Model?) {
  try Checkpoint.loadWithRewind(decoding: file.encoded, subject: "memory")
}

/// A conv net with every weight drawn from a seeded generator.
private func randomModel(_ arch: String, seed: UInt64) throws -> Model {
  var generator = SeededGenerator(seed: seed)
  return Model(architecture: try Architecture(parsing: arch), generator: &generator)
}

/// Prunes the weights of weighted layer `index` whose position satisfies `pruned`.
private func prune(_ model: inout Model, layer index: Int, where pruned: (Int) -> Bool) {
  guard case .weighted(var layer) = model.layers[index] else {
    Issue.record("layer \(index) has no weights")
    return
  }
  layer.setMask((0..<layer.weight.count).map { pruned($0) ? 0 : 1 })
  model.layers[index] = .weighted(layer)
}

// MARK: - Inferred architectures

@Test func pytorchLeNet5WithoutMetadataLoadsAsLeNet5() throws {
  let file = stateDict(lenet5Layers)
  let descriptors = file.entries.map {
    TensorDescriptor(name: $0.name, dtype: $0.dtype, shape: $0.shape, begin: 0, end: 0)
  }
  #expect(Checkpoint.modelProblem(in: descriptors) == nil, "info shows the model, not the tensors")

  let (model, metadata, rewind) = try load(file)
  #expect(model.architecture == .lenet5)
  #expect(model.inputShape == [1, 28, 28])
  #expect(metadata == CheckpointMetadata())
  #expect(rewind == nil)
  let kinds = model.layers.map { layer -> String in
    switch layer {
    case .weighted(let weighted): weighted.isConvolution ? "conv" : "linear"
    case .relu: "relu"
    case .maxPool(let size): "pool\(size)"
    case .flatten: "flatten"
    }
  }
  #expect(kinds == ["conv", "relu", "pool2", "conv", "relu", "pool2", "flatten", "linear", "relu", "linear"])
  for (index, layer) in model.weightedLayers {
    let weight = try #require(file.entry(named: "\(index).weight"))
    #expect(layer.weight == Tensor(shape: weight.shape, scalars: weight.floats))
    #expect(layer.bias.scalars == file.entry(named: "\(index).bias")?.floats)
    #expect(layer.mask == nil)
  }
  #expect(
    model.weightedLayers.map { $0.layer.kind } == [
      .conv(stride: 1, padding: 0), .conv(stride: 1, padding: 0), .linear, .linear,
    ])

  // Saved again: the same names and shapes as the PyTorch state dict, plus the arch metadata.
  let saved = try Checkpoint.file(for: model, metadata: metadata, subject: "again")
  #expect(saved.entries.map(\.name) == file.entries.map(\.name))
  #expect(saved.entries.map(\.shape) == file.entries.map(\.shape))
  #expect(saved.entries.map(\.bytes) == file.entries.map(\.bytes))
  #expect(saved.metadata["arch"] == "cnn:1x28x28-conv20k5-pool2-conv50k5-pool2-fc500-fc10")
}

/// Other layouts PyTorch numbers the same way: convolutions without pooling, a convolution
/// straight before Flatten, pooling before Flatten, a head of several Linear layers.
@Test(arguments: [
  ([(0, [4, 3, 3, 3]), (2, [2, 4, 3, 3]), (5, [5, 72])], "cnn:3x10x10-conv4k3-conv2k3-fc5"),
  ([(0, [6, 1, 5, 5]), (4, [10, 864]), (6, [4, 10])], "cnn:1x28x28-conv6k5-pool2-fc10-fc4"),
  ([(0, [2, 1, 3, 3]), (3, [3, 2, 3, 3]), (6, [7, 3]), (8, [2, 7])], "cnn:1x8x8-conv2k3-pool2-conv3k3-fc7-fc2"),
])
func convolutionalLayoutsAreInferred(_ layers: [(Int, [Int])], expected: String) throws {
  let model = try load(stateDict(layers.map { (index: $0.0, shape: $0.1) })).model
  #expect(model.architecture.description == expected)
  #expect(model.weightedLayers.map(\.path) == layers.map { ParameterPath(integerLiteral: $0.0) })
}

// MARK: - Metadata

/// Stride and padding are not in a state dict: `arch` metadata gives them. Without it the same
/// tensors read as stride 1 and no padding, which here means another input size.
@Test func archMetadataGivesWhatTheTensorsCannotTell() throws {
  let layers: [(index: Int, shape: [Int])] = [(0, [4, 1, 3, 3]), (3, [10, 64])]
  let declared = try load(stateDict(layers, metadata: ["arch": "cnn:1x8x8-conv4k3s2p1-fc10"]))
  #expect(declared.model.architecture.description == "cnn:1x8x8-conv4k3s2p1-fc10")
  #expect(declared.model.weightedLayers.first?.layer.kind == .conv(stride: 2, padding: 1))
  #expect(declared.metadata.architecture == "cnn:1x8x8-conv4k3s2p1-fc10")
  #expect(try load(stateDict(layers)).model.architecture.description == "cnn:1x6x6-conv4k3-fc10")

  let preset = try load(stateDict(lenet5Layers, metadata: ["arch": "lenet5"]))
  #expect(preset.model.architecture == .lenet5)
  #expect(preset.metadata.architecture == "lenet5")
}

// MARK: - PyTorch's pruned form and rewind weights

/// `torch.nn.utils.prune` on a Conv2d leaves `weight_orig` and a float `weight_mask` of the
/// weight's shape; the mask is applied and kept.
@Test func pytorchPrunedConvolutionLoadsWithItsMask() throws {
  let original = (0..<18).map { Float($0 + 1) / 4 }
  let mask = (0..<18).map { Float($0 % 3 == 0 ? 0 : 1) }
  let file = SafetensorsFile(entries: [
    .init(name: "0.weight_orig", tensor: Tensor(shape: [2, 1, 3, 3], scalars: original)),
    .init(name: "0.weight_mask", tensor: Tensor(shape: [2, 1, 3, 3], scalars: mask)),
    .init(name: "0.bias", tensor: Tensor(shape: [2], scalars: [0.5, -0.5])),
    .init(name: "3.weight", tensor: Tensor(shape: [3, 32], repeating: 0.25)),
    .init(name: "3.bias", tensor: Tensor(shape: [3], scalars: [1, 2, 3])),
  ])
  let model = try load(file).model
  #expect(model.architecture.description == "cnn:1x6x6-conv2k3-fc3")
  let conv = try #require(model.weightedLayers.first?.layer)
  #expect(conv.weight.shape == [2, 1, 3, 3])
  #expect(conv.weight.scalars == zip(original, mask).map { $1 == 0 ? 0 : $0 })
  #expect(conv.mask == mask.map { UInt8($0) })
  #expect(conv.keptCount == 12)

  // Saved by Shears: the pruned weight as `0.weight` and its mask as U8 of the same shape.
  let saved = try Checkpoint.file(for: model, metadata: CheckpointMetadata(), subject: "saved")
  let savedMask = try #require(saved.entry(named: "0.weight_mask"))
  #expect(savedMask.dtype == .u8 && savedMask.shape == [2, 1, 3, 3])
  #expect(savedMask.bytes == mask.map { UInt8($0) })
  #expect(saved.entry(named: "3.weight_mask") == nil, "an unpruned layer has no mask")
  #expect(try load(saved).model == model)
}

@Test func rewindWeightsOfAConvolutionalNetworkRoundTrip() throws {
  let arch = "cnn:1x8x8-conv2k3-pool2-conv3k3-fc7-fc2"
  var model = try randomModel(arch, seed: 5)
  let rewind = try randomModel(arch, seed: 6)
  prune(&model, layer: 3) { $0 % 4 == 1 }
  let metadata = CheckpointMetadata(history: ["train epochs=2"], rewindEpoch: 1)
  let file = try Checkpoint.file(for: model, metadata: metadata, rewind: rewind, subject: "saved")
  #expect(file.entry(named: "rewind.3.weight")?.shape == [3, 2, 3, 3])
  #expect(file.entry(named: "3.weight_mask")?.shape == [3, 2, 3, 3])
  let loaded = try load(file)
  #expect(loaded.model == model)
  #expect(loaded.rewind == rewind)
  #expect(loaded.metadata.rewindEpoch == 1)

  // Rewind weights of another shape are named as such.
  var entries = file.entries.filter { $0.name != "rewind.3.weight" }
  entries.append(.init(name: "rewind.3.weight", tensor: Tensor(shape: [3, 2, 2, 2])))
  let error = #expect(throws: ShearsError.self) {
    _ = try load(SafetensorsFile(entries: entries, metadata: file.metadata))
  }
  #expect(error?.description.contains("memory (rewind weights)") == true, "\(String(describing: error))")
  #expect(error?.description.contains("3.weight has shape [3, 2, 2, 2], expected [3, 2, 3, 3]") == true)
}

// MARK: - Compact form

/// A Conv2d weight `[filters, channels, kh, kw]` is stored as the matrix `[filters, channels x
/// kh x kw]` and comes back in its own shape: CSR for a 99% pruned conv, a bitmask for a
/// half-pruned one, dense for an unpruned Linear layer.
@Test func compactFormKeepsConvolutionShapes() throws {
  var model = try randomModel("cnn:4x8x8-conv8k5-conv3k3-fc5", seed: 9)
  prune(&model, layer: 0) { $0 % 100 != 0 }
  prune(&model, layer: 2) { $0 % 2 == 0 }
  let (file, layers) = try CompactCheckpoint.file(for: model, metadata: CheckpointMetadata(), subject: "compact")
  #expect(layers.map(\.name) == ["0.weight", "2.weight", "5.weight"])
  #expect(layers.map(\.encoding) == [.csr, .bitmask, .dense])
  // 8 of 800 kept: 8 values, 8 one-byte columns (below 100), 9 two-byte row starts.
  #expect(layers.map(\.byteCount) == [8 * 4 + 8 + 18, 108 * 4 + 27, 60 * 4])
  #expect(file.metadata["0.weight.shape"] == "8,4,5,5")
  #expect(file.metadata["2.weight.shape"] == "3,8,3,3")
  #expect(file.metadata["5.weight.shape"] == "5,12")
  let indices = try #require(file.entry(named: "0.weight.indices"))
  #expect(indices.dtype == .u8 && indices.bytes == [UInt8](repeating: 0, count: 8), "column 0 of every filter")
  #expect(file.entry(named: "0.weight.indptr")?.bytes == (0...8).flatMap { [UInt8($0), 0] })

  let loaded = try load(file)
  #expect(loaded.model == model)
  #expect(loaded.model.weightedLayers.map(\.layer.weight.shape) == [[8, 4, 5, 5], [3, 8, 3, 3], [5, 12]])
}

@Test func compactConvolutionShapesAreChecked() throws {
  var model = try randomModel("cnn:4x8x8-conv8k5-conv3k3-fc5", seed: 9)
  prune(&model, layer: 2) { $0 % 2 == 0 }
  var file = try CompactCheckpoint.file(for: model, metadata: CheckpointMetadata(), subject: "compact").file
  let cases = [
    ("3,8,9", "metadata 2.weight.shape '3,8,9' is not positive integers out,in or filters,channels,kh,kw"),
    ("3,72", "metadata arch cnn:4x8x8-conv8k5-conv3k3-fc5 does not match the tensors: 2.weight has shape [3, 72]"),
    ("3,8,0,3", "is not positive integers"),
    ("3,8,3,4", "2.weight.bitmask is U8 [27], expected U8 [36]"),
  ]
  for (shape, problem) in cases {
    file.metadata["2.weight.shape"] = shape
    let error = #expect(throws: ShearsError.self, "\(shape)") { _ = try load(file) }
    #expect(error?.description.contains(problem) == true, "\(shape): \(String(describing: error))")
  }
}

// MARK: - Recipes

/// Filters pruned by `filter-l1` are ranked by the L1 norm: the recipe's `ln_structured` step
/// carries n = 1; other structured criteria keep n = 2. Shapes are the weights' own.
@Test func recipeOfFilterPruningUsesTheL1Norm() throws {
  var model = try randomModel("cnn:1x8x8-conv4k3-pool2-fc3", seed: 2)
  prune(&model, layer: 0) { $0 / 9 == 1 || $0 / 9 == 3 }  // filters 1 and 3
  for (criterion, norm) in [("filter-l1", 1), ("neuron-l2", 2)] {
    let recipe = PruningRecipe(
      model: model, metadata: CheckpointMetadata(history: ["prune \(criterion) scope=layer amount=0.5"]))
    #expect(recipe.criterion == criterion)
    let conv = try #require(recipe.layers.first)
    #expect(conv.shape == [4, 1, 3, 3])
    #expect(conv.params == 36 && conv.pruned == 18 && conv.prunedNeurons == 2)
    #expect(conv.steps == [PruningRecipe.Step(method: "ln_structured", amount: 0.5, count: 2, n: norm)])
    #expect(recipe.layers.last?.shape == [3, 36])
    #expect(recipe.layers.last?.steps == [])
  }
}

// MARK: - Invalid files

extension InvalidModel {
  static let lenet5Arch = "cnn:1x28x28-conv20k5-pool2-conv50k5-pool2-fc500-fc10"

  /// Convolutional state dicts Shears cannot read, and a fragment of the error each gives.
  static let convolutionCases: [InvalidModel] = [
    .init(
      "conv channels do not chain", stateDict(lenet5(reshaping: 3, to: [50, 10, 5, 5])).entries,
      "3.weight has shape [50, 10, 5, 5], expected [50, 20, 5, 5] (Conv2d layer of \(lenet5Arch))"),
    .init(
      "flattened features fit no image", stateDict(lenet5(reshaping: 7, to: [500, 700])).entries,
      "no square image makes the convolutions' outputs fit the 700 inputs of the first Linear layer"),
    .init(
      "Linear layers do not chain", stateDict(lenet5(reshaping: 9, to: [10, 400])).entries,
      "9.weight has shape [10, 400], expected [10, 500] (Linear layer of \(lenet5Arch))"),
    .init(
      "non-square kernel", stateDict(lenet5(reshaping: 0, to: [20, 1, 5, 3])).entries,
      "0.weight has a non-square kernel [20, 1, 5, 3]"),
    .init(
      "three-dimensional weight", stateDict(lenet5(reshaping: 3, to: [50, 20, 25])).entries,
      "3.weight has shape [50, 20, 25], expected [filters, channels, kh, kw] or [outputs, inputs]"),
    .init(
      "empty dimension", stateDict(lenet5(reshaping: 3, to: [0, 20, 5, 5])).entries,
      "3.weight has shape [0, 20, 5, 5], with an empty dimension"),
    .init(
      "convolution after a Linear layer", stateDict([(0, [4, 1, 3, 3]), (3, [8, 100]), (5, [2, 8, 3, 3])]).entries,
      "5.weight is a Conv2d weight after a Linear layer; give the file arch metadata"),
    .init(
      "convolution last", stateDict([(0, [4, 1, 3, 3]), (2, [2, 4, 3, 3])]).entries,
      "2.weight is a Conv2d weight but the last layer must be Linear (class scores)"),
    .init(
      "unknown modules after a convolution", stateDict([(0, [4, 1, 3, 3]), (5, [10, 100])]).entries,
      "cannot tell the layers between 0.weight and 5.weight (expected Conv2d, ReLU, [MaxPool2d(2)], [Flatten])"),
    .init(
      "unknown modules between Linear layers", stateDict(Array(lenet5Layers.dropLast()) + [(10, [10, 500])]).entries,
      "cannot tell the layers between 7.weight and 10.weight (expected Linear, ReLU, Linear)"),
    .init(
      "Linear before the convolutions", stateDict([(0, [10, 20]), (2, [4, 1, 3, 3]), (5, [3, 4])]).entries,
      "a convolutional network must start with a Conv2d weight at 0.weight"),
    .init(
      "conv mask of the wrong shape",
      stateDict(lenet5Layers, extra: [.init(name: "3.weight_mask", dtype: .u8, shape: [50, 500], bytes: zeros(25000))])
        .entries,
      "3.weight_mask has shape [50, 500], expected [50, 20, 5, 5] as 3.weight"),
    .init(
      "conv bias of the wrong shape",
      stateDict(lenet5Layers).entries.map {
        $0.name == "3.bias" ? .init(name: "3.bias", tensor: Tensor(shape: [20])) : $0
      },
      "3.bias has shape [20], expected [50]"),
    .init(
      "arch metadata disagrees", stateDict(lenet5Layers).entries,
      metadata: ["arch": "cnn:1x28x28-conv20k5-pool2-conv50k5-pool2-fc400-fc10"],
      "metadata arch cnn:1x28x28-conv20k5-pool2-conv50k5-pool2-fc400-fc10 does not match the tensors: "
        + "7.weight has shape [500, 800], expected [400, 800]"),
    .init(
      "arch metadata of an MLP", stateDict(lenet5Layers).entries, metadata: ["arch": "mlp:784-10"],
      "metadata arch mlp:784-10 does not match the tensors: 0.weight has shape [20, 1, 5, 5], expected [10, 784]"),
    .init(
      "arch metadata with fewer layers", stateDict(lenet5Layers).entries,
      metadata: ["arch": "cnn:1x28x28-conv20k5-pool2-conv50k5-pool2-fc500"],
      "does not match the tensors: 9.* tensors belong to no layer of cnn:1x28x28-conv20k5-pool2-conv50k5-pool2-fc500"),
    .init(
      "tensor at a pooling layer",
      stateDict(lenet5Layers, extra: [.init(name: "2.bias", tensor: Tensor(shape: [20]))]).entries,
      metadata: ["arch": "lenet5"], "2.* tensors belong to no weighted layer of \(lenet5Arch)"),
  ]
}

@Test(arguments: InvalidModel.convolutionCases)
func invalidConvolutionalFilesAreRejected(_ invalid: InvalidModel) throws {
  try withTemporaryFolder { folder in
    let path = folder + "/model.safetensors"
    try invalid.file.write(to: path)
    expectError(naming: path, containing: invalid.problem) { _ = try Checkpoint.load(from: path) }
    // `info` decides from the header alone whether to show a model; the same reason.
    if invalid.file.metadata.isEmpty {
      let descriptors = invalid.file.entries.map {
        TensorDescriptor(name: $0.name, dtype: $0.dtype, shape: $0.shape, begin: 0, end: 0)
      }
      let problem = Checkpoint.modelProblem(in: descriptors)
      #expect(problem.map { $0.contains(invalid.problem) } == true, "\(problem ?? "nil")")
    }
  }
}
