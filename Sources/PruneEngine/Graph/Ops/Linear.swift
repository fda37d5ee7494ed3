/// `nn.Linear`, with the ReLU that follows it when the plan fuses one.
///
/// Forward: `Out[out, n] = W[out, in] · In[in, n] + b`, then ReLU; with feature-major
/// activations neither operand is packed (DECISIONS.md).
/// Backward, from `dOut[out, n]` (first through the ReLU: zero where the output is):
/// `dW[out, in] = dOut · Inᵀ`, `db[out] = Σ_j dOut[·, j]`, `dIn[in, n] = Wᵀ · dOut`.
/// Inference runs the sparse kernels where the evaluator chose them, and a single sample the
/// matrix-vector kernels.
final class LinearStep: WeightedStep {
  let path: ParameterPath
  let inputs: [Int]
  let output: Int
  let weight: PlanParameter
  let bias: PlanParameter?
  let relu: Bool
  var accumulatesInputGradients = [false]
  var hasTrainedParameters: Bool { true }
  var convolution: ConvolutionKernels.Geometry? { nil }
  var rows: Int { outputCount }
  var columns: Int { inputCount }

  private let outputCount: Int
  private let inputCount: Int
  private let biasValues: UnsafeMutablePointer<Float>
  private var batchSparse: SparseMatrix?
  private var singleSparse: SparseMatrix?
  /// The nonzero-input list of `SparseMatrix.forwardVector`.
  private let active: UnsafeMutableBufferPointer<Int32>

  init(path: ParameterPath, input: Int, output: Int, weight: PlanParameter, bias: PlanParameter, relu: Bool) {
    self.path = path
    inputs = [input]
    self.output = output
    self.weight = weight
    self.bias = bias
    self.relu = relu
    outputCount = bias.value.count
    inputCount = weight.value.count / outputCount
    biasValues = bias.value.baseAddress!
    active = .allocate(capacity: inputCount)
    active.initialize(repeating: 0)
  }

  deinit {
    active.deallocate()
  }

  func useSparse(batch: SparseMatrix?, single: SparseMatrix?) {
    batchSparse = batch
    singleSparse = single
  }

  func scratchCount(capacity: Int) -> Int { 0 }

  func forward(_ pass: PlanPass) {
    let n = pass.count
    let x = pass.value(inputs[0])
    let y = pass.value(output)
    if pass.mode == .inference && n == 1 {
      if let singleSparse {
        singleSparse.forwardVector(x: x, bias: biasValues, relu: relu, into: y, scratch: active.baseAddress!)
      } else {
        VectorKernels.denseForward(
          weight: weight.value.baseAddress!, rows: outputCount, columns: inputCount, x: x, bias: biasValues,
          relu: relu, into: y)
      }
      return
    }
    if pass.mode == .inference, let batchSparse {
      batchSparse.forward(
        input: x, inputStride: n, count: n, output: y, outputStride: n, bias: biasValues, relu: relu)
      return
    }
    gemm(
      m: outputCount, n: n, k: inputCount, a: .rowMajor(weight.value.baseAddress!, leadingDimension: inputCount),
      b: .matrix(.rowMajor(x, leadingDimension: n)),
      output: .matrix(y, ldc: n, accumulate: false, bias: biasValues, relu: relu),
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
    if let biasGradient = bias?.gradient {
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
