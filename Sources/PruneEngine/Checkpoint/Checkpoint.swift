/// Saving and loading models as safetensors checkpoints that PyTorch reads as the state dict of
/// `nn.Sequential(Linear, ReLU, Linear, ...)`.
///
/// Linear layer `i` (at 0, 2, 4, ...) is stored as `i.weight` (`F32 [out, in]`) and `i.bias`
/// (`F32 [out]`); metadata is described by `CheckpointMetadata`. Loading infers the MLP from the
/// chain of weight shapes, accepts PyTorch's pruned form (`i.weight_orig` with `i.weight_mask`)
/// and Shears' compact form (`CompactCheckpoint`), and ignores any other tensors. Files of other
/// architectures are described, not loaded, through `MappedSafetensorsFile`.
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
    try file(for: model, metadata: metadata, rewind: rewind, subject: path).write(to: path)
  }

  /// The safetensors contents `save` writes.
  /// - Throws: `ShearsError` naming `subject` if the architectures disagree.
  static func file(for model: Model, metadata: CheckpointMetadata, rewind: Model? = nil, subject: String) throws
    -> SafetensorsFile
  {
    if let declared = metadata.architecture { try check(declared, matches: model.architecture, subject: subject) }
    if let rewind { try check(rewind.architecture.description, matches: model.architecture, subject: subject) }
    var entries = model.namedParameters.map { SafetensorsFile.Entry(name: $0.name, tensor: $0.tensor) }
    entries += (rewind?.namedParameters ?? []).map {
      SafetensorsFile.Entry(name: Self.rewindPrefix + $0.name, tensor: $0.tensor)
    }
    for (index, dense) in model.denseLayers {
      // A mask is written only when it prunes something (GUIDE section 4).
      if let mask = dense.mask, mask.contains(0) {
        entries.append(
          SafetensorsFile.Entry(name: "\(index).weight_mask", dtype: .u8, shape: dense.weight.shape, bytes: mask))
      }
    }
    return SafetensorsFile(entries: entries, metadata: metadata.fields(architecture: model.architecture.description))
  }

  /// Reads a checkpoint written by `save`, by `saveCompact` or by
  /// `safetensors.torch.save_file(model.state_dict())`.
  ///
  /// If `i.weight_mask` is present (U8 or float; nonzero = kept) it becomes the layer's mask and
  /// the weights it prunes are zeroed. A file in the compact form (`CompactCheckpoint`) is
  /// expanded to dense weights and masks. If the file has `arch` metadata it must agree with
  /// the tensors.
  /// - Throws: `ShearsError` naming `path`: the file is unreadable or not valid safetensors,
  ///   Linear layers are not at 0, 2, 4, ..., a weight or bias is missing or has the wrong shape,
  ///   the shapes do not chain, the compact form is inconsistent, or the metadata is malformed
  ///   or disagrees.
  public static func load(from path: String) throws -> (model: Model, metadata: CheckpointMetadata) {
    let loaded = try loadWithRewind(from: path)
    return (loaded.model, loaded.metadata)
  }

  /// `load(from:)`, plus the rewind weights when the file keeps them.
  public static func loadWithRewind(from path: String) throws -> (
    model: Model, metadata: CheckpointMetadata, rewind: Model?
  ) {
    try loadWithRewind(SafetensorsFile(contentsOf: path), subject: path)
  }

  /// `loadWithRewind(from:)` on the bytes of a file in memory; `subject` is named in errors.
  static func loadWithRewind(decoding bytes: [UInt8], subject: String) throws -> (
    model: Model, metadata: CheckpointMetadata, rewind: Model?
  ) {
    try loadWithRewind(SafetensorsFile(decoding: bytes, subject: subject), subject: subject)
  }

  /// `loadWithRewind(from:)` on a file already read (for example from a `MappedSafetensorsFile`).
  public static func loadWithRewind(_ file: SafetensorsFile, subject: String) throws -> (
    model: Model, metadata: CheckpointMetadata, rewind: Model?
  ) {
    let file = try CompactCheckpoint.isCompact(file.metadata) ? CompactCheckpoint.expand(file, subject: subject) : file
    let model = try model(from: file, subject: subject)
    let metadata = try CheckpointMetadata(fields: file.metadata, subject: subject)
    if let declared = metadata.architecture { try check(declared, matches: model.architecture, subject: subject) }
    let rewindEntries = file.entries.filter { $0.name.hasPrefix(rewindPrefix) }.map { entry in
      SafetensorsFile.Entry(
        name: String(entry.name.dropFirst(rewindPrefix.count)), dtype: entry.dtype, shape: entry.shape,
        bytes: entry.bytes)
    }
    var rewind: Model?
    if !rewindEntries.isEmpty {
      let rewindSubject = "\(subject) (rewind weights)"
      let weights = try self.model(from: SafetensorsFile(entries: rewindEntries), subject: rewindSubject)
      try check(weights.architecture.description, matches: model.architecture, subject: rewindSubject)
      rewind = weights
    }
    return (model, metadata, rewind)
  }

  /// Whether tensors of these names and shapes form an MLP `load` accepts, judged from the
  /// header alone (the values are not read): nil if they do, else the reason they do not.
  public static func mlpProblem(in tensors: [TensorDescriptor]) -> String? {
    let shapes = Dictionary(tensors.map { ($0.name, $0.shape) }, uniquingKeysWith: { first, _ in first })
    do {
      _ = try plan(shapes, subject: "")
      return nil
    } catch let error as ShearsError {
      return error.problem
    } catch {
      return "\(error)"
    }
  }

  /// Warnings for NaN and infinite parameters (the model loads; its outputs will not be usable).
  public static func nonFiniteWarnings(in model: Model) -> [String] {
    model.namedParameters.compactMap { name, tensor in
      var nans = 0
      var infinities = 0
      for value in tensor.scalars where !value.isFinite {
        if value.isNaN { nans += 1 } else { infinities += 1 }
      }
      guard nans + infinities > 0 else { return nil }
      let parts = [nans > 0 ? "\(nans) NaN" : nil, infinities > 0 ? "\(infinities) infinite" : nil].compactMap { $0 }
      return "\(name) holds \(parts.joined(separator: " and ")) value\(nans + infinities == 1 ? "" : "s")"
    }
  }

  /// Prefix of the tensors that hold the rewind weights.
  static let rewindPrefix = "rewind."

  /// Where one Linear layer's tensors are, as `plan` found them.
  struct LayerPlan {
    var index: Int
    /// `i.weight`, or `i.weight_orig` in PyTorch's pruned form.
    var weight: String
    var mask: String?
    var bias: String
  }

  /// The Linear layers that tensors of these names and shapes form, checked: layers at 0, 2,
  /// 4, ..., each with a 2-D weight, a matching bias and mask, chaining widths.
  static func plan(_ shapes: [String: [Int]], subject: String) throws -> [LayerPlan] {
    let parameterNames: Set<Substring> = ["weight", "bias", "weight_orig", "weight_mask"]
    var indices = Set<Int>()
    for name in shapes.keys {
      let parts = name.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
      if parts.count == 2, parameterNames.contains(parts[1]), let index = Int(parts[0]), String(index) == parts[0] {
        indices.insert(index)
      }
    }
    let sortedIndices = indices.sorted()
    guard !sortedIndices.isEmpty else { throw ShearsError(subject, "no Linear layer tensors (0.weight, 0.bias, ...)") }
    var plans: [LayerPlan] = []
    var previous: (index: Int, outputs: Int)?
    for (position, index) in sortedIndices.enumerated() {
      guard index == 2 * position else {
        let found = sortedIndices.map(String.init).joined(separator: ", ")
        throw ShearsError(
          subject, "missing \(2 * position).weight: Linear layers must sit at 0, 2, 4, ... (found \(found))")
      }
      let weight = shapes["\(index).weight"] != nil ? "\(index).weight" : "\(index).weight_orig"
      guard let weightShape = shapes[weight] else { throw ShearsError(subject, "missing \(index).weight") }
      guard weightShape.count == 2, weightShape.allSatisfy({ $0 > 0 }) else {
        throw ShearsError(subject, "\(weight) has shape \(weightShape), expected [outputs, inputs]")
      }
      let maskName = "\(index).weight_mask"
      if let maskShape = shapes[maskName], maskShape != weightShape {
        throw ShearsError(subject, "\(maskName) has shape \(maskShape), expected \(weightShape) as \(weight)")
      }
      let bias = "\(index).bias"
      guard let biasShape = shapes[bias] else { throw ShearsError(subject, "missing \(bias)") }
      guard biasShape == [weightShape[0]] else {
        throw ShearsError(subject, "\(bias) has shape \(biasShape), expected [\(weightShape[0])]")
      }
      if let previous {
        guard weightShape[1] == previous.outputs else {
          throw ShearsError(
            subject,
            "\(index).weight takes \(weightShape[1]) inputs but layer \(previous.index) has \(previous.outputs) outputs"
          )
        }
      }
      plans.append(LayerPlan(index: index, weight: weight, mask: shapes[maskName] == nil ? nil : maskName, bias: bias))
      previous = (index, weightShape[0])
    }
    return plans
  }

  /// The MLP whose Linear layers are the `i.weight`/`i.bias` pairs of a file, ReLU between.
  static func model(from file: SafetensorsFile, subject: String) throws -> Model {
    let entries = Dictionary(file.entries.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
    var layers: [Layer] = []
    for layer in try plan(entries.mapValues(\.shape), subject: subject) {
      if !layers.isEmpty { layers.append(.relu) }
      let weight = entries[layer.weight]!
      let bias = entries[layer.bias]!
      let mask = layer.mask.map { entries[$0]!.floats.map { $0 != 0 ? UInt8(1) : 0 } }
      layers.append(
        .dense(
          Dense(
            weight: Tensor(shape: weight.shape, scalars: weight.floats),
            bias: Tensor(shape: bias.shape, scalars: bias.floats), mask: mask)))
    }
    return Model(layers: layers)
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
