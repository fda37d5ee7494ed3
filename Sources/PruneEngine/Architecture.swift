/// The shape of a network: its input and its layers without their parameters, written as in
/// `--arch`.
///
/// Grammar:
/// - `mlp:W0-W1-...-Wn`: Linear layers `W0 -> W1 -> ... -> Wn` with ReLU between. `W0` is the
///   input width (784 for 28x28 images) and `Wn` the number of classes.
/// - `cnn:CxHxW-ITEM-...`: a convolutional network on `C`-channel `H`x`W` images. Items are
///   `conv<N>k<K>` (a Conv2d with `N` filters of `K`x`K`, then ReLU; optional `s<S>` stride and
///   `p<P>` zero padding, as in `conv32k3s2p1`), `pool<K>` (MaxPool2d of `K`x`K`, stride `K`)
///   and `fc<N>` (a Linear layer of `N` outputs). A Flatten comes before the first `fc`, and
///   ReLU between `fc` layers; the last item is an `fc` giving the class scores.
/// - `lenet5`: LeCun et al. 1998 as commonly built in PyTorch, `cnn:1x28x28-conv20k5-pool2-conv50k5-pool2-fc500-fc10`.
/// - `resnet:CxHxW-WxB-...-N`: a residual network (`ResNet`) on `C`-channel `H`x`W` images with
///   one stage of `B` basic blocks `W` filters wide per `WxB` item and `N` classes; its modules
///   are named as torchvision names them (`conv1`, `layer1.0.conv1`, `fc`). A stage item
///   `W:I1,I2,...` gives each block its own inner width (the filters of its `conv1`) around a
///   residual stream `W` wide, one block per `I` (`16:8,12,16`); `WxB` is the form of a stage
///   whose inner widths are all `W`, and the description uses it whenever it applies.
/// - `resnet20`: He et al. 2016's CIFAR ResNet-20 on Fashion-MNIST,
///   `resnet:1x28x28-16x3-32x3-64x3-10`; `resnet20:CxHxW` on other images.
/// - `gpt:LAYERS-HEADS-WIDTH-CONTEXT`: a GPT-2 language model (`GPT`) of `LAYERS` blocks,
///   `HEADS` attention heads, `WIDTH` features per token and sequences of `CONTEXT` tokens,
///   over the 256 byte values; `gpt:...-vN` gives a vocabulary of `N` tokens instead.
///
/// Layers are numbered as `nn.Sequential` numbers them, ReLU, MaxPool2d and Flatten included,
/// so parameter names match a PyTorch state dict (`lenet5`: `0.weight`, `3.weight`, `7.weight`,
/// `9.weight`). Softmax cross-entropy is applied to the last layer's outputs.
public struct Architecture: Sendable, Equatable, CustomStringConvertible {
  /// One layer without parameters.
  public enum Step: Sendable, Equatable {
    case linear(outputs: Int)
    case conv(filters: Int, kernel: Int, stride: Int, padding: Int)
    case relu
    /// Max pooling over `size`x`size` windows with stride `size`, as `MaxPool2d(size)`.
    case maxPool(size: Int)
    case flatten
  }

  /// How the layers are arranged.
  public enum Layout: Sendable, Equatable {
    /// An `nn.Sequential` of these steps.
    case sequential([Step])
    /// `ResNet.module` with these stages and classes.
    case resnet(stages: [ResNet.Stage], classes: Int)
    /// `GPT`, a language model of this shape; its input is one token id per position.
    case gpt(GPT.Shape)
  }

  /// `[features]` for a flat input, `[channels, height, width]` for images.
  public var inputShape: [Int]
  public var layout: Layout

  public init(inputShape: [Int], steps: [Step]) {
    self.inputShape = inputShape
    layout = .sequential(steps)
  }

  /// A residual network on images of `inputShape`.
  public init(resnetOn inputShape: [Int], stages: [ResNet.Stage], classes: Int) {
    self.inputShape = inputShape
    layout = .resnet(stages: stages, classes: classes)
  }

  /// A GPT language model.
  public init(gpt shape: GPT.Shape) {
    inputShape = [1]
    layout = .gpt(shape)
  }

  /// The language model's shape; nil for an image classifier.
  public var languageModel: GPT.Shape? {
    if case .gpt(let shape) = layout { shape } else { nil }
  }

  /// The steps of a Sequential layout; empty for a residual network.
  public var steps: [Step] {
    if case .sequential(let steps) = layout { steps } else { [] }
  }

  /// Whether the layout is an `nn.Sequential` (`mlp:`, `cnn:`, `lenet5`), whose layers are
  /// numbered and whose structure commands such as `--shrink` rearrange.
  public var isSequential: Bool {
    if case .sequential = layout { true } else { false }
  }

  /// The module tree of a network of this architecture.
  public var module: Module {
    switch layout {
    case .gpt(let shape):
      return .gpt(shape)
    case .resnet(let stages, let classes):
      return ResNet.module(channels: inputShape.first ?? 0, stages: stages, classes: classes)
    case .sequential(let steps):
      var input = inputShape
      let shapes = (try? shapes()) ?? []
      return .sequential(
        steps.enumerated().map { index, step in
          defer { if index < shapes.count { input = shapes[index] } }
          let module: Module =
            switch step {
            case .linear(let outputs): .linear(inputs: input.reduce(1, *), outputs: outputs)
            case .conv(let filters, let kernel, let stride, let padding):
              .conv2d(
                channels: input.first ?? 0, filters: filters, kernel: kernel, stride: stride, padding: padding,
                bias: true)
            case .relu: .relu
            case .maxPool(let size): .maxPool(size: size)
            case .flatten: .flatten
            }
          return Module.Child(String(index), module)
        })
    }
  }

  /// Linear layers of the given widths with ReLU between.
  public static func mlp(widths: [Int]) -> Architecture {
    var steps: [Step] = []
    for width in widths.dropFirst() {
      if !steps.isEmpty { steps.append(.relu) }
      steps.append(.linear(outputs: width))
    }
    return Architecture(inputShape: [widths.first ?? 0], steps: steps)
  }

  /// The LeNet-300-100 baseline of Han et al. 2015 for 28x28 inputs and 10 classes.
  public static let lenet300100 = Architecture.mlp(widths: [784, 300, 100, 10])

  /// LeNet-5 as `nn.Sequential(Conv2d(1,20,5), ReLU(), MaxPool2d(2), Conv2d(20,50,5), ReLU(),
  /// MaxPool2d(2), Flatten(), Linear(800,500), ReLU(), Linear(500,10))`.
  public static let lenet5 = Architecture(
    inputShape: [1, 28, 28],
    steps: [
      .conv(filters: 20, kernel: 5, stride: 1, padding: 0), .relu, .maxPool(size: 2),
      .conv(filters: 50, kernel: 5, stride: 1, padding: 0), .relu, .maxPool(size: 2),
      .flatten, .linear(outputs: 500), .relu, .linear(outputs: 10),
    ])

  /// Parses an `--arch` value.
  /// - Throws: `ShearsError` naming the value and what is wrong with it.
  public init(parsing text: String) throws {
    if text == "lenet5" {
      self = .lenet5
      return
    }
    let subject = "--arch \(text)"
    if text == "resnet20" {
      self = Architecture(resnetOn: [1, 28, 28], stages: ResNet.resnet20Stages, classes: 10)
      return
    }
    let expected =
      "expected mlp:784-300-100-10, cnn:1x28x28-conv20k5-pool2-fc10, lenet5, resnet20, resnet:1x28x28-16x3-32x3-10 "
      + "or gpt:2-4-128-64"
    let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
    guard parts.count == 2, ["mlp", "cnn", "resnet", "resnet20", "gpt"].contains(parts[0]) else {
      throw ShearsError(subject, "unknown architecture (\(expected))")
    }
    let fields = parts[1].split(separator: "-", omittingEmptySubsequences: false).map(String.init)
    if parts[0] == "gpt" {
      self = try Self.parseGPT(fields, subject: subject)
    } else if parts[0] == "resnet" || parts[0] == "resnet20" {
      self = try Self.parseResNet(fields, preset: parts[0] == "resnet20", subject: subject)
    } else if parts[0] == "mlp" {
      var widths: [Int] = []
      for field in fields {
        guard let width = Self.size(field) else {
          throw ShearsError(subject, "layer width '\(field)' is not an integer from 1 to \(Self.largestSize)")
        }
        widths.append(width)
      }
      guard widths.count >= 2 else {
        throw ShearsError(subject, "an MLP needs at least an input and an output width")
      }
      self = .mlp(widths: widths)
    } else {
      self = try Self.parseConvolutional(fields, subject: subject)
    }
    try validate(subject: subject)
  }

  private static func parseGPT(_ fields: [String], subject: String) throws -> Architecture {
    let names = ["layers", "heads", "width", "context"]
    guard fields.count == 4 || (fields.count == 5 && fields[4].hasPrefix("v")) else {
      throw ShearsError(subject, "expected gpt:LAYERS-HEADS-WIDTH-CONTEXT, such as gpt:2-4-128-64")
    }
    var sizes: [Int] = []
    for (name, field) in zip(names + ["vocabulary"], fields) {
      let digits = name == "vocabulary" ? String(field.dropFirst()) : field
      guard let value = size(digits), value <= 1 << 20 else {
        throw ShearsError(subject, "\(name) '\(field)' is not an integer from 1 to \(1 << 20)")
      }
      sizes.append(value)
    }
    let shape = GPT.Shape(
      layers: sizes[0], heads: sizes[1], width: sizes[2], context: sizes[3],
      vocabulary: sizes.count == 5 ? sizes[4] : GPT.byteVocabulary)
    if let problem = GPT.problem(with: shape) { throw ShearsError(subject, problem) }
    return Architecture(gpt: shape)
  }

  private static func parseConvolutional(_ fields: [String], subject: String) throws -> Architecture {
    let dimensions = fields[0].split(separator: "x", omittingEmptySubsequences: false).map { size(String($0)) }
    guard dimensions.count == 3, let channels = dimensions[0], let height = dimensions[1], let width = dimensions[2]
    else {
      throw ShearsError(subject, "input '\(fields[0])' is not CxHxW (as 1x28x28)")
    }
    var steps: [Step] = []
    var flattened = false
    for field in fields.dropFirst() {
      if field.hasPrefix("fc"), let outputs = size(String(field.dropFirst(2))) {
        if flattened { steps.append(.relu) } else { steps.append(.flatten) }
        flattened = true
        steps.append(.linear(outputs: outputs))
      } else if flattened {
        throw ShearsError(subject, "'\(field)' follows an fc layer; only fc layers can")
      } else if field.hasPrefix("pool"), let poolSize = size(String(field.dropFirst(4))) {
        steps.append(.maxPool(size: poolSize))
      } else if field.hasPrefix("conv"), let conv = convolution(String(field.dropFirst(4))) {
        steps += [conv, .relu]
      } else {
        throw ShearsError(subject, "'\(field)' is not conv<N>k<K>[s<S>][p<P>], pool<K> or fc<N>")
      }
    }
    guard flattened else { throw ShearsError(subject, "the last layer must be fc<classes>") }
    return Architecture(inputShape: [channels, height, width], steps: steps)
  }

  /// `CxHxW-WxB-...-N` after `resnet:`, or `CxHxW` after `resnet20:`.
  private static func parseResNet(_ fields: [String], preset: Bool, subject: String) throws -> Architecture {
    let dimensions = fields[0].split(separator: "x", omittingEmptySubsequences: false).map { size(String($0)) }
    guard dimensions.count == 3, let channels = dimensions[0], let height = dimensions[1], let width = dimensions[2]
    else {
      throw ShearsError(subject, "input '\(fields[0])' is not CxHxW (as 1x28x28)")
    }
    if preset {
      guard fields.count == 1 else { throw ShearsError(subject, "resnet20 takes only an input shape, as resnet20:3x32x32") }
      return Architecture(resnetOn: [channels, height, width], stages: ResNet.resnet20Stages, classes: 10)
    }
    guard fields.count >= 3, let classes = size(fields[fields.count - 1]) else {
      throw ShearsError(subject, "expected CxHxW, stages WIDTHxBLOCKS and a class count, as resnet:1x28x28-16x3-32x3-10")
    }
    let stages = try fields.dropFirst().dropLast().map { field in
      guard let stage = resNetStage(field) else {
        throw ShearsError(
          subject,
          "stage '\(field)' is not WIDTHxBLOCKS or WIDTH:INNER,INNER,... (as 16x3 or 16:8,12,16, "
            + "at most \(Self.largestResNetWidth) wide and \(Self.largestResNetDepth) deep)")
      }
      return stage
    }
    return Architecture(resnetOn: [channels, height, width], stages: stages, classes: classes)
  }

  /// Widest stream or block a ResNet stage may have.
  static let largestResNetWidth = 1 << 14
  /// Most blocks a ResNet stage may have.
  static let largestResNetDepth = 1 << 10

  /// A stage item: `WxB` (`B` blocks `W` wide) or `W:I1,I2,...` (a stream `W` wide, one block
  /// per inner width `I`); nil when the text is neither or a size is out of range.
  private static func resNetStage(_ text: String) -> ResNet.Stage? {
    let inRange = { (value: Int) in value <= largestResNetWidth }
    let explicit = text.split(separator: ":", omittingEmptySubsequences: false)
    if explicit.count == 2 {
      let inner = explicit[1].split(separator: ",", omittingEmptySubsequences: false).map { size(String($0)) }
      guard let width = size(String(explicit[0])), inRange(width), !inner.isEmpty, inner.count <= largestResNetDepth
      else { return nil }
      let widths = inner.compactMap { $0 }
      guard widths.count == inner.count, widths.allSatisfy(inRange) else { return nil }
      return ResNet.Stage(width: width, innerWidths: widths)
    }
    let parts = text.split(separator: "x", omittingEmptySubsequences: false).map { size(String($0)) }
    guard parts.count == 2, let width = parts[0], let blocks = parts[1], inRange(width), blocks <= largestResNetDepth
    else { return nil }
    return ResNet.Stage(width: width, blocks: blocks)
  }

  /// `N`k`K`[s`S`][p`P`] after `conv`.
  private static func convolution(_ text: String) -> Step? {
    var values: [Character: Int] = [:]
    var key: Character = "n"
    var digits = ""
    for character in text + "$" {
      if character.isNumber {
        digits.append(character)
        continue
      }
      guard values[key] == nil, let value = Int(digits) else { return nil }
      values[key] = value
      digits = ""
      key = character
    }
    guard let filters = values["n"], filters > 0, let kernel = values["k"], kernel > 0,
      Set(values.keys).isSubset(of: ["n", "k", "s", "p"])
    else { return nil }
    let stride = values["s"] ?? 1
    let padding = values["p"] ?? 0
    guard stride > 0, stride <= 1 << 10, padding >= 0, padding <= 1 << 10, filters <= 1 << 20, kernel <= 1 << 10
    else { return nil }
    return .conv(filters: filters, kernel: kernel, stride: stride, padding: padding)
  }

  /// Largest layer width, filter count and image side: with it, no parameter count or memory
  /// estimate overflows, and `Architecture+Memory` refuses what does not fit.
  static let largestSize = 1 << 20

  /// A positive integer no larger than `largestSize`.
  private static func size(_ text: String) -> Int? {
    guard let value = Int(text), value > 0, value <= largestSize else { return nil }
    return value
  }

  /// Checks that every layer gets an input it can take (spatial sizes stay positive).
  private func validate(subject: String) throws {
    do {
      _ = try shapes()
      _ = try module.leaves(input: inputShape)
    } catch let error as ShearsError {
      throw ShearsError(subject, error.problem)
    }
  }

  /// The shape after each step of a Sequential layout, `[features]` or
  /// `[channels, height, width]`; empty for a residual network.
  /// - Throws: `ShearsError` (without a subject) when a step cannot take its input.
  public func shapes() throws -> [[Int]] {
    var shape = inputShape
    guard inputCount <= 1 << 28 else { throw ShearsError("", "an input of \(inputCount) features is too large") }
    var result: [[Int]] = []
    var afterConvolution = false
    for step in steps {
      switch step {
      case .linear(let outputs):
        guard shape.count == 1 else { throw ShearsError("", "a Linear layer needs a flat input (add fc after the convolutions)") }
        shape = [outputs]
      case .conv(let filters, let kernel, let stride, let padding):
        guard shape.count == 3 else { throw ShearsError("", "a convolution needs an image input") }
        guard shape[0] * kernel * kernel <= 1 << 24 else {
          throw ShearsError("", "\(kernel)x\(kernel) kernels over \(shape[0]) channels are too large")
        }
        let height = (shape[1] + 2 * padding - kernel) / stride + 1
        let width = (shape[2] + 2 * padding - kernel) / stride + 1
        guard shape[1] + 2 * padding >= kernel, shape[2] + 2 * padding >= kernel else {
          throw ShearsError("", "a \(kernel)x\(kernel) kernel does not fit a \(shape[1])x\(shape[2]) input")
        }
        shape = [filters, height, width]
      case .maxPool(let size):
        guard afterConvolution else { throw ShearsError("", "a pool must follow a convolution") }
        guard shape.count == 3, shape[1] >= size, shape[2] >= size else {
          throw ShearsError("", "a \(size)x\(size) pool does not fit the input \(shape.map(String.init).joined(separator: "x"))")
        }
        shape = [shape[0], shape[1] / size, shape[2] / size]
      case .relu:
        break
      case .flatten:
        shape = [shape.reduce(1, *)]
      }
      if case .conv = step { afterConvolution = true } else if step != .relu { afterConvolution = false }
      guard shape.reduce(1, *) <= 1 << 28 else {
        throw ShearsError("", "layer outputs of \(shape.map(String.init).joined(separator: "x")) are too large")
      }
      result.append(shape)
    }
    return result
  }

  public var description: String {
    if case .gpt(let shape) = layout {
      let sizes = [shape.layers, shape.heads, shape.width, shape.context].map(String.init).joined(separator: "-")
      return "gpt:" + sizes + (shape.vocabulary == GPT.byteVocabulary ? "" : "-v\(shape.vocabulary)")
    }
    if case .resnet(let stages, let classes) = layout {
      let items =
        [inputShape.map(String.init).joined(separator: "x")]
        + stages.map { stage in
          stage.isUniform
            ? "\(stage.width)x\(stage.blocks)"
            : "\(stage.width):" + stage.innerWidths.map(String.init).joined(separator: ",")
        }
      return "resnet:" + (items + [String(classes)]).joined(separator: "-")
    }
    if inputShape.count == 1, let widths = mlpWidths {
      return "mlp:" + widths.map(String.init).joined(separator: "-")
    }
    var items = [inputShape.map(String.init).joined(separator: "x")]
    for step in steps {
      switch step {
      case .conv(let filters, let kernel, let stride, let padding):
        items.append("conv\(filters)k\(kernel)" + (stride == 1 ? "" : "s\(stride)") + (padding == 0 ? "" : "p\(padding)"))
      case .maxPool(let size): items.append("pool\(size)")
      case .linear(let outputs): items.append("fc\(outputs)")
      case .relu, .flatten: break
      }
    }
    return "cnn:" + items.joined(separator: "-")
  }

  /// The widths `[inputs, outputs of each Linear layer]` when the steps are Linear layers with
  /// ReLU between, else nil.
  private var mlpWidths: [Int]? {
    var widths = inputShape
    for (index, step) in steps.enumerated() {
      switch step {
      case .linear(let outputs) where index % 2 == 0: widths.append(outputs)
      case .relu where index % 2 == 1: continue
      default: return nil
      }
    }
    return widths
  }

  /// Number of input features.
  public var inputCount: Int { inputShape.reduce(1, *) }

  /// Number of output classes.
  public var classCount: Int {
    if case .resnet(_, let classes) = layout { return classes }
    if case .gpt(let shape) = layout { return shape.vocabulary }
    for step in steps.reversed() {
      if case .linear(let outputs) = step { return outputs }
    }
    return 0
  }
}
