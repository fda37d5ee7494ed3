/// Reading a ResNet from a state dict without `arch` metadata, as
/// `safetensors.torch.save_file(model.state_dict(), path)` writes one for the module of
/// `Tests/Interop/resnet.py`.
///
/// The names give the structure (`conv1`, `layer1.0.conv1`, ..., `layerS.B.downsample.0`, `fc`)
/// and the shapes the widths: `conv1.weight` `[W, C, 3, 3]` the input channels, each block's
/// `conv1.weight` `[I, _, 3, 3]` its inner width and `conv2.weight` `[W, I, 3, 3]` its stage's
/// stream width, `fc.weight` `[N, W]` the classes. Strides follow `ResNet.module` (2 in the first
/// block of every stage after the first). The image size is not in the tensors: global average
/// pooling takes any size. A 1-channel network is taken to read 28x28 images (Fashion-MNIST), a
/// 3-channel one 32x32 (CIFAR); other sizes need `arch` metadata.
extension Checkpoint {
  /// Whether tensors of these names are a ResNet's state dict rather than an `nn.Sequential`'s:
  /// a top-level `conv1` weight and a `layer1` stage.
  static func looksLikeResNet(_ names: some Sequence<String>) -> Bool {
    var stem = false
    var stage = false
    for name in names {
      stem = stem || name == "conv1.weight" || name == "conv1.weight_orig"
      stage = stage || name.hasPrefix("layer1.")
    }
    return stem && stage
  }

  /// The image side a ResNet read without metadata takes, by its number of input channels.
  static func inferredResNetSide(channels: Int) -> Int? {
    switch channels {
    case 1: 28
    case 3: 32
    default: nil
    }
  }

  /// The ResNet that tensors of these names and shapes form, checked: every tensor of its state
  /// dict present (`num_batches_tracked` may be missing) with its shape, masks shaped as their
  /// weights, and no `conv1`, `bn1`, `layer*` or `fc` tensor left over.
  /// - Throws: `ShearsError` naming `subject` for a missing tensor, a shape that does not fit,
  ///   or a network outside what `--arch` accepts.
  static func inferResNet(_ shapes: [String: [Int]], subject: String) throws -> Architecture {
    func weight(_ module: String) -> (name: String, shape: [Int])? {
      for name in [module + ".weight", module + ".weight_orig"] {
        if let shape = shapes[name] { return (name, shape) }
      }
      return nil
    }
    func convolution(_ module: String) throws -> [Int] {
      guard let (name, shape) = weight(module) else { throw ShearsError(subject, "missing \(module).weight") }
      guard shape.count == 4, shape[2] == 3, shape[3] == 3, shape.allSatisfy({ $0 > 0 }) else {
        throw ShearsError(subject, "\(name) has shape \(shape), expected [filters, channels, 3, 3] (a ResNet's Conv2d)")
      }
      return shape
    }
    // Which stages and blocks have tensors, in one pass over the names.
    var blocks = Set<String>()
    for name in shapes.keys where name.hasPrefix("layer") {
      let parts = name.split(separator: ".", maxSplits: 2, omittingEmptySubsequences: false)
      if parts.count == 3 { blocks.insert("\(parts[0]).\(parts[1])") }
    }
    let stem = try convolution("conv1")
    var stages: [ResNet.Stage] = []
    while blocks.contains("layer\(stages.count + 1).0") {
      let stage = "layer\(stages.count + 1)"
      var inner: [Int] = []
      var width = 0
      while blocks.contains("\(stage).\(inner.count)") {
        let block = "\(stage).\(inner.count)"
        let first = try convolution("\(block).conv1")
        let second = try convolution("\(block).conv2")
        if inner.isEmpty { width = second[0] }
        inner.append(first[0])
      }
      stages.append(ResNet.Stage(width: width, innerWidths: inner))
    }
    guard !stages.isEmpty else { throw ShearsError(subject, "missing layer1.0.conv1.weight") }
    guard let (fcName, fc) = weight("fc") else { throw ShearsError(subject, "missing fc.weight") }
    guard fc.count == 2, fc.allSatisfy({ $0 > 0 }) else {
      throw ShearsError(subject, "\(fcName) has shape \(fc), expected [classes, features] (a Linear layer)")
    }
    let channels = stem[1]
    guard let side = inferredResNetSide(channels: channels) else {
      throw ShearsError(
        subject,
        "cannot tell the image size of a \(channels)-channel ResNet without arch metadata (1-channel "
          + "networks are read as 28x28, 3-channel as 32x32); give the file arch metadata, as resnet:\(channels)x32x32-..."
      )
    }
    let found = Architecture(resnetOn: [channels, side, side], stages: stages, classes: fc[0])
    // What `--arch` refuses (too wide, too deep for the image) a file cannot hold either.
    let architecture: Architecture
    do {
      architecture = try Architecture(parsing: found.description)
    } catch let error as ShearsError {
      throw ShearsError(subject, "the tensors form the ResNet \(found), which is not valid: \(error.problem)")
    }
    try checkResNetTensors(shapes, of: architecture, subject: subject)
    return architecture
  }

  /// Checks tensors of these names and shapes against the state dict of a ResNet read from them.
  private static func checkResNetTensors(_ shapes: [String: [Int]], of architecture: Architecture, subject: String)
    throws
  {
    let context = "in \(architecture), read from the tensor names"
    var known = Set<String>()
    for (path, role, shape) in architecture.module.parameterShapes() {
      let name = path.description
      known.insert(name)
      if role == .weight { known.formUnion([name + "_orig", name + "_mask"]) }
      guard let stored = shapes[name] ?? (role == .weight ? shapes[name + "_orig"] : nil) else {
        if path.name == "num_batches_tracked" { continue }
        throw ShearsError(subject, "missing \(name) (\(context))")
      }
      guard stored == shape else {
        throw ShearsError(subject, "\(name) has shape \(stored), expected \(shape) (\(context))")
      }
      if role == .weight, let mask = shapes[name + "_mask"], mask != shape {
        throw ShearsError(subject, "\(name)_mask has shape \(mask), expected \(shape) as \(name)")
      }
    }
    let roots: Set<Substring> = ["conv1", "bn1", "fc"]
    let stray = shapes.keys.filter { name in
      let root = name.prefix { $0 != "." }
      return !known.contains(name) && (roots.contains(root) || root.hasPrefix("layer"))
    }
    if let stray = stray.min() {
      throw ShearsError(subject, "\(stray) belongs to no layer of \(architecture), read from the tensor names")
    }
  }
}
