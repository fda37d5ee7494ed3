/// Importance scores of one layer's weights or neurons; the lowest are pruned first.
public struct LayerScores: Sendable, Equatable {
  /// The path of the weighted layer's module (its weight is `\(layer).weight`).
  public var layer: ParameterPath
  public var granularity: Granularity
  /// One score per weight (row-major, as the weight) or per output neuron.
  public var values: [Float]

  public init(layer: ParameterPath, granularity: Granularity, values: [Float]) {
    self.layer = layer
    self.granularity = granularity
    self.values = values
  }
}
