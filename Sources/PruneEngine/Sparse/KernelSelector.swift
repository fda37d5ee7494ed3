import Synchronization

/// Which kernel computes a WeightedLayer layer's forward pass in inference.
public enum KernelKind: String, Sendable, Equatable, Codable {
  /// The blocked GEMM (batches) or a dense matrix-vector product (single samples).
  case dense
  /// `SparseMatrix.forward` (batches) or `SparseMatrix.forwardVector` (single samples).
  case sparse
}

/// How an `Evaluator` chooses the kernel of each layer.
public enum KernelPolicy: Sendable, Equatable {
  /// Sparse where it is faster: a layer with pruned weights runs sparse when its density is below
  /// the crossover that `KernelSelector.shared` measured for its shape; a layer with no zero
  /// weight runs dense.
  case automatic
  /// Every layer dense.
  case dense
  /// Every layer sparse.
  case sparse
}

/// The densities below which the sparse kernels beat the dense ones for one layer shape.
public struct KernelCrossover: Sendable, Equatable {
  /// Crossover for batches of `KernelSelector.batch` samples.
  public var batchDensity: Double
  /// Crossover for a single sample.
  public var singleDensity: Double
}

/// Chooses each layer's kernels: from a cost model far from the crossover, else from where the
/// sparse kernels were measured to become faster than the dense ones for the layer's shape.
///
/// **Without timing.** A Linear layer whose density is below half, or above twice, the
/// crossover the cost model expects (`estimatedCrossover`: 0.5 on batches, 0.25 on single
/// samples) gets its kernels at once, so a layer pruned 90% costs no timing at all.
/// **Cached.** A shape that has to be measured is measured once and kept in memory and, when
/// the command line gave one (`useCache`), in a `CrossoverCache` file that later processes on
/// the same machine and build read instead of timing again. A shape measured by this process or
/// found in the cache is decided by its measured crossover, never by the estimate.
///
/// For a shape `[rows, columns]` it times the dense kernels once, and the sparse kernels on
/// seeded random masks at increasing densities until they are no longer faster; the crossover is
/// interpolated linearly between the last density where sparse won and the first where it lost.
/// Each timing is the fastest of three runs of at least 0.2 ms, so a busy machine errs towards
/// the kernel that is really faster rather than towards noise. Inputs are half zeros, as ReLU
/// outputs and image backgrounds roughly are. Measuring LeNet-300-100's three shapes takes about
/// 0.1 s of the first evaluator's construction in a release build (on a quiet machine, 300x784
/// crosses at a density of about 0.58 on batches and 0.13 on single samples, 100x300 at 0.64
/// and 0.23; the 10x100 output layer, whose 100-deep products are too short for the GEMM's
/// blocking to pay, runs faster sparse at any density on batches). A convolution is measured on
/// its own geometry, with the kernels `Evaluator` runs on it: the dense GEMM gathering the im2col
/// matrix from the image against writing that matrix out for the sparse kernel, which costs so
/// much that LeNet-5's second convolution (50x500 over 64 positions) crosses at a density of
/// about 0.2 where a 50x500 Linear layer crosses at 0.68. Debug builds skip the timing and use
/// 0.45 and 0.15.
///
/// Both batch kernels give bitwise equal results (see `SparseKernels`), so the choice affects
/// only speed: results never depend on timing.
public final class KernelSelector: Sendable {
  /// The process-wide selector: measurements are kept for the life of the process, like the
  /// engine's worker pool, and in the cache file the command line attaches with `useCache`.
  public static let shared = KernelSelector(clock: .system)

  /// Samples per batch when timing batch kernels: the chunk size `Evaluator` uses.
  public static let batch = Evaluator.chunkSize

  /// Densities tried, in increasing order.
  static let densities: [Double] = [0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.7, 1.0]

  private let clock: MonotonicClock
  private let crossovers = Mutex<State>(State())

  /// What has been measured, per shape.
  private struct State {
    var crossovers: [Shape: KernelCrossover] = [:]
    /// Seconds of the dense batch and single-sample kernels.
    var denseTimes: [Shape: (batch: Double, single: Double)] = [:]
    /// Where measurements are kept between processes, if anywhere.
    var cache: CrossoverCache?
    /// Whether `cache` has been read into `crossovers` and `denseTimes`.
    var cacheRead = false
    /// Shapes this selector has timed (for tests: a cached shape is never timed again).
    var timedShapes = 0
  }

  struct Shape: Hashable {
    var rows: Int
    var columns: Int
    /// The convolution the matrix belongs to, nil for a Linear layer.
    var convolution: ConvolutionKernels.Geometry?
  }

  public init(clock: MonotonicClock, cache: CrossoverCache? = nil) {
    self.clock = clock
    crossovers.withLock { $0.cache = cache }
  }

  /// Keeps measurements in `cache` from now on, and uses those it already holds; nil keeps
  /// them in memory only.
  public func useCache(_ cache: CrossoverCache?) {
    crossovers.withLock {
      $0.cache = cache
      $0.cacheRead = false
    }
  }

  /// Shapes timed by this selector so far.
  var timedShapeCount: Int { crossovers.withLock { $0.timedShapes } }

  /// The kernels for a Linear layer of a shape with a fraction `density` of nonzero weights.
  public func kinds(rows: Int, columns: Int, density: Double) -> (batch: KernelKind, single: KernelKind) {
    guard density < 1 else { return (.dense, .dense) }
    let crossover = crossover(Shape(rows: rows, columns: columns))
    return (
      density < crossover.batchDensity ? .sparse : .dense,
      density < crossover.singleDensity ? .sparse : .dense
    )
  }

  /// The kernels for one layer's weights, a convolution's when `convolution` is given.
  ///
  /// Far from the shape's crossover the crossover decides. Near it (between 0.7 and 1.4 times
  /// the crossover density) the layer's own sparse kernel is timed against the shape's dense
  /// time, since where the nonzeros sit matters there: magnitude pruning leaves whole input
  /// columns empty, which random masks do not.
  /// - Complexity: at most a millisecond or two of timing, once per call near the crossover.
  func kinds(
    for matrix: SparseMatrix, convolution: ConvolutionKernels.Geometry? = nil
  ) -> (batch: KernelKind, single: KernelKind) {
    let density = matrix.density
    guard density < 1 else { return (.dense, .dense) }
    let shape = Shape(rows: matrix.rows, columns: matrix.columns, convolution: convolution)
    if known(shape) == nil, let estimate = Self.estimatedCrossover(shape),
      let batch = Self.clearChoice(density, crossover: estimate.batchDensity),
      let single = Self.clearChoice(density, crossover: estimate.singleDensity)
    {
      return (batch, single)
    }
    let crossover = crossover(shape)
    let dense = crossovers.withLock { $0.denseTimes[shape] } ?? measuredDenseTimes(shape)
    func decide(_ crossoverDensity: Double, _ denseSeconds: Double, _ sparseSeconds: () -> Double) -> KernelKind {
      #if DEBUG
        return density < crossoverDensity ? .sparse : .dense
      #else
        if density < 0.7 * crossoverDensity { return .sparse }
        if density > 1.4 * crossoverDensity { return .dense }
        return sparseSeconds() < denseSeconds ? .sparse : .dense
      #endif
    }
    let probe = Probe(shape)
    return (
      decide(crossover.batchDensity, dense.batch) { seconds { probe.batch(matrix) } },
      decide(crossover.singleDensity, dense.single) { seconds { probe.single(matrix) } }
    )
  }

  /// The crossover densities for a Linear layer's shape, measured at first use.
  public func crossover(rows: Int, columns: Int) -> KernelCrossover {
    crossover(Shape(rows: rows, columns: columns))
  }

  private func crossover(_ shape: Shape) -> KernelCrossover {
    if let known = known(shape) { return known }
    // Measured outside the lock: a second thread asking for the same shape measures it again,
    // which wastes a little time but never blocks on another's measurement.
    let measured = measure(shape)
    let (cache, dense) = crossovers.withLock { state in
      state.crossovers[shape] = state.crossovers[shape] ?? measured
      state.timedShapes += 1
      return (state.cache, state.denseTimes[shape] ?? (0, 0))
    }
    cache?.store([
      CrossoverCache.Entry(
        rows: shape.rows, columns: shape.columns, convolution: shape.convolution, crossover: measured,
        denseBatchSeconds: dense.batch, denseSingleSeconds: dense.single)
    ])
    return measured
  }

  /// The crossover measured for `shape` by this process or, through the cache, an earlier one.
  private func known(_ shape: Shape) -> KernelCrossover? {
    let unread = crossovers.withLock { state -> CrossoverCache? in
      guard !state.cacheRead else { return nil }
      state.cacheRead = true
      return state.cache
    }
    if let entries = unread?.load() {
      crossovers.withLock { state in
        for entry in entries {
          let shape = Shape(rows: entry.rows, columns: entry.columns, convolution: entry.convolution)
          guard state.crossovers[shape] == nil else { continue }
          state.crossovers[shape] = entry.crossover
          state.denseTimes[shape] = (entry.denseBatchSeconds, entry.denseSingleSeconds)
        }
      }
    }
    return crossovers.withLock { $0.crossovers[shape] }
  }

  // MARK: - Cost model

  /// The crossovers a Linear layer of `shape` is expected to have before anything is timed;
  /// nil for a convolution, whose im2col cost depends too much on its geometry to guess.
  ///
  /// On batches a sparse nonzero costs about twice what a dense weight costs in the GEMM, so
  /// the crossover sits near 0.5 (measured on Zen 4: 0.45 to 0.7 for layers of 100 rows or
  /// more, 1 for a 10x100 output layer, too small for the GEMM's blocking to pay). On single
  /// samples a nonzero's irregular access costs several times a streamed dense weight, which
  /// puts the crossover near 0.25 once half the inputs are zero (measured: 0.11 to 0.15 for
  /// 300x784, 0.22 for 100x300). Together with `clearChoice`'s factor of two either way, a
  /// layer pruned 90% or more runs sparse on both paths without timing anything, and one
  /// pruned half is measured.
  static func estimatedCrossover(_ shape: Shape) -> KernelCrossover? {
    guard shape.convolution == nil else { return nil }
    return KernelCrossover(batchDensity: 0.5, singleDensity: 0.25)
  }

  /// The kernel when `density` is far enough from an estimated `crossover` (below half of it,
  /// or above twice it) for the estimate's error not to matter; nil when it must be measured.
  static func clearChoice(_ density: Double, crossover: Double) -> KernelKind? {
    if density < crossover / 2 { return .sparse }
    if density > crossover * 2 { return .dense }
    return nil
  }

  // MARK: - Measurement

  /// Inputs and outputs for timing the kernels of one shape: a batch of `KernelSelector.batch`
  /// samples and one sample, half zeros, seeded. A convolution's kernels run as `Evaluator` runs
  /// them (`Conv2dStep.forward`): the dense GEMM over the image, or the im2col matrix written
  /// out and the sparse kernel over it.
  private final class Probe {
    let rows: Int
    let columns: Int
    let convolution: ConvolutionKernels.Geometry?
    let input: AlignedBuffer
    let bias: [Float]
    let output: AlignedBuffer
    /// A convolution's im2col matrix for the batch.
    let im2col: AlignedBuffer
    let scratch: UnsafeMutableBufferPointer<Int32>

    init(_ shape: Shape) {
      rows = shape.rows
      columns = shape.columns
      convolution = shape.convolution
      var generator = SeededGenerator(seed: UInt64(rows * 65_537 + columns))
      let features = convolution?.inputFeatures ?? columns
      let positions = convolution?.positions ?? 1
      input = AlignedBuffer(count: features * KernelSelector.batch)
      for index in 0..<input.count {
        input.pointer[index] = generator.nextUnitFloat() < 0.5 ? 0 : generator.nextUnitFloat()
      }
      bias = [Float](repeating: 0.1, count: rows)
      output = AlignedBuffer(count: rows * positions * KernelSelector.batch)
      im2col = AlignedBuffer(count: convolution == nil ? 0 : columns * positions * KernelSelector.batch)
      scratch = .allocate(capacity: max(1, columns))
      scratch.initialize(repeating: 0)
    }

    deinit {
      scratch.deallocate()
    }

    func denseBatch(_ weights: UnsafePointer<Float>) { dense(weights, samples: KernelSelector.batch) }

    func denseSingle(_ weights: UnsafePointer<Float>) {
      if convolution == nil {
        VectorKernels.denseForward(
          weight: weights, rows: rows, columns: columns, x: input.pointer, bias: bias, relu: true, into: output.pointer)
      } else {
        dense(weights, samples: 1)
      }
    }

    func batch(_ matrix: SparseMatrix) { sparse(matrix, samples: KernelSelector.batch) }

    func single(_ matrix: SparseMatrix) {
      if convolution == nil {
        matrix.forwardVector(
          x: input.pointer, bias: bias, relu: true, into: output.pointer, scratch: scratch.baseAddress!)
      } else {
        sparse(matrix, samples: 1)
      }
    }

    private func dense(_ weights: UnsafePointer<Float>, samples n: Int) {
      let operand: GEMM.Panels =
        convolution.map { .patches(ConvolutionKernels.Patches(image: input.pointer, ld: n, geometry: $0)) }
        ?? .matrix(.rowMajor(input.pointer, leadingDimension: n))
      let width = n * (convolution?.positions ?? 1)
      bias.withUnsafeBufferPointer { bias in
        gemm(
          m: rows, n: width, k: columns, a: .rowMajor(weights, leadingDimension: columns), b: operand,
          output: .matrix(output.pointer, ldc: width, accumulate: false, bias: bias.baseAddress, relu: true),
          threads: 1)
      }
    }

    private func sparse(_ matrix: SparseMatrix, samples n: Int) {
      var operand = UnsafePointer(input.pointer)
      if let convolution {
        ConvolutionKernels.im2col(input.pointer, ld: n, count: n, geometry: convolution, into: im2col.pointer)
        operand = UnsafePointer(im2col.pointer)
      }
      let width = n * (convolution?.positions ?? 1)
      matrix.forward(
        input: operand, inputStride: width, count: width, output: output.pointer, outputStride: width, bias: bias,
        relu: true)
    }
  }

  private func measuredDenseTimes(_ shape: Shape) -> (batch: Double, single: Double) {
    _ = crossover(shape)
    return crossovers.withLock { $0.denseTimes[shape] } ?? (0, 0)
  }

  private func measure(_ shape: Shape) -> KernelCrossover {
    let (rows, columns) = (shape.rows, shape.columns)
    #if DEBUG
      // Timings of an unoptimised build say nothing about a release build's kernels; use the
      // crossovers a release build measured on the development machine (DECISIONS.md).
      crossovers.withLock { $0.denseTimes[shape] = (1, 1) }
      return KernelCrossover(batchDensity: 0.45, singleDensity: 0.15)
    #else
      var generator = SeededGenerator(seed: UInt64(rows * 65_537 + columns))
      let weights = (0..<(rows * columns)).map { _ in generator.nextNormal() }
      let probe = Probe(shape)
      let (denseBatch, denseSingle) = weights.withUnsafeBufferPointer { w in
        (seconds { probe.denseBatch(w.baseAddress!) }, seconds { probe.denseSingle(w.baseAddress!) })
      }
      crossovers.withLock { $0.denseTimes[shape] = (denseBatch, denseSingle) }

      var batchTimes: [(density: Double, seconds: Double)] = []
      var singleTimes: [(density: Double, seconds: Double)] = []
      for density in Self.densities {
        let batchDone = batchTimes.last.map { $0.seconds >= denseBatch } ?? false
        let singleDone = singleTimes.last.map { $0.seconds >= denseSingle } ?? false
        if batchDone && singleDone { break }
        var maskGenerator = SeededGenerator(seed: UInt64(density * 1000))
        let masked = weights.map { maskGenerator.nextUnitFloat() < Float(density) ? $0 : 0 }
        let matrix = masked.withUnsafeBufferPointer { SparseMatrix(weights: $0, rows: rows, columns: columns) }
        if !batchDone { batchTimes.append((density, seconds { probe.batch(matrix) })) }
        if !singleDone { singleTimes.append((density, seconds { probe.single(matrix) })) }
      }
      return KernelCrossover(
        batchDensity: Self.crossing(batchTimes, dense: denseBatch),
        singleDensity: Self.crossing(singleTimes, dense: denseSingle))
    #endif
  }

  /// The density where the sparse time reaches the dense time, interpolated linearly; 1 when
  /// sparse is faster at every density tried.
  static func crossing(_ times: [(density: Double, seconds: Double)], dense: Double) -> Double {
    guard let lost = times.firstIndex(where: { $0.seconds >= dense }) else { return 1 }
    let (d1, t1) = times[lost]
    let (d0, t0) = lost > 0 ? times[lost - 1] : (0, 0)
    guard t1 > t0 else { return d1 }
    return d0 + (d1 - d0) * (dense - t0) / (t1 - t0)
  }

  /// The fastest of three timings of `body`, each repeating it for at least 0.2 ms.
  private func seconds(_ body: () -> Void) -> Double {
    body()
    var iterations = 1
    while true {
      let start = clock.nanoseconds()
      for _ in 0..<iterations { body() }
      let elapsed = clock.seconds(since: start)
      if elapsed >= 2e-4 || iterations >= 1 << 12 { break }
      iterations *= elapsed > 0 ? min(64, max(2, Int((2e-4 / elapsed).rounded(.up)))) : 64
    }
    var best = Double.infinity
    for _ in 0..<3 {
      let start = clock.nanoseconds()
      for _ in 0..<iterations { body() }
      best = min(best, clock.seconds(since: start) / Double(iterations))
    }
    return best
  }
}
