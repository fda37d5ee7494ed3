/// `nn.LayerNorm(width, eps)`: each token (column) normalised over its own features.
///
/// Forward, per column `j` of `X: [width, n]`: `μ_j = mean_d X[d, j]`,
/// `σ²_j = mean_d (X[d, j] - μ_j)²` (biased, as PyTorch), `X̂ = (X - μ) / √(σ² + eps)`,
/// `Out[d, j] = γ_d X̂[d, j] + β_d`.
/// Backward, with `G = dOut ⊙ γ`: `dX = (G - mean_d G - X̂ · mean_d(G ⊙ X̂)) / √(σ² + eps)`,
/// `dγ_d = Σ_j dOut[d, j] X̂[d, j]`, `dβ_d = Σ_j dOut[d, j]`. The statistics are recomputed in
/// the backward pass rather than kept, so the step holds no memory sized by the batch.
final class LayerNormStep: PlanStep {
  let inputs: [Int]
  let output: Int
  let width: Int
  let epsilon: Float
  let scale: PlanParameter
  let shift: PlanParameter
  var accumulatesInputGradients = [false]
  var hasTrainedParameters: Bool { true }

  init(input: Int, output: Int, width: Int, epsilon: Float, scale: PlanParameter, shift: PlanParameter) {
    inputs = [input]
    self.output = output
    self.width = width
    self.epsilon = epsilon
    self.scale = scale
    self.shift = shift
  }

  /// Each column's mean and `1 / √(σ² + eps)`, accumulated in double over the features.
  private func statistics(_ x: UnsafePointer<Float>, n: Int) -> (mean: [Float], inverseDeviation: [Float]) {
    var sums = [Double](repeating: 0, count: n)
    for d in 0..<width {
      let row = x + d * n
      for j in 0..<n { sums[j] += Double(row[j]) }
    }
    let mean = sums.map { Float($0 / Double(width)) }
    var squares = [Double](repeating: 0, count: n)
    for d in 0..<width {
      let row = x + d * n
      for j in 0..<n {
        let centred = Double(row[j] - mean[j])
        squares[j] += centred * centred
      }
    }
    let inverseDeviation = squares.map { 1 / (Float($0 / Double(width)) + epsilon).squareRoot() }
    return (mean, inverseDeviation)
  }

  func forward(_ pass: PlanPass) {
    let n = pass.count
    let x = pass.value(inputs[0])
    let out = pass.value(output)
    let (mean, inverseDeviation) = statistics(x, n: n)
    for d in 0..<width {
      let gamma = scale.value[d]
      let beta = shift.value[d]
      let row = x + d * n
      let target = out + d * n
      for j in 0..<n { target[j] = (row[j] - mean[j]) * inverseDeviation[j] * gamma + beta }
    }
  }

  func backward(_ pass: PlanPass) {
    guard let outputGradient = pass.gradient(output) else { return }
    let n = pass.count
    let x = pass.value(inputs[0])
    let (mean, inverseDeviation) = statistics(x, n: n)
    if let scaleGradient = scale.gradient, let shiftGradient = shift.gradient {
      for d in 0..<width {
        var scaleSum: Float = 0
        var shiftSum: Float = 0
        for j in 0..<n {
          let g = outputGradient[d * n + j]
          scaleSum += g * (x[d * n + j] - mean[j]) * inverseDeviation[j]
          shiftSum += g
        }
        scaleGradient[d] = scaleSum
        shiftGradient[d] = shiftSum
      }
    }
    guard let inputGradient = pass.gradient(inputs[0]) else { return }
    // Per column: mean_d G and mean_d (G ⊙ X̂).
    var meanG = [Float](repeating: 0, count: n)
    var meanGX = [Float](repeating: 0, count: n)
    for d in 0..<width {
      let gamma = scale.value[d]
      for j in 0..<n {
        let g = outputGradient[d * n + j] * gamma
        meanG[j] += g
        meanGX[j] += g * (x[d * n + j] - mean[j]) * inverseDeviation[j]
      }
    }
    let inverseWidth = 1 / Float(width)
    let accumulate = accumulatesInputGradients[0]
    for d in 0..<width {
      let gamma = scale.value[d]
      for j in 0..<n {
        let index = d * n + j
        let normalised = (x[index] - mean[j]) * inverseDeviation[j]
        let g = outputGradient[index] * gamma
        let share = (g - meanG[j] * inverseWidth - normalised * meanGX[j] * inverseWidth) * inverseDeviation[j]
        inputGradient[index] = accumulate ? inputGradient[index] + share : share
      }
    }
  }
}
