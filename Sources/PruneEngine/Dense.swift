/// A fully connected layer `y = W·x + b`, stored as PyTorch's `nn.Linear` stores it.
public struct Dense: Sendable, Equatable {
  /// `[outputCount, inputCount]`.
  public var weight: Tensor
  /// `[outputCount]`.
  public var bias: Tensor

  public var inputCount: Int { weight.shape[1] }
  public var outputCount: Int { weight.shape[0] }

  /// A layer over existing parameters; shapes must agree (`weight` `[out, in]`, `bias` `[out]`).
  public init(weight: Tensor, bias: Tensor) {
    precondition(weight.shape.count == 2 && bias.shape == [weight.shape[0]], "Dense shapes do not agree")
    self.weight = weight
    self.bias = bias
  }

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
