/// Single-sample (batch 1) kernels: a layer applied to one input vector.
///
/// With one sample there is no batch to vectorise over, so the dense kernel is a matrix-vector
/// product limited by how fast the weights stream from cache, and the sparse kernel reads only
/// the nonzero weights of the columns whose input is not zero.
enum VectorKernels {
  typealias V = SIMD16<Float>

  /// `x[f] = pixels[f] / 255` for `f` in `0..<count`, exactly as `Dataset.gatherFeatureMajor`
  /// scales (a true division, vectorised).
  static func scalePixels(_ pixels: UnsafePointer<UInt8>, count: Int, into x: UnsafeMutablePointer<Float>) {
    var f = 0
    while f + 16 <= count {
      let bytes = UnsafeRawPointer(pixels + f).loadUnaligned(as: SIMD16<UInt8>.self)
      let floats =
        V(
          Float(bytes[0]), Float(bytes[1]), Float(bytes[2]), Float(bytes[3]), Float(bytes[4]), Float(bytes[5]),
          Float(bytes[6]), Float(bytes[7]), Float(bytes[8]), Float(bytes[9]), Float(bytes[10]), Float(bytes[11]),
          Float(bytes[12]), Float(bytes[13]), Float(bytes[14]), Float(bytes[15])) / 255
      UnsafeMutableRawPointer(x + f).storeBytes(of: floats, as: V.self)
      f += 16
    }
    while f < count {
      x[f] = Float(pixels[f]) / 255
      f += 1
    }
  }

  /// WeightedLayer matrix-vector product: `y[o] = act(Σ_i W[o, i] · x[i] + b[o])`.
  ///
  /// Four rows at a time share each 16-wide load of `x`; each row's vector accumulator is reduced
  /// by halving (a 4-level tree rather than a 15-add chain).
  ///
  /// - Parameters:
  ///   - weight: row-major `[rows, columns]`.
  /// - Complexity: O(rows · columns).
  static func denseForward(
    weight: UnsafePointer<Float>, rows: Int, columns: Int, x: UnsafePointer<Float>,
    bias: UnsafePointer<Float>, relu: Bool, into y: UnsafeMutablePointer<Float>
  ) {
    let vectorColumns = columns - columns % 16
    var o = 0
    while o + 4 <= rows {
      let r0 = weight + o * columns, r1 = r0 + columns, r2 = r1 + columns, r3 = r2 + columns
      var a0 = V(), a1 = V(), a2 = V(), a3 = V()
      var i = 0
      while i < vectorColumns {
        let xv = load(x + i)
        a0.addProduct(load(r0 + i), xv)
        a1.addProduct(load(r1 + i), xv)
        a2.addProduct(load(r2 + i), xv)
        a3.addProduct(load(r3 + i), xv)
        i += 16
      }
      var s0 = reduce(a0), s1 = reduce(a1), s2 = reduce(a2), s3 = reduce(a3)
      while i < columns {
        s0.addProduct(r0[i], x[i])
        s1.addProduct(r1[i], x[i])
        s2.addProduct(r2[i], x[i])
        s3.addProduct(r3[i], x[i])
        i += 1
      }
      y[o] = activate(s0 + bias[o], relu)
      y[o + 1] = activate(s1 + bias[o + 1], relu)
      y[o + 2] = activate(s2 + bias[o + 2], relu)
      y[o + 3] = activate(s3 + bias[o + 3], relu)
      o += 4
    }
    while o < rows {
      let r = weight + o * columns
      var a = V()
      var i = 0
      while i < vectorColumns {
        a.addProduct(load(r + i), load(x + i))
        i += 16
      }
      var s = reduce(a)
      while i < columns {
        s.addProduct(r[i], x[i])
        i += 1
      }
      y[o] = activate(s + bias[o], relu)
      o += 1
    }
  }

  @inline(__always)
  static func load(_ p: UnsafePointer<Float>) -> V { UnsafeRawPointer(p).loadUnaligned(as: V.self) }

  /// Sum of the lanes by halving.
  @inline(__always)
  static func reduce(_ v: V) -> Float {
    let a = v.lowHalf + v.highHalf
    let b = a.lowHalf + a.highHalf
    let c = b.lowHalf + b.highHalf
    return c[0] + c[1]
  }

  @inline(__always)
  static func activate(_ value: Float, _ relu: Bool) -> Float { relu && value < 0 ? 0 : value }
}

extension SparseMatrix {
  /// Sparse matrix-vector product over the CSC form: `y = act(W · x + b)`.
  ///
  /// The nonzero inputs are listed first (without branches), then each listed column's nonzeros
  /// add `W[o, i] · x[i]` to `y[o]`. Zero inputs (a ReLU's negative side, an image's background)
  /// cost nothing beyond the listing.
  ///
  /// - Parameters:
  ///   - x: `columns` inputs.
  ///   - y: `rows` outputs, overwritten.
  ///   - scratch: room for `columns` `Int32`s.
  /// - Complexity: O(columns + nonzeros in the columns whose input is not zero).
  func forwardVector(
    x: UnsafePointer<Float>, bias: UnsafePointer<Float>, relu: Bool,
    into y: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Int32>
  ) {
    y.update(from: bias, count: rows)
    // Tested on the bits: `x[i] != 0` on floats compiles to a branch, which mispredicts on the
    // random zero pattern of ReLU outputs and images (measured: 1.3 us of LeNet-300-100's first
    // layer per sample, against 0.36 us for this). Shifting out the sign makes -0 zero too.
    var active = 0
    let bits = UnsafeRawPointer(x).assumingMemoryBound(to: UInt32.self)
    for i in 0..<columns {
      scratch[active] = Int32(truncatingIfNeeded: i)
      let magnitude = bits[i] << 1
      active &+= Int(truncatingIfNeeded: (magnitude | (0 &- magnitude)) >> 31)
    }
    columnStarts.withUnsafeBufferPointer { starts in
      columnValues.withUnsafeBufferPointer { values in
        switch rowIndices {
        case .narrow(let indices):
          indices.withUnsafeBufferPointer { indices in
            Self.scatter(
              active: scratch, activeCount: active, x: x, starts: starts.baseAddress!, values: values.baseAddress!,
              rows: indices.baseAddress!, into: y)
          }
        case .wide(let indices):
          indices.withUnsafeBufferPointer { indices in
            Self.scatter(
              active: scratch, activeCount: active, x: x, starts: starts.baseAddress!, values: values.baseAddress!,
              rows: indices.baseAddress!, into: y)
          }
        }
      }
    }
    if relu {
      // A select, not a branch on the sign.
      for o in 0..<rows { y[o] = y[o] < 0 ? 0 : y[o] }
    }
  }

  @inline(__always)
  private static func scatter<Index: FixedWidthInteger & UnsignedInteger>(
    active: UnsafePointer<Int32>, activeCount: Int, x: UnsafePointer<Float>, starts: UnsafePointer<Int32>,
    values: UnsafePointer<Float>, rows: UnsafePointer<Index>, into y: UnsafeMutablePointer<Float>
  ) {
    for k in 0..<activeCount {
      let i = Int(active[k])
      let xi = x[i]
      var entry = Int(starts[i])
      let end = Int(starts[i + 1])
      while entry < end {
        y[Int(rows[entry])].addProduct(values[entry], xi)
        entry += 1
      }
    }
  }
}
