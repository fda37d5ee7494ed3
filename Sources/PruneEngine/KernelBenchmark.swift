/// One GEMM problem of a benchmark: `C[m, n] = op(A)·op(B)` with a contraction of `k`.
public struct GEMMShape: Sendable, Equatable {
  /// Which operand is read transposed.
  public enum Form: String, Sendable {
    case ab = "A·B"
    case atb = "Aᵀ·B"
    case abt = "A·Bᵀ"
  }

  public var name: String
  public var m: Int
  public var n: Int
  public var k: Int
  public var form: Form

  public init(name: String, m: Int, n: Int, k: Int, form: Form) {
    self.name = name
    self.m = m
    self.n = n
    self.k = k
    self.form = form
  }

  public var flops: Double { 2 * Double(m) * Double(n) * Double(k) }

  /// The GEMMs of one training step of a batch in the engine's feature-major layout, per
  /// weighted layer: forward `W·X`, weight gradient `dY·Xᵀ`, input gradient `Wᵀ·dY` (a
  /// convolution's `X` is its im2col matrix, with a column per output pixel and sample).
  public static func trainingStep(of architecture: Architecture, batch: Int) -> [GEMMShape] {
    guard let shapes = try? architecture.shapes() else { return [] }
    let inputs = [architecture.inputShape] + shapes.dropLast()
    var layers: [(name: String, rows: Int, columns: Int, fanIn: Int)] = []
    for (step, (input, output)) in zip(architecture.steps, zip(inputs, shapes)) {
      switch step {
      case .linear(let outputs):
        layers.append(("\(input[0])x\(outputs)", outputs, batch, input[0]))
      case .conv(let filters, let kernel, _, _):
        let fanIn = input[0] * kernel * kernel
        layers.append(("conv\(kernel) \(input[0])x\(filters)", filters, batch * output[1] * output[2], fanIn))
      default: break
      }
    }
    var result = layers.map { GEMMShape(name: "forward \($0.name)", m: $0.rows, n: $0.columns, k: $0.fanIn, form: .ab) }
    for (l, layer) in layers.enumerated() {
      result.append(GEMMShape(name: "weight grad \(layer.name)", m: layer.rows, n: layer.fanIn, k: layer.columns, form: .abt))
      if l > 0 {
        result.append(GEMMShape(name: "input grad \(layer.name)", m: layer.fanIn, n: layer.columns, k: layer.rows, form: .atb))
      }
    }
    return result
  }
}

/// Timings of the engine's kernels, for `shears bench`.
public enum KernelBenchmark {
  /// GFLOP/s of the 8x32 micro-kernel alone on one thread, with operands resident in L1: the
  /// ceiling the blocked GEMM can reach, and proof that the build uses the CPU's full vector
  /// width (a build without FMA targets runs it some 100 times slower).
  public static func microKernelGFLOPS(clock: MonotonicClock, repetitions: Int = 5) -> Double {
    let depth = 256
    let a = UnsafeMutableBufferPointer<Float>.allocate(capacity: depth * GEMM.mr)
    let b = UnsafeMutableBufferPointer<Float>.allocate(capacity: depth * GEMM.nr)
    let c = UnsafeMutableBufferPointer<Float>.allocate(capacity: GEMM.mr * GEMM.nr)
    defer { a.deallocate(); b.deallocate(); c.deallocate() }
    a.initialize(repeating: 0.5)
    b.initialize(repeating: 0.25)
    c.initialize(repeating: 0)
    let calls = 20_000
    let samples = (0..<repetitions).map { _ in
      let start = clock.nanoseconds()
      for _ in 0..<calls {
        GEMM.microKernel(
          depth: depth, a: a.baseAddress!, aRowStride: 1, aColumnStride: GEMM.mr,
          b: b.baseAddress!, bRowStride: GEMM.nr, c: c.baseAddress!, ldc: GEMM.nr, accumulate: true)
      }
      return clock.seconds(since: start)
    }
    return 2 * Double(depth * GEMM.mr * GEMM.nr * calls) / median(samples) / 1e9
  }

  /// Median GFLOP/s of `gemm` on a shape with random operands.
  public static func gemmGFLOPS(
    _ shape: GEMMShape, threads: Int, clock: MonotonicClock, repetitions: Int = 7
  ) -> Double {
    var generator = SeededGenerator(seed: 7)
    let a = (0..<(shape.m * shape.k)).map { _ in generator.nextUnitFloat() - 0.5 }
    let b = (0..<(shape.k * shape.n)).map { _ in generator.nextUnitFloat() - 0.5 }
    var c = [Float](repeating: 0, count: shape.m * shape.n)
    // Enough calls per sample for about 20 ms of work at 100 GFLOP/s.
    let calls = max(1, Int(2e9 / shape.flops))
    let samples = a.withUnsafeBufferPointer { a in
      b.withUnsafeBufferPointer { b in
        c.withUnsafeMutableBufferPointer { c in
          let (left, right): (MatrixOperand, MatrixOperand) =
            switch shape.form {
            case .ab:
              (
                .rowMajor(a.baseAddress!, leadingDimension: shape.k),
                .rowMajor(b.baseAddress!, leadingDimension: shape.n)
              )
            case .atb:
              (
                .transposed(a.baseAddress!, leadingDimension: shape.m),
                .rowMajor(b.baseAddress!, leadingDimension: shape.n)
              )
            case .abt:
              (
                .rowMajor(a.baseAddress!, leadingDimension: shape.k),
                .transposed(b.baseAddress!, leadingDimension: shape.k)
              )
            }
          return (0..<repetitions).map { _ in
            let start = clock.nanoseconds()
            for _ in 0..<calls {
              gemm(
                m: shape.m, n: shape.n, k: shape.k, a: left, b: right, c: c.baseAddress!, ldc: shape.n,
                accumulate: false, threads: threads)
            }
            return clock.seconds(since: start) / Double(calls)
          }
        }
      }
    }
    return shape.flops / median(samples) / 1e9
  }
}

/// Forward-pass times of one WeightedLayer layer with each kernel.
public struct LayerTiming: Sendable, Equatable {
  /// Position of the layer in `Model.layers` (its weight is `\(layerIndex).weight`).
  public var layerIndex: Int
  /// Samples in the timed batch.
  public var batch: Int
  /// Seconds per batch with the dense GEMM (plus bias and ReLU), one thread.
  public var denseSeconds: Double
  /// Seconds per batch with the sparse kernel, one thread.
  public var sparseSeconds: Double
  /// Seconds per single sample with the dense matrix-vector kernel.
  public var singleDenseSeconds: Double
  /// Seconds per single sample with the sparse matrix-vector kernel.
  public var singleSparseSeconds: Double

  public init(
    layerIndex: Int, batch: Int, denseSeconds: Double, sparseSeconds: Double, singleDenseSeconds: Double,
    singleSparseSeconds: Double
  ) {
    self.layerIndex = layerIndex
    self.batch = batch
    self.denseSeconds = denseSeconds
    self.sparseSeconds = sparseSeconds
    self.singleDenseSeconds = singleDenseSeconds
    self.singleSparseSeconds = singleSparseSeconds
  }
}

// MARK: - Sparse inference

extension KernelBenchmark {
  /// Measured forward time of every WeightedLayer layer of `model` with the dense and the sparse kernels,
  /// on batches of `batch` samples and on single samples (medians of `repetitions`, one thread).
  ///
  /// Each layer is fed what it sees in the model: the activations of the previous layers for the
  /// first `batch` samples of `dataset`, or, without a dataset, seeded random inputs that are half
  /// zeros. (The batch kernels' time does not depend on the values; the sparse single-sample
  /// kernel skips zero inputs, so its time does.)
  /// - Complexity: a few dozen forward passes of each layer.
  public static func layerTimings(
    model: Model, batch: Int = KernelSelector.batch, dataset: Dataset? = nil, clock: MonotonicClock,
    repetitions: Int = 5
  ) -> [LayerTiming] {
    precondition(batch > 0, "batch must be positive")
    let network = Network(model: model)
    guard !network.layers.isEmpty else { return [] }
    let workspace = InferenceWorkspace(network: network, capacity: batch)
    let ld = InferenceWorkspace.stride(for: batch)
    if let dataset, dataset.count > 0, dataset.featureCount == network.inputCount {
      // Repeat the dataset's samples if it has fewer than `batch`.
      let indices = (0..<batch).map { Int32($0 % dataset.count) }
      indices.withUnsafeBufferPointer {
        dataset.gatherFeatureMajor($0, into: workspace.input.pointer, leadingDimension: ld)
      }
    } else {
      var generator = SeededGenerator(seed: 11)
      for index in 0..<workspace.input.count {
        workspace.input.pointer[index] = generator.nextUnitFloat() < 0.5 ? 0 : generator.nextUnitFloat()
      }
    }
    let scratch = AlignedBuffer(count: (network.layers.map(\.outputCount).max() ?? 1) * ld)
    let vector = AlignedBuffer(count: network.layers.map(\.inputCount).max() ?? 1)
    let active = UnsafeMutableBufferPointer<Int32>.allocate(capacity: network.layers.map(\.inputCount).max() ?? 1)
    defer { active.deallocate() }
    var timings: [LayerTiming] = []
    var input = UnsafePointer(workspace.input.pointer)
    for (l, layer) in network.layers.enumerated() {
      let weight = UnsafePointer(layer.weight.baseAddress!)
      let bias = UnsafePointer(layer.bias.baseAddress!)
      let matrix = SparseMatrix(
        weights: UnsafeBufferPointer(layer.weight), rows: layer.outputCount, columns: layer.inputCount)
      let output = workspace.outputs[l].pointer
      let layerInput = input
      let dense = medianSeconds(clock: clock, repetitions: repetitions) {
        gemm(
          m: layer.outputCount, n: batch, k: layer.inputCount, a: .rowMajor(weight, leadingDimension: layer.inputCount),
          b: .rowMajor(layerInput, leadingDimension: ld), c: output, ldc: ld, accumulate: false, threads: 1)
        Kernels.addBias(
          output, features: layer.outputCount, batch: batch, leadingDimension: ld, bias: bias,
          relu: layer.appliesReLU)
      }
      let sparse = medianSeconds(clock: clock, repetitions: repetitions) {
        matrix.forward(
          input: layerInput, inputStride: ld, count: batch, output: scratch.pointer, outputStride: ld,
          bias: bias, relu: layer.appliesReLU)
      }
      // One sample: the first column of the batch, made contiguous.
      for i in 0..<layer.inputCount { vector.pointer[i] = layerInput[i * ld] }
      let x = UnsafePointer(vector.pointer)
      let singleDense = medianSeconds(clock: clock, repetitions: repetitions) {
        VectorKernels.denseForward(
          weight: weight, rows: layer.outputCount, columns: layer.inputCount, x: x, bias: bias,
          relu: layer.appliesReLU, into: scratch.pointer)
      }
      let singleSparse = medianSeconds(clock: clock, repetitions: repetitions) {
        matrix.forwardVector(
          x: x, bias: bias, relu: layer.appliesReLU, into: scratch.pointer, scratch: active.baseAddress!)
      }
      timings.append(
        LayerTiming(
          layerIndex: layer.index, batch: batch, denseSeconds: dense, sparseSeconds: sparse,
          singleDenseSeconds: singleDense, singleSparseSeconds: singleSparse))
      input = UnsafePointer(output)
    }
    return timings
  }

  /// Median seconds of a full evaluation of `dataset` (after one warm-up run unless told not to).
  public static func evaluationSeconds(
    _ evaluator: Evaluator, on dataset: Dataset, clock: MonotonicClock, repetitions: Int = 10, warmUp: Bool = true
  ) -> Double {
    if warmUp { _ = evaluator.evaluate(dataset) }
    let samples = (0..<max(1, repetitions)).map { _ in
      let start = clock.nanoseconds()
      _ = evaluator.evaluate(dataset)
      return clock.seconds(since: start)
    }
    return median(samples)
  }

  /// Batch-1 latency: the median over `repetitions` of the mean time of `Evaluator.predict` over
  /// `samples` consecutive samples of `dataset` (pixels to predicted class, one thread), after a
  /// warm-up pass over 100 samples.
  public static func singleSampleSeconds(
    _ evaluator: Evaluator, on dataset: Dataset, samples: Int = 1000, clock: MonotonicClock, repetitions: Int = 7
  ) -> Double {
    let count = min(samples, dataset.count)
    guard count > 0 else { return 0 }
    var checksum = 0
    for sample in 0..<min(count, 100) { checksum &+= evaluator.predict(dataset, sample: sample) }
    let times = (0..<max(1, repetitions)).map { _ in
      let start = clock.nanoseconds()
      for sample in 0..<count { checksum &+= evaluator.predict(dataset, sample: sample) }
      return clock.seconds(since: start) / Double(count)
    }
    withExtendedLifetime(checksum) {}
    return median(times)
  }

  /// `model` with every WeightedLayer layer pruned by weight magnitude to `sparsity`, each layer on its
  /// own (`l1_unstructured` per layer): the `round(sparsity × count)` smallest |w| (Python
  /// rounding, ties by lowest index) are zeroed and masked. For benchmarks and tests.
  public static func magnitudePruned(_ model: Model, sparsity: Double) -> Model {
    precondition(sparsity >= 0 && sparsity <= 1, "sparsity \(sparsity) outside [0, 1]")
    var pruned = model
    for (index, dense) in model.weightedLayers {
      let weights = dense.weight.scalars
      let count = Int((sparsity * Double(weights.count)).rounded(.toNearestOrEven))
      let order = weights.indices.sorted { (abs(weights[$0]), $0) < (abs(weights[$1]), $1) }
      var mask = dense.keptMask
      for position in order.prefix(count) { mask[position] = 0 }
      var layer = dense
      layer.setMask(mask)
      pruned.layers[index] = .weighted(layer)
    }
    return pruned
  }

  /// The median time of `body`, each sample repeating it for at least 0.2 ms.
  static func medianSeconds(clock: MonotonicClock, repetitions: Int, _ body: () -> Void) -> Double {
    body()
    var iterations = 1
    while true {
      let start = clock.nanoseconds()
      for _ in 0..<iterations { body() }
      let elapsed = clock.seconds(since: start)
      if elapsed >= 2e-4 || iterations >= 1 << 12 { break }
      iterations *= elapsed > 0 ? min(64, max(2, Int((2e-4 / elapsed).rounded(.up)))) : 64
    }
    let samples = (0..<max(1, repetitions)).map { _ in
      let start = clock.nanoseconds()
      for _ in 0..<iterations { body() }
      return clock.seconds(since: start) / Double(iterations)
    }
    return median(samples)
  }
}

/// The median of some measurements (the mean of the middle two for an even count).
public func median(_ values: [Double]) -> Double {
  let sorted = values.sorted()
  guard !sorted.isEmpty else { return 0 }
  let middle = sorted.count / 2
  return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}
