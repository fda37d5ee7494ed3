// MARK: - Batch forward

extension SparseMatrix {
  /// A sparse layer's forward pass over feature-major activations:
  /// `out[o, j] = act(Σ_{nonzero (o, i)} W[o, i] · in[i, j] + b[o])` for `j` in `0..<n`, where
  /// `act` is ReLU when asked and the identity otherwise.
  ///
  /// The result is bitwise equal to the dense GEMM followed by `Kernels.addBias` (see
  /// `SparseMatrix` and `SparseKernels`).
  ///
  /// - Parameters:
  ///   - input: `[columns, n]` with row stride `inputStride` (at least `n`).
  ///   - output: `[rows, n]` with row stride `outputStride`; every element is overwritten.
  ///   - bias: `rows` values.
  /// - Complexity: O(nonzeroCount · n).
  func forward(
    input: UnsafePointer<Float>, inputStride: Int, count n: Int,
    output: UnsafeMutablePointer<Float>, outputStride: Int,
    bias: UnsafePointer<Float>, relu: Bool
  ) {
    guard n > 0, rows > 0 else { return }
    rowStarts.withUnsafeBufferPointer { starts in
      values.withUnsafeBufferPointer { values in
        let valuePointer = values.baseAddress!
        switch columnIndices {
        case .narrow(let indices):
          indices.withUnsafeBufferPointer { indices in
            SparseKernels.forward(
              SparseKernels.Operands(
                rows: rows, segmentCount: segmentCount, rowStarts: starts.baseAddress!, values: valuePointer,
                indices: indices.baseAddress!),
              input: input, inputStride: inputStride, count: n, output: output, outputStride: outputStride,
              bias: bias, relu: relu)
          }
        case .wide(let indices):
          indices.withUnsafeBufferPointer { indices in
            SparseKernels.forward(
              SparseKernels.Operands(
                rows: rows, segmentCount: segmentCount, rowStarts: starts.baseAddress!, values: valuePointer,
                indices: indices.baseAddress!),
              input: input, inputStride: inputStride, count: n, output: output, outputStride: outputStride,
              bias: bias, relu: relu)
          }
        }
      }
    }
  }
}

/// The sparse batch kernels behind `SparseMatrix.forward`.
///
/// The batch is cut into tiles of 64 columns (then 32, 16 and single columns at the edge). For a
/// tile, segments go outermost and output rows inside: a row's nonzeros in the segment stream
/// past while its 64 accumulators stay in four `SIMD16<Float>` registers, each nonzero adding
/// `W[o, i]` times the contiguous tile row `in[i, j0 ..< j0 + 64]`. The input rows of one
/// segment of one tile are what the kernel keeps reading, so they stay in cache.
///
/// **Exactness.** Per output element the kernel computes, for each segment, a fused
/// multiply-add chain from zero over the segment's nonzeros in column order, and adds the segment
/// sums in order (the first stored as is): the summation order of the dense GEMM's K blocks,
/// which skip nothing but whose zero weights add exact zeros. Then `+ bias` and ReLU as
/// `Kernels.addBias`. A layer therefore gives the same bits on either path, and choosing the
/// faster path by timing never changes a result.
enum SparseKernels {
  typealias V = SIMD16<Float>

  /// Raw pointers to a segmented CSR matrix.
  struct Operands<Index: FixedWidthInteger & UnsignedInteger> {
    let rows: Int
    let segmentCount: Int
    let rowStarts: UnsafePointer<Int32>
    let values: UnsafePointer<Float>
    let indices: UnsafePointer<Index>
  }

  static func forward<Index>(
    _ m: Operands<Index>, input: UnsafePointer<Float>, inputStride ldi: Int, count n: Int,
    output: UnsafeMutablePointer<Float>, outputStride ldo: Int, bias: UnsafePointer<Float>, relu: Bool
  ) {
    var j0 = 0
    while n - j0 >= 64 {
      tile64(m, input + j0, ldi, output + j0, ldo, bias, relu)
      j0 += 64
    }
    if n - j0 >= 32 {
      tile32(m, input + j0, ldi, output + j0, ldo, bias, relu)
      j0 += 32
    }
    if n - j0 >= 16 {
      tile16(m, input + j0, ldi, output + j0, ldo, bias, relu)
      j0 += 16
    }
    while j0 < n {
      column(m, input + j0, ldi, output + j0, ldo, bias, relu)
      j0 += 1
    }
  }

  @inline(__always)
  static func load(_ p: UnsafePointer<Float>) -> V { UnsafeRawPointer(p).loadUnaligned(as: V.self) }

  @inline(__always)
  static func store(_ v: V, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self)
  }

  /// `value + bias`, then ReLU when asked: the arithmetic of `Kernels.addBias`.
  @inline(__always)
  static func finish(_ value: V, _ bias: V, _ relu: Bool) -> V {
    var result = value + bias
    if relu { result.replace(with: V(), where: result .< V()) }
    return result
  }

  // MARK: Tiles
  // Kept out of line and written out per width: generic SIMD code over the width, or SIMD64,
  // runs two orders of magnitude slower.

  /// A 64-column tile: four accumulators per output row.
  @inline(never)
  static func tile64<Index>(
    _ m: Operands<Index>, _ input: UnsafePointer<Float>, _ ldi: Int,
    _ output: UnsafeMutablePointer<Float>, _ ldo: Int, _ bias: UnsafePointer<Float>, _ relu: Bool
  ) {
    for segment in 0..<m.segmentCount {
      let starts = m.rowStarts + segment * m.rows
      let isFirst = segment == 0
      let isLast = segment == m.segmentCount - 1
      for o in 0..<m.rows {
        var a0 = V(), a1 = V(), a2 = V(), a3 = V()
        var entry = Int(starts[o])
        let end = Int(starts[o + 1])
        while entry < end {
          let w = V(repeating: m.values[entry])
          let row = input + Int(m.indices[entry]) * ldi
          a0.addProduct(w, load(row))
          a1.addProduct(w, load(row + 16))
          a2.addProduct(w, load(row + 32))
          a3.addProduct(w, load(row + 48))
          entry += 1
        }
        let target = output + o * ldo
        if !isFirst {
          a0 = load(target) + a0
          a1 = load(target + 16) + a1
          a2 = load(target + 32) + a2
          a3 = load(target + 48) + a3
        }
        if isLast {
          let b = V(repeating: bias[o])
          a0 = finish(a0, b, relu)
          a1 = finish(a1, b, relu)
          a2 = finish(a2, b, relu)
          a3 = finish(a3, b, relu)
        }
        store(a0, target)
        store(a1, target + 16)
        store(a2, target + 32)
        store(a3, target + 48)
      }
    }
  }

  /// A 32-column tile.
  @inline(never)
  static func tile32<Index>(
    _ m: Operands<Index>, _ input: UnsafePointer<Float>, _ ldi: Int,
    _ output: UnsafeMutablePointer<Float>, _ ldo: Int, _ bias: UnsafePointer<Float>, _ relu: Bool
  ) {
    for segment in 0..<m.segmentCount {
      let starts = m.rowStarts + segment * m.rows
      let isFirst = segment == 0
      let isLast = segment == m.segmentCount - 1
      for o in 0..<m.rows {
        var a0 = V(), a1 = V()
        var entry = Int(starts[o])
        let end = Int(starts[o + 1])
        while entry < end {
          let w = V(repeating: m.values[entry])
          let row = input + Int(m.indices[entry]) * ldi
          a0.addProduct(w, load(row))
          a1.addProduct(w, load(row + 16))
          entry += 1
        }
        let target = output + o * ldo
        if !isFirst {
          a0 = load(target) + a0
          a1 = load(target + 16) + a1
        }
        if isLast {
          let b = V(repeating: bias[o])
          a0 = finish(a0, b, relu)
          a1 = finish(a1, b, relu)
        }
        store(a0, target)
        store(a1, target + 16)
      }
    }
  }

  /// A 16-column tile.
  @inline(never)
  static func tile16<Index>(
    _ m: Operands<Index>, _ input: UnsafePointer<Float>, _ ldi: Int,
    _ output: UnsafeMutablePointer<Float>, _ ldo: Int, _ bias: UnsafePointer<Float>, _ relu: Bool
  ) {
    for segment in 0..<m.segmentCount {
      let starts = m.rowStarts + segment * m.rows
      let isFirst = segment == 0
      let isLast = segment == m.segmentCount - 1
      for o in 0..<m.rows {
        var a0 = V()
        var entry = Int(starts[o])
        let end = Int(starts[o + 1])
        while entry < end {
          a0.addProduct(V(repeating: m.values[entry]), load(input + Int(m.indices[entry]) * ldi))
          entry += 1
        }
        let target = output + o * ldo
        if !isFirst { a0 = load(target) + a0 }
        if isLast { a0 = finish(a0, V(repeating: bias[o]), relu) }
        store(a0, target)
      }
    }
  }

  /// One column at the edge of the batch, with the same scalar arithmetic as a vector lane.
  @inline(never)
  static func column<Index>(
    _ m: Operands<Index>, _ input: UnsafePointer<Float>, _ ldi: Int,
    _ output: UnsafeMutablePointer<Float>, _ ldo: Int, _ bias: UnsafePointer<Float>, _ relu: Bool
  ) {
    for segment in 0..<m.segmentCount {
      let starts = m.rowStarts + segment * m.rows
      let isFirst = segment == 0
      let isLast = segment == m.segmentCount - 1
      for o in 0..<m.rows {
        var sum: Float = 0
        var entry = Int(starts[o])
        let end = Int(starts[o + 1])
        while entry < end {
          sum.addProduct(m.values[entry], input[Int(m.indices[entry]) * ldi])
          entry += 1
        }
        let target = output + o * ldo
        if !isFirst { sum = target[0] + sum }
        if isLast {
          sum += bias[o]
          if relu && sum < 0 { sum = 0 }
        }
        target[0] = sum
      }
    }
  }
}
