/// One GEMM problem of a benchmark: `C[m, n] = op(A)·op(B)` with a contraction of `k`.
public struct GEMMShape: Sendable, Equatable {
  /// Which operand is read transposed.
  public enum Form: String, Sendable {
    case ab = "A·B"
    case atb = "Aᵀ·B"
    case abt = "A·Bᵀ"
  }

  /// Which product of a training step a shape is.
  public enum Pass: String, Sendable {
    case forward
    case weightGradient = "weight grad"
    case inputGradient = "input grad"
  }

  public var name: String
  public var m: Int
  public var n: Int
  public var k: Int
  public var form: Form
  /// The convolution whose im2col product this is, and which product: what
  /// `KernelBenchmark.convolutionGFLOPS` times. Nil for a Linear layer's product.
  var convolution: ConvolutionProduct?

  /// One of a convolution's products in a training step.
  struct ConvolutionProduct: Sendable, Equatable {
    var geometry: ConvolutionKernels.Geometry
    var pass: Pass
  }

  public init(name: String, m: Int, n: Int, k: Int, form: Form) {
    self.name = name
    self.m = m
    self.n = n
    self.k = k
    self.form = form
  }

  public var flops: Double { 2 * Double(m) * Double(n) * Double(k) }

  /// Whether the product belongs to a convolution.
  public var isConvolution: Bool { convolution != nil }

  /// The GEMMs of one training step of a batch in the engine's feature-major layout, per
  /// weighted layer: forward `W·X`, weight gradient `dY·Xᵀ`, input gradient `Wᵀ·dY` (a
  /// convolution's `X` is its im2col matrix, with a column per output pixel and sample).
  public static func trainingStep(of architecture: Architecture, batch: Int) -> [GEMMShape] {
    guard let shapes = try? architecture.shapes() else { return [] }
    let inputs = [architecture.inputShape] + shapes.dropLast()
    var layers: [(name: String, rows: Int, columns: Int, fanIn: Int, geometry: ConvolutionKernels.Geometry?)] = []
    for (step, (input, output)) in zip(architecture.steps, zip(inputs, shapes)) {
      switch step {
      case .linear(let outputs):
        layers.append(("\(input[0])x\(outputs)", outputs, batch, input[0], nil))
      case .conv(let filters, let kernel, let stride, let padding):
        let geometry = ConvolutionKernels.Geometry(
          channels: input[0], height: input[1], width: input[2], kernelHeight: kernel, kernelWidth: kernel,
          stride: stride, padding: padding)
        layers.append(
          ("conv\(kernel) \(input[0])x\(filters)", filters, batch * output[1] * output[2], geometry.patchSize, geometry)
        )
      default: break
      }
    }
    func shape(
      _ pass: Pass, _ layer: (name: String, rows: Int, columns: Int, fanIn: Int, geometry: ConvolutionKernels.Geometry?)
    ) -> GEMMShape {
      let name = "\(pass.rawValue) \(layer.name)"
      var shape =
        switch pass {
        case .forward: GEMMShape(name: name, m: layer.rows, n: layer.columns, k: layer.fanIn, form: .ab)
        case .weightGradient: GEMMShape(name: name, m: layer.rows, n: layer.fanIn, k: layer.columns, form: .abt)
        case .inputGradient: GEMMShape(name: name, m: layer.fanIn, n: layer.columns, k: layer.rows, form: .atb)
        }
      shape.convolution = layer.geometry.map { ConvolutionProduct(geometry: $0, pass: pass) }
      return shape
    }
    var result = layers.map { shape(.forward, $0) }
    for (l, layer) in layers.enumerated() {
      result.append(shape(.weightGradient, layer))
      if l > 0 { result.append(shape(.inputGradient, layer)) }
    }
    return result
  }
}

/// Timings of the engine's kernels, for `shears bench`.
public enum KernelBenchmark {
  /// GFLOP/s of the 10x32 tile kernel (`GEMM.tileDescription`) alone on one thread, with
  /// operands resident in L1: the ceiling the blocked GEMM can reach, and proof that the build
  /// uses the CPU's full vector width (a build without FMA targets runs it some 100 times slower).
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
        GEMM.tileKernel(
          tileRows: GEMM.mr, depth: depth, a: a.baseAddress!, aRowStride: 1, aColumnStride: GEMM.mr,
          b: b.baseAddress!, bRowStride: GEMM.nr, c: c.baseAddress!, ldc: GEMM.nr, accumulate: true, bias: nil,
          relu: false, rows: GEMM.mr)
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
    let a = RandomBuffer(shape.m * shape.k, &generator)
    let b = RandomBuffer(shape.k * shape.n, &generator)
    let c = RandomBuffer(shape.m * shape.n, &generator)
    let (left, right): (MatrixOperand, MatrixOperand) =
      switch shape.form {
      case .ab: (.rowMajor(a.pointer, leadingDimension: shape.k), .rowMajor(b.pointer, leadingDimension: shape.n))
      case .atb: (.transposed(a.pointer, leadingDimension: shape.m), .rowMajor(b.pointer, leadingDimension: shape.n))
      case .abt: (.rowMajor(a.pointer, leadingDimension: shape.k), .transposed(b.pointer, leadingDimension: shape.k))
      }
    return gflops(shape.flops, clock: clock, repetitions: repetitions) {
      gemm(
        m: shape.m, n: shape.n, k: shape.k, a: left, b: right, c: c.pointer, ldc: shape.n, accumulate: false,
        threads: threads)
    }
  }

  /// Median GFLOP/s, counted as `shape.flops`, of the kernel training runs for a convolution's
  /// product: the GEMM gathering its im2col matrix from the image (forward, with bias and
  /// ReLU), `ConvolutionKernels.weightGradient`, or the GEMM folding the input gradient back
  /// into the image. Nil for a Linear layer's product.
  public static func convolutionGFLOPS(
    _ shape: GEMMShape, threads: Int, clock: MonotonicClock, repetitions: Int = 7
  ) -> Double? {
    guard let product = shape.convolution else { return nil }
    let g = product.geometry
    let filters = product.pass == .inputGradient ? shape.k : shape.m
    let columns = product.pass == .forward ? shape.n : product.pass == .weightGradient ? shape.k : shape.n
    let batch = columns / g.positions
    var generator = SeededGenerator(seed: 7)
    let image = RandomBuffer(g.inputFeatures * batch, &generator)
    let weight = RandomBuffer(filters * g.patchSize, &generator)
    let bias = RandomBuffer(filters, &generator)
    let output = RandomBuffer(filters * columns, &generator)
    let patches = ConvolutionKernels.Patches(image: image.pointer, ld: batch, geometry: g)
    return gflops(shape.flops, clock: clock, repetitions: repetitions) {
      switch product.pass {
      case .forward:
        gemm(
          m: filters, n: columns, k: g.patchSize, a: .rowMajor(weight.pointer, leadingDimension: g.patchSize),
          b: .patches(patches),
          output: .matrix(output.pointer, ldc: columns, accumulate: false, bias: bias.pointer, relu: true),
          threads: threads)
      case .weightGradient:
        ConvolutionKernels.weightGradient(
          outputGradient: output.pointer, filters: filters, patches: patches, count: batch, into: weight.pointer,
          threads: threads)
      case .inputGradient:
        gemm(
          m: g.patchSize, n: columns, k: filters, a: .transposed(weight.pointer, leadingDimension: g.patchSize),
          b: .matrix(.rowMajor(output.pointer, leadingDimension: columns)),
          output: .image(ConvolutionKernels.ImageGradient(gradient: image.pointer, ld: batch, geometry: g)),
          threads: threads)
      }
    }
  }

  /// GFLOP/s of `body` doing `flops` operations: the median over `repetitions` of enough calls
  /// for about 20 ms of work at 100 GFLOP/s.
  private static func gflops(_ flops: Double, clock: MonotonicClock, repetitions: Int, _ body: () -> Void) -> Double {
    let calls = max(1, Int(2e9 / flops))
    let samples = (0..<max(1, repetitions)).map { _ in
      let start = clock.nanoseconds()
      for _ in 0..<calls { body() }
      return clock.seconds(since: start) / Double(calls)
    }
    return flops / median(samples) / 1e9
  }
}

/// Seeded uniform floats in [-0.5, 0.5) in an aligned buffer, for benchmark operands.
private final class RandomBuffer {
  let buffer: AlignedBuffer
  var pointer: UnsafeMutablePointer<Float> { buffer.pointer }

  init(_ count: Int, _ generator: inout SeededGenerator) {
    buffer = AlignedBuffer(count: count)
    for index in 0..<count { buffer.pointer[index] = generator.nextUnitFloat() - 0.5 }
  }
}

/// Forward-pass times of one weighted layer with each kernel.
public struct LayerTiming: Sendable, Equatable {
  /// The path of the layer's module (its weight is `\(layer).weight`).
  public var layer: ParameterPath
  /// Samples in the timed batch.
  public var batch: Int
  /// Seconds per batch with the dense GEMM (plus bias and ReLU), one thread.
  public var denseSeconds: Double
  /// Seconds per batch with the sparse kernel (after writing the im2col matrix, for a
  /// convolution), one thread.
  public var sparseSeconds: Double
  /// Seconds per single sample with the dense kernel (matrix-vector for a Linear layer; the
  /// batch kernel on one sample for a convolution, as `Evaluator` runs it).
  public var singleDenseSeconds: Double
  /// Seconds per single sample with the sparse kernel.
  public var singleSparseSeconds: Double

  public init(
    layer: ParameterPath, batch: Int, denseSeconds: Double, sparseSeconds: Double, singleDenseSeconds: Double,
    singleSparseSeconds: Double
  ) {
    self.layer = layer
    self.batch = batch
    self.denseSeconds = denseSeconds
    self.sparseSeconds = sparseSeconds
    self.singleDenseSeconds = singleDenseSeconds
    self.singleSparseSeconds = singleSparseSeconds
  }
}

// MARK: - Sparse inference

extension KernelBenchmark {
  /// Measured forward time of every weighted layer of `model` with the dense and the sparse
  /// kernels, on batches of `batch` samples and on single samples (medians of `repetitions`, one
  /// thread), as `Evaluator` runs them: bias and ReLU included, pooling not (it is the same
  /// either way).
  ///
  /// Each layer is fed what it sees in the model: the activations of the previous layers for the
  /// first `batch` samples of `dataset`, or, without a dataset, seeded random inputs that are half
  /// zeros. (The batch kernels' time does not depend on the values; the sparse single-sample
  /// kernel skips zero inputs, so its time does.) Any model can be timed, so timing a model and
  /// its `shrunk()` form side by side shows what removing dead filters and neurons saves.
  /// - Complexity: a few dozen forward passes of each layer.
  public static func layerTimings(
    model: Model, batch: Int = KernelSelector.batch, dataset: Dataset? = nil, clock: MonotonicClock,
    repetitions: Int = 5
  ) -> [LayerTiming] {
    precondition(batch > 0, "batch must be positive")
    let plan = ExecutionPlan(model: model, capacity: batch, gradients: false)
    let single = ExecutionPlan(sharingParametersOf: plan, capacity: 1)
    guard !plan.weightedSteps.isEmpty else { return [] }
    if let dataset, dataset.count > 0, dataset.featureCount == plan.valueFeatures[0] {
      // Repeat the dataset's samples if it has fewer than `batch`.
      let indices = (0..<batch).map { Int32($0 % dataset.count) }
      indices.withUnsafeBufferPointer { dataset.gatherFeatureMajor($0, into: plan.input, leadingDimension: batch) }
    } else {
      var generator = SeededGenerator(seed: 11)
      for index in 0..<(plan.valueFeatures[0] * batch) {
        plan.input[index] = generator.nextUnitFloat() < 0.5 ? 0 : generator.nextUnitFloat()
      }
    }
    // Every layer's input as the model computes it; one sample is the batch's first.
    plan.forward(count: batch, mode: .inference, threads: 1)
    plan.copyFirstSample(ofPassOver: batch, into: single)
    var timings: [LayerTiming] = []
    for (position, step) in plan.weightedSteps.enumerated() {
      let matrix = SparseMatrix(weights: UnsafeBufferPointer(step.weight.value), rows: step.rows, columns: step.columns)
      func time(_ plan: ExecutionPlan, sparse: SparseMatrix?, count: Int) -> Double {
        plan.useSparse(position, batch: sparse, single: sparse)
        defer { plan.useSparse(position, batch: nil, single: nil) }
        return medianSeconds(clock: clock, repetitions: repetitions) { plan.runWeightedStep(position, count: count) }
      }
      timings.append(
        LayerTiming(
          layer: step.path, batch: batch, denseSeconds: time(plan, sparse: nil, count: batch),
          sparseSeconds: time(plan, sparse: matrix, count: batch),
          singleDenseSeconds: time(single, sparse: nil, count: 1),
          singleSparseSeconds: time(single, sparse: matrix, count: 1)))
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
    for (path, dense) in model.weightedLayers {
      let weights = dense.weight.scalars
      let count = Int((sparsity * Double(weights.count)).rounded(.toNearestOrEven))
      let order = weights.indices.sorted { (abs(weights[$0]), $0) < (abs(weights[$1]), $1) }
      var mask = dense.keptMask
      for position in order.prefix(count) { mask[position] = 0 }
      var layer = dense
      layer.setMask(mask)
      pruned.replaceWeightedLayer(at: path, with: layer)
    }
    return pruned
  }

  /// `model` with a fraction of the rows (neurons, filters) of every weighted layer but the
  /// output layer pruned by their L2 norm, each layer on its own (`ln_structured(n=2, dim=0)`):
  /// the `round(fraction × rows)` rows of smallest norm (Python rounding, ties by lowest index)
  /// are zeroed and masked. For benchmarks of shrunk models.
  public static func rowPruned(_ model: Model, fraction: Double) -> Model {
    precondition(fraction >= 0 && fraction <= 1, "fraction \(fraction) outside [0, 1]")
    var pruned = model
    for (path, dense) in model.weightedLayers.dropLast() {
      let columns = dense.inputCount
      let norms = (0..<dense.outputCount).map { row in
        dense.weight.scalars[(row * columns)..<((row + 1) * columns)].reduce(0.0) { $0 + Double($1) * Double($1) }
      }
      let count = Int((fraction * Double(dense.outputCount)).rounded(.toNearestOrEven))
      let order = norms.indices.sorted { (norms[$0], $0) < (norms[$1], $1) }
      var mask = dense.keptMask
      for row in order.prefix(count) {
        for column in 0..<columns { mask[row * columns + column] = 0 }
      }
      var layer = dense
      layer.setMask(mask)
      pruned.replaceWeightedLayer(at: path, with: layer)
    }
    return pruned
  }

  /// `model.shrunk()` when the shrink removed rows and kept the input shape and every layer's
  /// kind; nil otherwise: nothing to remove, or a shrink that cannot remove a convolution's
  /// filters (it would turn the convolution into something else).
  public static func shrunkModel(_ model: Model) -> Model? {
    let shrunk = model.shrunk()
    guard !shrunk.removed.isEmpty, shrunk.model.inputShape == model.inputShape,
      shrunk.model.weightedLayers.map(\.layer.kind) == model.weightedLayers.map(\.layer.kind),
      (try? shrunk.model.architecture.shapes()) != nil
    else { return nil }
    return shrunk.model
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
