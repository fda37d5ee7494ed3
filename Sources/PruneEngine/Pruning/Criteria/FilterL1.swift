/// The L1 norm (Σ|w|) of each row of the masked weight, as `ln_structured(n=1, dim=0)` computes
/// it: a convolution's filter over all its input channels and kernel positions (Li et al. 2017,
/// "Pruning Filters for Efficient ConvNets", who also rank filters within each layer), or a
/// Linear neuron's incoming weights.
struct FilterL1Scorer: CriterionScorer {
  var granularities: [Granularity] { [.neuron] }

  /// Σ|w| of each row, summed in double precision.
  func scores(_ layer: ScoredLayer) -> [Float] {
    let dense = layer.weights
    let columns = dense.inputCount
    return dense.weight.scalars.withUnsafeBufferPointer { weights in
      (0..<dense.outputCount).map { row in
        var sum = 0.0
        for value in weights[(row * columns)..<((row + 1) * columns)] { sum += Double(abs(value)) }
        return Float(sum)
      }
    }
  }
}
