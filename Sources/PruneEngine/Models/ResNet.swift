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
  /// One stage: its width (filters of every convolution) and its number of basic blocks.
  public struct Stage: Sendable, Equatable {
    public var width: Int
    public var blocks: Int

    public init(width: Int, blocks: Int) {
      self.width = width
      self.blocks = blocks
    }
  }

  /// ResNet-20: 3 stages of 3 blocks, 16, 32 and 64 wide (0.27M parameters).
  public static let resnet20Stages = [16, 32, 64].map { Stage(width: $0, blocks: 3) }

  /// The module tree of a ResNet on `channels`-channel images with `classes` outputs.
  public static func module(channels: Int, stages: [Stage], classes: Int) -> Module {
    precondition(!stages.isEmpty && stages.allSatisfy { $0.width > 0 && $0.blocks > 0 }, "stages \(stages)")
    var children: [Module.Child] = [
      .init("conv1", .conv2d(channels: channels, filters: stages[0].width, kernel: 3, stride: 1, padding: 1, bias: false)),
      .init("bn1", .batchNorm(features: stages[0].width)), .init("relu", .relu),
    ]
    var width = stages[0].width
    for (index, stage) in stages.enumerated() {
      let blocks = (0..<stage.blocks).map { block in
        let stride = index > 0 && block == 0 ? 2 : 1
        defer { width = stage.width }
        return Module.Child(String(block), basicBlock(channels: width, filters: stage.width, stride: stride))
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
      case .sequential(let blocks) = stage.module,
      case .residual(let body, _, _) = blocks.first?.module,
      case .conv2d(_, let width, _, _, _, _) = body.first?.module
    {
      stages.append(Stage(width: width, blocks: blocks.count))
    }
    guard !stages.isEmpty, self.module(channels: channels, stages: stages, classes: classes) == module else { return nil }
    return Architecture(resnetOn: inputShape, stages: stages, classes: classes)
  }

  /// torchvision's `BasicBlock`: conv-BN-ReLU-conv-BN plus the shortcut, then ReLU.
  static func basicBlock(channels: Int, filters: Int, stride: Int) -> Module {
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
        .init("conv1", .conv2d(channels: channels, filters: filters, kernel: 3, stride: stride, padding: 1, bias: false)),
        .init("bn1", .batchNorm(features: filters)), .init("relu", .relu),
        .init("conv2", .conv2d(channels: filters, filters: filters, kernel: 3, stride: 1, padding: 1, bias: false)),
        .init("bn2", .batchNorm(features: filters)),
      ],
      shortcut: projection, relu: true)
  }
}
