/// Loss and accuracy of a model on a labelled dataset.
public struct Evaluation: Sendable, Equatable, Codable {
  /// Fraction classified correctly, 0 to 1.
  public var accuracy: Double
  /// Mean softmax cross-entropy.
  public var loss: Double
  public var samples: Int
  public var correct: Int
}

/// Evaluates a fixed model repeatedly (the explorer, sweeps and benchmarks evaluate the same
/// weights many times), keeping its parameters and per-thread scratch memory between calls.
///
/// Each WeightedLayer layer runs on the dense GEMM or, when it is pruned enough for that to be faster,
/// on the sparse kernels (`KernelPolicy`, `KernelSelector`). Both give the same bits, so the
/// choice never changes a result. Single samples (`singleSampleLogits`, `predict`) go through
/// separate batch-1 kernels, also chosen per layer.
///
/// An evaluator runs one call at a time: calls share its scratch memory.
public final class Evaluator {
  /// Samples per chunk: each chunk goes through the whole network while its activations are
  /// still in cache. 64 samples are one tile of the sparse batch kernel, so a chunk's activation
  /// rows are whole tiles; the dense GEMM runs as fast on 64 as on 256 (27 ms for the test set
  /// either way). Every model uses the same size, so sums over chunks, and with them the loss,
  /// do not depend on which kernels were chosen.
  public static let chunkSize = 64

  private let network: Network
  /// Per WeightedLayer layer of `network`, the sparse form when the layer runs sparse on batches.
  private let batchMatrices: [SparseMatrix?]
  /// Per WeightedLayer layer, the sparse form when the layer runs sparse on single samples.
  private let singleMatrices: [SparseMatrix?]
  private let workspaces: [InferenceWorkspace]
  private let single: SingleSampleScratch

  /// - Parameters:
  ///   - threads: chunks are shared out among this many threads.
  ///   - kernels: how each layer's kernel is chosen; `.automatic` measures (once per layer shape
  ///     and process) where sparse becomes faster.
  public init(model: Model, threads: Int = GEMM.defaultThreads, kernels: KernelPolicy = .automatic) {
    let network = Network(model: model)
    self.network = network
    var batchMatrices: [SparseMatrix?] = []
    var singleMatrices: [SparseMatrix?] = []
    for layer in network.layers {
      // A layer without zero weights runs dense unless told otherwise, without compressing it.
      let hasZeros = layer.weight.contains(0)
      guard kernels == .sparse || (kernels == .automatic && hasZeros) else {
        batchMatrices.append(nil)
        singleMatrices.append(nil)
        continue
      }
      let matrix = SparseMatrix(
        weights: UnsafeBufferPointer(layer.weight), rows: layer.outputCount, columns: layer.inputCount)
      let kinds =
        kernels == .sparse
        ? (batch: .sparse, single: .sparse) : KernelSelector.shared.kinds(for: matrix, convolution: layer.convolution)
      batchMatrices.append(kinds.batch == .sparse ? matrix : nil)
      singleMatrices.append(kinds.single == .sparse ? matrix : nil)
    }
    self.batchMatrices = batchMatrices
    self.singleMatrices = singleMatrices
    // Only a convolution that runs sparse needs its im2col matrix stored.
    let sparseConvolutions = zip(network.layers, batchMatrices).filter { $0.convolution != nil && $1 != nil }
    let patchesCount = sparseConvolutions.map { $0.0.convolution!.patchSize * $0.0.positions }.max() ?? 0
    workspaces = (0..<max(1, threads)).map { _ in
      InferenceWorkspace(network: network, capacity: Self.chunkSize, im2colCount: patchesCount)
    }
    single = SingleSampleScratch(network: network, im2colCount: patchesCount)
  }

  /// The kernel each WeightedLayer layer runs on batches, in layer order.
  public var batchKernels: [KernelKind] { batchMatrices.map { $0 == nil ? .dense : .sparse } }

  /// The kernel each WeightedLayer layer runs on single samples, in layer order.
  public var singleSampleKernels: [KernelKind] { singleMatrices.map { $0 == nil ? .dense : .sparse } }

  /// The logits of the first `limit` samples (all when `nil`), sample-major `[samples, classes]`:
  /// for comparing what two models compute.
  public func logits(_ dataset: Dataset, limit: Int? = nil) -> [Float] {
    let count = min(limit ?? dataset.count, dataset.count)
    let classes = network.classCount
    var result = [Float](repeating: 0, count: count * classes)
    result.withUnsafeMutableBufferPointer { result in
      forEachChunk(dataset, count: count) { workspace, first, n, ld in
        let logits = workspace.activations[network.layers.count - 1].pointer
        for j in 0..<n {
          for c in 0..<classes { result[(first + j) * classes + c] = logits[c * ld + j] }
        }
      }
    }
    return result
  }

  /// Evaluates on the first `limit` samples of `dataset` (all when `nil`).
  /// - Complexity: O(samples · parameters), split over the threads.
  public func evaluate(_ dataset: Dataset, limit: Int? = nil) -> Evaluation {
    precondition(
      dataset.classCount <= network.classCount,
      "labels go up to \(dataset.classCount - 1) but the model has \(network.classCount) outputs")
    let count = min(limit ?? dataset.count, dataset.count)
    let chunks = (count + Self.chunkSize - 1) / Self.chunkSize
    guard chunks > 0 else { return Evaluation(accuracy: 0, loss: 0, samples: 0, correct: 0) }
    let results = UnsafeMutableBufferPointer<(loss: Double, correct: Int)>.allocate(capacity: chunks)
    defer { results.deallocate() }
    dataset.labels.withUnsafeBufferPointer { labels in
      forEachChunk(dataset, count: count) { workspace, first, n, ld in
        results[first / Self.chunkSize] = Kernels.softmaxCrossEntropy(
          logits: workspace.activations[network.layers.count - 1].pointer, classes: network.classCount,
          batch: n, leadingDimension: ld, labels: labels.baseAddress! + first,
          gradient: nil, gradientScale: 0)
      }
    }
    let loss = results.reduce(0) { $0 + $1.loss }
    let correct = results.reduce(0) { $0 + $1.correct }
    return Evaluation(
      accuracy: Double(correct) / Double(count), loss: loss / Double(count), samples: count, correct: correct)
  }

  /// Runs the network on the first `count` samples chunk by chunk, one chunk per thread at a
  /// time, and hands each finished chunk to `body(workspace, firstSample, n, rowStride)`.
  ///
  /// Chunks are dealt out in a fixed pattern and each kernel runs on one thread, so results do
  /// not depend on timing or on the thread count.
  private func forEachChunk(_ dataset: Dataset, count: Int, _ body: (InferenceWorkspace, Int, Int, Int) -> Void) {
    let chunks = (count + Self.chunkSize - 1) / Self.chunkSize
    let workers = min(workspaces.count, chunks)
    parallelFor(workers) { worker in
      let workspace = workspaces[worker]
      for index in stride(from: worker, to: chunks, by: workers) {
        let first = index * Self.chunkSize
        let n = min(Self.chunkSize, count - first)
        let ld = InferenceWorkspace.stride(for: n)
        dataset.gatherFeatureMajor(range: first..<(first + n), into: workspace.input.pointer, leadingDimension: ld)
        forward(workspace, count: n, rowStride: ld)
        body(workspace, first, n, ld)
      }
    }
  }

  /// Forward pass over the `n` samples in `workspace.input` (rows `ld` apart), on the calling
  /// thread.
  private func forward(_ workspace: InferenceWorkspace, count n: Int, rowStride ld: Int) {
    var input = UnsafePointer(workspace.input.pointer)
    for l in network.layers.indices {
      runStage(l, input: input, count: n, rowStride: ld, workspace: workspace)
      input = UnsafePointer(workspace.outputs[l].pointer)
    }
  }

  /// Runs stage `l` on `n` samples (rows `ld` apart) into `workspace.activations[l]` and
  /// `workspace.outputs[l]`.
  private func runStage(
    _ l: Int, input: UnsafePointer<Float>, count n: Int, rowStride ld: Int, workspace: InferenceWorkspace
  ) {
    let layer = network.layers[l]
    let activation = workspace.activations[l].pointer
    layer.forward(
      input, count: n, rowStride: ld, sparse: batchMatrices[l], im2col: workspace.columns.pointer, into: activation)
    if let pool = layer.pool {
      ConvolutionKernels.maxPool(activation, ld: ld, count: n, pool: pool, into: workspace.outputs[l].pointer)
    }
  }

  // MARK: - Single samples

  /// The logits of sample `sample` of `dataset`, computed with the batch-1 kernels.
  ///
  /// Equal to the corresponding row of `logits(_:limit:)` up to rounding (the batch-1 kernels
  /// add in a different order).
  public func singleSampleLogits(_ dataset: Dataset, sample: Int) -> [Float] {
    let logits = forwardSingle(dataset, sample: sample)
    return Array(UnsafeBufferPointer(start: logits, count: network.classCount))
  }

  /// The class predicted for sample `sample` of `dataset` (the first maximal logit), computed
  /// with the batch-1 kernels: what an application classifying one input at a time runs.
  /// - Complexity: O(parameters) dense, O(nonzero weights) sparse; no allocation.
  public func predict(_ dataset: Dataset, sample: Int) -> Int {
    let logits = forwardSingle(dataset, sample: sample)
    var best = 0
    for c in 1..<max(1, network.classCount) where logits[c] > logits[best] { best = c }
    return best
  }

  /// Runs one sample through the network; returns a pointer to its logits in scratch memory.
  private func forwardSingle(_ dataset: Dataset, sample: Int) -> UnsafePointer<Float> {
    precondition(sample >= 0 && sample < dataset.count, "sample \(sample) is outside 0..<\(dataset.count)")
    precondition(
      dataset.featureCount == network.inputCount,
      "samples have \(dataset.featureCount) features, the model takes \(network.inputCount)")
    let workspace = single.workspace
    dataset.writeSample(sample, into: workspace.input.pointer)
    var x = UnsafePointer(workspace.input.pointer)
    for (l, layer) in network.layers.enumerated() {
      if layer.convolution != nil {
        // Convolutions run their batch kernels on one sample: a row of the im2col matrix is
        // a run of output positions.
        runStage(l, input: x, count: 1, rowStride: 1, workspace: workspace)
      } else if let matrix = singleMatrices[l] {
        matrix.forwardVector(
          x: x, bias: layer.bias.baseAddress!, relu: layer.appliesReLU, into: workspace.activations[l].pointer,
          scratch: single.active.baseAddress!)
      } else {
        VectorKernels.denseForward(
          weight: layer.weight.baseAddress!, rows: layer.outputCount, columns: layer.inputCount, x: x,
          bias: layer.bias.baseAddress!, relu: layer.appliesReLU, into: workspace.activations[l].pointer)
      }
      x = UnsafePointer(workspace.outputs[l].pointer)
    }
    return x
  }
}

/// Activation memory for one sample at a time.
private final class SingleSampleScratch {
  /// A workspace for one sample, whose rows are one scalar apart.
  let workspace: InferenceWorkspace
  /// The nonzero-input list of `SparseMatrix.forwardVector`, as long as the widest layer input.
  let active: UnsafeMutableBufferPointer<Int32>

  init(network: Network, im2colCount: Int) {
    workspace = InferenceWorkspace(network: network, capacity: 1, im2colCount: im2colCount)
    active = .allocate(capacity: max(1, network.layers.map(\.inputCount).max() ?? 1))
    active.initialize(repeating: 0)
  }

  deinit {
    active.deallocate()
  }
}

extension Network.Stage {
  /// The layer with its bias and ReLU (not its pooling) on `n` samples whose rows are `ld`
  /// apart, on the calling thread: the dense GEMM, or the sparse kernel when given the layer's
  /// `sparse` form. Both give the same bits.
  ///
  /// A convolution multiplies its im2col matrix, whose rows hold `positions` runs of `ld`
  /// columns, as a Linear layer multiplies its input: the dense GEMM gathers that matrix from
  /// the input as it goes; the sparse kernel reads it from `im2col`, which it first fills
  /// (`[patchSize, positions · ld]`). A convolution's columns include the padding columns of
  /// every position; they compute values nobody reads.
  func forward(
    _ input: UnsafePointer<Float>, count n: Int, rowStride ld: Int, sparse: SparseMatrix?,
    im2col: UnsafeMutablePointer<Float>, into output: UnsafeMutablePointer<Float>
  ) {
    let stride = ld * positions
    let columns = convolution == nil ? n : stride
    if let sparse {
      var operand = input
      if let convolution {
        ConvolutionKernels.im2col(input, ld: ld, count: n, geometry: convolution, into: im2col)
        operand = UnsafePointer(im2col)
      }
      sparse.forward(
        input: operand, inputStride: stride, count: columns, output: output, outputStride: stride,
        bias: bias.baseAddress!, relu: appliesReLU)
    } else {
      let operand: GEMM.Panels =
        convolution.map { .patches(ConvolutionKernels.Patches(image: input, ld: ld, geometry: $0)) }
        ?? .matrix(.rowMajor(input, leadingDimension: ld))
      gemm(
        m: outputCount, n: columns, k: inputCount, a: .rowMajor(weight.baseAddress!, leadingDimension: inputCount),
        b: operand, output: .matrix(output, ldc: stride, accumulate: false, bias: bias.baseAddress!, relu: appliesReLU),
        threads: 1)
    }
  }
}
