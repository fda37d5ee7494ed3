/// A read-only matrix operand of a GEMM: element `(i, j)` lives at
/// `base[i * rowStride + j * columnStride]`.
///
/// Transposition is only a swap of the strides, so one driver serves `A·B`, `Aᵀ·B` and `A·Bᵀ`.
public struct MatrixOperand {
  public var base: UnsafePointer<Float>
  public var rowStride: Int
  public var columnStride: Int

  /// A row-major `[rows, leadingDimension]` matrix used as it is.
  public static func rowMajor(_ base: UnsafePointer<Float>, leadingDimension: Int) -> MatrixOperand {
    MatrixOperand(base: base, rowStride: leadingDimension, columnStride: 1)
  }

  /// A row-major `[rows, leadingDimension]` matrix used transposed.
  public static func transposed(_ base: UnsafePointer<Float>, leadingDimension: Int) -> MatrixOperand {
    MatrixOperand(base: base, rowStride: 1, columnStride: leadingDimension)
  }
}

/// Blocked, multi-threaded single-precision matrix multiply: `C = A·B` or `C += A·B`.
///
/// `A` is `[m, k]`, `B` is `[k, n]` (either may be a transposed view), `C` is row-major `[m, n]`
/// with leading dimension `ldc`. Tiles of 10x32 elements of `C` are computed by `tileKernel` in
/// `SIMD16<Float>` accumulators. `A` is read in place through its strides (its tile rows are
/// broadcast from); each `B` panel is packed into a contiguous 32-wide buffer.
/// `K` is split into blocks of `kBlock` so a packed `B` panel stays in L1 while the `A` rows
/// stream past it.
///
/// Each element of `C` is computed by one thread with a fixed summation order, so results do not
/// depend on the thread count.
///
/// - Parameters:
///   - threads: the most threads to use; work below `parallelThreshold` multiply-adds runs on
///     the calling thread.
/// - Complexity: O(m·n·k).
public func gemm(
  m: Int, n: Int, k: Int,
  a: MatrixOperand, b: MatrixOperand,
  c: UnsafeMutablePointer<Float>, ldc: Int,
  accumulate: Bool, threads: Int = GEMM.defaultThreads
) {
  gemm(
    m: m, n: n, k: k, a: a, b: .matrix(b), output: .matrix(c, ldc: ldc, accumulate: accumulate),
    threads: threads)
}

/// `gemm` with `B` read from a matrix or straight from a convolution's input (its im2col matrix
/// is never stored), and `C` stored, given a bias and ReLU, or folded back into an image
/// gradient (see `GEMM.Panels` and `GEMM.Output`).
///
/// Each element of the result is computed by one thread with a fixed summation order, so results
/// do not depend on the thread count.
/// - Complexity: O(m·n·k).
func gemm(
  m: Int, n: Int, k: Int, a: MatrixOperand, b: GEMM.Panels, output: GEMM.Output, threads: Int
) {
  guard m > 0, n > 0 else { return }
  guard k > 0 else {
    switch output {
    case .matrix(let c, let ldc, let accumulate, _, _):
      if !accumulate { for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) } }
    case .image(let image):
      image.clear(channels: 0..<image.geometry.channels)
    }
    return
  }
  let workers = m * n * k >= GEMM.parallelThreshold ? max(1, threads) : 1
  let rowTile = GEMM.rowTile(m)
  if workers == 1 {
    GEMM.block(rows: 0..<m, columns: 0..<n, k: k, a: a, b: b, output: output, rowTile: rowTile)
    return
  }
  if case .image(let image) = output {
    // Rows of one input channel fold into that channel's pixels only, so threads that own
    // whole channels never add into the same pixel.
    let channels = image.geometry.channels
    let area = image.geometry.kernelHeight * image.geometry.kernelWidth
    let parts = min(workers, channels)
    parallelFor(parts) { part in
      let rows = (channels * part / parts * area)..<(channels * (part + 1) / parts * area)
      guard !rows.isEmpty else { return }
      GEMM.block(rows: rows, columns: 0..<n, k: k, a: a, b: b, output: output, rowTile: rowTile)
    }
    return
  }
  // Split along the longer side of C, in whole micro-tiles, so that no thread packs what
  // another thread packs too.
  let splitRows = m >= n
  let tile = splitRows ? rowTile : GEMM.nr
  let extent = splitRows ? m : n
  let tiles = (extent + tile - 1) / tile
  let parts = min(workers, tiles)
  parallelFor(parts) { part in
    let start = tiles * part / parts * tile
    let end = min(extent, tiles * (part + 1) / parts * tile)
    guard start < end else { return }
    GEMM.block(
      rows: splitRows ? start..<end : 0..<m, columns: splitRows ? 0..<n : start..<end, k: k, a: a, b: b,
      output: output, rowTile: rowTile)
  }
}

/// Tuning constants and the single-threaded blocked driver behind `gemm`.
public enum GEMM {
  /// Rows of the micro-tile.
  static let mr = 10
  /// Rows of the micro-tile for row counts that are multiples of 8 but not of 10 (16, 32 and 64
  /// filters, which ten-row tiles cover with 25% and 9% padding).
  static let mr8 = 8

  /// The micro-tile height for a product of `m` rows. Each element's sum runs in the same order
  /// whatever the tile, so the choice never changes a result.
  static func rowTile(_ m: Int) -> Int {
    #if AVX512
      m % mr != 0 && m % mr8 == 0 ? mr8 : mr
    #else
      mr
    #endif
  }
  /// Columns of the micro-tile (two 16-lane vectors).
  static let nr = 32
  /// Depth of a K block: a packed 32-wide `B` panel of this depth is 24 KiB, inside L1.
  static let kBlock = 192
  /// Multiply-adds below which a GEMM runs on the calling thread.
  static let parallelThreshold = 1 << 19
  /// Threads used by default: every core.
  public static let defaultThreads = max(1, System.coreCount)

  /// Where the `B` panels of a product come from.
  enum Panels {
    /// A matrix in memory.
    case matrix(MatrixOperand)
    /// The im2col matrix of a convolution's input, gathered panel by panel from the image.
    case patches(ConvolutionKernels.Patches)

    /// Copies `B[rows..<rows+depth, columns..<columns+width]` into a `[depth, 32]` panel,
    /// zero-padded.
    @inline(__always)
    func pack(rows: Int, depth: Int, columns: Int, width: Int, into panel: UnsafeMutablePointer<Float>) {
      if width < nr { panel.update(repeating: 0, count: depth * nr) }
      switch self {
      case .matrix(let b): packPanel(b, rows: rows, depth: depth, columns: columns, width: width, into: panel)
      case .patches(let patches):
        patches.pack(rows: rows, depth: depth, columns: columns, width: width, into: panel, rowStride: nr)
      }
    }
  }

  /// Where the tiles of `C` go.
  enum Output {
    /// `C`, row-major with leading dimension `ldc`: overwritten or added to; then, given a bias,
    /// each finished tile gets `+ bias[row]` and ReLU when asked, exactly as `Kernels.addBias`
    /// computes them, while it is still in L1.
    case matrix(
      UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool, bias: UnsafePointer<Float>? = nil, relu: Bool = false)
    /// `C` is an im2col-shaped gradient, folded into the image gradient it is the adjoint of
    /// (`col2im`): each element is added to the pixel that `Patches` gathered it from. The
    /// image gradient is overwritten unless it accumulates. Each K block's partial tile is added
    /// on its own.
    case image(ConvolutionKernels.ImageGradient)
  }

  static func block(
    rows: Range<Int>, columns: Range<Int>, k: Int, a: MatrixOperand, b: Panels, output: Output, rowTile mr: Int = mr
  ) {
    if case .image(let image) = output, !image.accumulate {
      let area = image.geometry.kernelHeight * image.geometry.kernelWidth
      precondition(rows.lowerBound % area == 0 && rows.upperBound % area == 0, "rows must cover whole channels")
      image.clear(channels: (rows.lowerBound / area)..<(rows.upperBound / area))
    }
    @inline(__always) func kernel(
      depth: Int, a: UnsafePointer<Float>, aRowStride: Int, aColumnStride: Int, b: UnsafePointer<Float>,
      bRowStride: Int, c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool, bias: UnsafePointer<Float>? = nil,
      relu: Bool = false, rows: Int? = nil
    ) {
      tileKernel(
        tileRows: mr, depth: depth, a: a, aRowStride: aRowStride, aColumnStride: aColumnStride, b: b,
        bRowStride: bRowStride, c: c, ldc: ldc, accumulate: accumulate, bias: bias, relu: relu, rows: rows ?? mr)
    }
    withUnsafeTemporaryAllocation(of: Float.self, capacity: kBlock * nr + kBlock * mr + mr * nr) { scratch in
      let packedB = scratch.baseAddress!
      let packedA = packedB + kBlock * nr
      let tileC = packedA + kBlock * mr
      var p0 = 0
      while p0 < k {
        let depth = min(kBlock, k - p0)
        let lastBlock = p0 + depth == k
        // The last row tile, when shorter than MR, is zero-padded into a packed [depth, MR]
        // buffer once per K block and reused for every B panel.
        let edgeRows = rows.count % mr
        let edgeStart = rows.upperBound - edgeRows
        if edgeRows > 0 {
          let aTile = a.base + edgeStart * a.rowStride + p0 * a.columnStride
          packedA.update(repeating: 0, count: depth * mr)
          for p in 0..<depth {
            for i in 0..<edgeRows { packedA[p * mr + i] = aTile[i * a.rowStride + p * a.columnStride] }
          }
        }
        var j0 = columns.lowerBound
        while j0 < columns.upperBound {
          let width = min(nr, columns.upperBound - j0)
          // The B panel, rows p0..<p0+depth and columns j0..<j0+width, is always packed into a
          // contiguous [depth, 32] buffer: read in place with a power-of-two row stride, its rows
          // fall into a few L1 sets and evict each other.
          b.pack(rows: p0, depth: depth, columns: j0, width: width, into: packedB)
          var i0 = rows.lowerBound
          while i0 < rows.upperBound {
            let height = min(mr, rows.upperBound - i0)
            let (aTile, aRowStride, aColumnStride) =
              height == mr
              ? (a.base + i0 * a.rowStride + p0 * a.columnStride, a.rowStride, a.columnStride)
              : (UnsafePointer(packedA), 1, mr)
            switch output {
            case .matrix(let c, let ldc, let accumulate, let bias, let relu):
              let overwrite = p0 == 0 && !accumulate
              let cTile = c + i0 * ldc + j0
              if width == nr {
                // A short last row tile (16 filters are a tile of 10 and one of 6) is computed
                // whole from the zero-padded rows, and only its rows are stored.
                kernel(
                  depth: depth, a: aTile, aRowStride: aRowStride, aColumnStride: aColumnStride,
                  b: packedB, bRowStride: nr, c: cTile, ldc: ldc, accumulate: !overwrite,
                  bias: lastBlock ? bias.map { $0 + i0 } : nil, relu: relu, rows: height)
              } else {
                // Edge tile: compute a full tile aside and copy back the part that exists.
                kernel(
                  depth: depth, a: aTile, aRowStride: aRowStride, aColumnStride: aColumnStride,
                  b: packedB, bRowStride: nr, c: tileC, ldc: nr, accumulate: false)
                for i in 0..<height {
                  let source = tileC + i * nr
                  let target = cTile + i * ldc
                  if overwrite {
                    target.update(from: source, count: width)
                  } else {
                    for j in 0..<width { target[j] += source[j] }
                  }
                }
                if lastBlock, let bias {
                  Kernels.addBias(
                    cTile, features: height, batch: width, leadingDimension: ldc, bias: bias + i0, relu: relu)
                }
              }
            case .image(let image):
              kernel(
                depth: depth, a: aTile, aRowStride: aRowStride, aColumnStride: aColumnStride,
                b: packedB, bRowStride: nr, c: tileC, ldc: nr, accumulate: false)
              image.add(tileC, rowStride: nr, rows: i0, height: height, columns: j0, width: width)
            }
            i0 += mr
          }
          j0 += nr
        }
        p0 += depth
      }
    }
  }
  /// Copies `B[rows..<rows+depth, columns..<columns+width]` into the first `width` columns of a
  /// `[depth, 32]` panel.
  @inline(__always)
  static func packPanel(
    _ b: MatrixOperand, rows: Int, depth: Int, columns: Int, width: Int,
    into panel: UnsafeMutablePointer<Float>
  ) {
    if b.columnStride == 1 {
      for p in 0..<depth {
        (panel + p * nr).update(from: b.base + (rows + p) * b.rowStride + columns, count: width)
      }
    } else {
      // Transposed source: walk each source row (one column of the panel) contiguously.
      for j in 0..<width {
        let source = b.base + rows * b.rowStride + (columns + j) * b.columnStride
        for p in 0..<depth { panel[p * nr + j] = source[p * b.rowStride] }
      }
    }
  }

  /// The tile `C[0..<tileRows, 0..<32] (+)= A[0..<tileRows, 0..<depth] · B[0..<depth, 0..<32]`
  /// for a tile of `mr` or `mr8` rows, of which the first `rows` are stored (see `microKernel`).
  ///
  /// Builds for AVX-512 compute it in one micro-kernel, whose accumulators fill the 32 vector
  /// registers. Other builds have 16 (AVX2; NEON has 32 of a quarter the width): there the whole
  /// tile spills, so it is computed in 5x16 pieces (measured on a Zen 3 core: 26 GFLOP/s for the
  /// spilling tile, 90 in pieces), skipping pieces with no stored row. Each element's sum runs
  /// in the same order either way, so the results are the same.
  @inline(__always)
  static func tileKernel(
    tileRows: Int, depth: Int, a: UnsafePointer<Float>, aRowStride: Int, aColumnStride: Int,
    b: UnsafePointer<Float>, bRowStride: Int,
    c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool, bias: UnsafePointer<Float>?, relu: Bool, rows: Int
  ) {
    #if AVX512
      if tileRows == mr8 {
        microKernel8(
          depth: depth, a: a, aRowStride: aRowStride, aColumnStride: aColumnStride, b: b, bRowStride: bRowStride, c: c,
          ldc: ldc, accumulate: accumulate, bias: bias, relu: relu, rows: rows)
      } else {
        microKernel(
          depth: depth, a: a, aRowStride: aRowStride, aColumnStride: aColumnStride, b: b, bRowStride: bRowStride, c: c,
          ldc: ldc, accumulate: accumulate, bias: bias, relu: relu, rows: rows)
      }
    #else
      precondition(tileRows == mr, "builds without AVX-512 use \(mr)-row tiles")
      for first in stride(from: 0, to: min(rows, mr), by: narrowRows) {
        for column in stride(from: 0, to: nr, by: 16) {
          narrowMicroKernel(
            depth: depth, a: a + first * aRowStride, aRowStride: aRowStride, aColumnStride: aColumnStride,
            b: b + column, bRowStride: bRowStride, c: c + first * ldc + column, ldc: ldc, accumulate: accumulate,
            bias: bias.map { $0 + first }, relu: relu, rows: rows - first)
        }
      }
    #endif
  }

  /// How this build computes a tile, as `shears bench` reports it.
  public static var tileDescription: String {
    #if AVX512
      "10x32 SIMD16 FMA"
    #else
      "10x32 tile in 5x16 SIMD16 FMA pieces"
    #endif
  }

  /// Rows of `narrowMicroKernel`, half a tile.
  static let narrowRows = 5

  /// The 5x16 micro-kernel of builds with 16 vector registers:
  /// `C[0..<5, 0..<16] (+)= A[0..<5, 0..<depth] · B[0..<depth, 0..<16]`. Five `SIMD16`
  /// accumulators are ten 256-bit registers; with the two halves of a `B` row and a broadcast
  /// they fit in sixteen. Stores, bias and ReLU as in `microKernel`, for the first `rows` rows.
  @inline(never)
  static func narrowMicroKernel(
    depth: Int, a: UnsafePointer<Float>, aRowStride: Int, aColumnStride: Int,
    b: UnsafePointer<Float>, bRowStride: Int,
    c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool, bias: UnsafePointer<Float>?, relu: Bool, rows: Int
  ) {
    typealias V = SIMD16<Float>
    var c0 = V(), c1 = V(), c2 = V(), c3 = V(), c4 = V()
    let a0 = a, a1 = a + aRowStride, a2 = a + 2 * aRowStride, a3 = a + 3 * aRowStride, a4 = a + 4 * aRowStride
    var bRow = UnsafeRawPointer(b)
    let bStep = bRowStride * MemoryLayout<Float>.stride
    var offset = 0
    for _ in 0..<depth {
      let b0 = bRow.loadUnaligned(as: V.self)
      c0.addProduct(V(repeating: a0[offset]), b0)
      c1.addProduct(V(repeating: a1[offset]), b0)
      c2.addProduct(V(repeating: a2[offset]), b0)
      c3.addProduct(V(repeating: a3[offset]), b0)
      c4.addProduct(V(repeating: a4[offset]), b0)
      offset += aColumnStride
      bRow += bStep
    }
    @inline(__always) func store(_ row: Int, _ value: V) {
      guard row < rows else { return }
      let target = UnsafeMutableRawPointer(c + row * ldc)
      var value = value
      if accumulate { value = target.loadUnaligned(as: V.self) + value }
      if let bias {
        value += V(repeating: bias[row])
        if relu { value.replace(with: V(), where: value .< V()) }
      }
      target.storeBytes(of: value, as: V.self)
    }
    store(0, c0); store(1, c1); store(2, c2); store(3, c3); store(4, c4)
  }

  #if AVX512
  /// The 10x32 micro-kernel: `C[0..<10, 0..<32] (+)= A[0..<10, 0..<depth] · B[0..<depth, 0..<32]`.
  ///
  /// Twenty `SIMD16` accumulators, two `B` vectors and a broadcast fit AVX-512's 32 vector
  /// registers. Ten rows rather than eight: the layers this engine trains have 10, 20, 50, 100,
  /// 300 or 500 rows, which 8-row tiles cover with up to 37% padding and 10-row tiles with none.
  /// Kept out of line: inlined into a large caller, the accumulators get spilled.
  ///
  /// Given `bias` (ten values, one per row), each finished element gets `+ bias[row]` and, with
  /// `relu`, ReLU, as `Kernels.addBias` computes them, before it is stored: a second pass over
  /// the tile cost LeNet-5's first convolution (25-deep products) 40% of its time. Only the
  /// first `rows` rows are stored (and read, when accumulating); `bias` needs as many values.
  @inline(never)
  static func microKernel(
    depth: Int, a: UnsafePointer<Float>, aRowStride: Int, aColumnStride: Int,
    b: UnsafePointer<Float>, bRowStride: Int,
    c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool, bias: UnsafePointer<Float>? = nil, relu: Bool = false,
    rows: Int = mr
  ) {
    typealias V = SIMD16<Float>
    var c00 = V(), c01 = V(), c10 = V(), c11 = V(), c20 = V(), c21 = V(), c30 = V(), c31 = V()
    var c40 = V(), c41 = V(), c50 = V(), c51 = V(), c60 = V(), c61 = V(), c70 = V(), c71 = V()
    var c80 = V(), c81 = V(), c90 = V(), c91 = V()
    let a0 = a, a1 = a + aRowStride, a2 = a + 2 * aRowStride, a3 = a + 3 * aRowStride
    let a4 = a + 4 * aRowStride, a5 = a + 5 * aRowStride, a6 = a + 6 * aRowStride
    let a7 = a + 7 * aRowStride, a8 = a + 8 * aRowStride, a9 = a + 9 * aRowStride
    var bRow = UnsafeRawPointer(b)
    let bStep = bRowStride * MemoryLayout<Float>.stride
    var offset = 0
    for _ in 0..<depth {
      let b0 = bRow.loadUnaligned(as: V.self)
      let b1 = bRow.loadUnaligned(fromByteOffset: 64, as: V.self)
      var s = V(repeating: a0[offset])
      c00.addProduct(s, b0); c01.addProduct(s, b1)
      s = V(repeating: a1[offset]); c10.addProduct(s, b0); c11.addProduct(s, b1)
      s = V(repeating: a2[offset]); c20.addProduct(s, b0); c21.addProduct(s, b1)
      s = V(repeating: a3[offset]); c30.addProduct(s, b0); c31.addProduct(s, b1)
      s = V(repeating: a4[offset]); c40.addProduct(s, b0); c41.addProduct(s, b1)
      s = V(repeating: a5[offset]); c50.addProduct(s, b0); c51.addProduct(s, b1)
      s = V(repeating: a6[offset]); c60.addProduct(s, b0); c61.addProduct(s, b1)
      s = V(repeating: a7[offset]); c70.addProduct(s, b0); c71.addProduct(s, b1)
      s = V(repeating: a8[offset]); c80.addProduct(s, b0); c81.addProduct(s, b1)
      s = V(repeating: a9[offset]); c90.addProduct(s, b0); c91.addProduct(s, b1)
      offset += aColumnStride
      bRow += bStep
    }
    @inline(__always) func store(_ row: Int, _ low: V, _ high: V) {
      guard row < rows else { return }
      let target = UnsafeMutableRawPointer(c + row * ldc)
      var (low, high) = (low, high)
      if accumulate {
        low = target.loadUnaligned(as: V.self) + low
        high = target.loadUnaligned(fromByteOffset: 64, as: V.self) + high
      }
      if let bias {
        let b = V(repeating: bias[row])
        low += b
        high += b
        if relu {
          low.replace(with: V(), where: low .< V())
          high.replace(with: V(), where: high .< V())
        }
      }
      target.storeBytes(of: low, as: V.self)
      target.storeBytes(of: high, toByteOffset: 64, as: V.self)
    }
    store(0, c00, c01); store(1, c10, c11); store(2, c20, c21); store(3, c30, c31); store(4, c40, c41)
    store(5, c50, c51); store(6, c60, c61); store(7, c70, c71); store(8, c80, c81); store(9, c90, c91)
  }

  /// The 8x32 micro-kernel, `microKernel` with eight rows: sixteen accumulators, for row counts
  /// that are multiples of eight (`rowTile`).
  @inline(never)
  static func microKernel8(
    depth: Int, a: UnsafePointer<Float>, aRowStride: Int, aColumnStride: Int,
    b: UnsafePointer<Float>, bRowStride: Int,
    c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool, bias: UnsafePointer<Float>? = nil, relu: Bool = false,
    rows: Int = mr8
  ) {
    typealias V = SIMD16<Float>
    var c00 = V(), c01 = V(), c10 = V(), c11 = V(), c20 = V(), c21 = V(), c30 = V(), c31 = V()
    var c40 = V(), c41 = V(), c50 = V(), c51 = V(), c60 = V(), c61 = V(), c70 = V(), c71 = V()
    let a0 = a, a1 = a + aRowStride, a2 = a + 2 * aRowStride, a3 = a + 3 * aRowStride
    let a4 = a + 4 * aRowStride, a5 = a + 5 * aRowStride, a6 = a + 6 * aRowStride
    let a7 = a + 7 * aRowStride
    var bRow = UnsafeRawPointer(b)
    let bStep = bRowStride * MemoryLayout<Float>.stride
    var offset = 0
    for _ in 0..<depth {
      let b0 = bRow.loadUnaligned(as: V.self)
      let b1 = bRow.loadUnaligned(fromByteOffset: 64, as: V.self)
      var s = V(repeating: a0[offset])
      c00.addProduct(s, b0); c01.addProduct(s, b1)
      s = V(repeating: a1[offset]); c10.addProduct(s, b0); c11.addProduct(s, b1)
      s = V(repeating: a2[offset]); c20.addProduct(s, b0); c21.addProduct(s, b1)
      s = V(repeating: a3[offset]); c30.addProduct(s, b0); c31.addProduct(s, b1)
      s = V(repeating: a4[offset]); c40.addProduct(s, b0); c41.addProduct(s, b1)
      s = V(repeating: a5[offset]); c50.addProduct(s, b0); c51.addProduct(s, b1)
      s = V(repeating: a6[offset]); c60.addProduct(s, b0); c61.addProduct(s, b1)
      s = V(repeating: a7[offset]); c70.addProduct(s, b0); c71.addProduct(s, b1)
      offset += aColumnStride
      bRow += bStep
    }
    @inline(__always) func store(_ row: Int, _ low: V, _ high: V) {
      guard row < rows else { return }
      let target = UnsafeMutableRawPointer(c + row * ldc)
      var (low, high) = (low, high)
      if accumulate {
        low = target.loadUnaligned(as: V.self) + low
        high = target.loadUnaligned(fromByteOffset: 64, as: V.self) + high
      }
      if let bias {
        let b = V(repeating: bias[row])
        low += b
        high += b
        if relu {
          low.replace(with: V(), where: low .< V())
          high.replace(with: V(), where: high .< V())
        }
      }
      target.storeBytes(of: low, as: V.self)
      target.storeBytes(of: high, toByteOffset: 64, as: V.self)
    }
    store(0, c00, c01); store(1, c10, c11); store(2, c20, c21); store(3, c30, c31); store(4, c40, c41)
    store(5, c50, c51); store(6, c60, c61); store(7, c70, c71)
  }
  #endif
}
