extension ConvolutionKernels {
  /// Filters and patch rows of a `gradientTile` and of a `narrowGradientTile`.
  static let gradientTileSize = (filters: 4, rows: 5)
  static let narrowGradientTileSize = (filters: 2, rows: 6)
  #if AVX512
    /// Filters per tile of `weightGradient` in this build.
    static let gradientFilters = gradientTileSize.filters
    /// Patch rows per tile of `weightGradient` in this build.
    static let gradientRows = gradientTileSize.rows
  #else
    static let gradientFilters = narrowGradientTileSize.filters
    static let gradientRows = narrowGradientTileSize.rows
  #endif

  /// The weight gradient of a convolution:
  /// `dW[f, q] = Σ_p Σ_{j<n} dOut[f, p·ld + j] · patches[q, p·ld + j]`.
  ///
  /// Both operands run contiguously along the contraction, so instead of a GEMM (which would
  /// have to transpose the im2col matrix into its panels) each tile of `dW` keeps one `SIMD16`
  /// sum per element over the samples while the positions stream past, and adds its lanes at the
  /// end: 4x5 tiles with AVX-512 (`gradientTile`), 2x6 tiles in 8-lane halves with 16 vector
  /// registers (`narrowGradientTile`), the same bits either way. A tile is computed by one
  /// thread in a fixed order, so the result does not depend on the thread count.
  ///
  /// - Parameters:
  ///   - outputGradient: `[filters, positions · ld]`.
  ///   - weightGradient: `[filters, patchSize]`, overwritten.
  /// - Complexity: O(filters · patchSize · positions · n).
  static func weightGradient(
    outputGradient: UnsafePointer<Float>, filters: Int, patches: Patches, count n: Int,
    into weightGradient: UnsafeMutablePointer<Float>, threads: Int
  ) {
    let g = patches.geometry
    let filterTiles = (filters + gradientFilters - 1) / gradientFilters
    let rowTiles = (g.patchSize + gradientRows - 1) / gradientRows
    let tiles = filterTiles * rowTiles
    let work = filters * g.patchSize * g.positions * n
    let parts = work >= GEMM.parallelThreshold ? min(max(1, threads), tiles) : 1
    parallelFor(parts) { part in
      withUnsafeTemporaryAllocation(of: Float.self, capacity: max(1, n)) { zeros in
        zeros.initialize(repeating: 0)
        for tile in (tiles * part / parts)..<(tiles * (part + 1) / parts) {
          let (filterTile, rowTile) = tile.quotientAndRemainder(dividingBy: rowTiles)
          #if AVX512
            gradientTile(
              outputGradient: outputGradient, filters: filters, firstFilter: filterTile * gradientFilters,
              patches: patches, firstRow: rowTile * gradientRows, count: n, zeros: UnsafePointer(zeros.baseAddress!),
              into: weightGradient)
          #else
            narrowGradientTile(
              outputGradient: outputGradient, filters: filters, firstFilter: filterTile * gradientFilters,
              patches: patches, firstRow: rowTile * gradientRows, count: n, zeros: UnsafePointer(zeros.baseAddress!),
              into: weightGradient)
          #endif
        }
      }
    }
  }

  /// Four filters by five patch rows of `weightGradient`. Rows past the end repeat the last
  /// one and are not stored.
  static func gradientTile(
    outputGradient: UnsafePointer<Float>, filters: Int, firstFilter: Int, patches: Patches, firstRow: Int,
    count n: Int, zeros: UnsafePointer<Float>, into weightGradient: UnsafeMutablePointer<Float>
  ) {
    let g = patches.geometry
    let ld = patches.ld
    let rowLength = g.positions * ld
    let d0 = outputGradient + min(firstFilter, filters - 1) * rowLength
    let d1 = outputGradient + min(firstFilter + 1, filters - 1) * rowLength
    let d2 = outputGradient + min(firstFilter + 2, filters - 1) * rowLength
    let d3 = outputGradient + min(firstFilter + 3, filters - 1) * rowLength
    let lastRow = g.patchSize - 1
    let r0 = PatchRow(min(firstRow, lastRow), g), r1 = PatchRow(min(firstRow + 1, lastRow), g)
    let r2 = PatchRow(min(firstRow + 2, lastRow), g), r3 = PatchRow(min(firstRow + 3, lastRow), g)
    let r4 = PatchRow(min(firstRow + 4, lastRow), g)
    var c00 = V(), c01 = V(), c02 = V(), c03 = V(), c04 = V()
    var c10 = V(), c11 = V(), c12 = V(), c13 = V(), c14 = V()
    var c20 = V(), c21 = V(), c22 = V(), c23 = V(), c24 = V()
    var c30 = V(), c31 = V(), c32 = V(), c33 = V(), c34 = V()
    @inline(__always) func source(_ patchRow: PatchRow, _ window: Window) -> UnsafePointer<Float> {
      g.inputRow(patchRow, window: window).map { patches.image + $0 * ld } ?? zeros
    }
    @inline(__always) func step(_ a0: V, _ a1: V, _ a2: V, _ a3: V, _ x: V, _ column: Int) {
      switch column {
      case 0: c00.addProduct(a0, x); c10.addProduct(a1, x); c20.addProduct(a2, x); c30.addProduct(a3, x)
      case 1: c01.addProduct(a0, x); c11.addProduct(a1, x); c21.addProduct(a2, x); c31.addProduct(a3, x)
      case 2: c02.addProduct(a0, x); c12.addProduct(a1, x); c22.addProduct(a2, x); c32.addProduct(a3, x)
      case 3: c03.addProduct(a0, x); c13.addProduct(a1, x); c23.addProduct(a2, x); c33.addProduct(a3, x)
      default: c04.addProduct(a0, x); c14.addProduct(a1, x); c24.addProduct(a2, x); c34.addProduct(a3, x)
      }
    }
    for position in 0..<g.positions {
      let window = g.window(position: position)
      let x0 = source(r0, window), x1 = source(r1, window), x2 = source(r2, window)
      let x3 = source(r3, window), x4 = source(r4, window)
      let base = position * ld
      var j = 0
      while j + 16 <= n {
        let a0 = load(d0 + base + j), a1 = load(d1 + base + j), a2 = load(d2 + base + j), a3 = load(d3 + base + j)
        step(a0, a1, a2, a3, load(x0 + j), 0)
        step(a0, a1, a2, a3, load(x1 + j), 1)
        step(a0, a1, a2, a3, load(x2 + j), 2)
        step(a0, a1, a2, a3, load(x3 + j), 3)
        step(a0, a1, a2, a3, load(x4 + j), 4)
        j += 16
      }
      if j < n {
        let rest = n - j
        let a0 = loadPartial(d0 + base + j, rest), a1 = loadPartial(d1 + base + j, rest)
        let a2 = loadPartial(d2 + base + j, rest), a3 = loadPartial(d3 + base + j, rest)
        step(a0, a1, a2, a3, loadPartial(x0 + j, rest), 0)
        step(a0, a1, a2, a3, loadPartial(x1 + j, rest), 1)
        step(a0, a1, a2, a3, loadPartial(x2 + j, rest), 2)
        step(a0, a1, a2, a3, loadPartial(x3 + j, rest), 3)
        step(a0, a1, a2, a3, loadPartial(x4 + j, rest), 4)
      }
    }
    let filterCount = min(gradientTileSize.filters, filters - firstFilter)
    let rowCount = min(gradientTileSize.rows, g.patchSize - firstRow)
    @inline(__always) func put(_ f: Int, _ r: Int, _ sum: V) {
      if f < filterCount && r < rowCount { weightGradient[(firstFilter + f) * g.patchSize + firstRow + r] = sum.sum() }
    }
    put(0, 0, c00); put(0, 1, c01); put(0, 2, c02); put(0, 3, c03); put(0, 4, c04)
    put(1, 0, c10); put(1, 1, c11); put(1, 2, c12); put(1, 3, c13); put(1, 4, c14)
    put(2, 0, c20); put(2, 1, c21); put(2, 2, c22); put(2, 3, c23); put(2, 4, c24)
    put(3, 0, c30); put(3, 1, c31); put(3, 2, c32); put(3, 3, c33); put(3, 4, c34)
  }

  /// The sums of one pass of `narrowGradientTile`: two filters by six patch rows, eight lanes.
  private struct NarrowSums {
    var c00 = H(), c01 = H(), c02 = H(), c03 = H(), c04 = H(), c05 = H()
    var c10 = H(), c11 = H(), c12 = H(), c13 = H(), c14 = H(), c15 = H()
  }
  typealias H = SIMD8<Float>

  /// Two filters by six patch rows of `weightGradient`, for builds with 16 vector registers,
  /// where `gradientTile`'s twenty `SIMD16` sums would be forty 256-bit registers and spill.
  /// Each of the twelve `SIMD16` sums is computed as its two 8-lane halves, one pass over the
  /// positions per half: twelve accumulator registers, two `dOut` halves and one image half.
  /// Every lane adds the same products in the same order as `gradientTile`'s, and the halves
  /// are joined before the lanes are added, so both give the same bits.
  static func narrowGradientTile(
    outputGradient: UnsafePointer<Float>, filters: Int, firstFilter: Int, patches: Patches, firstRow: Int,
    count n: Int, zeros: UnsafePointer<Float>, into weightGradient: UnsafeMutablePointer<Float>
  ) {
    let g = patches.geometry
    let ld = patches.ld
    let rowLength = g.positions * ld
    let d0 = outputGradient + min(firstFilter, filters - 1) * rowLength
    let d1 = outputGradient + min(firstFilter + 1, filters - 1) * rowLength
    let lastRow = g.patchSize - 1
    let r0 = PatchRow(min(firstRow, lastRow), g), r1 = PatchRow(min(firstRow + 1, lastRow), g)
    let r2 = PatchRow(min(firstRow + 2, lastRow), g), r3 = PatchRow(min(firstRow + 3, lastRow), g)
    let r4 = PatchRow(min(firstRow + 4, lastRow), g), r5 = PatchRow(min(firstRow + 5, lastRow), g)
    @inline(__always) func source(_ patchRow: PatchRow, _ window: Window) -> UnsafePointer<Float> {
      g.inputRow(patchRow, window: window).map { patches.image + $0 * ld } ?? zeros
    }
    /// Lanes `lane..<lane+8` of every 16-sample chunk.
    func pass(lane: Int) -> NarrowSums {
      var s = NarrowSums()
      let tail = max(0, min(8, n % 16 - lane))
      var position = 0
      for oy in 0..<g.outputHeight {
        for ox in 0..<g.outputWidth {
          let window = g.window(oy: oy, ox: ox)
          let x0 = source(r0, window) + lane, x1 = source(r1, window) + lane, x2 = source(r2, window) + lane
          let x3 = source(r3, window) + lane, x4 = source(r4, window) + lane, x5 = source(r5, window) + lane
          let base = position * ld + lane
          @inline(__always) func step(_ j: Int, _ load: (UnsafePointer<Float>) -> H) {
            let a0 = load(d0 + base + j), a1 = load(d1 + base + j)
            var x = load(x0 + j)
            s.c00.addProduct(a0, x); s.c10.addProduct(a1, x)
            x = load(x1 + j)
            s.c01.addProduct(a0, x); s.c11.addProduct(a1, x)
            x = load(x2 + j)
            s.c02.addProduct(a0, x); s.c12.addProduct(a1, x)
            x = load(x3 + j)
            s.c03.addProduct(a0, x); s.c13.addProduct(a1, x)
            x = load(x4 + j)
            s.c04.addProduct(a0, x); s.c14.addProduct(a1, x)
            x = load(x5 + j)
            s.c05.addProduct(a0, x); s.c15.addProduct(a1, x)
          }
          var j = 0
          while j + 16 <= n {
            step(j, loadHalf)
            j += 16
          }
          if j < n { step(j) { loadPartialHalf($0, tail) } }
          position += 1
        }
      }
      return s
    }
    let low = pass(lane: 0)
    let high = pass(lane: 8)
    let filterCount = min(narrowGradientTileSize.filters, filters - firstFilter)
    let rowCount = min(narrowGradientTileSize.rows, g.patchSize - firstRow)
    @inline(__always) func put(_ f: Int, _ r: Int, _ low: H, _ high: H) {
      if f < filterCount && r < rowCount {
        weightGradient[(firstFilter + f) * g.patchSize + firstRow + r] = V(lowHalf: low, highHalf: high).sum()
      }
    }
    put(0, 0, low.c00, high.c00); put(0, 1, low.c01, high.c01); put(0, 2, low.c02, high.c02)
    put(0, 3, low.c03, high.c03); put(0, 4, low.c04, high.c04); put(0, 5, low.c05, high.c05)
    put(1, 0, low.c10, high.c10); put(1, 1, low.c11, high.c11); put(1, 2, low.c12, high.c12)
    put(1, 3, low.c13, high.c13); put(1, 4, low.c14, high.c14); put(1, 5, low.c15, high.c15)
  }

  @inline(__always)
  static func loadHalf(_ pointer: UnsafePointer<Float>) -> H {
    UnsafeRawPointer(pointer).loadUnaligned(as: H.self)
  }

  /// The first `count` (at most 8) floats at `pointer`, zeros in the other lanes.
  @inline(__always)
  static func loadPartialHalf(_ pointer: UnsafePointer<Float>, _ count: Int) -> H {
    var value = H()
    for lane in 0..<count { value[lane] = pointer[lane] }
    return value
  }
}
