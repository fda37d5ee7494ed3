/// `nn.Linear`, with the ReLU that follows it when the plan fuses one.
///
/// Forward: `Out[out, n] = W[out, in] · In[in, n] + b`, then ReLU; with feature-major
/// activations neither operand is packed (DECISIONS.md).
/// Backward, from `dOut[out, n]` (first through the ReLU: zero where the output is):
/// `dW[out, in] = dOut · Inᵀ`, `db[out] = Σ_j dOut[·, j]`, `dIn[in, n] = Wᵀ · dOut`.
final class LinearStep: PlanStep {
  let inputs: [Int]
  let output: Int
  let weight: PlanParameter
  let bias: PlanParameter
  let relu: Bool
  var accumulatesInputGradients = [false]
  var hasTrainedParameters: Bool { true }

  private var outputCount: Int { bias.value.count }
  private var inputCount: Int { weight.value.count / outputCount }

  init(input: Int, output: Int, weight: PlanParameter, bias: PlanParameter, relu: Bool) {
    inputs = [input]
    self.output = output
    self.weight = weight
    self.bias = bias
    self.relu = relu
  }

  func forward(_ pass: PlanPass) {
    let n = pass.count
    gemm(
      m: outputCount, n: n, k: inputCount, a: .rowMajor(weight.value.baseAddress!, leadingDimension: inputCount),
      b: .matrix(.rowMajor(pass.value(inputs[0]), leadingDimension: n)),
      output: .matrix(pass.value(output), ldc: n, accumulate: false, bias: bias.value.baseAddress!, relu: relu),
      threads: pass.threads)
  }

  func backward(_ pass: PlanPass) {
    let n = pass.count
    guard let outputGradient = pass.gradient(output) else { return }
    if relu { Kernels.reluBackward(outputGradient, activation: pass.value(output), count: outputCount * n) }
    if let weightGradient = weight.gradient {
      gemm(
        m: outputCount, n: inputCount, k: n, a: .rowMajor(outputGradient, leadingDimension: n),
        b: .transposed(pass.value(inputs[0]), leadingDimension: n), c: weightGradient.baseAddress!,
        ldc: inputCount, accumulate: false, threads: pass.threads)
    }
    if let biasGradient = bias.gradient {
      Kernels.rowSums(
        outputGradient, features: outputCount, batch: n, leadingDimension: n, into: biasGradient.baseAddress!,
        threads: pass.threads)
    }
    if let inputGradient = pass.gradient(inputs[0]) {
      gemm(
        m: inputCount, n: n, k: outputCount,
        a: .transposed(weight.value.baseAddress!, leadingDimension: inputCount),
        b: .matrix(.rowMajor(outputGradient, leadingDimension: n)),
        output: .matrix(inputGradient, ldc: n, accumulate: accumulatesInputGradients[0]), threads: pass.threads)
    }
  }
}
