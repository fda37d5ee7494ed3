/// Residual networks for small images (He et al. 2016, "Deep Residual Learning for Image
/// Recognition", section 4.2, the CIFAR-10 networks), named as torchvision names its ResNets so
/// a state dict loads into the equivalent `nn.Module` (`conv1.weight`, `bn1.running_mean`,
/// `layer1.0.conv1.weight`, `layer2.0.downsample.0.weight`, `fc.weight`).
///
/// A 3x3 convolution of `stages[0].width` filters with BatchNorm and ReLU, then one stage per
/// entry of basic blocks (two 3x3 convolutions with BatchNorm, a shortcut, a ReLU after the
/// sum), the first block of every stage after the first halving the resolution with stride 2,
/// then global average pooling and one Linear layer. Convolutions have no bias, as BatchNorm
/// follows each. Where a block changes shape its shortcut is a strided 1x1 convolution with
/// BatchNorm (the paper's option B, torchvision's `downsample`): it keeps every layer a
/// convolution that pruning sees, where option A's zero padding has no parameters to prune.
public enum ResNet {
  /// One stage: the width of its residual stream and the inner width of each basic block.
  ///
  /// Every block of a stage adds into one stream of `width` channels (the stem's output for the
  /// first stage, and every block's `conv2`, `bn2` and `downsample`), while each block's first
  /// convolution (`conv1`, `bn1`) has its own number of filters, `innerWidths[block]`. Pruning
  /// whole filters physically makes the inner widths differ; a freshly built network has them
  /// all equal to `width` (`init(width:blocks:)`).
  public struct Stage: Sendable, Equatable {
    /// Channels of the residual stream: the outputs of every block of the stage.
    public var width: Int
    /// Filters of each block's first convolution, one entry per block.
    public var innerWidths: [Int]

    /// Number of basic blocks.
    public var blocks: Int { innerWidths.count }

    /// Whether every block's inner width is the stream width (the `WxB` form of `--arch`).
    public var isUniform: Bool { innerWidths.allSatisfy { $0 == width } }

    /// `blocks` blocks whose convolutions all have `width` filters.
    public init(width: Int, blocks: Int) {
      self.width = width
      innerWidths = Array(repeating: width, count: max(0, blocks))
    }

    /// Blocks adding into a stream of `width` channels, the first convolution of block `i`
    /// having `innerWidths[i]` filters.
    public init(width: Int, innerWidths: [Int]) {
      self.width = width
      self.innerWidths = innerWidths
    }
  }

  /// ResNet-20: 3 stages of 3 blocks, 16, 32 and 64 wide (0.27M parameters).
  public static let resnet20Stages = [16, 32, 64].map { Stage(width: $0, blocks: 3) }

  /// The module tree of a ResNet on `channels`-channel images with `classes` outputs.
  public static func module(channels: Int, stages: [Stage], classes: Int) -> Module {
    precondition(
      !stages.isEmpty && stages.allSatisfy { $0.width > 0 && $0.blocks > 0 && $0.innerWidths.allSatisfy { $0 > 0 } },
      "stages \(stages)")
    var children: [Module.Child] = [
      .init("conv1", .conv2d(channels: channels, filters: stages[0].width, kernel: 3, stride: 1, padding: 1, bias: false)),
      .init("bn1", .batchNorm(features: stages[0].width)), .init("relu", .relu),
    ]
    var width = stages[0].width
    for (index, stage) in stages.enumerated() {
      let blocks = stage.innerWidths.enumerated().map { block, inner in
        let stride = index > 0 && block == 0 ? 2 : 1
        defer { width = stage.width }
        return Module.Child(
          String(block), basicBlock(channels: width, inner: inner, filters: stage.width, stride: stride))
      }
      children.append(.init("layer\(index + 1)", .sequential(blocks)))
    }
    children += [
      .init("avgpool", .globalAveragePool), .init("flatten", .flatten),
      .init("fc", .linear(inputs: width, outputs: classes)),
    ]
    return .sequential(children)
  }

  /// The architecture of `module` when it is a ResNet this type builds (the inverse of
  /// `module(channels:stages:classes:)`); nil for any other tree.
  static func architecture(of module: Module, inputShape: [Int]) -> Architecture? {
    guard case .sequential(let children) = module, let channels = inputShape.first,
      case .linear(_, let classes) = children.last?.module
    else { return nil }
    var stages: [Stage] = []
    while let stage = children.first(where: { $0.name == "layer\(stages.count + 1)" }),
      case .sequential(let blocks) = stage.module, !blocks.isEmpty
    {
      var widths: [(inner: Int, stream: Int)] = []
      for block in blocks {
        guard case .residual(let body, _, _) = block.module,
          case .conv2d(_, let inner, _, _, _, _) = body.first(where: { $0.name == "conv1" })?.module,
          case .conv2d(_, let stream, _, _, _, _) = body.first(where: { $0.name == "conv2" })?.module
        else { return nil }
        widths.append((inner, stream))
      }
      stages.append(Stage(width: widths[0].stream, innerWidths: widths.map(\.inner)))
    }
    guard !stages.isEmpty, self.module(channels: channels, stages: stages, classes: classes) == module else { return nil }
    return Architecture(resnetOn: inputShape, stages: stages, classes: classes)
  }

  /// torchvision's `BasicBlock`: conv-BN-ReLU-conv-BN plus the shortcut, then ReLU; the first
  /// convolution has `inner` filters, the second `filters`, the width of the sum.
  static func basicBlock(channels: Int, inner: Int, filters: Int, stride: Int) -> Module {
    let projection =
      stride != 1 || channels != filters
      ? Module.Child(
        "downsample",
        .sequential([
          .init("0", .conv2d(channels: channels, filters: filters, kernel: 1, stride: stride, padding: 0, bias: false)),
          .init("1", .batchNorm(features: filters)),
        ])) : nil
    return .residual(
      body: [
        // x: [channels, h, w] -> [inner, h / stride, w / stride] -> [filters, h / stride, w / stride]
        .init("conv1", .conv2d(channels: channels, filters: inner, kernel: 3, stride: stride, padding: 1, bias: false)),
        .init("bn1", .batchNorm(features: inner)), .init("relu", .relu),
        .init("conv2", .conv2d(channels: inner, filters: filters, kernel: 3, stride: 1, padding: 1, bias: false)),
        .init("bn2", .batchNorm(features: filters)),
      ],
      shortcut: projection, relu: true)
  }
}
