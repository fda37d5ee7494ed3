/// The sum of a residual block's body and shortcut: `out = a + b`.
///
/// Backward: both inputs get `dOut` (added to what they hold when another step reads them too).
final class AddStep: PlanStep {
  let inputs: [Int]
  let output: Int
  let features: Int
  var accumulatesInputGradients = [false, false]
  var hasTrainedParameters: Bool { false }

  init(inputs: [Int], output: Int, features: Int) {
    precondition(inputs.count == 2, "a sum of two values")
    self.inputs = inputs
    self.output = output
    self.features = features
  }

  func forward(_ pass: PlanPass) {
    let count = features * pass.count
    let out = pass.value(output)
    out.update(from: pass.value(inputs[0]), count: count)
    ConvolutionKernels.add(pass.value(inputs[1]), into: out, count: count)
  }

  func backward(_ pass: PlanPass) {
    guard let outputGradient = pass.gradient(output) else { return }
    let count = features * pass.count
    for (input, accumulate) in zip(inputs, accumulatesInputGradients) {
      guard let inputGradient = pass.gradient(input) else { continue }
      if accumulate {
        ConvolutionKernels.add(outputGradient, into: inputGradient, count: count)
      } else {
        inputGradient.update(from: outputGradient, count: count)
      }
    }
  }
}
