/// A pruned weight matrix `[rows, columns]` in the compressed forms the sparse kernels read.
///
/// **Batch form: segmented CSR.** The columns (inputs) are cut into segments of `GEMM.kBlock`,
/// the depth of the dense GEMM's K blocks, and the nonzeros are stored segment by segment, row by
/// row within a segment, in column order within a row: row `o`'s nonzeros in segment `s` are
/// `entries[rowStarts[s * rows + o] ..< rowStarts[s * rows + o + 1]]`. The batch kernel sums each
/// segment on its own and adds the segment sums in order, which is exactly the order in which the
/// dense GEMM adds its K blocks, so a sparse layer computes bit for bit what the dense layer
/// computes (a skipped zero weight contributes `fma(0, x, s) == s`).
///
/// **Single-sample form: CSC.** Column `i`'s nonzeros are
/// `columnEntries[columnStarts[i] ..< columnStarts[i + 1]]`, as (row, value) pairs, so a
/// single-sample forward pass visits only the columns whose input is not zero (ReLU outputs and
/// image backgrounds are mostly zero).
///
/// Indices are `UInt16` when the matrix has at most 65,536 columns (respectively rows for the
/// CSC row indices), `UInt32` otherwise.
public struct SparseMatrix: Sendable {
  public let rows: Int
  public let columns: Int
  /// Nonzero entries.
  public let nonzeroCount: Int
  /// Number of column segments of `GEMM.kBlock` columns (at least 1).
  let segmentCount: Int
  /// `segmentCount * rows + 1` offsets into `values` / `columnIndices`, segment-major.
  let rowStarts: [Int32]
  let values: [Float]
  let columnIndices: IndexStorage
  /// `columns + 1` offsets into `columnValues` / `rowIndices`.
  let columnStarts: [Int32]
  let columnValues: [Float]
  let rowIndices: IndexStorage

  /// Column or row indices of the narrowest width that holds them.
  enum IndexStorage: Sendable {
    case narrow([UInt16])
    case wide([UInt32])
  }

  /// Compresses the nonzero entries of a row-major `[rows, columns]` matrix.
  ///
  /// Entries that are exactly zero are left out, whether or not a mask pruned them: they add
  /// nothing to any output.
  /// - Complexity: O(rows · columns).
  public init(weights: UnsafeBufferPointer<Float>, rows: Int, columns: Int) {
    precondition(weights.count == rows * columns, "\(weights.count) weights for a \(rows)x\(columns) matrix")
    precondition(rows * columns < Int(Int32.max), "matrix too large for 32-bit offsets")
    self.rows = rows
    self.columns = columns
    let width = GEMM.kBlock
    let segmentCount = max(1, (columns + width - 1) / width)
    self.segmentCount = segmentCount

    var nonzero = 0
    for value in weights where value != 0 { nonzero += 1 }
    nonzeroCount = nonzero

    var rowStarts = [Int32]()
    rowStarts.reserveCapacity(segmentCount * rows + 1)
    rowStarts.append(0)
    var values = [Float]()
    values.reserveCapacity(nonzero)
    var columnIndices = [UInt32]()
    columnIndices.reserveCapacity(nonzero)
    for segment in 0..<segmentCount {
      let first = segment * width
      let last = min(columns, first + width)
      for row in 0..<rows {
        let base = row * columns
        for column in first..<last where weights[base + column] != 0 {
          values.append(weights[base + column])
          columnIndices.append(UInt32(column))
        }
        rowStarts.append(Int32(values.count))
      }
    }
    // One unused trailing entry, so the arrays' storage is never empty and the kernels can take
    // its address even for an all-zero matrix.
    values.append(0)
    columnIndices.append(0)
    self.rowStarts = rowStarts
    self.values = values
    self.columnIndices = Self.storage(columnIndices, limit: columns)

    // CSC: count per column, then fill in row order so each column's rows are ascending.
    var columnStarts = [Int32](repeating: 0, count: columns + 1)
    for row in 0..<rows {
      for column in 0..<columns where weights[row * columns + column] != 0 { columnStarts[column + 1] += 1 }
    }
    for column in 0..<columns { columnStarts[column + 1] += columnStarts[column] }
    var next = columnStarts.dropLast().map { Int($0) }
    var columnValues = [Float](repeating: 0, count: nonzero + 1)
    var rowIndices = [UInt32](repeating: 0, count: nonzero + 1)
    for row in 0..<rows {
      for column in 0..<columns where weights[row * columns + column] != 0 {
        columnValues[next[column]] = weights[row * columns + column]
        rowIndices[next[column]] = UInt32(row)
        next[column] += 1
      }
    }
    self.columnStarts = columnStarts
    self.columnValues = columnValues
    self.rowIndices = Self.storage(rowIndices, limit: rows)
  }

  /// Compresses a WeightedLayer layer's weight.
  public init(_ dense: WeightedLayer) {
    self = dense.weight.scalars.withUnsafeBufferPointer {
      SparseMatrix(weights: $0, rows: dense.outputCount, columns: dense.inputCount)
    }
  }

  /// Fraction of entries that are stored.
  public var density: Double { rows * columns == 0 ? 0 : Double(nonzeroCount) / Double(rows * columns) }

  /// Whether indices are stored in 16 bits.
  public var usesNarrowIndices: Bool {
    if case .narrow = columnIndices { true } else { false }
  }

  private static func storage(_ indices: [UInt32], limit: Int) -> IndexStorage {
    limit <= 1 << 16 ? .narrow(indices.map { UInt16(truncatingIfNeeded: $0) }) : .wide(indices)
  }

  /// The matrix back in dense row-major form (for tests and checks).
  public func dense() -> [Float] {
    var result = [Float](repeating: 0, count: rows * columns)
    func fill<I: FixedWidthInteger>(_ indices: [I]) {
      for segment in 0..<segmentCount {
        for row in 0..<rows {
          let start = Int(rowStarts[segment * rows + row])
          let end = Int(rowStarts[segment * rows + row + 1])
          for entry in start..<end { result[row * columns + Int(indices[entry])] = values[entry] }
        }
      }
    }
    switch columnIndices {
    case .narrow(let indices): fill(indices)
    case .wide(let indices): fill(indices)
    }
    return result
  }
}
