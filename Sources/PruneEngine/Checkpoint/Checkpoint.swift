/// Saving and loading models as safetensors checkpoints that PyTorch reads as the state dict of
/// `nn.Sequential(Linear, ReLU, Linear, ...)`.
///
/// Linear layer `i` (at 0, 2, 4, ...) is stored as `i.weight` (`F32 [out, in]`) and `i.bias`
/// (`F32 [out]`); metadata is described by `CheckpointMetadata`. Loading infers the MLP from the
/// chain of weight shapes, accepts PyTorch's pruned form (`i.weight_orig` with `i.weight_mask`)
/// and ignores any other tensors.
public enum Checkpoint {
  /// Writes a model and its metadata atomically (see `writeAtomically(_:to:)`).
  ///
  /// `arch` is always written from the model; `metadata.architecture`, when set, must agree.
  /// - Throws: `ShearsError` naming `path` if the architectures disagree or the file cannot be
  ///   written; a previous file at `path` is then left as it was.
  ///
  /// - Parameter rewind: weights from early in training (lottery-ticket rewinding), stored as
  ///   `rewind.0.weight`, `rewind.0.bias`, ...; `metadata.rewindEpoch` says which epoch. PyTorch's
  ///   `load_state_dict(strict=False)` ignores them.
  public static func save(_ model: Model, metadata: CheckpointMetadata, rewind: Model? = nil, to path: String) throws {
    if let declared = metadata.architecture { try check(declared, matches: model.architecture, subject: path) }
    if let rewind { try check(rewind.architecture.description, matches: model.architecture, subject: path) }
    var entries = model.namedParameters.map { SafetensorsFile.Entry(name: $0.name, tensor: $0.tensor) }
    entries += (rewind?.namedParameters ?? []).map {
      SafetensorsFile.Entry(name: Self.rewindPrefix + $0.name, tensor: $0.tensor)
    }
    for (index, dense) in model.denseLayers {
      // A mask is written only when it prunes something (GUIDE section 4).
      if let mask = dense.mask, mask.contains(0) {
        entries.append(SafetensorsFile.Entry(name: "\(index).weight_mask", dtype: .u8, shape: dense.weight.shape, bytes: mask))
      }
    }
    let file = SafetensorsFile(
      entries: entries,
      metadata: metadata.fields(architecture: model.architecture.description))
    try file.write(to: path)
  }

  /// Reads a checkpoint written by `save` or by `safetensors.torch.save_file(model.state_dict())`.
  ///
  /// If `i.weight_mask` is present (U8 or float; nonzero = kept) it becomes the layer's mask and
  /// the weights it prunes are zeroed. If the
  /// file has `arch` metadata it must agree with the tensors.
  /// - Throws: `ShearsError` naming `path`: the file is unreadable or not valid safetensors,
  ///   Linear layers are not at 0, 2, 4, ..., a weight or bias is missing or has the wrong shape,
  ///   the shapes do not chain, or the metadata is malformed or disagrees.
  public static func load(from path: String) throws -> (model: Model, metadata: CheckpointMetadata) {
    let loaded = try loadWithRewind(from: path)
    return (loaded.model, loaded.metadata)
  }

  /// `load(from:)`, plus the rewind weights when the file keeps them.
  public static func loadWithRewind(from path: String) throws -> (
    model: Model, metadata: CheckpointMetadata, rewind: Model?
  ) {
    let file = try SafetensorsFile(contentsOf: path)
    let model = try model(from: file, subject: path)
    let metadata = try CheckpointMetadata(fields: file.metadata, subject: path)
    if let declared = metadata.architecture { try check(declared, matches: model.architecture, subject: path) }
    let rewindEntries = file.entries.filter { $0.name.hasPrefix(rewindPrefix) }.map { entry in
      SafetensorsFile.Entry(
        name: String(entry.name.dropFirst(rewindPrefix.count)), dtype: entry.dtype, shape: entry.shape, bytes: entry.bytes)
    }
    var rewind: Model?
    if !rewindEntries.isEmpty {
      let subject = "\(path) (rewind weights)"
      let weights = try self.model(from: SafetensorsFile(entries: rewindEntries), subject: subject)
      try check(weights.architecture.description, matches: model.architecture, subject: subject)
      rewind = weights
    }
    return (model, metadata, rewind)
  }

  /// Prefix of the tensors that hold the rewind weights.
  static let rewindPrefix = "rewind."


  /// The MLP whose Linear layers are the `i.weight`/`i.bias` pairs of a file, ReLU between.
  static func model(from file: SafetensorsFile, subject: String) throws -> Model {
    let parameterNames: Set<Substring> = ["weight", "bias", "weight_orig", "weight_mask"]
    var indices = Set<Int>()
    for entry in file.entries {
      let parts = entry.name.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
      if parts.count == 2, parameterNames.contains(parts[1]), let index = Int(parts[0]), String(index) == parts[0] {
        indices.insert(index)
      }
    }
    let sortedIndices = indices.sorted()
    let entries = Dictionary(file.entries.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
    guard !sortedIndices.isEmpty else { throw ShearsError(subject, "no Linear layer tensors (0.weight, 0.bias, ...)") }
    var layers: [Layer] = []
    var previous: (index: Int, layer: Dense)?
    for (position, index) in sortedIndices.enumerated() {
      guard index == 2 * position else {
        let found = sortedIndices.map(String.init).joined(separator: ", ")
        throw ShearsError(
          subject, "missing \(2 * position).weight: Linear layers must sit at 0, 2, 4, ... (found \(found))")
      }
      let dense = try dense(at: index, in: entries, subject: subject)
      if let previous {
        guard dense.inputCount == previous.layer.outputCount else {
          let (inputs, outputs) = (dense.inputCount, previous.layer.outputCount)
          throw ShearsError(
            subject, "\(index).weight takes \(inputs) inputs but layer \(previous.index) has \(outputs) outputs")
        }
        layers.append(.relu)
      }
      layers.append(.dense(dense))
      previous = (index, dense)
    }
    return Model(layers: layers)
  }

  /// Linear layer `index`: its weight (or `weight_orig`) times its mask if any, and its bias.
  private static func dense(at index: Int, in entries: [String: SafetensorsFile.Entry], subject: String) throws -> Dense
  {
    guard let weight = entries["\(index).weight"] ?? entries["\(index).weight_orig"] else {
      throw ShearsError(subject, "missing \(index).weight")
    }
    guard weight.shape.count == 2, weight.shape.allSatisfy({ $0 > 0 }) else {
      throw ShearsError(subject, "\(weight.name) has shape \(weight.shape), expected [outputs, inputs]")
    }
    var mask: [UInt8]?
    if let maskEntry = entries["\(index).weight_mask"] {
      guard maskEntry.shape == weight.shape else {
        throw ShearsError(
          subject, "\(maskEntry.name) has shape \(maskEntry.shape), expected \(weight.shape) as \(weight.name)")
      }
      mask = maskEntry.floats.map { $0 != 0 ? 1 : 0 }
    }
    guard let bias = entries["\(index).bias"] else { throw ShearsError(subject, "missing \(index).bias") }
    guard bias.shape == [weight.shape[0]] else {
      throw ShearsError(subject, "\(bias.name) has shape \(bias.shape), expected [\(weight.shape[0])]")
    }
    return Dense(
      weight: Tensor(shape: weight.shape, scalars: weight.floats), bias: Tensor(shape: bias.shape, scalars: bias.floats),
      mask: mask)
  }

  /// Checks that an `arch` text names the given architecture.
  private static func check(_ text: String, matches architecture: Architecture, subject: String) throws {
    guard let declared = try? Architecture(parsing: text) else {
      throw ShearsError(subject, "metadata arch '\(text)' is not a valid architecture")
    }
    guard declared == architecture else {
      throw ShearsError(subject, "metadata arch \(declared) does not match the layers (\(architecture))")
    }
  }
}
