/// Convolution and max-pooling kernels over feature-major activations.
///
/// An image batch is stored as every other activation is, `[features, batch]` with the features
/// in PyTorch's `[channels, height, width]` order, so row `(c, y, x)` holds pixel `(y, x)` of
/// channel `c` for every sample and `nn.Flatten` costs nothing. A convolution is a GEMM over an
/// im2col matrix whose rows are `(channel, ky, kx)` and whose columns are `(oy, ox, sample)`:
/// each of its row segments is a contiguous run of samples copied from one input row, and the
/// GEMM's output `[filters, (oy, ox, sample)]` is already the feature-major output
/// `[(filter, oy, ox), sample]`.
///
/// Training never stores the im2col matrix (LeNet-5's second convolution would need 8 MB of it
/// per batch of 64): the GEMM gathers its `B` panels straight from the image (`Patches`), folds
/// the input gradient back into the image as it computes it (`ImageGradient`), and the weight
/// gradient has its own kernel (`weightGradient`) that reads the image in place. Only the sparse
/// inference kernels, which take a matrix, get an explicit `im2col`.
enum ConvolutionKernels {
  typealias V = SIMD16<Float>

  /// Sizes of a convolution on one input shape.
  struct Geometry: Hashable {
    var channels: Int
    var height: Int
    var width: Int
    var kernelHeight: Int
    var kernelWidth: Int
    var stride: Int
    var padding: Int

    var outputHeight: Int { (height + 2 * padding - kernelHeight) / stride + 1 }
    var outputWidth: Int { (width + 2 * padding - kernelWidth) / stride + 1 }
    /// Output pixels per filter.
    var positions: Int { outputHeight * outputWidth }
    /// Rows of the im2col matrix: weights per filter.
    var patchSize: Int { channels * kernelHeight * kernelWidth }
    /// Input features per sample.
    var inputFeatures: Int { channels * height * width }

    /// The window of output `(oy, ox)`.
    @inline(__always)
    func window(oy: Int, ox: Int) -> Window {
      let y = oy * stride - padding
      let x = ox * stride - padding
      return Window(
        y: y, x: x, origin: y * width + x,
        isInside: y >= 0 && y + kernelHeight <= height && x >= 0 && x + kernelWidth <= width)
    }

    /// The window of output position `position` (row-major over the output pixels).
    @inline(__always)
    func window(position: Int) -> Window {
      let (oy, ox) = position.quotientAndRemainder(dividingBy: outputWidth)
      return window(oy: oy, ox: ox)
    }

    /// The input row that weight `(c, ky, kx)` meets in `window`, or nil where the window
    /// reaches into the padding.
    @inline(__always)
    func inputRow(_ patchRow: PatchRow, window: Window) -> Int? {
      if window.isInside { return patchRow.offset + window.origin }
      let y = window.y + patchRow.ky
      let x = window.x + patchRow.kx
      guard y >= 0, y < height, x >= 0, x < width else { return nil }
      return (patchRow.channel * height + y) * width + x
    }
  }

  /// The input pixels an output position's weights meet.
  struct Window {
    /// The input pixel at the top left; in the padding when `padding > 0`.
    var y: Int
    var x: Int
    /// `y · width + x`: the input row of weight `(0, 0, 0)` when the window is inside.
    var origin: Int
    /// Whether the whole window lies inside the image, clear of the padding.
    var isInside: Bool
  }

  /// A row `(channel, ky, kx)` of the im2col matrix, stepped through in order without dividing.
  struct PatchRow {
    var channel: Int
    var ky: Int
    var kx: Int
    /// `(channel · height + ky) · width + kx`: the input row the weight meets, relative to the
    /// window's origin.
    var offset: Int

    init(_ row: Int, _ g: Geometry) {
      let area = g.kernelHeight * g.kernelWidth
      channel = row / area
      ky = row % area / g.kernelWidth
      kx = row % g.kernelWidth
      offset = (channel * g.height + ky) * g.width + kx
    }

    @inline(__always)
    mutating func advance(_ g: Geometry) {
      kx += 1
      offset += 1
      guard kx == g.kernelWidth else { return }
      kx = 0
      ky += 1
      offset += g.width - g.kernelWidth
      guard ky == g.kernelHeight else { return }
      ky = 0
      channel += 1
      offset += (g.height - g.kernelHeight) * g.width
    }
  }

  /// Calls `body(offset, position, sample, length)` for each run of im2col columns
  /// `columns..<columns+width` that lies within one output position: `length` columns starting
  /// at sample `sample` of `position`, `offset` columns after `columns`.
  @inline(__always)
  static func forEachRun(columns: Int, width: Int, ld: Int, _ body: (Int, Int, Int, Int) -> Void) {
    var offset = 0
    while offset < width {
      let column = columns + offset
      let (position, sample) = column.quotientAndRemainder(dividingBy: ld)
      let length = min(width - offset, ld - sample)
      body(offset, position, sample, length)
      offset += length
    }
  }

  // MARK: - The im2col matrix, read in place

  /// A convolution's input seen as its im2col matrix `[patchSize, positions · ld]`: column
  /// `p · ld + j` of row `(c, ky, kx)` is sample `j` of the input pixel that weight meets at
  /// output position `p`, or zero in the padding.
  struct Patches {
    /// `[inputFeatures, ld]`.
    let image: UnsafePointer<Float>
    /// Row stride of `image`; also the columns per output position.
    let ld: Int
    let geometry: Geometry

    /// Copies rows `rows..<rows+depth` and columns `columns..<columns+width` into `panel`
    /// (rows `rowStride` apart).
    /// - Complexity: O(depth · width).
    @inline(__always)
    func pack(
      rows: Int, depth: Int, columns: Int, width: Int, into panel: UnsafeMutablePointer<Float>, rowStride: Int
    ) {
      forEachRun(columns: columns, width: width, ld: ld) { offset, position, sample, length in
        let window = geometry.window(position: position)
        var patchRow = PatchRow(rows, geometry)
        if window.isInside && length == GEMM.nr {
          // The common case, a whole panel from one position clear of the padding:
          // two vectors per row, no checks.
          let source = image + (window.origin * ld + sample)
          for r in 0..<depth {
            let row = source + patchRow.offset * ld
            let target = panel + r * rowStride + offset
            store(load(row), target)
            store(load(row + 16), target + 16)
            patchRow.advance(geometry)
          }
          return
        }
        for r in 0..<depth {
          let target = panel + r * rowStride + offset
          if let row = geometry.inputRow(patchRow, window: window) {
            copy(image + row * ld + sample, to: target, count: length)
          } else {
            target.update(repeating: 0, count: length)
          }
          patchRow.advance(geometry)
        }
      }
    }
  }

  /// The gradient of a convolution's input, `[inputFeatures, ld]`, receiving an im2col-shaped
  /// gradient tile by tile: the adjoint of `Patches`.
  struct ImageGradient {
    let gradient: UnsafeMutablePointer<Float>
    let ld: Int
    let geometry: Geometry
    /// Add to what `gradient` holds (another step's share of it) instead of overwriting it.
    var accumulate = false

    /// Zeroes the rows of `channels`.
    func clear(channels: Range<Int>) {
      let rows = geometry.height * geometry.width
      (gradient + channels.lowerBound * rows * ld).update(repeating: 0, count: channels.count * rows * ld)
    }

    /// Adds a tile of the im2col-shaped gradient, rows `rows..<rows+height` and columns
    /// `columns..<columns+width` (tile rows `rowStride` apart), to the pixels they came from.
    @inline(__always)
    func add(_ tile: UnsafePointer<Float>, rowStride: Int, rows: Int, height: Int, columns: Int, width: Int) {
      forEachRun(columns: columns, width: width, ld: ld) { offset, position, sample, length in
        let window = geometry.window(position: position)
        var patchRow = PatchRow(rows, geometry)
        for r in 0..<height {
          if let row = geometry.inputRow(patchRow, window: window) {
            ConvolutionKernels.add(tile + r * rowStride + offset, into: gradient + row * ld + sample, count: length)
          }
          patchRow.advance(geometry)
        }
      }
    }
  }

  /// Fills the im2col matrix `columns[(c, ky, kx), (oy, ox, j)]` with the input pixel each
  /// weight meets, zero where the window reaches into the padding: the operand of the sparse
  /// kernels, which cannot gather from the image.
  ///
  /// `input` rows are `ld` apart and hold `n` samples; `columns` rows are `positions · ld` apart
  /// and position `p`'s samples start at `p · ld`.
  /// - Complexity: O(patchSize · positions · n).
  static func im2col(
    _ input: UnsafePointer<Float>, ld: Int, count n: Int, geometry g: Geometry,
    into columns: UnsafeMutablePointer<Float>
  ) {
    let rowStride = g.positions * ld
    var patchRow = PatchRow(0, g)
    for q in 0..<g.patchSize {
      var target = columns + q * rowStride
      for oy in 0..<g.outputHeight {
        for ox in 0..<g.outputWidth {
          if let source = g.inputRow(patchRow, window: g.window(oy: oy, ox: ox)) {
            copy(input + source * ld, to: target, count: n)
          } else {
            target.update(repeating: 0, count: n)
          }
          target += ld
        }
      }
      patchRow.advance(g)
    }
  }

  // MARK: - Weight gradient

  /// Filters per tile of `weightGradient`.
  static let gradientFilters = 4
  /// Patch rows per tile of `weightGradient`.
  static let gradientRows = 5

  /// The weight gradient of a convolution:
  /// `dW[f, q] = Σ_p Σ_{j<n} dOut[f, p·ld + j] · patches[q, p·ld + j]`.
  ///
  /// Both operands run contiguously along the contraction, so instead of a GEMM (which would
  /// have to transpose the im2col matrix into its panels) each 4x5 tile of `dW` keeps twenty
  /// `SIMD16` sums over the samples while the positions stream past, and adds their lanes at the
  /// end. A tile is computed by one thread in a fixed order, so the result does not depend on
  /// the thread count.
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
          gradientTile(
            outputGradient: outputGradient, filters: filters, firstFilter: filterTile * gradientFilters,
            patches: patches, firstRow: rowTile * gradientRows, count: n, zeros: UnsafePointer(zeros.baseAddress!),
            into: weightGradient)
        }
      }
    }
  }

  /// Four filters by five patch rows of `weightGradient`. Rows past the end repeat the last
  /// one and are not stored.
  private static func gradientTile(
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
    let filterCount = min(gradientFilters, filters - firstFilter)
    let rowCount = min(gradientRows, g.patchSize - firstRow)
    @inline(__always) func put(_ f: Int, _ r: Int, _ sum: V) {
      if f < filterCount && r < rowCount { weightGradient[(firstFilter + f) * g.patchSize + firstRow + r] = sum.sum() }
    }
    put(0, 0, c00); put(0, 1, c01); put(0, 2, c02); put(0, 3, c03); put(0, 4, c04)
    put(1, 0, c10); put(1, 1, c11); put(1, 2, c12); put(1, 3, c13); put(1, 4, c14)
    put(2, 0, c20); put(2, 1, c21); put(2, 2, c22); put(2, 3, c23); put(2, 4, c24)
    put(3, 0, c30); put(3, 1, c31); put(3, 2, c32); put(3, 3, c33); put(3, 4, c34)
  }

  // MARK: - Vector helpers

  @inline(__always)
  static func load(_ pointer: UnsafePointer<Float>) -> V {
    UnsafeRawPointer(pointer).loadUnaligned(as: V.self)
  }

  @inline(__always)
  static func store(_ value: V, _ pointer: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(pointer).storeBytes(of: value, as: V.self)
  }

  /// The first `count` (< 16) floats at `pointer`, zeros in the other lanes.
  @inline(__always)
  static func loadPartial(_ pointer: UnsafePointer<Float>, _ count: Int) -> V {
    var value = V()
    for lane in 0..<count { value[lane] = pointer[lane] }
    return value
  }

  /// `target[j] = source[j]` for `j < n`, inline (short runs cost more through `memmove`).
  @inline(__always)
  static func copy(_ source: UnsafePointer<Float>, to target: UnsafeMutablePointer<Float>, count n: Int) {
    var j = 0
    while j + 16 <= n {
      store(load(source + j), target + j)
      j += 16
    }
    while j < n {
      target[j] = source[j]
      j += 1
    }
  }

  /// `target[j] += source[j]` for `j < n`.
  @inline(__always)
  static func add(_ source: UnsafePointer<Float>, into target: UnsafeMutablePointer<Float>, count n: Int) {
    var j = 0
    while j + 16 <= n {
      store(load(target + j) + load(source + j), target + j)
      j += 16
    }
    while j < n {
      target[j] += source[j]
      j += 1
    }
  }
}
