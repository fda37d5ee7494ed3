/// `nn.Conv2d` (cross-correlation, zero padding), with the ReLU that follows it when the plan
/// fuses one.
///
/// Forward: the GEMM `Out[filters, positions · n] = W[filters, patch] · Patches[patch, positions · n]`
/// over the im2col matrix, which it gathers from the input panel by panel (`ConvolutionKernels`),
/// then `+ b` and ReLU. The product is already the feature-major output `[(filter, oy, ox), n]`.
/// Backward, from `dOut` (first through the ReLU): `dW = dOut · Patchesᵀ` with its own kernel,
/// `db[f] = Σ dOut[f, ·]`, and `dIn = col2im(Wᵀ · dOut)`, folded into the image as the GEMM
/// computes it. With stride 1, `dIn` is instead the convolution of `dOut` with the weights
/// flipped in space and with filters and channels swapped, padded by `kernel - 1 - padding`:
/// a GEMM `dIn[channels, positions · n] = W'[channels, filters · k · k] · Patches(dOut)` as deep
/// as the forward one and stored straight into the gradient, where `col2im` runs a GEMM only
/// `filters` deep and scatters every tile back into the image.
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
  /// For the input gradient of a stride-1 convolution: the convolution of the output gradient
  /// that computes it, and its weights `W'[c, (f, ky, kx)] = W[f, c, k-1-ky, k-1-kx]`.
  private let transposed: ConvolutionKernels.Geometry?
  private let transposedWeight: UnsafeMutableBufferPointer<Float>

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
    let k = geometry.kernelHeight
    if geometry.stride == 1 && geometry.kernelWidth == k && geometry.padding < k && !foldsBatchNorm {
      transposed = ConvolutionKernels.Geometry(
        channels: weight.value.count / geometry.patchSize, height: geometry.outputHeight, width: geometry.outputWidth,
        kernelHeight: k, kernelWidth: k, stride: 1, padding: k - 1 - geometry.padding)
      transposedWeight = .zeros(weight.value.count)
    } else {
      transposed = nil
      transposedWeight = .zeros(0)
    }
  }

  deinit {
    zeroBias.deallocate()
    transposedWeight.deallocate()
  }

  /// Writes `W'` from the current weights: `W'[c, (f, ky, kx)] = W[f, c, k-1-ky, k-1-kx]`.
  private func transposeWeights() {
    let k = geometry.kernelHeight
    let area = k * k
    let channels = geometry.channels
    let w = weight.value.baseAddress!
    let target = transposedWeight.baseAddress!
    for f in 0..<filters {
      for c in 0..<channels {
        let source = w + (f * channels + c) * area
        let row = target + (c * filters + f) * area
        for q in 0..<area { row[q] = source[area - 1 - q] }
      }
    }
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
    if let inputGradient = pass.gradient(inputs[0]), let transposed {
      transposeWeights()
      let inputColumns = geometry.height * geometry.width * n
      gemm(
        m: geometry.channels, n: inputColumns, k: transposed.patchSize,
        a: .rowMajor(transposedWeight.baseAddress!, leadingDimension: transposed.patchSize),
        b: .patches(ConvolutionKernels.Patches(image: outputGradient, ld: n, geometry: transposed)),
        output: .matrix(inputGradient, ldc: inputColumns, accumulate: accumulatesInputGradients[0]),
        threads: pass.threads)
    } else if let inputGradient = pass.gradient(inputs[0]) {
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
