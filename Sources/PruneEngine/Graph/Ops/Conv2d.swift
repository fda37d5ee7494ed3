/// `nn.Conv2d` (cross-correlation, zero padding), with the ReLU that follows it when the plan
/// fuses one.
///
/// Forward: the GEMM `Out[filters, positions · n] = W[filters, patch] · Patches[patch, positions · n]`
/// over the im2col matrix, which it gathers from the input panel by panel (`ConvolutionKernels`),
/// then `+ b` and ReLU. The product is already the feature-major output `[(filter, oy, ox), n]`.
/// Backward, from `dOut` (first through the ReLU): `dW = dOut · Patchesᵀ` with its own kernel,
/// `db[f] = Σ dOut[f, ·]`, and `dIn = col2im(Wᵀ · dOut)`, folded into the image as the GEMM
/// computes it.
final class Conv2dStep: PlanStep {
  let inputs: [Int]
  let output: Int
  let geometry: ConvolutionKernels.Geometry
  let weight: PlanParameter
  let bias: PlanParameter?
  let relu: Bool
  var accumulatesInputGradients = [false]
  var hasTrainedParameters: Bool { true }

  private var filters: Int { weight.value.count / geometry.patchSize }

  init(
    input: Int, output: Int, geometry: ConvolutionKernels.Geometry, weight: PlanParameter, bias: PlanParameter?,
    relu: Bool
  ) {
    precondition(!relu || bias != nil, "a fused ReLU is applied with the bias")
    inputs = [input]
    self.output = output
    self.geometry = geometry
    self.weight = weight
    self.bias = bias
    self.relu = relu
  }

  func forward(_ pass: PlanPass) {
    let columns = pass.count * geometry.positions
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
