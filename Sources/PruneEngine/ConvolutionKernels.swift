/// Convolution and max-pooling kernels over feature-major activations.
///
/// An image batch is stored as every other activation is, `[features, batch]` with the features
/// in PyTorch's `[channels, height, width]` order, so row `(c, y, x)` holds pixel `(y, x)` of
/// channel `c` for every sample and `nn.Flatten` costs nothing. A convolution runs as one GEMM
/// over an im2col matrix whose rows are `(channel, ky, kx)` and whose columns are
/// `(oy, ox, sample)`: each of its row segments is a contiguous run of samples copied from one
/// input row, and the GEMM's output `[filters, (oy, ox, sample)]` is already the feature-major
/// output `[(filter, oy, ox), sample]`.
enum ConvolutionKernels {
  typealias V = SIMD16<Float>

  /// Sizes of a convolution on one input shape.
  struct Geometry: Equatable {
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
  }

  /// Fills the im2col matrix `columns[(c, ky, kx), (oy, ox, j)]` with the input pixel each
  /// weight meets, zero where the window reaches into the padding.
  ///
  /// `input` rows are `ld` apart and hold `n` samples; `columns` rows are `positions · ld` apart
  /// and position `p`'s samples start at `p · ld`.
  /// - Complexity: O(patchSize · positions · n).
  static func im2col(
    _ input: UnsafePointer<Float>, ld: Int, count n: Int, geometry g: Geometry,
    into columns: UnsafeMutablePointer<Float>
  ) {
    let rowStride = g.positions * ld
    for c in 0..<g.channels {
      for ky in 0..<g.kernelHeight {
        for kx in 0..<g.kernelWidth {
          let row = columns + ((c * g.kernelHeight + ky) * g.kernelWidth + kx) * rowStride
          for oy in 0..<g.outputHeight {
            let y = oy * g.stride + ky - g.padding
            for ox in 0..<g.outputWidth {
              let x = ox * g.stride + kx - g.padding
              let target = row + (oy * g.outputWidth + ox) * ld
              if y >= 0, y < g.height, x >= 0, x < g.width {
                target.update(from: input + ((c * g.height + y) * g.width + x) * ld, count: n)
              } else {
                target.update(repeating: 0, count: n)
              }
            }
          }
        }
      }
    }
  }

  /// The adjoint of `im2col`: `inputGradient[(c, y, x), j]` = the sum of the column entries
  /// that `im2col` copied from that pixel. Overwrites `inputGradient`.
  /// - Complexity: O(patchSize · positions · n).
  static func col2im(
    _ columns: UnsafePointer<Float>, ld: Int, count n: Int, geometry g: Geometry,
    into inputGradient: UnsafeMutablePointer<Float>
  ) {
    for row in 0..<(g.channels * g.height * g.width) { (inputGradient + row * ld).update(repeating: 0, count: n) }
    let rowStride = g.positions * ld
    for c in 0..<g.channels {
      for ky in 0..<g.kernelHeight {
        for kx in 0..<g.kernelWidth {
          let row = columns + ((c * g.kernelHeight + ky) * g.kernelWidth + kx) * rowStride
          for oy in 0..<g.outputHeight {
            let y = oy * g.stride + ky - g.padding
            guard y >= 0, y < g.height else { continue }
            for ox in 0..<g.outputWidth {
              let x = ox * g.stride + kx - g.padding
              guard x >= 0, x < g.width else { continue }
              add(row + (oy * g.outputWidth + ox) * ld, into: inputGradient + ((c * g.height + y) * g.width + x) * ld, count: n)
            }
          }
        }
      }
    }
  }

  /// `target[j] += source[j]` for `j < n`.
  @inline(__always)
  private static func add(_ source: UnsafePointer<Float>, into target: UnsafeMutablePointer<Float>, count n: Int) {
    var j = 0
    while j + 16 <= n {
      let sum = UnsafeRawPointer(target + j).loadUnaligned(as: V.self) + UnsafeRawPointer(source + j).loadUnaligned(as: V.self)
      UnsafeMutableRawPointer(target + j).storeBytes(of: sum, as: V.self)
      j += 16
    }
    while j < n {
      target[j] += source[j]
      j += 1
    }
  }

  /// Sizes of a max pooling over `size`x`size` windows with stride `size` (PyTorch's
  /// `MaxPool2d(size)`, which drops a last partial window).
  struct Pool: Equatable {
    var channels: Int
    var height: Int
    var width: Int
    var size: Int

    var outputHeight: Int { height / size }
    var outputWidth: Int { width / size }
    var inputFeatures: Int { channels * height * width }
    var outputFeatures: Int { channels * outputHeight * outputWidth }
  }

  /// `output[(c, oy, ox), j]` = the largest input in the window of `(oy, ox)`.
  /// - Complexity: O(inputFeatures · n).
  static func maxPool(
    _ input: UnsafePointer<Float>, ld: Int, count n: Int, pool p: Pool, into output: UnsafeMutablePointer<Float>
  ) {
    let window = windowOffsets(p)
    forEachWindow(p) { out, first in
      let target = output + out * ld
      let source = input + first * ld
      var j = 0
      while j + 16 <= n {
        var best = UnsafeRawPointer(source + j).loadUnaligned(as: V.self)
        for offset in window.dropFirst() {
          best = pointwiseMax(best, UnsafeRawPointer(source + offset * ld + j).loadUnaligned(as: V.self))
        }
        UnsafeMutableRawPointer(target + j).storeBytes(of: best, as: V.self)
        j += 16
      }
      while j < n {
        var best = source[j]
        for offset in window.dropFirst() { best = max(best, source[offset * ld + j]) }
        target[j] = best
        j += 1
      }
    }
  }

  /// The gradient of `maxPool` with respect to its input: each output's gradient goes to the
  /// first input of its window (in row-major order) equal to the maximum, as PyTorch routes it.
  /// Overwrites `inputGradient`.
  /// - Complexity: O(inputFeatures · n).
  static func maxPoolBackward(
    input: UnsafePointer<Float>, output: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
    ld: Int, count n: Int, pool p: Pool, into inputGradient: UnsafeMutablePointer<Float>
  ) {
    for row in 0..<p.inputFeatures { (inputGradient + row * ld).update(repeating: 0, count: n) }
    let window = windowOffsets(p)
    forEachWindow(p) { out, first in
      var j = 0
      while j + 16 <= n {
        let best = UnsafeRawPointer(output + out * ld + j).loadUnaligned(as: V.self)
        let gradient = UnsafeRawPointer(outputGradient + out * ld + j).loadUnaligned(as: V.self)
        var routed = SIMDMask<SIMD16<Int32>>(repeating: false)
        for offset in window {
          let row = first + offset
          let hit = (UnsafeRawPointer(input + row * ld + j).loadUnaligned(as: V.self) .== best) .& .!routed
          routed .|= hit
          UnsafeMutableRawPointer(inputGradient + row * ld + j).storeBytes(
            of: V(repeating: 0).replacing(with: gradient, where: hit), as: V.self)
        }
        j += 16
      }
      while j < n {
        let best = output[out * ld + j]
        if let offset = window.first(where: { input[(first + $0) * ld + j] == best }) {
          inputGradient[(first + offset) * ld + j] = outputGradient[out * ld + j]
        }
        j += 1
      }
    }
  }

  /// Calls `body(outputRow, firstInputRow)` for every pooling window.
  @inline(__always)
  private static func forEachWindow(_ p: Pool, _ body: (Int, Int) -> Void) {
    for c in 0..<p.channels {
      for oy in 0..<p.outputHeight {
        for ox in 0..<p.outputWidth {
          body((c * p.outputHeight + oy) * p.outputWidth + ox, (c * p.height + oy * p.size) * p.width + ox * p.size)
        }
      }
    }
  }

  /// The input rows of a window relative to its first row, in row-major order.
  private static func windowOffsets(_ p: Pool) -> [Int] {
    (0..<(p.size * p.size)).map { ($0 / p.size) * p.width + $0 % p.size }
  }
}
