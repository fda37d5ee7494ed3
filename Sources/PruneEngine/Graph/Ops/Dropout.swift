/// `nn.Dropout(probability)`.
///
/// Training forward: each value is kept with probability `1 - p` and scaled by `1 / (1 - p)`,
/// else zeroed; the factors are drawn from a generator seeded when the plan is built, so a run
/// repeats exactly. Backward: `dx (+)= dOut · factor`. Inference: the identity.
final class DropoutStep: PlanStep {
  let inputs: [Int]
  let output: Int
  let features: Int
  let probability: Float
  var accumulatesInputGradients = [false]
  var hasTrainedParameters: Bool { false }
  private var generator: SeededGenerator
  /// The factors of the last training pass, `[features, n]`.
  private var factors: [Float] = []

  init(input: Int, output: Int, features: Int, probability: Float, seed: UInt64) {
    precondition(probability >= 0 && probability < 1, "dropout probability \(probability)")
    inputs = [input]
    self.output = output
    self.features = features
    self.probability = probability
    generator = SeededGenerator(seed: seed)
  }

  func forward(_ pass: PlanPass) {
    let count = features * pass.count
    let x = pass.value(inputs[0])
    let out = pass.value(output)
    guard pass.mode == .training else {
      out.update(from: x, count: count)
      return
    }
    if factors.count < count { factors = [Float](repeating: 0, count: count) }
    let keep = 1 / (1 - probability)
    factors.withUnsafeMutableBufferPointer { factors in
      for i in 0..<count {
        factors[i] = generator.nextUnitFloat() < probability ? 0 : keep
        out[i] = x[i] * factors[i]
      }
    }
  }

  func backward(_ pass: PlanPass) {
    guard let inputGradient = pass.gradient(inputs[0]), let outputGradient = pass.gradient(output) else { return }
    let accumulate = accumulatesInputGradients[0]
    let training = pass.mode == .training
    factors.withUnsafeBufferPointer { factors in
      for i in 0..<(features * pass.count) {
        let share = training ? outputGradient[i] * factors[i] : outputGradient[i]
        inputGradient[i] = accumulate ? inputGradient[i] + share : share
      }
    }
  }
}
