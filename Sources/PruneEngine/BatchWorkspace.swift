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
  /// Per convolution, its im2col matrix `[patchSize, positions · n]`, kept from the forward
  /// pass for the weight gradient (empty for Linear layers).
  let columns: [UnsafeMutableBufferPointer<Float>]
  /// The im2col-shaped input gradient of one convolution at a time.
  let columnGradient: UnsafeMutableBufferPointer<Float>
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
    columns = layers.map { layer in
      .zeros(layer.convolution.map { $0.patchSize * $0.positions * capacity } ?? 0)
    }
    let widestColumns = layers.dropFirst().compactMap { $0.convolution.map { $0.patchSize * $0.positions } }.max() ?? 0
    columnGradient = .zeros(forTraining ? widestColumns * capacity : 0)
    labels = .allocate(capacity: capacity)
    labels.initialize(repeating: 0)
  }

  deinit {
    for (l, buffer) in outputs.enumerated() where buffer.baseAddress != activations[l].baseAddress {
      buffer.deallocate()
    }
    for buffer in activations + outputGradients + pooledGradients + columns + [columnGradient] {
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
  /// needs packing. A convolution is the same product over its im2col matrix
  /// (`ConvolutionKernels`), followed by its ReLU and pooling.
  func forward(_ workspace: BatchWorkspace, count n: Int, threads: Int) {
    var input = UnsafePointer(workspace.input.baseAddress!)
    for (l, layer) in layers.enumerated() {
      let activation = workspace.activations[l].baseAddress!
      var operand = MatrixOperand.rowMajor(input, leadingDimension: n)
      let columns = n * layer.positions
      if let geometry = layer.convolution {
        let matrix = workspace.columns[l].baseAddress!
        ConvolutionKernels.im2col(input, ld: n, count: n, geometry: geometry, into: matrix)
        operand = .rowMajor(matrix, leadingDimension: columns)
      }
      gemm(
        m: layer.outputCount, n: columns, k: layer.inputCount,
        a: .rowMajor(layer.weight.baseAddress!, leadingDimension: layer.inputCount), b: operand,
        c: activation, ldc: columns, accumulate: false, threads: threads)
      Kernels.addBias(
        activation, features: layer.outputCount, batch: columns, leadingDimension: columns,
        bias: layer.bias.baseAddress!, relu: layer.appliesReLU)
      if let pool = layer.pool {
        ConvolutionKernels.maxPool(activation, ld: n, count: n, pool: pool, into: workspace.outputs[l].baseAddress!)
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
      let layerInput = layer.convolution == nil ? input : UnsafePointer(workspace.columns[l].baseAddress!)
      // dW[out, in] = dOut[out, columns] · In[in, columns]ᵀ
      gemm(
        m: layer.outputCount, n: layer.inputCount, k: columns,
        a: .rowMajor(outputGradient, leadingDimension: columns),
        b: .transposed(layerInput, leadingDimension: columns),
        c: gradients[2 * l].baseAddress!, ldc: layer.inputCount, accumulate: false, threads: threads)
      // db[out] = Σ_j dOut[out, j]
      Kernels.rowSums(
        outputGradient, features: layer.outputCount, batch: columns, leadingDimension: columns,
        into: gradients[2 * l + 1].baseAddress!)
      guard l > 0 else { continue }
      // dIn[in, columns] = Wᵀ[in, out] · dOut[out, columns], folded back from im2col form for a
      // convolution, back through the previous stage's pooling and ReLU.
      let previous = layers[l - 1]
      let inputGradient = (previous.pool == nil ? workspace.outputGradients[l - 1] : workspace.pooledGradients[l - 1])
        .baseAddress!
      let product = layer.convolution == nil ? inputGradient : workspace.columnGradient.baseAddress!
      gemm(
        m: layer.inputCount, n: columns, k: layer.outputCount,
        a: .transposed(layer.weight.baseAddress!, leadingDimension: layer.inputCount),
        b: .rowMajor(outputGradient, leadingDimension: columns),
        c: product, ldc: columns, accumulate: false, threads: threads)
      if let geometry = layer.convolution {
        ConvolutionKernels.col2im(product, ld: n, count: n, geometry: geometry, into: inputGradient)
      }
      let activationGradient = workspace.outputGradients[l - 1].baseAddress!
      if let pool = previous.pool {
        ConvolutionKernels.maxPoolBackward(
          input: workspace.activations[l - 1].baseAddress!, output: workspace.outputs[l - 1].baseAddress!,
          outputGradient: inputGradient, ld: n, count: n, pool: pool, into: activationGradient)
      }
      if previous.appliesReLU {
        Kernels.reluBackward(
          activationGradient, activation: workspace.activations[l - 1].baseAddress!,
          count: previous.activationFeatures * n)
      }
    }
  }
}
