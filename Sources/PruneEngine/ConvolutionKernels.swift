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
