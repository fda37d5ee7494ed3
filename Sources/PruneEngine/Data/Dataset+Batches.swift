// MARK: - Batch conversion

extension Dataset {
  /// Writes samples `indices` in feature-major layout, ready to be a GEMM operand:
  /// `destination[f * ld + j] = x(indices[j], f)` for `j` in `0..<indices.count` and `f` in
  /// `0..<featureCount`, where `x` is a byte divided by 255 or a float as stored.
  ///
  /// - Parameters:
  ///   - indices: sample numbers, each in `0..<count`.
  ///   - destination: at least `(featureCount - 1) * ld + indices.count` floats.
  ///   - ld: the distance between consecutive features in `destination`, at least
  ///     `indices.count`.
  /// - Complexity: O(indices.count · featureCount), no allocation.
  public func gatherFeatureMajor(
    _ indices: UnsafeBufferPointer<Int32>, into destination: UnsafeMutablePointer<Float>, leadingDimension ld: Int
  ) {
    let count = count
    gather(sampleCount: indices.count, into: destination, leadingDimension: ld) { j in
      let sample = Int(indices[j])
      precondition(sample >= 0 && sample < count, "sample \(sample) is outside 0..<\(count)")
      return sample
    }
  }

  /// Writes the contiguous samples `range` as `gatherFeatureMajor(_:into:leadingDimension:)` does
  /// (used by evaluation): `destination[f * ld + j] = x(range.lowerBound + j, f)`.
  ///
  /// - Complexity: O(range.count · featureCount), no allocation.
  public func gatherFeatureMajor(
    range: Range<Int>, into destination: UnsafeMutablePointer<Float>, leadingDimension ld: Int
  ) {
    precondition(range.lowerBound >= 0 && range.upperBound <= count, "samples \(range) outside 0..<\(count)")
    gather(sampleCount: range.count, into: destination, leadingDimension: ld) { range.lowerBound + $0 }
  }

  /// Writes sample `sample` as one column of network input: `destination[f] = x(sample, f)`.
  ///
  /// - Complexity: O(featureCount), no allocation.
  func writeSample(_ sample: Int, into destination: UnsafeMutablePointer<Float>) {
    precondition(sample >= 0 && sample < count, "sample \(sample) is outside 0..<\(count)")
    let features = featureCount
    switch pixels {
    case .bytes(let bytes):
      bytes.withUnsafeBufferPointer { bytes in
        VectorKernels.scalePixels(bytes.baseAddress! + sample * features, count: features, into: destination)
      }
    case .floats(let floats):
      floats.withUnsafeBufferPointer { floats in
        destination.update(from: floats.baseAddress! + sample * features, count: features)
      }
    }
  }

  /// The transpose shared by both gathers; `sample(j)` is the sample written to column `j`
  /// (called once per sample, never per pixel).
  @inline(__always)
  private func gather(
    sampleCount n: Int, into destination: UnsafeMutablePointer<Float>, leadingDimension ld: Int,
    sample: (Int) -> Int
  ) {
    precondition(ld >= n, "leading dimension \(ld) is smaller than the \(n) samples")
    switch pixels {
    case .bytes(let bytes):
      bytes.withUnsafeBufferPointer { bytes in
        guard let base = bytes.baseAddress, n > 0 else { return }
        gatherBytes(base, sampleCount: n, into: destination, leadingDimension: ld, sample: sample)
      }
    case .floats(let floats):
      floats.withUnsafeBufferPointer { floats in
        guard let base = floats.baseAddress, n > 0 else { return }
        gatherFloats(base, sampleCount: n, into: destination, leadingDimension: ld, sample: sample)
      }
    }
  }

  /// The byte gather: samples go 16 at a time, features 16 at a time: a 16x16 tile of bytes is
  /// loaded as 16 row vectors, transposed in registers, widened, scaled and stored as 16
  /// `SIMD16<Float>`, each a whole 64-byte cache line of the destination. Features and samples
  /// beyond a multiple of 16 are written one at a time.
  @inline(__always)
  private func gatherBytes(
    _ base: UnsafePointer<UInt8>, sampleCount n: Int, into destination: UnsafeMutablePointer<Float>,
    leadingDimension ld: Int, sample: (Int) -> Int
  ) {
    let features = featureCount
    let tiledFeatures = features - features % 16
    var j0 = 0
    while j0 + 16 <= n {
      var rows = SIMD16<Int>()
      for k in 0..<16 { rows[k] = sample(j0 + k) * features }
      for f0 in stride(from: 0, to: tiledFeatures, by: 16) {
        Self.transposeTile(UnsafeRawPointer(base + f0), rows: rows, into: destination + f0 * ld + j0, ld: ld)
      }
      for k in 0..<16 {
        for f in tiledFeatures..<features { destination[f * ld + j0 + k] = Float(base[rows[k] + f]) / 255 }
      }
      j0 += 16
    }
    for j in j0..<n {
      let row = base + sample(j) * features
      for f in 0..<features { destination[f * ld + j] = Float(row[f]) / 255 }
    }
  }

  /// The float gather, in the same 16-sample blocks: each feature of a block is one 64-byte
  /// store gathered from 16 sample rows, and the 16 rows stay in L1 while their features are
  /// walked in order.
  @inline(__always)
  private func gatherFloats(
    _ base: UnsafePointer<Float>, sampleCount n: Int, into destination: UnsafeMutablePointer<Float>,
    leadingDimension ld: Int, sample: (Int) -> Int
  ) {
    let features = featureCount
    var j0 = 0
    while j0 + 16 <= n {
      var rows = SIMD16<Int>()
      for k in 0..<16 { rows[k] = sample(j0 + k) * features }
      for f in 0..<features {
        var column = SIMD16<Float>()
        for k in 0..<16 { column[k] = base[rows[k] + f] }
        UnsafeMutableRawPointer(destination + f * ld + j0).storeBytes(of: column, as: SIMD16<Float>.self)
      }
      j0 += 16
    }
    for j in j0..<n {
      let row = base + sample(j) * features
      for f in 0..<features { destination[f * ld + j] = row[f] }
    }
  }

  /// Writes `destination[i * ld + k] = source[rows[k] + i] / 255` for `i`, `k` in `0..<16`.
  @inline(__always)
  private static func transposeTile(
    _ source: UnsafeRawPointer, rows: SIMD16<Int>, into destination: UnsafeMutablePointer<Float>, ld: Int
  ) {
    // v_k holds 16 consecutive features of sample k.
    var v0 = source.loadUnaligned(fromByteOffset: rows[0], as: SIMD16<UInt8>.self)
    var v1 = source.loadUnaligned(fromByteOffset: rows[1], as: SIMD16<UInt8>.self)
    var v2 = source.loadUnaligned(fromByteOffset: rows[2], as: SIMD16<UInt8>.self)
    var v3 = source.loadUnaligned(fromByteOffset: rows[3], as: SIMD16<UInt8>.self)
    var v4 = source.loadUnaligned(fromByteOffset: rows[4], as: SIMD16<UInt8>.self)
    var v5 = source.loadUnaligned(fromByteOffset: rows[5], as: SIMD16<UInt8>.self)
    var v6 = source.loadUnaligned(fromByteOffset: rows[6], as: SIMD16<UInt8>.self)
    var v7 = source.loadUnaligned(fromByteOffset: rows[7], as: SIMD16<UInt8>.self)
    var v8 = source.loadUnaligned(fromByteOffset: rows[8], as: SIMD16<UInt8>.self)
    var v9 = source.loadUnaligned(fromByteOffset: rows[9], as: SIMD16<UInt8>.self)
    var v10 = source.loadUnaligned(fromByteOffset: rows[10], as: SIMD16<UInt8>.self)
    var v11 = source.loadUnaligned(fromByteOffset: rows[11], as: SIMD16<UInt8>.self)
    var v12 = source.loadUnaligned(fromByteOffset: rows[12], as: SIMD16<UInt8>.self)
    var v13 = source.loadUnaligned(fromByteOffset: rows[13], as: SIMD16<UInt8>.self)
    var v14 = source.loadUnaligned(fromByteOffset: rows[14], as: SIMD16<UInt8>.self)
    var v15 = source.loadUnaligned(fromByteOffset: rows[15], as: SIMD16<UInt8>.self)
    // Byte (vector i, lane p) moves to (2(i mod 8) + p / 8, 2(p mod 8) + i / 8): each round
    // rotates the 4-bit vector and lane numbers left by one bit, exchanging their top bits, so
    // after four rounds (i, p) sits at (p, i). The interleaves compile to punpcklbw/punpckhbw.
    for _ in 0..<4 {
      (v0, v1, v2, v3, v4, v5, v6, v7, v8, v9, v10, v11, v12, v13, v14, v15) = (
        low(v0, v8), high(v0, v8), low(v1, v9), high(v1, v9),
        low(v2, v10), high(v2, v10), low(v3, v11), high(v3, v11),
        low(v4, v12), high(v4, v12), low(v5, v13), high(v5, v13),
        low(v6, v14), high(v6, v14), low(v7, v15), high(v7, v15)
      )
    }
    // v_i now holds feature i of the 16 samples.
    let out = UnsafeMutableRawPointer(destination)
    let stride = ld * MemoryLayout<Float>.stride
    out.storeBytes(of: scaled(v0), as: SIMD16<Float>.self)
    (out + stride).storeBytes(of: scaled(v1), as: SIMD16<Float>.self)
    (out + 2 * stride).storeBytes(of: scaled(v2), as: SIMD16<Float>.self)
    (out + 3 * stride).storeBytes(of: scaled(v3), as: SIMD16<Float>.self)
    (out + 4 * stride).storeBytes(of: scaled(v4), as: SIMD16<Float>.self)
    (out + 5 * stride).storeBytes(of: scaled(v5), as: SIMD16<Float>.self)
    (out + 6 * stride).storeBytes(of: scaled(v6), as: SIMD16<Float>.self)
    (out + 7 * stride).storeBytes(of: scaled(v7), as: SIMD16<Float>.self)
    (out + 8 * stride).storeBytes(of: scaled(v8), as: SIMD16<Float>.self)
    (out + 9 * stride).storeBytes(of: scaled(v9), as: SIMD16<Float>.self)
    (out + 10 * stride).storeBytes(of: scaled(v10), as: SIMD16<Float>.self)
    (out + 11 * stride).storeBytes(of: scaled(v11), as: SIMD16<Float>.self)
    (out + 12 * stride).storeBytes(of: scaled(v12), as: SIMD16<Float>.self)
    (out + 13 * stride).storeBytes(of: scaled(v13), as: SIMD16<Float>.self)
    (out + 14 * stride).storeBytes(of: scaled(v14), as: SIMD16<Float>.self)
    (out + 15 * stride).storeBytes(of: scaled(v15), as: SIMD16<Float>.self)
  }

  /// Interleaves the low halves: `a0 b0 a1 b1 ... a7 b7`.
  @inline(__always)
  private static func low(_ a: SIMD16<UInt8>, _ b: SIMD16<UInt8>) -> SIMD16<UInt8> {
    SIMD16(a[0], b[0], a[1], b[1], a[2], b[2], a[3], b[3], a[4], b[4], a[5], b[5], a[6], b[6], a[7], b[7])
  }

  /// Interleaves the high halves: `a8 b8 a9 b9 ... a15 b15`.
  @inline(__always)
  private static func high(_ a: SIMD16<UInt8>, _ b: SIMD16<UInt8>) -> SIMD16<UInt8> {
    SIMD16(a[8], b[8], a[9], b[9], a[10], b[10], a[11], b[11], a[12], b[12], a[13], b[13], a[14], b[14], a[15], b[15])
  }

  /// The bytes as floats divided by 255 (a true division, so every value equals `Float(x) / 255`).
  ///
  /// Lane by lane rather than `SIMD16<Float>(bytes)`, which the compiler leaves as a call to a
  /// generic conversion; this form becomes one `vpmovzxbd` + `vcvtdq2ps`.
  @inline(__always)
  private static func scaled(_ v: SIMD16<UInt8>) -> SIMD16<Float> {
    SIMD16<Float>(
      Float(v[0]), Float(v[1]), Float(v[2]), Float(v[3]), Float(v[4]), Float(v[5]), Float(v[6]), Float(v[7]),
      Float(v[8]), Float(v[9]), Float(v[10]), Float(v[11]), Float(v[12]), Float(v[13]), Float(v[14]), Float(v[15])
    ) / 255
  }
}
