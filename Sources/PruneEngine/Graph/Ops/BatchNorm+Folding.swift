/// A BatchNorm in inference folded into the convolution before it.
///
/// In `model.eval()` a BatchNorm is the affine map `y = s · x + (β - s · μ)` per channel, with
/// `s = γ / √(running_var + eps)` and `μ = running_mean`. After a convolution with weights `W`
/// and bias `b` it is the convolution with weights `s[f] · W[f, ·]` and bias
/// `β[f] + s[f] · (b[f] - μ[f])`: one GEMM instead of a GEMM and a pass over the output, with
/// the ReLU after the BatchNorm fused into the GEMM's epilogue. The folded values are computed
/// in double and rounded once, from the masked weights, so a pruned weight stays exactly zero
/// and a pruned filter computes the BatchNorm's shift alone, as the unfolded layers do.
struct FoldedBatchNorm {
  let scale: PlanParameter
  let shift: PlanParameter
  let runningMean: PlanParameter
  let runningVariance: PlanParameter

  /// `s[f] = γ[f] / √(running_var[f] + eps)`.
  private func gain(_ filter: Int) -> Double {
    Double(scale.value[filter]) / (Double(runningVariance.value[filter]) + BatchNormStep.epsilon).squareRoot()
  }

  /// The folded weights, `[filters, patch]`: `s[f] · W[f, q]`, zero where `mask` prunes.
  func weights(_ weight: PlanParameter) -> [Float] {
    let filters = scale.value.count
    let patch = weight.value.count / filters
    var folded = [Float](repeating: 0, count: weight.value.count)
    for f in 0..<filters {
      let s = gain(f)
      for q in 0..<patch {
        let index = f * patch + q
        let kept = weight.mask.map { $0[index] != 0 } ?? true
        folded[index] = kept ? Float(Double(weight.value[index]) * s) : 0
      }
    }
    return folded
  }

  /// The folded bias, `[filters]`: `β[f] + s[f] · (b[f] - μ[f])`, with `b = 0` for a
  /// convolution without one.
  func bias(_ bias: PlanParameter?) -> [Float] {
    (0..<scale.value.count).map { f in
      let b = bias.map { Double($0.value[f]) } ?? 0
      return Float(Double(shift.value[f]) + gain(f) * (b - Double(runningMean.value[f])))
    }
  }
}
