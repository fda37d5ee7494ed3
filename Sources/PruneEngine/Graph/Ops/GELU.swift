import Foundation

/// GELU in its tanh form (Hendrycks & Gimpel 2016; GPT-2's `gelu_new`).
///
/// Forward: `out = ½ x (1 + tanh(u))`, `u = √(2/π) (x + 0.044715 x³)`.
/// Backward: `dx (+)= dOut · (½ (1 + tanh u) + ½ x (1 - tanh² u) √(2/π) (1 + 3 · 0.044715 x²))`.
final class GELUStep: PlanStep {
  let inputs: [Int]
  let output: Int
  /// Features per sample.
  let features: Int
  var accumulatesInputGradients = [false]
  var hasTrainedParameters: Bool { false }

  private static let scale: Float = (2 / Float.pi).squareRoot()
  private static let cubic: Float = 0.044715

  init(input: Int, output: Int, features: Int) {
    inputs = [input]
    self.output = output
    self.features = features
  }

  func forward(_ pass: PlanPass) {
    let x = pass.value(inputs[0])
    let out = pass.value(output)
    let count = features * pass.count
    for i in 0..<count {
      let value = x[i]
      out[i] = 0.5 * value * (1 + tanhf(Self.scale * (value + Self.cubic * value * value * value)))
    }
  }

  func backward(_ pass: PlanPass) {
    guard let inputGradient = pass.gradient(inputs[0]), let outputGradient = pass.gradient(output) else { return }
    let x = pass.value(inputs[0])
    let count = features * pass.count
    let accumulate = accumulatesInputGradients[0]
    for i in 0..<count {
      let value = x[i]
      let t = tanhf(Self.scale * (value + Self.cubic * value * value * value))
      let slope = 0.5 * (1 + t) + 0.5 * value * (1 - t * t) * Self.scale * (1 + 3 * Self.cubic * value * value)
      let share = outputGradient[i] * slope
      inputGradient[i] = accumulate ? inputGradient[i] + share : share
    }
  }
}
