/// Saving and loading models as safetensors checkpoints that PyTorch reads as the state dict of
/// the same `nn.Sequential`: `Linear, ReLU, Linear, ...` for an MLP, `Conv2d, ReLU, MaxPool2d,
/// ..., Flatten, Linear, ...` for a convolutional network.
///
/// Weighted layer `i` (its index in `nn.Sequential`, ReLU, pooling and Flatten counted) is
/// stored as `i.weight` (`F32`, `[out, in]` or `[filters, channels, kh, kw]`) and `i.bias`
/// (`F32 [out]`), with `i.weight_mask` (`U8`, the weight's shape) when it is pruned; metadata is
/// described by `CheckpointMetadata`. Loading takes the architecture from the `arch` metadata or
/// infers it from the tensors' positions and shapes (`plan`; a ResNet from its torchvision names,
/// `inferResNet`), accepts PyTorch's pruned form
/// (`i.weight_orig` with `i.weight_mask`) and Shears' compact form (`CompactCheckpoint`), and
/// ignores any other tensors. Files of other architectures are described, not loaded, through
/// `MappedSafetensorsFile`.
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
  public static func file(for model: Model, metadata: CheckpointMetadata, rewind: Model? = nil, subject: String) throws
    -> SafetensorsFile
  {
    if let declared = metadata.architecture { try check(declared, matches: model.architecture, subject: subject) }
    if let rewind { try check(rewind.architecture.description, matches: model.architecture, subject: subject) }
    var entries = Self.entries(of: model.parameters, prefix: "")
    entries += rewind.map { Self.entries(of: $0.parameters, prefix: Self.rewindPrefix) } ?? []
    // A mask is written only when it prunes something (GUIDE section 4): a weight's, or a
    // BatchNorm scale's and shift's when whole channels are pruned.
    for parameter in model.parameters.parameters {
      if let mask = parameter.mask, mask.contains(0) {
        entries.append(
          SafetensorsFile.Entry(name: "\(parameter.path)_mask", dtype: .u8, shape: parameter.value.shape, bytes: mask))
      }
    }
    return SafetensorsFile(entries: entries, metadata: metadata.fields(architecture: model.architecture.description))
  }

  /// One entry per tensor of `store`, in its order, named by path after `prefix`.
  private static func entries(of store: ParameterStore, prefix: String) -> [SafetensorsFile.Entry] {
    store.parameters.map { parameter in
      let name = prefix + parameter.path.description
      switch parameter.value {
      case .float32(let tensor): return SafetensorsFile.Entry(name: name, tensor: tensor)
      case .int64(let shape, let scalars): return SafetensorsFile.Entry(name: name, shape: shape, integers: scalars)
      }
    }
  }

  /// Reads a checkpoint written by `save`, by `saveCompact` or by
  /// `safetensors.torch.save_file(model.state_dict())`.
  ///
  /// If `i.weight_mask` is present (U8 or float; nonzero = kept) it becomes the layer's mask and
  /// the weights it prunes are zeroed. A file in the compact form (`CompactCheckpoint`) is
  /// expanded to dense weights and masks. If the file has `arch` metadata it must agree with
  /// the tensors.
  /// - Throws: `ShearsError` naming `path`: the file is unreadable or not valid safetensors, no
  ///   architecture can be read from the tensors (see `plan`), a weight, bias or mask is missing
  ///   or has the wrong shape, the compact form is inconsistent, or the metadata is malformed or
  ///   disagrees with the tensors.
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
    let metadata = try CheckpointMetadata(fields: file.metadata, subject: subject)
    let declared = try declaredArchitecture(metadata.architecture, subject: subject)
    let model = try model(from: file, declared: declared, subject: subject)
    let rewindEntries = file.entries.filter { $0.name.hasPrefix(rewindPrefix) }.map { entry in
      SafetensorsFile.Entry(
        name: String(entry.name.dropFirst(rewindPrefix.count)), dtype: entry.dtype, shape: entry.shape,
        bytes: entry.bytes)
    }
    var rewind: Model?
    if !rewindEntries.isEmpty {
      let rewindSubject = "\(subject) (rewind weights)"
      rewind = try self.model(
        from: SafetensorsFile(entries: rewindEntries), declared: model.architecture, subject: rewindSubject)
    }
    return (model, metadata, rewind)
  }

  /// Whether tensors of these names and shapes form a model `load` accepts, judged from the
  /// header alone (the values are not read): nil if they do, else the reason they do not.
  public static func modelProblem(in tensors: [TensorDescriptor]) -> String? {
    let shapes = Dictionary(tensors.map { ($0.name, $0.shape) }, uniquingKeysWith: { first, _ in first })
    do {
      if looksLikeResNet(shapes.keys) {
        _ = try inferResNet(shapes, subject: "")
        return nil
      }
      _ = try plan(shapes, declared: nil, subject: "")
      return nil
    } catch let error as ShearsError {
      return error.problem
    } catch {
      return "\(error)"
    }
  }

  /// Warnings for NaN and infinite parameters (the model loads; its outputs will not be usable).
  public static func nonFiniteWarnings(in model: Model) -> [String] {
    model.namedParameters.compactMap { name, tensor in nonFiniteWarning(name: name, tensor: tensor) }
  }

  /// The warning `nonFiniteWarnings` gives for one tensor; nil when every value is finite.
  public static func nonFiniteWarning(name: String, tensor: Tensor) -> String? {
    var nans = 0
    var infinities = 0
    for value in tensor.scalars where !value.isFinite {
      if value.isNaN { nans += 1 } else { infinities += 1 }
    }
    guard nans + infinities > 0 else { return nil }
    let parts = [nans > 0 ? "\(nans) NaN" : nil, infinities > 0 ? "\(infinities) infinite" : nil].compactMap { $0 }
    return "\(name) holds \(parts.joined(separator: " and ")) value\(nans + infinities == 1 ? "" : "s")"
  }

  /// Prefix of the tensors that hold the rewind weights.
  static let rewindPrefix = "rewind."

  /// Where one weighted layer's tensors are, as `plan` found them.
  struct LayerPlan {
    var index: Int
    var kind: WeightedLayer.Kind
    /// `i.weight`, or `i.weight_orig` in PyTorch's pruned form.
    var weight: String
    var mask: String?
    var bias: String
  }

  /// The architecture that tensors of these names and shapes form, and where each weighted
  /// layer's tensors are, checked: every weight, bias and mask present with the shape the
  /// architecture gives it, and no `i.*` tensor left over.
  ///
  /// The architecture is `declared` (the file's `arch` metadata) when given. Otherwise it is
  /// inferred: 2-D weights at 0, 2, 4, ... form an MLP (`inferMLP`); a file with 4-D weights is
  /// read as a PyTorch convolutional `nn.Sequential` (`inferConvolutional`).
  static func plan(_ shapes: [String: [Int]], declared: Architecture?, subject: String) throws -> (
    architecture: Architecture, layers: [LayerPlan]
  ) {
    let parameterNames: Set<Substring> = ["weight", "bias", "weight_orig", "weight_mask"]
    var indices = Set<Int>()
    for name in shapes.keys {
      let parts = name.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
      if parts.count == 2, parameterNames.contains(parts[1]), let index = Int(parts[0]), String(index) == parts[0] {
        indices.insert(index)
      }
    }
    let sortedIndices = indices.sorted()
    guard !sortedIndices.isEmpty else {
      throw ShearsError(subject, "no Linear or Conv2d layer tensors (0.weight, 0.bias, ...)")
    }
    func weightName(_ index: Int) -> String {
      shapes["\(index).weight"] != nil ? "\(index).weight" : "\(index).weight_orig"
    }
    let architecture: Architecture
    if let declared {
      architecture = declared
    } else {
      let weights = sortedIndices.map { shapes[weightName($0)] }
      architecture =
        try weights.contains(where: { $0?.count == 4 })
        ? inferConvolutional(sortedIndices, shapes: weights, subject: subject)
        : inferMLP(sortedIndices, shapes: weights, subject: subject)
    }
    do {
      let plans = try layerPlans(
        shapes, indices: indices, architecture: architecture, weightName: weightName, subject: subject)
      return (architecture, plans)
    } catch let error as ShearsError where declared != nil {
      throw ShearsError(subject, "metadata arch \(architecture) does not match the tensors: \(error.problem)")
    }
  }

  /// Where each weighted layer of `architecture` has its tensors, checked against their shapes.
  private static func layerPlans(
    _ shapes: [String: [Int]], indices: Set<Int>, architecture: Architecture, weightName: (Int) -> String,
    subject: String
  ) throws -> [LayerPlan] {
    let outputShapes = try architecture.shapes()
    let inputShapes = [architecture.inputShape] + outputShapes.dropLast()
    var plans: [LayerPlan] = []
    for (index, step) in architecture.steps.enumerated() {
      let expected: [Int]
      let kind: WeightedLayer.Kind
      switch step {
      case .linear(let outputs):
        (expected, kind) = ([outputs, inputShapes[index].reduce(1, *)], .linear)
      case .conv(let filters, let kernel, let stride, let padding):
        (expected, kind) = ([filters, inputShapes[index][0], kernel, kernel], .conv(stride: stride, padding: padding))
      default:
        if indices.contains(index) {
          throw ShearsError(subject, "\(index).* tensors belong to no weighted layer of \(architecture)")
        }
        continue
      }
      let weight = weightName(index)
      guard let weightShape = shapes[weight] else { throw ShearsError(subject, "missing \(index).weight") }
      guard weightShape == expected else {
        let layer = kind == .linear ? "Linear" : "Conv2d"
        throw ShearsError(
          subject, "\(weight) has shape \(weightShape), expected \(expected) (\(layer) layer of \(architecture))")
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
      plans.append(
        LayerPlan(index: index, kind: kind, weight: weight, mask: shapes[maskName] == nil ? nil : maskName, bias: bias))
    }
    if let stray = indices.filter({ $0 >= architecture.steps.count }).min() {
      throw ShearsError(subject, "\(stray).* tensors belong to no layer of \(architecture)")
    }
    return plans
  }

  /// The MLP of 2-D weights at 0, 2, 4, ... whose widths chain.
  private static func inferMLP(_ indices: [Int], shapes: [[Int]?], subject: String) throws -> Architecture {
    var widths: [Int] = []
    for (position, (index, shape)) in zip(indices, shapes).enumerated() {
      guard index == 2 * position else {
        let found = indices.map(String.init).joined(separator: ", ")
        throw ShearsError(
          subject, "missing \(2 * position).weight: Linear layers must sit at 0, 2, 4, ... (found \(found))")
      }
      guard let shape else { throw ShearsError(subject, "missing \(index).weight") }
      guard shape.count == 2, shape.allSatisfy({ $0 > 0 }) else {
        throw ShearsError(subject, "\(index).weight has shape \(shape), expected [outputs, inputs]")
      }
      if widths.isEmpty {
        widths = [shape[1]]
      } else if shape[1] != widths.last {
        throw ShearsError(
          subject,
          "\(index).weight takes \(shape[1]) inputs but layer \(indices[position - 1]) has \(widths.last ?? 0) outputs")
      }
      widths.append(shape[0])
    }
    return .mlp(widths: widths)
  }

  /// Largest image side `inferConvolutional` tries.
  private static let largestInferredImageSide = 4096

  /// A convolutional network read from the positions and shapes of its weights, as PyTorch
  /// numbers the modules of `nn.Sequential(Conv2d, ReLU, [MaxPool2d(2)], ..., Flatten, Linear,
  /// ReLU, ..., Linear)`.
  ///
  /// A state dict holds only the weights, so the modules between two weighted layers are read
  /// from the gap between their indices: after a Conv2d, 2 means ReLU, 3 means ReLU and
  /// MaxPool2d(2) (or ReLU and Flatten before a Linear layer), 4 means ReLU, MaxPool2d(2) and
  /// Flatten; Linear layers have ReLU between them. Convolutions are taken to have stride 1 and
  /// no padding, and the input to be square images of the smallest side that makes the
  /// flattened features fit the first Linear layer (28 for LeNet-5). A file of any other layout
  /// needs `arch` metadata.
  private static func inferConvolutional(_ indices: [Int], shapes: [[Int]?], subject: String) throws -> Architecture {
    guard indices.first == 0, shapes.first??.count == 4 else {
      throw ShearsError(subject, "a convolutional network must start with a Conv2d weight at 0.weight")
    }
    var steps: [Architecture.Step] = []
    var linearInputs: Int?
    for (position, (index, shape)) in zip(indices, shapes).enumerated() {
      guard let shape else { throw ShearsError(subject, "missing \(index).weight") }
      guard shape.allSatisfy({ $0 > 0 }) else {
        throw ShearsError(subject, "\(index).weight has shape \(shape), with an empty dimension")
      }
      let next = position + 1 < indices.count ? indices[position + 1] : nil
      switch shape.count {
      case 4:
        guard linearInputs == nil else {
          throw ShearsError(
            subject, "\(index).weight is a Conv2d weight after a Linear layer; give the file arch metadata")
        }
        guard shape[2] == shape[3] else {
          throw ShearsError(subject, "\(index).weight has a non-square kernel \(shape)")
        }
        guard let next else {
          throw ShearsError(
            subject, "\(index).weight is a Conv2d weight but the last layer must be Linear (class scores)")
        }
        let beforeLinear = shapes[position + 1]?.count == 2
        let between: [Architecture.Step]
        switch (next - index, beforeLinear) {
        case (2, false): between = [.relu]
        case (3, false): between = [.relu, .maxPool(size: 2)]
        case (3, true): between = [.relu, .flatten]
        case (4, true): between = [.relu, .maxPool(size: 2), .flatten]
        default:
          throw ShearsError(
            subject,
            "cannot tell the layers between \(index).weight and \(next).weight (expected Conv2d, ReLU, "
              + "[MaxPool2d(2)], [Flatten]); give the file arch metadata (as lenet5)")
        }
        steps += [.conv(filters: shape[0], kernel: shape[2], stride: 1, padding: 0)] + between
      case 2:
        linearInputs = linearInputs ?? shape[1]
        steps.append(.linear(outputs: shape[0]))
        guard let next else { break }
        guard next - index == 2 else {
          throw ShearsError(
            subject,
            "cannot tell the layers between \(index).weight and \(next).weight (expected Linear, ReLU, Linear); "
              + "give the file arch metadata")
        }
        steps.append(.relu)
      default:
        throw ShearsError(
          subject, "\(index).weight has shape \(shape), expected [filters, channels, kh, kw] or [outputs, inputs]")
      }
    }
    guard let linearInputs, let channels = shapes.first??[1] else {
      throw ShearsError(subject, "no Linear layer after the convolutions")
    }
    // The flattened size never shrinks as the image grows: stop once it is past the target.
    for side in 1...largestInferredImageSide {
      let candidate = Architecture(inputShape: [channels, side, side], steps: steps)
      guard let flat = try? candidate.shapes().first(where: { $0.count == 1 })?.first else { continue }
      if flat == linearInputs { return candidate }
      if flat > linearInputs { break }
    }
    throw ShearsError(
      subject,
      "no square image makes the convolutions' outputs fit the \(linearInputs) inputs of the first Linear layer")
  }

  /// The model whose weighted layers are the `i.weight`/`i.bias` pairs of a file, in the
  /// `declared` architecture or the one `plan` infers.
  static func model(from file: SafetensorsFile, declared: Architecture?, subject: String) throws -> Model {
    let entries = Dictionary(file.entries.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
    if let declared, !declared.isSequential { return try model(of: declared, from: entries, subject: subject) }
    if declared == nil, looksLikeResNet(entries.keys) {
      let architecture = try inferResNet(entries.mapValues(\.shape), subject: subject)
      return try model(of: architecture, from: entries, subject: subject)
    }
    let (architecture, plans) = try plan(entries.mapValues(\.shape), declared: declared, subject: subject)
    let planned = Dictionary(uniqueKeysWithValues: plans.map { ($0.index, $0) })
    let layers = architecture.steps.enumerated().map { index, step -> Layer in
      switch step {
      case .relu: return .relu
      case .maxPool(let size): return .maxPool(size: size)
      case .flatten: return .flatten
      case .linear, .conv:
        let layer = planned[index]!
        let weight = entries[layer.weight]!
        let bias = entries[layer.bias]!
        let mask = layer.mask.map { entries[$0]!.floats.map { $0 != 0 ? UInt8(1) : 0 } }
        return .weighted(
          WeightedLayer(
            kind: layer.kind, weight: Tensor(shape: weight.shape, scalars: weight.floats),
            bias: Tensor(shape: bias.shape, scalars: bias.floats), mask: mask))
      }
    }
    return Model(layers: layers, inputShape: architecture.inputShape)
  }

  /// A model of a non-Sequential architecture (declared, or read by `inferResNet`): every tensor
  /// of its state dict by path, with its mask (`PATH_mask`: `conv1.weight_mask`,
  /// `bn1.weight_mask`) where there is one; a trained tensor may be in PyTorch's pruned form
  /// (`PATH_orig`, as `conv1.weight_orig`). BatchNorm's `num_batches_tracked`
  /// may be missing (PyTorch also loads files written before it existed) and is then 0.
  private static func model(
    of architecture: Architecture, from entries: [String: SafetensorsFile.Entry], subject: String
  ) throws -> Model {
    let module = architecture.module
    let parameters = try module.parameterShapes().map { path, role, shape -> Parameter in
      let name = path.description
      guard let entry = entries[name] ?? (role != .buffer ? entries[name + "_orig"] : nil) else {
        guard path.name == "num_batches_tracked" else { throw ShearsError(subject, "missing \(name)") }
        return Parameter(path: path, role: role, value: .int64(shape: shape, scalars: [0]))
      }
      guard entry.shape == shape else {
        throw ShearsError(subject, "\(name) has shape \(entry.shape), expected \(shape)")
      }
      if path.name == "num_batches_tracked" {
        guard entry.dtype == .i64 else { throw ShearsError(subject, "\(name) is \(entry.dtype.rawValue), expected I64") }
        let count = entry.bytes.count / 8
        let counts = (0..<count).map { index in
          (0..<8).reduce(UInt64(0)) { $0 | UInt64(entry.bytes[index * 8 + $1]) << (8 * UInt64($1)) }
        }
        return Parameter(path: path, role: role, value: .int64(shape: shape, scalars: counts.map { Int64(bitPattern: $0) }))
      }
      guard entry.dtype.isFloatingPoint else {
        throw ShearsError(subject, "\(name) is \(entry.dtype.rawValue), expected a floating-point type")
      }
      var scalars = entry.floats
      var mask: [UInt8]?
      if role != .buffer, let maskEntry = entries[name + "_mask"] {
        guard maskEntry.shape == shape else {
          throw ShearsError(subject, "\(name)_mask has shape \(maskEntry.shape), expected \(shape)")
        }
        let kept = maskEntry.floats.map { $0 != 0 ? UInt8(1) : 0 }
        for index in kept.indices where kept[index] == 0 { scalars[index] = 0 }
        mask = kept
      }
      return Parameter(path: path, role: role, tensor: Tensor(shape: shape, scalars: scalars), mask: mask)
    }
    return Model(module: module, parameters: ParameterStore(parameters), inputShape: architecture.inputShape)
  }

  /// The architecture an `arch` metadata text declares.
  static func declaredArchitecture(_ text: String?, subject: String) throws -> Architecture? {
    guard let text else { return nil }
    guard let architecture = try? Architecture(parsing: text) else {
      throw ShearsError(subject, "metadata arch '\(text)' is not a valid architecture")
    }
    return architecture
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
