/// |γ| of the BatchNorm scale of each channel (network slimming: Liu et al. 2017, "Learning
/// Efficient Convolutional Networks through Network Slimming"), averaged over the BatchNorms of
/// channels coupled through residual sums. Scales of all layers are comparable, so the paper
/// prunes one global fraction (`--scope global`); `train --l1-bn` trains with the L1 penalty
/// on γ that makes the unimportant scales small.
struct BatchNormScaleScorer: CriterionScorer {
  var granularities: [Granularity] { [.neuron] }

  func ranksAcrossLayers(_ granularity: Granularity) -> Bool { true }

  func scores(_ layer: ScoredLayer) -> [Float] {
    let channels = layer.weights.outputCount
    guard !layer.normScales.isEmpty else { return [Float](repeating: 0, count: channels) }
    return (0..<channels).map { channel in
      Float(layer.normScales.reduce(0.0) { $0 + Double(abs($1[channel])) } / Double(layer.normScales.count))
    }
  }

  func problem(with model: Model) -> String? {
    let unnormalised = model.channelGroups.filter(\.norms.isEmpty).map(\.leader)
    guard !unnormalised.isEmpty else { return nil }
    return "scores channels by their BatchNorm scale, and layer \(unnormalised[0]) has no BatchNorm after it"
  }
}
