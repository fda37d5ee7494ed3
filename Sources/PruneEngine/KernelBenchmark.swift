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

  /// The GEMMs of one training step of a batch for an MLP in the engine's feature-major layout:
  /// forward `W·X`, weight gradient `dY·Xᵀ`, input gradient `Wᵀ·dY`.
  public static func trainingStep(of architecture: Architecture, batch: Int) -> [GEMMShape] {
    guard case .mlp(let widths) = architecture else { return [] }
    var shapes: [GEMMShape] = []
    for l in 0..<(widths.count - 1) {
      let (input, output) = (widths[l], widths[l + 1])
      shapes.append(GEMMShape(name: "forward \(input)->\(output)", m: output, n: batch, k: input, form: .ab))
    }
    for l in 0..<(widths.count - 1) {
      let (input, output) = (widths[l], widths[l + 1])
      shapes.append(GEMMShape(name: "weight grad \(output)x\(input)", m: output, n: input, k: batch, form: .abt))
      if l > 0 {
        shapes.append(GEMMShape(name: "input grad \(output)->\(input)", m: input, n: batch, k: output, form: .atb))
      }
    }
    return shapes
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
            case .ab: (.rowMajor(a.baseAddress!, leadingDimension: shape.k), .rowMajor(b.baseAddress!, leadingDimension: shape.n))
            case .atb: (.transposed(a.baseAddress!, leadingDimension: shape.m), .rowMajor(b.baseAddress!, leadingDimension: shape.n))
            case .abt: (.rowMajor(a.baseAddress!, leadingDimension: shape.k), .transposed(b.baseAddress!, leadingDimension: shape.k))
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

/// The median of some measurements (the mean of the middle two for an even count).
public func median(_ values: [Double]) -> Double {
  let sorted = values.sorted()
  guard !sorted.isEmpty else { return 0 }
  let middle = sorted.count / 2
  return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}
