/// `nn.Conv2d` (cross-correlation, zero padding), with the ReLU that follows it when the plan
/// fuses one.
///
/// Forward: the GEMM `Out[filters, positions · n] = W[filters, patch] · Patches[patch, positions · n]`
/// over the im2col matrix, which it gathers from the input panel by panel (`ConvolutionKernels`),
/// then `+ b` and ReLU. The product is already the feature-major output `[(filter, oy, ox), n]`.
/// Backward, from `dOut` (first through the ReLU): `dW = dOut · Patchesᵀ` with its own kernel,
/// `db[f] = Σ dOut[f, ·]`, and `dIn = col2im(Wᵀ · dOut)`, folded into the image as the GEMM
/// computes it.
/// Inference runs the sparse kernel where the evaluator chose it, over an im2col matrix it
/// writes first (the sparse kernel cannot gather from the image), on batches and single samples
/// alike.
final class Conv2dStep: WeightedStep {
  let path: ParameterPath
  let inputs: [Int]
  let output: Int
  let geometry: ConvolutionKernels.Geometry
  let weight: PlanParameter
  let bias: PlanParameter?
  let relu: Bool
  /// Whether the weights and bias have a BatchNorm folded in (`FoldedBatchNorm`): such a step
  /// computes the BatchNorm's inference output, so it runs inference only.
  let foldsBatchNorm: Bool
  var accumulatesInputGradients = [false]
  var hasTrainedParameters: Bool { true }
  var convolution: ConvolutionKernels.Geometry? { geometry }
  var rows: Int { filters }
  var columns: Int { geometry.patchSize }

  private var filters: Int { weight.value.count / geometry.patchSize }
  private var sparse: SparseMatrix?
  /// The zero bias the sparse kernel adds for a convolution without one.
  private var zeroBias = UnsafeMutableBufferPointer<Float>.allocate(capacity: 0)

  init(
    path: ParameterPath, input: Int, output: Int, geometry: ConvolutionKernels.Geometry, weight: PlanParameter,
    bias: PlanParameter?, relu: Bool, foldsBatchNorm: Bool = false
  ) {
    precondition(!relu || bias != nil, "a fused ReLU is applied with the bias")
    self.foldsBatchNorm = foldsBatchNorm
    self.path = path
    inputs = [input]
    self.output = output
    self.geometry = geometry
    self.weight = weight
    self.bias = bias
    self.relu = relu
  }

  deinit {
    zeroBias.deallocate()
  }

  func useSparse(batch: SparseMatrix?, single: SparseMatrix?) {
    sparse = batch
    zeroBias.deallocate()
    zeroBias = .zeros(batch == nil || bias != nil ? 0 : filters)
  }

  /// The im2col matrix `[patchSize, positions · n]` the sparse kernel reads.
  func scratchCount(capacity: Int) -> Int {
    sparse == nil ? 0 : geometry.patchSize * geometry.positions * capacity
  }

  func forward(_ pass: PlanPass) {
    precondition(pass.mode == .inference || !foldsBatchNorm, "\(path) has its BatchNorm folded in: inference only")
    let columns = pass.count * geometry.positions
    if pass.mode == .inference, let sparse {
      ConvolutionKernels.im2col(
        pass.value(inputs[0]), ld: pass.count, count: pass.count, geometry: geometry, into: pass.scratch)
      sparse.forward(
        input: pass.scratch, inputStride: columns, count: columns, output: pass.value(output),
        outputStride: columns, bias: bias?.value.baseAddress ?? zeroBias.baseAddress!, relu: relu)
      return
    }
    gemm(
      m: filters, n: columns, k: geometry.patchSize,
      a: .rowMajor(weight.value.baseAddress!, leadingDimension: geometry.patchSize),
      b: .patches(ConvolutionKernels.Patches(image: pass.value(inputs[0]), ld: pass.count, geometry: geometry)),
      output: .matrix(pass.value(output), ldc: columns, accumulate: false, bias: bias?.value.baseAddress, relu: relu),
      threads: pass.threads)
  }

  func backward(_ pass: PlanPass) {
    let n = pass.count
    let columns = n * geometry.positions
    guard let outputGradient = pass.gradient(output) else { return }
    if relu { Kernels.reluBackward(outputGradient, activation: pass.value(output), count: filters * columns) }
    let patches = ConvolutionKernels.Patches(image: pass.value(inputs[0]), ld: n, geometry: geometry)
    if let weightGradient = weight.gradient {
      ConvolutionKernels.weightGradient(
        outputGradient: outputGradient, filters: filters, patches: patches, count: n,
        into: weightGradient.baseAddress!, threads: pass.threads)
    }
    if let biasGradient = bias?.gradient {
      Kernels.rowSums(
        outputGradient, features: filters, batch: columns, leadingDimension: columns,
        into: biasGradient.baseAddress!, threads: pass.threads)
    }
    if let inputGradient = pass.gradient(inputs[0]) {
      gemm(
        m: geometry.patchSize, n: columns, k: filters,
        a: .transposed(weight.value.baseAddress!, leadingDimension: geometry.patchSize),
        b: .matrix(.rowMajor(outputGradient, leadingDimension: columns)),
        output: .image(
          ConvolutionKernels.ImageGradient(
            gradient: inputGradient, ld: n, geometry: geometry, accumulate: accumulatesInputGradients[0])),
        threads: pass.threads)
    }
  }
}
