import PruneEngine

/// The files the mutations start from (the fuzz tests of checkpoint loading and of the explorer).
public struct FuzzSeed: Sendable {
  public var name: String
  public var bytes: [UInt8]
  /// Where the header's JSON tokens are, in `bytes`.
  var tokens: [Range<Int>]

  init(name: String, bytes: [UInt8]) {
    self.name = name
    self.bytes = bytes
    tokens = Mutator.tokens(in: bytes)
  }

  /// Six real files: MLPs and conv nets as Shears saves them, as PyTorch saves them, compact.
  public static func all() throws -> [FuzzSeed] {
    [
      FuzzSeed(name: "shears", bytes: try shearsCheckpoint()),
      FuzzSeed(name: "pytorch", bytes: pytorchStateDict()),
      FuzzSeed(name: "compact", bytes: try compactCheckpoint()),
      FuzzSeed(name: "shears-conv", bytes: try shearsConvolutionCheckpoint()),
      FuzzSeed(name: "pytorch-conv", bytes: pytorchConvolutionStateDict()),
      FuzzSeed(name: "compact-conv", bytes: try compactConvolutionCheckpoint()),
    ]
  }

  /// A small conv net pruned and saved by Shears, with rewind weights and `arch` metadata.
  static func shearsConvolutionCheckpoint() throws -> [UInt8] {
    let architecture = try Architecture(parsing: "cnn:1x8x8-conv2k3-pool2-conv3k3-fc4-fc2")
    var generator = SeededGenerator(seed: 13)
    var model = Model(architecture: architecture, generator: &generator)
    let rewind = Model(architecture: architecture, generator: &generator)
    prune(&model, layer: 0) { $0 % 3 == 0 }
    prune(&model, layer: 3) { $0 / 18 == 1 }
    let metadata = CheckpointMetadata(history: ["train epochs=1 seed=3"], rewindEpoch: 0)
    return try Checkpoint.file(for: model, metadata: metadata, rewind: rewind, subject: "seed").encoded
  }

  /// `safetensors.torch.save_file` of a small PyTorch conv net without metadata, its first
  /// Conv2d pruned by `torch.nn.utils.prune` (`weight_orig`, float `weight_mask`): the layout
  /// Shears infers from the layers' positions.
  static func pytorchConvolutionStateDict() -> [UInt8] {
    func entries(_ index: Int, _ shape: [Int], pruned: Bool = false) -> [SafetensorsFile.Entry] {
      let count = shape.reduce(1, *)
      let weight = Tensor(shape: shape, scalars: (0..<count).map { Float($0 % 13) / 8 - 0.75 })
      let bias = Tensor(shape: [shape[0]], scalars: (0..<shape[0]).map { Float($0) / 4 })
      guard pruned else {
        return [.init(name: "\(index).weight", tensor: weight), .init(name: "\(index).bias", tensor: bias)]
      }
      let mask = Tensor(shape: shape, scalars: (0..<count).map { Float($0 % 2) })
      return [
        .init(name: "\(index).weight_orig", tensor: weight), .init(name: "\(index).weight_mask", tensor: mask),
        .init(name: "\(index).bias", tensor: bias),
      ]
    }
    let file = SafetensorsFile(
      entries: entries(0, [2, 1, 3, 3], pruned: true) + entries(3, [3, 2, 3, 3]) + entries(6, [4, 3])
        + entries(8, [2, 4]))
    return file.encoded
  }

  /// The compact form of a conv net: a CSR conv layer, a bitmask conv layer, a dense Linear one.
  static func compactConvolutionCheckpoint() throws -> [UInt8] {
    var generator = SeededGenerator(seed: 14)
    var model = Model(architecture: try Architecture(parsing: "cnn:4x8x8-conv8k5-conv3k3-fc5"), generator: &generator)
    prune(&model, layer: 0) { $0 % 100 != 0 }
    prune(&model, layer: 2) { $0 % 2 == 0 }
    let (file, layers) = try CompactCheckpoint.file(for: model, metadata: CheckpointMetadata(), subject: "seed")
    precondition(layers.map(\.encoding) == [.csr, .bitmask, .dense], "\(layers)")
    return file.encoded
  }

  /// A small pruned model as `Checkpoint.save` writes it: masks, rewind weights, full metadata
  /// with an escaped history.
  static func shearsCheckpoint() throws -> [UInt8] {
    var generator = SeededGenerator(seed: 11)
    var model = Model(architecture: .mlp(widths: [6, 5, 4, 3]), generator: &generator)
    let rewind = Model(architecture: .mlp(widths: [6, 5, 4, 3]), generator: &generator)
    prune(&model, layer: 0) { $0 % 3 == 0 }
    prune(&model, layer: 2) { $0 % 2 == 1 }
    let metadata = CheckpointMetadata(
      architecture: "mlp:6-5-4-3", dataset: "fixture (--data)", accuracy: 0.8125, created: "2025-01-02T03:04:05Z",
      history: ["train epochs=2 seed=1", "prune magnitude scope=layer amount=0.5 \"q\" \\ é"], rewindEpoch: 0)
    return try Checkpoint.file(for: model, metadata: metadata, rewind: rewind, subject: "seed").encoded
  }

  /// `safetensors.torch.save_file` of a model pruned by `torch.nn.utils.prune` and then halved:
  /// `weight_orig` and float `weight_mask` in F16, a BF16 layer, string metadata.
  static func pytorchStateDict() -> [UInt8] {
    // The values are zero or normal halves with short mantissas: the conversion is exact.
    func half(_ values: [Float]) -> [UInt8] {
      values.flatMap { value -> [UInt8] in
        let bits = value.bitPattern
        let sign = UInt16(truncatingIfNeeded: bits >> 16) & 0x8000
        let exponent = Int((bits >> 23) & 0xFF) - 127 + 15
        let half = value == 0 ? sign : sign | UInt16(exponent) << 10 | UInt16(truncatingIfNeeded: (bits >> 13) & 0x3FF)
        return [UInt8(truncatingIfNeeded: half), UInt8(truncatingIfNeeded: half >> 8)]
      }
    }
    func bfloat(_ values: [Float]) -> [UInt8] {
      values.flatMap { value -> [UInt8] in
        let bits = value.bitPattern >> 16
        return [UInt8(truncatingIfNeeded: bits), UInt8(truncatingIfNeeded: bits >> 8)]
      }
    }
    let weights = (0..<30).map { Float($0 - 15) / 16 }
    let mask = (0..<30).map { Float($0 % 4 == 0 ? 0 : 1) }
    let file = SafetensorsFile(
      entries: [
        .init(name: "0.bias", dtype: .f16, shape: [5], bytes: half([0.5, -0.5, 0.25, 0, 1])),
        .init(name: "0.weight_orig", dtype: .f16, shape: [5, 6], bytes: half(weights)),
        .init(name: "0.weight_mask", dtype: .f16, shape: [5, 6], bytes: half(mask)),
        .init(name: "2.bias", dtype: .bf16, shape: [3], bytes: bfloat([0.125, 0, -1])),
        .init(name: "2.weight", dtype: .bf16, shape: [3, 5], bytes: bfloat((0..<15).map { Float($0) / 8 })),
        .init(name: "2.weight_mask", dtype: .u8, shape: [3, 5], bytes: (0..<15).map { UInt8($0 % 2) }),
        .init(name: "1.running_mean", dtype: .f64, shape: [2], bytes: [UInt8](repeating: 0, count: 16)),
      ],
      metadata: ["format": "pt", "note": "pruned with torch.nn.utils.prune"])
    return file.encoded
  }

  /// The compact form of a model with a CSR layer, a bitmask layer and a dense layer.
  static func compactCheckpoint() throws -> [UInt8] {
    var generator = SeededGenerator(seed: 12)
    var model = Model(architecture: .mlp(widths: [64, 4, 3, 2]), generator: &generator)
    prune(&model, layer: 0) { $0 % 20 != 0 }
    prune(&model, layer: 2) { $0 % 2 == 0 }
    let metadata = CheckpointMetadata(history: ["prune magnitude scope=layer amount=0.9"])
    let (file, layers) = try CompactCheckpoint.file(for: model, metadata: metadata, subject: "seed")
    precondition(layers.map(\.encoding) == [.csr, .bitmask, .dense], "\(layers)")
    return file.encoded
  }

  /// Prunes the weights of weighted layer `layer` whose index satisfies `pruned`.
  static func prune(_ model: inout Model, layer: Int, where pruned: (Int) -> Bool) {
    guard case .weighted(var dense) = model.layers[layer] else { return }
    dense.setMask((0..<dense.weight.count).map { pruned($0) ? 0 : 1 })
    model.layers[layer] = .weighted(dense)
  }
}

