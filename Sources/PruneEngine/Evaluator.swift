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
/// It runs the model's execution plan in inference mode: one plan per thread for chunks of
/// samples and one for single samples, all over one copy of the weights. Each Linear and Conv2d
/// layer runs on the dense kernels or, when it is pruned enough for that to be faster, on the
/// sparse ones (`KernelPolicy`, `KernelSelector`). On batches both give the same bits, so the
/// choice never changes a result. Single samples (`singleSampleLogits`, `predict`) go through
/// the matrix-vector kernels of Linear layers, also chosen per layer.
///
/// An evaluator runs one call at a time: calls share its scratch memory.
public final class Evaluator {
  /// Samples per chunk: each chunk goes through the whole network while its activations are
  /// still in cache. 64 samples are one tile of the sparse batch kernel, so a chunk's activation
  /// rows are whole tiles; the dense GEMM runs as fast on 64 as on 256 (27 ms for the test set
  /// either way). Every model uses the same size, so sums over chunks, and with them the loss,
  /// do not depend on which kernels were chosen.
  public static let chunkSize = 64

  /// One plan per thread, for chunks of `chunkSize` samples.
  private let plans: [ExecutionPlan]
  /// The plan for one sample at a time.
  private let single: ExecutionPlan
  private let inputCount: Int
  private let classCount: Int

  /// The kernel each Linear or Conv2d layer runs on batches, in module order.
  public private(set) var batchKernels: [KernelKind]
  /// The kernel each Linear or Conv2d layer runs on single samples, in module order (a
  /// convolution runs its batch kernel on a single sample).
  public private(set) var singleSampleKernels: [KernelKind]
  private let kernels: KernelPolicy

  /// - Parameters:
  ///   - threads: chunks are shared out among this many threads.
  ///   - kernels: how each layer's kernel is chosen; `.automatic` decides from a cost model or
  ///     from measurements (kept per layer shape, and between processes when a cache is set).
  public init(model: Model, threads: Int = GEMM.defaultThreads, kernels: KernelPolicy = .automatic) {
    let first = ExecutionPlan(model: model, capacity: Self.chunkSize, gradients: false)
    plans = [first] + (1..<max(1, threads)).map { _ in ExecutionPlan(sharingParametersOf: first, capacity: Self.chunkSize) }
    single = ExecutionPlan(sharingParametersOf: first, capacity: 1)
    self.kernels = kernels
    let count = first.weightedSteps.count
    batchKernels = [KernelKind](repeating: .dense, count: count)
    singleSampleKernels = [KernelKind](repeating: .dense, count: count)
    inputCount = first.valueFeatures[0]
    classCount = first.classCount
    for position in 0..<count { chooseKernels(position) }
  }

  /// Has the Linear or Conv2d layer at `position` (module order) run on the kernels `kernels`
  /// picks for its weights as they are now.
  private func chooseKernels(_ position: Int) {
    let step = plans[0].weightedSteps[position]
    let weights = UnsafeBufferPointer(step.weight.value)
    // A layer without zero weights runs dense unless told otherwise, without compressing it.
    guard kernels == .sparse || (kernels == .automatic && weights.contains(0)) else {
      batchKernels[position] = .dense
      singleSampleKernels[position] = .dense
      for plan in plans + [single] { plan.useSparse(position, batch: nil, single: nil) }
      return
    }
    let matrix = SparseMatrix(weights: weights, rows: step.rows, columns: step.columns)
    let kinds =
      kernels == .sparse
      ? (batch: KernelKind.sparse, single: KernelKind.sparse)
      : KernelSelector.shared.kinds(for: matrix, convolution: step.convolution)
    batchKernels[position] = kinds.batch
    singleSampleKernels[position] = kinds.single
    let batch = kinds.batch == .sparse ? matrix : nil
    let one = kinds.single == .sparse ? matrix : nil
    for plan in plans + [single] { plan.useSparse(position, batch: batch, single: one) }
  }

  /// Whether `replaceWeights(of:with:)` can change the layer at `path`: not one whose plans run
  /// it with a BatchNorm folded in, whose weights derive from the BatchNorm's too.
  public func canReplaceWeights(of path: ParameterPath) -> Bool {
    guard let step = plans[0].weightedSteps.first(where: { $0.path == path }) else { return false }
    return (step as? Conv2dStep)?.foldsBatchNorm != true
  }

  /// Replaces, in place, the weights of the Linear or Conv2d layer at `path` with `layer`'s
  /// (the same shape; pruned entries zero), and chooses its kernels again: the evaluator then
  /// computes what a new one for the changed model would, without compiling its plans again
  /// or copying the other layers. The explorer applies each key press's masks this way.
  /// - Complexity: O(weights of the layer).
  public func replaceWeights(of path: ParameterPath, with layer: WeightedLayer) {
    guard let position = plans[0].weightedSteps.firstIndex(where: { $0.path == path }), canReplaceWeights(of: path) else {
      preconditionFailure("no Linear or Conv2d layer at \(path) whose weights can be replaced alone")
    }
    let target = plans[0].weightedSteps[position].weight.value
    precondition(target.count == layer.weight.count, "\(layer.weight.count) weights for a layer of \(target.count)")
    layer.weight.scalars.withUnsafeBufferPointer { source in
      _ = UnsafeMutableBufferPointer(rebasing: target[...]).update(fromContentsOf: source)
    }
    chooseKernels(position)
  }

  /// The logits of the first `limit` samples (all when `nil`), sample-major `[samples, classes]`:
  /// for comparing what two models compute.
  public func logits(_ dataset: Dataset, limit: Int? = nil) -> [Float] {
    let count = min(limit ?? dataset.count, dataset.count)
    let classes = classCount
    var result = [Float](repeating: 0, count: count * classes)
    result.withUnsafeMutableBufferPointer { result in
      _ = forEachChunk(dataset, count: count) { plan, first, n in
        let logits = plan.logits
        for j in 0..<n {
          for c in 0..<classes { result[(first + j) * classes + c] = logits[c * n + j] }
        }
      }
    }
    return result
  }

  /// Evaluates on the first `limit` samples of `dataset` (all when `nil`).
  /// - Complexity: O(samples · parameters), split over the threads.
  public func evaluate(_ dataset: Dataset, limit: Int? = nil) -> Evaluation {
    evaluate(dataset, limit: limit, stoppingWhen: { false })!
  }

  /// `evaluate(_:limit:)`, abandoned as soon as `isStale` holds between chunks.
  /// - Returns: nil when abandoned.
  public func evaluate(_ dataset: Dataset, limit: Int? = nil, stoppingWhen isStale: () -> Bool) -> Evaluation? {
    precondition(
      dataset.classCount <= classCount,
      "labels go up to \(dataset.classCount - 1) but the model has \(classCount) outputs")
    let count = min(limit ?? dataset.count, dataset.count)
    let chunks = (count + Self.chunkSize - 1) / Self.chunkSize
    guard chunks > 0 else { return Evaluation(accuracy: 0, loss: 0, samples: 0, correct: 0) }
    let results = UnsafeMutableBufferPointer<(loss: Double, correct: Int)>.allocate(capacity: chunks)
    defer { results.deallocate() }
    let finished = dataset.labels.withUnsafeBufferPointer { labels in
      forEachChunk(dataset, count: count, stoppingWhen: isStale) { plan, first, n in
        results[first / Self.chunkSize] = Kernels.softmaxCrossEntropy(
          logits: plan.logits, classes: classCount, batch: n, leadingDimension: n,
          labels: labels.baseAddress! + first, gradient: nil, gradientScale: 0)
      }
    }
    guard finished else { return nil }
    let loss = results.reduce(0) { $0 + $1.loss }
    let correct = results.reduce(0) { $0 + $1.correct }
    return Evaluation(
      accuracy: Double(correct) / Double(count), loss: loss / Double(count), samples: count, correct: correct)
  }

  /// Runs the model on the first `count` samples chunk by chunk, one chunk per thread at a
  /// time, and hands each finished chunk to `body(plan, firstSample, n)`; its values' rows are
  /// `n` apart.
  ///
  /// Chunks are dealt out in a fixed pattern and each kernel runs on one thread, so results do
  /// not depend on timing or on the thread count.
  /// - Returns: false when `isStale` held before some chunk, which was then skipped.
  @discardableResult
  private func forEachChunk(
    _ dataset: Dataset, count: Int, stoppingWhen isStale: () -> Bool = { false },
    _ body: (ExecutionPlan, Int, Int) -> Void
  ) -> Bool {
    let chunks = (count + Self.chunkSize - 1) / Self.chunkSize
    let workers = min(plans.count, chunks)
    let stopped = UnsafeMutableBufferPointer<Bool>.allocate(capacity: max(1, workers))
    stopped.initialize(repeating: false)
    defer { stopped.deallocate() }
    parallelFor(workers) { worker in
      let plan = plans[worker]
      for index in stride(from: worker, to: chunks, by: workers) {
        if isStale() {
          stopped[worker] = true
          break
        }
        let first = index * Self.chunkSize
        let n = min(Self.chunkSize, count - first)
        dataset.gatherFeatureMajor(range: first..<(first + n), into: plan.input, leadingDimension: n)
        plan.forward(count: n, mode: .inference, threads: 1)
        body(plan, first, n)
      }
    }
    return !stopped.contains(true)
  }

  // MARK: - Single samples

  /// The logits of sample `sample` of `dataset`, computed with the batch-1 kernels.
  ///
  /// Equal to the corresponding row of `logits(_:limit:)` up to rounding (the batch-1 kernels
  /// add in a different order).
  public func singleSampleLogits(_ dataset: Dataset, sample: Int) -> [Float] {
    let logits = forwardSingle(dataset, sample: sample)
    return Array(UnsafeBufferPointer(start: logits, count: classCount))
  }

  /// The class predicted for sample `sample` of `dataset` (the first maximal logit), computed
  /// with the batch-1 kernels: what an application classifying one input at a time runs.
  /// - Complexity: O(parameters) dense, O(nonzero weights) sparse; no allocation.
  public func predict(_ dataset: Dataset, sample: Int) -> Int {
    let logits = forwardSingle(dataset, sample: sample)
    var best = 0
    for c in 1..<max(1, classCount) where logits[c] > logits[best] { best = c }
    return best
  }

  /// Runs one sample through the model; returns a pointer to its logits in scratch memory.
  private func forwardSingle(_ dataset: Dataset, sample: Int) -> UnsafePointer<Float> {
    precondition(sample >= 0 && sample < dataset.count, "sample \(sample) is outside 0..<\(dataset.count)")
    precondition(
      dataset.featureCount == inputCount,
      "samples have \(dataset.featureCount) features, the model takes \(inputCount)")
    dataset.writeSample(sample, into: single.input)
    single.forward(count: 1, mode: .inference, threads: 1)
    return UnsafePointer(single.logits)
  }
}
