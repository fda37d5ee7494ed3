import Testing
@testable import PruneEngine

/// Naive loops over `[features, ld]` feature-major images, in Double: what the convolution and
/// pooling kernels must compute.
private enum Reference {
  typealias Geometry = ConvolutionKernels.Geometry

  /// The input pixel row weight `(c, ky, kx)` meets at output `(oy, ox)`, nil in the padding.
  static func pixel(_ g: Geometry, c: Int, ky: Int, kx: Int, oy: Int, ox: Int) -> Int? {
    let y = oy * g.stride + ky - g.padding
    let x = ox * g.stride + kx - g.padding
    guard y >= 0, y < g.height, x >= 0, x < g.width else { return nil }
    return (c * g.height + y) * g.width + x
  }

  /// `out[(f, oy, ox), j] = act(Σ_{c,ky,kx} W[f, c, ky, kx] · in[(c, y, x), j] + b[f])`.
  static func convolution(
    _ input: [Float], ld: Int, n: Int, _ g: Geometry, weight: [Float], bias: [Float], relu: Bool
  ) -> [Float] {
    let filters = bias.count
    var output = [Float](repeating: 0, count: filters * g.positions * ld)
    for f in 0..<filters {
      for oy in 0..<g.outputHeight {
        for ox in 0..<g.outputWidth {
          for j in 0..<n {
            var sum = 0.0
            for c in 0..<g.channels {
              for ky in 0..<g.kernelHeight {
                for kx in 0..<g.kernelWidth {
                  guard let row = pixel(g, c: c, ky: ky, kx: kx, oy: oy, ox: ox) else { continue }
                  let w = weight[((f * g.channels + c) * g.kernelHeight + ky) * g.kernelWidth + kx]
                  sum += Double(w) * Double(input[row * ld + j])
                }
              }
            }
            let value = Float(sum) + bias[f]
            output[((f * g.outputHeight + oy) * g.outputWidth + ox) * ld + j] = relu ? max(0, value) : value
          }
        }
      }
    }
    return output
  }

  /// `dW[f, c, ky, kx] = Σ_{oy, ox, j} dOut[(f, oy, ox), j] · in[(c, y, x), j]`.
  static func weightGradient(
    _ input: [Float], outputGradient: [Float], ld: Int, n: Int, _ g: Geometry, filters: Int
  ) -> [Float] {
    var gradient = [Float](repeating: 0, count: filters * g.patchSize)
    for f in 0..<filters {
      for c in 0..<g.channels {
        for ky in 0..<g.kernelHeight {
          for kx in 0..<g.kernelWidth {
            var sum = 0.0
            for oy in 0..<g.outputHeight {
              for ox in 0..<g.outputWidth {
                guard let row = pixel(g, c: c, ky: ky, kx: kx, oy: oy, ox: ox) else { continue }
                let out = (f * g.outputHeight + oy) * g.outputWidth + ox
                for j in 0..<n { sum += Double(outputGradient[out * ld + j]) * Double(input[row * ld + j]) }
              }
            }
            gradient[((f * g.channels + c) * g.kernelHeight + ky) * g.kernelWidth + kx] = Float(sum)
          }
        }
      }
    }
    return gradient
  }

  /// `dIn[(c, y, x), j] = Σ W[f, c, ky, kx] · dOut[(f, oy, ox), j]` over the outputs whose
  /// window puts weight `(c, ky, kx)` on pixel `(y, x)`.
  static func inputGradient(
    weight: [Float], outputGradient: [Float], ld: Int, n: Int, _ g: Geometry, filters: Int
  ) -> [Float] {
    var sums = [Double](repeating: 0, count: g.inputFeatures * ld)
    for f in 0..<filters {
      for c in 0..<g.channels {
        for ky in 0..<g.kernelHeight {
          for kx in 0..<g.kernelWidth {
            let w = Double(weight[((f * g.channels + c) * g.kernelHeight + ky) * g.kernelWidth + kx])
            for oy in 0..<g.outputHeight {
              for ox in 0..<g.outputWidth {
                guard let row = pixel(g, c: c, ky: ky, kx: kx, oy: oy, ox: ox) else { continue }
                let out = (f * g.outputHeight + oy) * g.outputWidth + ox
                for j in 0..<n { sums[row * ld + j] += w * Double(outputGradient[out * ld + j]) }
              }
            }
          }
        }
      }
    }
    return sums.map { Float($0) }
  }

  /// The maximum of each window, and the row of its first maximum.
  static func maxPool(
    _ input: [Float], ld: Int, n: Int, _ p: ConvolutionKernels.Pool
  ) -> (output: [Float], argmax: [Int]) {
    var output = [Float](repeating: 0, count: p.outputFeatures * ld)
    var argmax = [Int](repeating: 0, count: p.outputFeatures * ld)
    for c in 0..<p.channels {
      for oy in 0..<p.outputHeight {
        for ox in 0..<p.outputWidth {
          let out = (c * p.outputHeight + oy) * p.outputWidth + ox
          for j in 0..<n {
            var best = -Float.infinity
            var bestRow = -1
            for ky in 0..<p.size {
              for kx in 0..<p.size {
                let row = (c * p.height + oy * p.size + ky) * p.width + ox * p.size + kx
                if input[row * ld + j] > best {
                  best = input[row * ld + j]
                  bestRow = row
                }
              }
            }
            output[out * ld + j] = best
            argmax[out * ld + j] = bestRow
          }
        }
      }
    }
    return (output, argmax)
  }
}

/// A convolution case: geometry, filters, samples and row stride.
private struct ConvolutionCase: CustomStringConvertible, Sendable {
  var channels: Int
  var height: Int
  var width: Int
  var kernel: Int
  var stride: Int
  var padding: Int
  var filters: Int
  var samples: Int
  var ld: Int

  var geometry: ConvolutionKernels.Geometry {
    ConvolutionKernels.Geometry(
      channels: channels, height: height, width: width, kernelHeight: kernel, kernelWidth: kernel, stride: stride,
      padding: padding)
  }

  var description: String {
    "\(channels)x\(height)x\(width) k\(kernel) s\(stride) p\(padding), \(filters) filters, n \(samples) ld \(ld)"
  }

  /// Odd image sizes, stride 2, padding 1, sample counts that are not multiples of 16 (a last
  /// chunk shorter and longer than 8), a row stride wider than the samples (as in inference), a
  /// K beyond one GEMM K block (300 filters on the input gradient), and one case large enough
  /// for every threaded path.
  static let all: [ConvolutionCase] = [
    ConvolutionCase(channels: 2, height: 5, width: 7, kernel: 3, stride: 2, padding: 1, filters: 3, samples: 5, ld: 5),
    ConvolutionCase(
      channels: 1, height: 6, width: 6, kernel: 5, stride: 1, padding: 0, filters: 5, samples: 20, ld: 20),
    ConvolutionCase(channels: 3, height: 4, width: 5, kernel: 2, stride: 1, padding: 1, filters: 6, samples: 7, ld: 16),
    ConvolutionCase(
      channels: 1, height: 3, width: 3, kernel: 2, stride: 1, padding: 0, filters: 300, samples: 3, ld: 3),
    ConvolutionCase(
      channels: 4, height: 9, width: 9, kernel: 3, stride: 1, padding: 1, filters: 9, samples: 40, ld: 40),
    ConvolutionCase(
      channels: 2, height: 4, width: 4, kernel: 3, stride: 1, padding: 1, filters: 4, samples: 29, ld: 32),
  ]
}

struct ConvolutionKernelTests {
  private func close(_ got: [Float], _ want: [Float], ld: Int, n: Int, _ label: String) {
    #expect(got.count >= want.count, "\(label): sizes")
    for index in want.indices where index % ld < n {
      #expect(isClose(got[index], want[index], absolute: 1e-4, relative: 1e-4), "\(label) element \(index)")
    }
  }

  @Test(arguments: ConvolutionCase.all)
  fileprivate func gemmOverGatheredPatchesIsTheConvolution(_ test: ConvolutionCase) {
    let g = test.geometry
    let input = randomFloats(g.inputFeatures * test.ld, seed: 1)
    let weight = randomFloats(test.filters * g.patchSize, seed: 2)
    let bias = randomFloats(test.filters, seed: 3)
    for relu in [false, true] {
      let expected = Reference.convolution(
        input, ld: test.ld, n: test.samples, g, weight: weight, bias: bias, relu: relu)
      for threads in [1, 2] {
        var output = [Float](repeating: .nan, count: expected.count)
        input.withUnsafeBufferPointer { input in
          weight.withUnsafeBufferPointer { weight in
            bias.withUnsafeBufferPointer { bias in
              output.withUnsafeMutableBufferPointer { output in
                gemm(
                  m: test.filters, n: g.positions * test.ld, k: g.patchSize,
                  a: .rowMajor(weight.baseAddress!, leadingDimension: g.patchSize),
                  b: .patches(ConvolutionKernels.Patches(image: input.baseAddress!, ld: test.ld, geometry: g)),
                  output: .matrix(
                    output.baseAddress!, ldc: g.positions * test.ld, accumulate: false, bias: bias.baseAddress!,
                    relu: relu),
                  threads: threads)
              }
            }
          }
        }
        close(output, expected, ld: test.ld, n: test.samples, "\(test) relu \(relu) threads \(threads)")
      }
    }
  }

  @Test(arguments: ConvolutionCase.all)
  fileprivate func im2colGathersEveryPatch(_ test: ConvolutionCase) {
    let g = test.geometry
    let input = randomFloats(g.inputFeatures * test.ld, seed: 4)
    var columns = [Float](repeating: .nan, count: g.patchSize * g.positions * test.ld)
    input.withUnsafeBufferPointer { input in
      columns.withUnsafeMutableBufferPointer { columns in
        ConvolutionKernels.im2col(
          input.baseAddress!, ld: test.ld, count: test.samples, geometry: g, into: columns.baseAddress!)
      }
    }
    var patchRow = 0
    for c in 0..<g.channels {
      for ky in 0..<g.kernelHeight {
        for kx in 0..<g.kernelWidth {
          for oy in 0..<g.outputHeight {
            for ox in 0..<g.outputWidth {
              for j in 0..<test.samples {
                let got = columns[(patchRow * g.positions + oy * g.outputWidth + ox) * test.ld + j]
                let want = Reference.pixel(g, c: c, ky: ky, kx: kx, oy: oy, ox: ox).map { input[$0 * test.ld + j] } ?? 0
                #expect(got == want, "\(test): row \(patchRow) position (\(oy), \(ox)) sample \(j)")
              }
            }
          }
          patchRow += 1
        }
      }
    }
  }

  @Test(arguments: ConvolutionCase.all)
  fileprivate func weightGradientMatchesTheNaiveSum(_ test: ConvolutionCase) {
    let g = test.geometry
    let input = randomFloats(g.inputFeatures * test.ld, seed: 5)
    let outputGradient = randomFloats(test.filters * g.positions * test.ld, seed: 6)
    let expected = Reference.weightGradient(
      input, outputGradient: outputGradient, ld: test.ld, n: test.samples, g, filters: test.filters)
    var results: [[Float]] = []
    for threads in [1, 2] {
      var gradient = [Float](repeating: .nan, count: expected.count)
      input.withUnsafeBufferPointer { input in
        outputGradient.withUnsafeBufferPointer { outputGradient in
          gradient.withUnsafeMutableBufferPointer { gradient in
            ConvolutionKernels.weightGradient(
              outputGradient: outputGradient.baseAddress!, filters: test.filters,
              patches: ConvolutionKernels.Patches(image: input.baseAddress!, ld: test.ld, geometry: g),
              count: test.samples, into: gradient.baseAddress!, threads: threads)
          }
        }
      }
      close(gradient, expected, ld: 1, n: 1, "\(test) threads \(threads)")
      results.append(gradient)
    }
    #expect(results[0].map(\.bitPattern) == results[1].map(\.bitPattern), "\(test): depends on the thread count")
  }

  /// Builds with AVX-512 compute the weight gradient in 4x5 tiles, others in 3x4 tiles of
  /// lane halves; a model must train to the same bits on both.
  @Test(arguments: ConvolutionCase.all)
  fileprivate func bothWeightGradientTilesGiveTheSameBits(_ test: ConvolutionCase) {
    typealias Tile = (
      UnsafePointer<Float>, Int, Int, ConvolutionKernels.Patches, Int, Int, UnsafePointer<Float>, UnsafeMutablePointer<Float>
    ) -> Void
    let g = test.geometry
    let input = randomFloats(g.inputFeatures * test.ld, seed: 5)
    let outputGradient = randomFloats(test.filters * g.positions * test.ld, seed: 6)
    let zeros = [Float](repeating: 0, count: test.samples)
    func gradient(_ size: (filters: Int, rows: Int), _ tile: Tile) -> [UInt32] {
      var gradient = [Float](repeating: .nan, count: test.filters * g.patchSize)
      input.withUnsafeBufferPointer { input in
        outputGradient.withUnsafeBufferPointer { outputGradient in
          zeros.withUnsafeBufferPointer { zeros in
            gradient.withUnsafeMutableBufferPointer { gradient in
              let patches = ConvolutionKernels.Patches(image: input.baseAddress!, ld: test.ld, geometry: g)
              for firstFilter in stride(from: 0, to: test.filters, by: size.filters) {
                for firstRow in stride(from: 0, to: g.patchSize, by: size.rows) {
                  tile(
                    outputGradient.baseAddress!, test.filters, firstFilter, patches, firstRow, test.samples,
                    zeros.baseAddress!, gradient.baseAddress!)
                }
              }
            }
          }
        }
      }
      return gradient.map(\.bitPattern)
    }
    let wide = gradient(ConvolutionKernels.gradientTileSize) {
      ConvolutionKernels.gradientTile(
        outputGradient: $0, filters: $1, firstFilter: $2, patches: $3, firstRow: $4, count: $5, zeros: $6, into: $7)
    }
    let narrow = gradient(ConvolutionKernels.narrowGradientTileSize) {
      ConvolutionKernels.narrowGradientTile(
        outputGradient: $0, filters: $1, firstFilter: $2, patches: $3, firstRow: $4, count: $5, zeros: $6, into: $7)
    }
    #expect(!wide.contains(Float.nan.bitPattern))
    #expect(wide == narrow, "\(test)")
  }

  /// The input gradient, overwriting the image gradient or added to what it holds.
  @Test(arguments: ConvolutionCase.all)
  fileprivate func inputGradientFoldsBackIntoTheImage(_ test: ConvolutionCase) {
    let g = test.geometry
    let weight = randomFloats(test.filters * g.patchSize, seed: 7)
    let outputGradient = randomFloats(test.filters * g.positions * test.ld, seed: 8)
    let folded = Reference.inputGradient(
      weight: weight, outputGradient: outputGradient, ld: test.ld, n: test.samples, g, filters: test.filters)
    let held = randomFloats(folded.count, seed: 9)
    for accumulate in [false, true] {
      let expected = accumulate ? zip(held, folded).map { $0 + $1 } : folded
      var results: [[Float]] = []
      for threads in [1, 2] {
        var gradient = accumulate ? held : [Float](repeating: .nan, count: expected.count)
        weight.withUnsafeBufferPointer { weight in
          outputGradient.withUnsafeBufferPointer { outputGradient in
            gradient.withUnsafeMutableBufferPointer { gradient in
              gemm(
                m: g.patchSize, n: g.positions * test.ld, k: test.filters,
                a: .transposed(weight.baseAddress!, leadingDimension: g.patchSize),
                b: .matrix(.rowMajor(outputGradient.baseAddress!, leadingDimension: g.positions * test.ld)),
                output: .image(
                  ConvolutionKernels.ImageGradient(
                    gradient: gradient.baseAddress!, ld: test.ld, geometry: g, accumulate: accumulate)),
                threads: threads)
            }
          }
        }
        close(gradient, expected, ld: test.ld, n: test.samples, "\(test) accumulate \(accumulate) threads \(threads)")
        results.append(gradient)
      }
      #expect(results[0].map(\.bitPattern) == results[1].map(\.bitPattern), "\(test): depends on the thread count")
    }
  }

  /// Pooling cases: channels, height, width, size, samples, row stride. Odd sizes drop a last
  /// partial window, as PyTorch does.
  static let poolCases: [(channels: Int, height: Int, width: Int, size: Int, n: Int, ld: Int)] = [
    (2, 4, 4, 2, 5, 5), (3, 5, 7, 2, 20, 20), (1, 7, 6, 3, 17, 32), (20, 24, 24, 2, 64, 64),
  ]

  @Test func maxPoolTakesEachWindowsMaximum() {
    for (index, test) in Self.poolCases.enumerated() {
      let p = ConvolutionKernels.Pool(channels: test.channels, height: test.height, width: test.width, size: test.size)
      let input = randomFloats(p.inputFeatures * test.ld, seed: UInt64(10 + index))
      let (expected, _) = Reference.maxPool(input, ld: test.ld, n: test.n, p)
      for threads in [1, 2] {
        var output = [Float](repeating: .nan, count: expected.count)
        input.withUnsafeBufferPointer { input in
          output.withUnsafeMutableBufferPointer { output in
            ConvolutionKernels.maxPool(
              input.baseAddress!, ld: test.ld, count: test.n, pool: p, into: output.baseAddress!, threads: threads)
          }
        }
        for element in expected.indices where element % test.ld < test.n {
          #expect(output[element] == expected[element], "case \(index) threads \(threads) element \(element)")
        }
      }
    }
  }

  /// Each window's gradient goes to its first maximum only (ties included), overwriting the
  /// input gradient or added to what it holds.
  @Test func maxPoolBackwardRoutesToTheFirstMaximum() {
    for (index, test) in Self.poolCases.enumerated() {
      let p = ConvolutionKernels.Pool(channels: test.channels, height: test.height, width: test.width, size: test.size)
      // Values from a few levels, so windows hold ties, zeros and non-positive maxima.
      var generator = SeededGenerator(seed: UInt64(20 + index))
      let input = (0..<(p.inputFeatures * test.ld)).map { _ in Float(Int(generator.next() % 5)) - 3 }
      let (output, argmax) = Reference.maxPool(input, ld: test.ld, n: test.n, p)
      let outputGradient = randomFloats(p.outputFeatures * test.ld, seed: UInt64(30 + index))
      let held = randomFloats(input.count, seed: UInt64(40 + index))
      for accumulate in [false, true] {
        var expected = accumulate ? held : [Float](repeating: 0, count: input.count)
        for out in 0..<p.outputFeatures {
          for j in 0..<test.n {
            expected[argmax[out * test.ld + j] * test.ld + j] += outputGradient[out * test.ld + j]
          }
        }
        for threads in [1, 2] {
          var gradient = accumulate ? held : [Float](repeating: .nan, count: input.count)
          input.withUnsafeBufferPointer { input in
            output.withUnsafeBufferPointer { output in
              outputGradient.withUnsafeBufferPointer { outputGradient in
                gradient.withUnsafeMutableBufferPointer { gradient in
                  ConvolutionKernels.maxPoolBackward(
                    input: input.baseAddress!, output: output.baseAddress!, outputGradient: outputGradient.baseAddress!,
                    ld: test.ld, count: test.n, pool: p, accumulate: accumulate, into: gradient.baseAddress!,
                    threads: threads)
                }
              }
            }
          }
          for element in expected.indices where element % test.ld < test.n {
            #expect(
              gradient[element] == expected[element],
              "case \(index) accumulate \(accumulate) threads \(threads) element \(element)")
          }
        }
      }
    }
  }
}
