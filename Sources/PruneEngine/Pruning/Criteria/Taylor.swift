/// First-order Taylor expansion of the loss change (Molchanov et al. 2017, "Pruning
/// Convolutional Neural Networks for Resource Efficient Inference").
/// - weights: |w · ∂L/∂w| averaged as `gradient` averages, which is |w| times the `gradient`
///   score since w is fixed;
/// - neurons: |mean over samples of a · ∂ℓ/∂a| with a the neuron's post-ReLU output and ℓ the
///   sample's own cross-entropy, divided by the layer's L2 norm of those values (§2.2 and
///   "layer-wise ℓ2-normalization"), which makes layers comparable in global scope.
struct TaylorScorer: CriterionScorer {
  var granularities: [Granularity] { [.weight, .neuron] }

  func calibration(for granularity: Granularity) -> CalibrationNeeds {
    granularity == .weight ? .weightGradients : .activationGradientProducts
  }

  func ranksAcrossLayers(_ granularity: Granularity) -> Bool { true }

  func scores(_ layer: ScoredLayer) -> [Float] {
    switch layer.granularity {
    case .weight:
      return zip(layer.weights.weight.scalars, layer.statistics.meanAbsoluteWeightGradient).map { abs($0) * $1 }
    case .neuron:
      let magnitudes = layer.statistics.meanActivationTimesGradient.map { abs($0) }
      let norm = magnitudes.reduce(0) { $0 + $1 * $1 }.squareRoot()
      return magnitudes.map { norm > 0 ? Float($0 / norm) : 0 }
    }
  }
}
