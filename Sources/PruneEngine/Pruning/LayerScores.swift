/// Importance scores of one layer's weights or neurons; the lowest are pruned first.
public struct LayerScores: Sendable, Equatable {
  /// Position of the weighted layer in `Model.layers` (its parameters are `\(layerIndex).weight`).
  public var layerIndex: Int
  public var granularity: Granularity
  /// One score per weight (row-major, as the weight) or per output neuron.
  public var values: [Float]

  public init(layerIndex: Int, granularity: Granularity, values: [Float]) {
    self.layerIndex = layerIndex
    self.granularity = granularity
    self.values = values
  }
}
