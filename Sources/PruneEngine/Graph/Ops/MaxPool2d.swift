/// `nn.MaxPool2d(size)`: stride `size`, a last partial window dropped.
///
/// Forward: `out[(c, oy, ox), j]` = the largest input of the window. Backward: each output's
/// gradient goes to the first input of its window equal to the maximum, as PyTorch routes it.
final class MaxPool2dStep: PlanStep {
  let inputs: [Int]
  let output: Int
  let pool: ConvolutionKernels.Pool
  var accumulatesInputGradients = [false]
  var hasTrainedParameters: Bool { false }

  init(input: Int, output: Int, pool: ConvolutionKernels.Pool) {
    inputs = [input]
    self.output = output
    self.pool = pool
  }

  func forward(_ pass: PlanPass) {
    ConvolutionKernels.maxPool(
      pass.value(inputs[0]), ld: pass.count, count: pass.count, pool: pool, into: pass.value(output),
      threads: pass.threads)
  }

  func backward(_ pass: PlanPass) {
    guard let inputGradient = pass.gradient(inputs[0]), let outputGradient = pass.gradient(output) else { return }
    ConvolutionKernels.maxPoolBackward(
      input: pass.value(inputs[0]), output: pass.value(output), outputGradient: outputGradient, ld: pass.count,
      count: pass.count, pool: pool, accumulate: accumulatesInputGradients[0], into: inputGradient,
      threads: pass.threads)
  }
}
