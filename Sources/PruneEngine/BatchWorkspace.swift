/// Activation memory for forward and backward passes over batches of up to `capacity` samples.
///
/// Every buffer is feature-major, `[features, batch]`, with the batch size as the leading
/// dimension, so a batch of `n` samples uses the first `features * n` scalars of each buffer.
final class BatchWorkspace {
  let capacity: Int
  /// The input batch, `[inputCount, n]`, scaled to [0, 1].
  let input: UnsafeMutableBufferPointer<Float>
  /// Per stage, `[activationFeatures, n]`: the layer's output after its ReLU, before pooling
  /// (logits for the last layer).
  let activations: [UnsafeMutableBufferPointer<Float>]
  /// Per stage, `[outputFeatures, n]`: what the stage hands on; the same buffer as
  /// `activations` for a stage without pooling.
  let outputs: [UnsafeMutableBufferPointer<Float>]
  /// Per stage, `[activationFeatures, n]`: the loss gradient with respect to the layer's output
  /// before its ReLU (filled by the backward pass).
  let outputGradients: [UnsafeMutableBufferPointer<Float>]
  /// Per pooling stage, `[outputFeatures, n]`: the loss gradient with respect to the pooled
  /// output (empty for other stages).
  let pooledGradients: [UnsafeMutableBufferPointer<Float>]
  /// The batch's labels.
  let labels: UnsafeMutableBufferPointer<UInt8>

  init(network: Network, capacity: Int, forTraining: Bool) {
    self.capacity = capacity
    let layers = network.layers
    input = .zeros(network.inputCount * capacity)
    let activations = layers.map { UnsafeMutableBufferPointer<Float>.zeros($0.activationFeatures * capacity) }
    self.activations = activations
    outputs = layers.indices.map { l in
      layers[l].pool == nil ? activations[l] : .zeros(layers[l].outputFeatures * capacity)
    }
    outputGradients = forTraining ? layers.map { .zeros($0.activationFeatures * capacity) } : []
    pooledGradients = layers.map { forTraining && $0.pool != nil ? .zeros($0.outputFeatures * capacity) : .zeros(0) }
    labels = .allocate(capacity: capacity)
    labels.initialize(repeating: 0)
  }

  deinit {
    for (l, buffer) in outputs.enumerated() where buffer.baseAddress != activations[l].baseAddress {
      buffer.deallocate()
    }
    for buffer in activations + outputGradients + pooledGradients {
      buffer.deallocate()
    }
    labels.deallocate()
  }
}

extension Network {
  /// Forward pass over the `n` samples already in `workspace.input`.
  ///
  /// Per Linear layer: `out[o, j] = Σ_i W[o, i] · in[i, j] + b[o]`, then ReLU. In GEMM terms
  /// `Out = W · In` with `W` `[out, in]` row-major and `In` `[in, n]` row-major: neither operand
  /// needs packing. A convolution is the same product over its im2col matrix, which the GEMM
  /// gathers from the input panel by panel (`ConvolutionKernels.Patches`). Bias and ReLU are
  /// applied to each output tile as the GEMM finishes it; pooling follows.
  func forward(_ workspace: BatchWorkspace, count n: Int, threads: Int) {
    var input = UnsafePointer(workspace.input.baseAddress!)
    for (l, layer) in layers.enumerated() {
      let activation = workspace.activations[l].baseAddress!
      let columns = n * layer.positions
      let operand: GEMM.Panels =
        layer.convolution.map { .patches(ConvolutionKernels.Patches(image: input, ld: n, geometry: $0)) }
        ?? .matrix(.rowMajor(input, leadingDimension: n))
      gemm(
        m: layer.outputCount, n: columns, k: layer.inputCount,
        a: .rowMajor(layer.weight.baseAddress!, leadingDimension: layer.inputCount), b: operand,
        output: .matrix(
          activation, ldc: columns, accumulate: false, bias: layer.bias.baseAddress!, relu: layer.appliesReLU),
        threads: threads)
      if let pool = layer.pool {
        ConvolutionKernels.maxPool(
          activation, ld: n, count: n, pool: pool, into: workspace.outputs[l].baseAddress!, threads: threads)
      }
      input = UnsafePointer(workspace.outputs[l].baseAddress!)
    }
  }

  /// Backward pass after `forward`, given the loss gradient with respect to the logits in
  /// `workspace.outputGradients.last`. Writes each parameter's gradient into `gradients`
  /// (same order and shapes as `parameterBuffers`).
  func backward(
    _ workspace: BatchWorkspace, count n: Int,
    gradients: [UnsafeMutableBufferPointer<Float>], threads: Int
  ) {
    for l in layers.indices.reversed() {
      let layer = layers[l]
      let columns = n * layer.positions
      let outputGradient = UnsafePointer(workspace.outputGradients[l].baseAddress!)
      let input = UnsafePointer(l == 0 ? workspace.input.baseAddress! : workspace.outputs[l - 1].baseAddress!)
      // dW[out, in] = dOut[out, columns] · In[in, columns]ᵀ
      if let geometry = layer.convolution {
        ConvolutionKernels.weightGradient(
          outputGradient: outputGradient, filters: layer.outputCount,
          patches: ConvolutionKernels.Patches(image: input, ld: n, geometry: geometry), count: n,
          into: gradients[2 * l].baseAddress!, threads: threads)
      } else {
        gemm(
          m: layer.outputCount, n: layer.inputCount, k: columns,
          a: .rowMajor(outputGradient, leadingDimension: columns),
          b: .transposed(input, leadingDimension: columns),
          c: gradients[2 * l].baseAddress!, ldc: layer.inputCount, accumulate: false, threads: threads)
      }
      // db[out] = Σ_j dOut[out, j]
      Kernels.rowSums(
        outputGradient, features: layer.outputCount, batch: columns, leadingDimension: columns,
        into: gradients[2 * l + 1].baseAddress!, threads: threads)
      guard l > 0 else { continue }
      // dIn[in, columns] = Wᵀ[in, out] · dOut[out, columns], folded back from im2col form for a
      // convolution, back through the previous stage's pooling and ReLU.
      let previous = layers[l - 1]
      let inputGradient = (previous.pool == nil ? workspace.outputGradients[l - 1] : workspace.pooledGradients[l - 1])
        .baseAddress!
      gemm(
        m: layer.inputCount, n: columns, k: layer.outputCount,
        a: .transposed(layer.weight.baseAddress!, leadingDimension: layer.inputCount),
        b: .matrix(.rowMajor(outputGradient, leadingDimension: columns)),
        output: layer.convolution.map {
          .image(ConvolutionKernels.ImageGradient(gradient: inputGradient, ld: n, geometry: $0))
        }
          ?? .matrix(inputGradient, ldc: columns, accumulate: false),
        threads: threads)
      let activationGradient = workspace.outputGradients[l - 1].baseAddress!
      if let pool = previous.pool {
        ConvolutionKernels.maxPoolBackward(
          input: workspace.activations[l - 1].baseAddress!, output: workspace.outputs[l - 1].baseAddress!,
          outputGradient: inputGradient, ld: n, count: n, pool: pool, relu: previous.appliesReLU,
          into: activationGradient, threads: threads)
      } else if previous.appliesReLU {
        Kernels.reluBackward(
          activationGradient, activation: workspace.activations[l - 1].baseAddress!,
          count: previous.activationFeatures * n)
      }
    }
  }
}
