// Max pooling over feature-major images, alongside the convolution kernels.
extension ConvolutionKernels {
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

  /// `output[(c, oy, ox), j]` = the largest input in the window of `(oy, ox)`, for `j < n`.
  /// Channels are shared out among up to `threads` threads.
  /// - Complexity: O(inputFeatures · n).
  static func maxPool(
    _ input: UnsafePointer<Float>, ld: Int, count n: Int, pool p: Pool, into output: UnsafeMutablePointer<Float>,
    threads: Int = 1
  ) {
    forEachWindow(p, samples: n, threads: threads) { out, first in
      let target = output + out * ld
      let source = input + first * ld
      var j = 0
      while j + 16 <= n {
        var best = load(source + j)
        for ky in 0..<p.size {
          for kx in 0..<p.size where ky + kx > 0 {
            // `pointwiseMax` runs lane by lane; a compare and blend is two instructions.
            let candidate = load(source + (ky * p.width + kx) * ld + j)
            best.replace(with: candidate, where: candidate .> best)
          }
        }
        store(best, target + j)
        j += 16
      }
      while j < n {
        var best = source[j]
        for ky in 0..<p.size {
          for kx in 0..<p.size where ky + kx > 0 { best = max(best, source[(ky * p.width + kx) * ld + j]) }
        }
        target[j] = best
        j += 1
      }
    }
  }

  /// The gradient of `maxPool` with respect to its input: each output's gradient goes to the
  /// first input of its window (in row-major order) equal to the maximum, as PyTorch routes it.
  /// Overwrites `inputGradient`, or adds to it with `accumulate`.
  /// - Complexity: O(inputFeatures · n).
  static func maxPoolBackward(
    input: UnsafePointer<Float>, output: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
    ld: Int, count n: Int, pool p: Pool, accumulate: Bool = false, into inputGradient: UnsafeMutablePointer<Float>,
    threads: Int = 1
  ) {
    if !accumulate && (p.height % p.size != 0 || p.width % p.size != 0) {
      // Rows and columns that no window covers get no gradient.
      for row in 0..<p.inputFeatures { (inputGradient + row * ld).update(repeating: 0, count: n) }
    }
    forEachWindow(p, samples: n, threads: threads) { out, first in
      var j = 0
      while j + 16 <= n {
        let best = load(output + out * ld + j)
        let gradient = load(outputGradient + out * ld + j)
        var routed = SIMDMask<SIMD16<Int32>>(repeating: false)
        for ky in 0..<p.size {
          for kx in 0..<p.size {
            let row = first + ky * p.width + kx
            let hit = (load(input + row * ld + j) .== best) .& .!routed
            routed .|= hit
            let share = V().replacing(with: gradient, where: hit)
            let target = inputGradient + row * ld + j
            store(accumulate ? load(target) + share : share, target)
          }
        }
        j += 16
      }
      while j < n {
        let best = output[out * ld + j]
        let gradient = outputGradient[out * ld + j]
        var routed = false
        for ky in 0..<p.size {
          for kx in 0..<p.size {
            let row = first + ky * p.width + kx
            let hit = !routed && input[row * ld + j] == best
            routed = routed || hit
            let share: Float = hit ? gradient : 0
            inputGradient[row * ld + j] = accumulate ? inputGradient[row * ld + j] + share : share
          }
        }
        j += 1
      }
    }
  }

  /// Calls `body(outputRow, firstInputRow)` for every pooling window, channels shared out among
  /// up to `threads` threads when there is enough work.
  @inline(__always)
  private static func forEachWindow(_ p: Pool, samples n: Int, threads: Int, _ body: (Int, Int) -> Void) {
    let parts = p.inputFeatures * n >= 1 << 16 ? min(max(1, threads), p.channels) : 1
    parallelFor(parts) { part in
      for c in (p.channels * part / parts)..<(p.channels * (part + 1) / parts) {
        for oy in 0..<p.outputHeight {
          for ox in 0..<p.outputWidth {
            body((c * p.outputHeight + oy) * p.outputWidth + ox, (c * p.height + oy * p.size) * p.width + ox * p.size)
          }
        }
      }
    }
  }
}
