/// Activation memory for forward and backward passes over batches of up to `capacity` samples.
///
/// Every buffer is feature-major, `[features, batch]`, with the batch size as the leading
/// dimension, so a batch of `n` samples uses the first `features * n` scalars of each buffer.
final class BatchWorkspace {
  let capacity: Int
  /// The input batch, `[inputCount, n]`, scaled to [0, 1].
  let input: UnsafeMutableBufferPointer<Float>
  /// Per Dense layer, `[outputCount, n]`: post-ReLU activations for hidden layers, logits last.
  let outputs: [UnsafeMutableBufferPointer<Float>]
  /// Per Dense layer, `[outputCount, n]`: the loss gradient with respect to the layer's output
  /// before its ReLU (filled by the backward pass).
  let outputGradients: [UnsafeMutableBufferPointer<Float>]
  /// The batch's labels.
  let labels: UnsafeMutableBufferPointer<UInt8>

  init(network: Network, capacity: Int, forTraining: Bool) {
    self.capacity = capacity
    input = .zeros(network.inputCount * capacity)
    outputs = network.layers.map { .zeros($0.outputCount * capacity) }
    outputGradients = forTraining ? network.layers.map { .zeros($0.outputCount * capacity) } : []
    labels = .allocate(capacity: capacity)
    labels.initialize(repeating: 0)
  }

  deinit {
    input.deallocate()
    for buffer in outputs + outputGradients { buffer.deallocate() }
    labels.deallocate()
  }
}

extension Network {
  /// Forward pass over the `n` samples already in `workspace.input`.
  ///
  /// Per layer: `out[o, j] = Σ_i W[o, i] · in[i, j] + b[o]`, then ReLU. In GEMM terms
  /// `Out = W · In` with `W` `[out, in]` row-major and `In` `[in, n]` row-major: neither operand
  /// needs packing.
  func forward(_ workspace: BatchWorkspace, count n: Int, threads: Int) {
    var input = UnsafePointer(workspace.input.baseAddress!)
    for (l, layer) in layers.enumerated() {
      let output = workspace.outputs[l].baseAddress!
      gemm(
        m: layer.outputCount, n: n, k: layer.inputCount,
        a: .rowMajor(layer.weight.baseAddress!, leadingDimension: layer.inputCount),
        b: .rowMajor(input, leadingDimension: n),
        c: output, ldc: n, accumulate: false, threads: threads)
      Kernels.addBias(
        output, features: layer.outputCount, batch: n, leadingDimension: n,
        bias: layer.bias.baseAddress!, relu: layer.appliesReLU)
      input = UnsafePointer(output)
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
      let outputGradient = UnsafePointer(workspace.outputGradients[l].baseAddress!)
      let input = UnsafePointer(l == 0 ? workspace.input.baseAddress! : workspace.outputs[l - 1].baseAddress!)
      // dW[out, in] = dOut[out, n] · In[in, n]ᵀ
      gemm(
        m: layer.outputCount, n: layer.inputCount, k: n,
        a: .rowMajor(outputGradient, leadingDimension: n),
        b: .transposed(input, leadingDimension: n),
        c: gradients[2 * l].baseAddress!, ldc: layer.inputCount, accumulate: false, threads: threads)
      // db[out] = Σ_j dOut[out, j]
      Kernels.rowSums(
        outputGradient, features: layer.outputCount, batch: n, leadingDimension: n,
        into: gradients[2 * l + 1].baseAddress!)
      guard l > 0 else { continue }
      // dIn[in, n] = Wᵀ[in, out] · dOut[out, n], then through the previous layer's ReLU.
      let inputGradient = workspace.outputGradients[l - 1].baseAddress!
      gemm(
        m: layer.inputCount, n: n, k: layer.outputCount,
        a: .transposed(layer.weight.baseAddress!, leadingDimension: layer.inputCount),
        b: .rowMajor(outputGradient, leadingDimension: n),
        c: inputGradient, ldc: n, accumulate: false, threads: threads)
      if layers[l - 1].appliesReLU {
        Kernels.reluBackward(inputGradient, activation: input, count: layer.inputCount * n)
      }
    }
  }
}
