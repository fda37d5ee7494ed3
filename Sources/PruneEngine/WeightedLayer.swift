/// A layer with a weight and a bias: PyTorch's `nn.Linear` or `nn.Conv2d`, stored as they store
/// them.
///
/// Pruning sees every weighted layer as a matrix of `outputCount` rows of `inputCount` weights:
/// a Linear layer's `[out, in]` weight, or a convolution's `[filters, channels, k, k]` weight with
/// one row per filter (output channel). Structured pruning removes whole rows: neurons or
/// filters.
public struct WeightedLayer: Sendable, Equatable {
  /// How the weight is applied.
  public enum Kind: Sendable, Equatable {
    case linear
    /// A 2-D convolution (cross-correlation, as PyTorch's) with this stride and zero padding on
    /// every side.
    case conv(stride: Int, padding: Int)
  }

  public var kind: Kind
  /// `[outputCount, inputCount]` for Linear, `[filters, channels, kernel height, kernel width]`
  /// for a convolution.
  public var weight: Tensor
  /// `[outputCount]`.
  public var bias: Tensor
  /// Which weights are kept (1) or pruned (0), one byte per weight in `weight`'s order; `nil`
  /// when the layer has never been pruned. Pruned weights are exactly zero.
  public private(set) var mask: [UInt8]?

  /// Weights per row: the input features of a Linear layer, `channels · k · k` of a convolution.
  public var inputCount: Int { weight.shape.dropFirst().reduce(1, *) }
  /// Rows: the neurons of a Linear layer, the filters of a convolution.
  public var outputCount: Int { weight.shape[0] }
  /// Input channels of a convolution (the input features of a Linear layer).
  public var inputChannels: Int { weight.shape[1] }
  /// Weights of one filter per input channel (1 for Linear).
  public var kernelArea: Int { weight.shape.count == 4 ? weight.shape[2] * weight.shape[3] : 1 }

  public var isConvolution: Bool { kind != .linear }

  /// A layer over existing parameters; shapes must agree (`weight` `[out, in]` for Linear,
  /// `[out, in, kh, kw]` for a convolution, `bias` `[out]`, `mask` one entry per weight).
  /// Weights where the mask is 0 are set to zero.
  public init(kind: Kind = .linear, weight: Tensor, bias: Tensor, mask: [UInt8]? = nil) {
    precondition(weight.shape.count == (kind == .linear ? 2 : 4), "weight shape \(weight.shape) does not fit \(kind)")
    precondition(bias.shape == [weight.shape[0]], "bias shape \(bias.shape) for weight \(weight.shape)")
    self.kind = kind
    self.weight = weight
    self.bias = bias
    if let mask { setMask(mask) }
  }

  /// A layer over weights already zero where `mask` is 0 (a model's own tensors), without the
  /// pass (and the copy) that zeroing them would cost.
  init(kind: Kind, weight: Tensor, bias: Tensor, zeroedMask mask: [UInt8]?) {
    self.kind = kind
    self.weight = weight
    self.bias = bias
    self.mask = mask
  }

  /// The layer's module: `nn.Linear` or `nn.Conv2d` with a bias.
  var module: Module {
    switch kind {
    case .linear: .linear(inputs: inputCount, outputs: outputCount)
    case .conv(let stride, let padding):
      .conv2d(channels: inputChannels, filters: outputCount, kernel: weight.shape[2], stride: stride, padding: padding, bias: true)
    }
  }

  /// Replaces the mask and zeroes the weights it prunes.
  public mutating func setMask(_ newMask: [UInt8]) {
    precondition(newMask.count == weight.count, "mask of \(newMask.count) entries for \(weight.count) weights")
    weight.scalars.withUnsafeMutableBufferPointer { weights in
      for index in weights.indices where newMask[index] == 0 { weights[index] = 0 }
    }
    mask = newMask
  }

  /// The mask, with every weight kept when the layer was never pruned.
  public var keptMask: [UInt8] { mask ?? [UInt8](repeating: 1, count: weight.count) }

  /// Number of weights the mask keeps.
  public var keptCount: Int { mask.map { $0.reduce(0) { $0 + Int($1) } } ?? weight.count }

  /// A Linear layer with He (Kaiming) normal initialisation for a layer followed by ReLU:
  /// `w ~ N(0, 2 / fan-in)`, zero bias (He et al. 2015).
  public init(inputCount: Int, outputCount: Int, generator: inout SeededGenerator) {
    self.init(kind: .linear, shape: [outputCount, inputCount], generator: &generator)
  }

  /// A layer of `kind` and weight `shape`, He-initialised as above.
  public init(kind: Kind, shape: [Int], generator: inout SeededGenerator) {
    let fanIn = shape.dropFirst().reduce(1, *)
    let standardDeviation = (2 / Float(fanIn)).squareRoot()
    var scalars = [Float](repeating: 0, count: shape.reduce(1, *))
    for index in scalars.indices { scalars[index] = generator.nextNormal() * standardDeviation }
    self.init(kind: kind, weight: Tensor(shape: shape, scalars: scalars), bias: Tensor(shape: [shape[0]]))
  }
}
