/// A zero-filled buffer of floats starting on a 64-byte boundary (a cache line, one
/// `SIMD16<Float>`), owned by its creator.
///
/// Inference activations live in these. The sparse kernels load whole 64-byte rows of a tile for
/// every nonzero weight: from an aligned buffer each load is one cache line, from a malloc'ed one
/// (16 bytes past a boundary) it is two, and the 300x784 layer at 90% sparsity takes 60 µs per
/// 64 samples instead of 38.
final class AlignedBuffer {
  let count: Int
  let pointer: UnsafeMutablePointer<Float>

  init(count: Int) {
    self.count = count
    let raw = UnsafeMutableRawPointer.allocate(byteCount: max(1, count) * MemoryLayout<Float>.stride, alignment: 64)
    pointer = raw.initializeMemory(as: Float.self, repeating: 0, count: max(1, count))
  }

  deinit {
    pointer.deallocate()
  }
}

/// Activation memory for inference over chunks of up to `capacity` samples, feature-major with a
/// row stride that is a whole number of cache lines (see `stride(for:)`), every buffer aligned.
final class InferenceWorkspace {
  let capacity: Int
  /// `[inputCount, stride]`.
  let input: AlignedBuffer
  /// Per stage, `[activationFeatures, stride]`: the layer's output after its ReLU, before
  /// pooling; logits last.
  let activations: [AlignedBuffer]
  /// Per stage, `[outputFeatures, stride]`: what the stage hands on (the activations unless the
  /// stage pools).
  let outputs: [AlignedBuffer]
  /// The im2col matrix of one convolution at a time, `[patchSize, positions · stride]`, for
  /// the sparse kernels.
  let columns: AlignedBuffer

  /// - Parameter im2colCount: the largest `patchSize · positions` of a convolution whose
  ///   im2col matrix is stored (0 when none is).
  init(network: Network, capacity: Int, im2colCount: Int = 0) {
    self.capacity = capacity
    let stride = Self.stride(for: capacity)
    input = AlignedBuffer(count: network.inputCount * stride)
    let activations = network.layers.map { AlignedBuffer(count: $0.activationFeatures * stride) }
    self.activations = activations
    outputs = network.layers.indices.map { l in
      network.layers[l].pool == nil ? activations[l] : AlignedBuffer(count: network.layers[l].outputFeatures * stride)
    }
    columns = AlignedBuffer(count: im2colCount * stride)
  }

  /// The row stride for `n` samples: `n` rounded up to a multiple of 16 floats, so that every
  /// row starts on a cache line. A single sample is not padded.
  static func stride(for n: Int) -> Int { n == 1 ? 1 : (n + 15) / 16 * 16 }
}
