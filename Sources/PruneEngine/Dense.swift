/// A fully connected layer `y = W·x + b`, stored as PyTorch's `nn.Linear` stores it.
public struct Dense: Sendable, Equatable {
  /// `[outputCount, inputCount]`.
  public var weight: Tensor
  /// `[outputCount]`.
  public var bias: Tensor
  /// Which weights are kept (1) or pruned (0), one byte per weight in `weight`'s order; `nil`
  /// when the layer has never been pruned. Pruned weights are exactly zero.
  public private(set) var mask: [UInt8]?

  public var inputCount: Int { weight.shape[1] }
  public var outputCount: Int { weight.shape[0] }

  /// A layer over existing parameters; shapes must agree (`weight` `[out, in]`, `bias` `[out]`,
  /// `mask` one entry per weight). Weights where the mask is 0 are set to zero.
  public init(weight: Tensor, bias: Tensor, mask: [UInt8]? = nil) {
    precondition(weight.shape.count == 2 && bias.shape == [weight.shape[0]], "Dense shapes do not agree")
    self.weight = weight
    self.bias = bias
    if let mask { setMask(mask) }
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

  /// He (Kaiming) normal initialisation for a layer followed by ReLU: `w ~ N(0, 2 / inputCount)`,
  /// zero bias (He et al. 2015).
  public init(inputCount: Int, outputCount: Int, generator: inout SeededGenerator) {
    let standardDeviation = (2 / Float(inputCount)).squareRoot()
    var scalars = [Float](repeating: 0, count: inputCount * outputCount)
    for index in scalars.indices { scalars[index] = generator.nextNormal() * standardDeviation }
    self.init(
      weight: Tensor(shape: [outputCount, inputCount], scalars: scalars),
      bias: Tensor(shape: [outputCount]))
  }
}
