import Foundation
import Testing

@testable import PruneEngine

/// A ResNet's state dict without metadata, as `safetensors.torch.save_file` writes it.
struct ResNetInferenceTests {
  /// The tensors of a random model of `architecture`, without metadata.
  static func stateDict(_ architecture: String, seed: UInt64 = 3) throws -> (model: Model, file: SafetensorsFile) {
    var generator = SeededGenerator(seed: seed)
    let model = try Model(architecture: Architecture(parsing: architecture), generator: &generator)
    let file = try Checkpoint.file(for: model, metadata: CheckpointMetadata(), subject: "model")
    return (model, SafetensorsFile(entries: file.entries))
  }

  /// The header of `file` alone, as `shears info` judges a file by.
  static func descriptors(_ file: SafetensorsFile) -> [TensorDescriptor] {
    file.entries.map {
      TensorDescriptor(name: $0.name, dtype: $0.dtype, shape: $0.shape, begin: 0, end: $0.bytes.count)
    }
  }

  @Test(arguments: ["resnet:1x28x28-4x1-6:3,5-3", "resnet:3x32x32-4:2-5", "resnet20"])
  func aStateDictWithoutMetadataLoadsAsItsResNet(_ architecture: String) throws {
    let (model, file) = try Self.stateDict(architecture)
    #expect(file.metadata.isEmpty)
    let loaded = try Checkpoint.loadWithRewind(file, subject: "torch.safetensors")
    #expect(loaded.model.architecture == model.architecture)
    #expect(loaded.model == model)
    #expect(loaded.metadata.architecture == nil)
    #expect(Checkpoint.modelProblem(in: Self.descriptors(file)) == nil)
  }

  /// PyTorch's pruned form (`weight_orig` and `weight_mask`) and a missing batch count load too.
  @Test func torchPrunedResNetWeightsLoad() throws {
    let (model, file) = try Self.stateDict("resnet:1x28x28-4x1-3")
    var entries = file.entries.filter { $0.name != "layer1.0.bn2.num_batches_tracked" }
    let index = try #require(entries.firstIndex { $0.name == "layer1.0.conv1.weight" })
    let weight = entries[index]
    entries[index].name = "layer1.0.conv1.weight_orig"
    let kept = (0..<weight.shape.reduce(1, *)).map { UInt8($0 % 3 == 0 ? 0 : 1) }
    entries.append(
      SafetensorsFile.Entry(name: "layer1.0.conv1.weight_mask", dtype: .u8, shape: weight.shape, bytes: kept))
    let loaded = try Checkpoint.loadWithRewind(SafetensorsFile(entries: entries), subject: "pruned.safetensors").model
    #expect(loaded.architecture == model.architecture)
    let layer = try #require(loaded.weightedLayer(at: ParameterPath("layer1.0.conv1")!))
    #expect(layer.mask == kept)
    #expect(zip(layer.weight.scalars, kept).allSatisfy { $1 == 1 || $0 == 0 })
    #expect(
      loaded.parameters[ParameterPath("layer1.0.bn2.num_batches_tracked")!]?.value == .int64(shape: [], scalars: [0]))
  }

  struct Broken: CustomTestStringConvertible, Sendable {
    var name: String
    var edit: @Sendable ([SafetensorsFile.Entry]) -> [SafetensorsFile.Entry]
    var problem: String
    var testDescription: String { name }
  }

  static let architecture = "resnet:1x28x28-4x1-6:3-3"

  static func replacing(_ name: String, shape: [Int]) -> @Sendable ([SafetensorsFile.Entry]) -> [SafetensorsFile.Entry]
  {
    { entries in
      entries.map { entry in
        guard entry.name == name else { return entry }
        return SafetensorsFile.Entry(
          name: name, tensor: Tensor(shape: shape, scalars: .init(repeating: 0, count: shape.reduce(1, *))))
      }
    }
  }

  static let broken: [Broken] = [
    .init(
      name: "missing buffer", edit: { $0.filter { $0.name != "layer2.0.bn1.running_var" } },
      problem: "missing layer2.0.bn1.running_var (in \(architecture), read from the tensor names)"),
    .init(
      name: "missing conv2", edit: { $0.filter { $0.name != "layer1.0.conv2.weight" } },
      problem: "missing layer1.0.conv2.weight"),
    .init(name: "missing fc", edit: { $0.filter { !$0.name.hasPrefix("fc.") } }, problem: "missing fc.weight"),
    .init(
      name: "inner width disagrees", edit: replacing("layer2.0.bn1.weight", shape: [5]),
      problem: "layer2.0.bn1.weight has shape [5], expected [3] (in \(architecture), read from the tensor names)"),
    .init(
      name: "stream width disagrees", edit: replacing("layer2.0.downsample.0.weight", shape: [7, 4, 1, 1]),
      problem:
        "layer2.0.downsample.0.weight has shape [7, 4, 1, 1], expected [6, 4, 1, 1] (in \(architecture), read from the tensor names)"
    ),
    .init(
      name: "flat convolution", edit: replacing("layer1.0.conv1.weight", shape: [4, 36]),
      problem: "layer1.0.conv1.weight has shape [4, 36], expected [filters, channels, 3, 3] (a ResNet's Conv2d)"),
    .init(
      name: "fc not 2-D", edit: replacing("fc.weight", shape: [18]),
      problem: "fc.weight has shape [18], expected [classes, features] (a Linear layer)"),
    .init(
      name: "fc inputs disagree", edit: replacing("fc.weight", shape: [3, 5]),
      problem: "fc.weight has shape [3, 5], expected [3, 6] (in \(architecture), read from the tensor names)"),
    .init(
      name: "stray block",
      edit: { $0 + [SafetensorsFile.Entry(name: "layer1.4.conv1.weight", tensor: Tensor(shape: [1], scalars: [0]))] },
      problem: "layer1.4.conv1.weight belongs to no layer of \(architecture), read from the tensor names"),
    .init(
      name: "two channels", edit: replacing("conv1.weight", shape: [4, 2, 3, 3]),
      problem: "cannot tell the image size of a 2-channel ResNet without arch metadata (1-channel networks are read as "
        + "28x28, 3-channel as 32x32); give the file arch metadata, as resnet:2x32x32-..."),
  ]

  @Test(arguments: broken)
  func inconsistentStateDictsAreRejectedWithOneLine(_ broken: Broken) throws {
    let (_, file) = try Self.stateDict(Self.architecture)
    let edited = SafetensorsFile(entries: broken.edit(file.entries))
    #expect(throws: ShearsError("torch.safetensors", broken.problem)) {
      _ = try Checkpoint.loadWithRewind(edited, subject: "torch.safetensors")
    }
    #expect(Checkpoint.modelProblem(in: Self.descriptors(edited)) == broken.problem)
  }

  /// Images of another shape than the one assumed for a file without metadata: one line that
  /// says so.
  @Test func imagesOfAnotherShapeAreNamed() throws {
    let architecture = try Architecture(parsing: "resnet:1x28x28-4x1-3")
    #expect(
      architecture.inputMismatch(with: bandDataset(samples: 4, classes: 3, side: 8, seed: 1), in: "data")
        == "takes 1x28x28 images but the images in data are 1x8x8 (a ResNet file without arch metadata is read as "
        + "1x28x28 or 3x32x32)")
  }
}
