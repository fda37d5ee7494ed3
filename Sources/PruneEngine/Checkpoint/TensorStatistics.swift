/// Figures of one tensor's values, computed in one streaming pass: counts, range, mean and
/// spread, a magnitude histogram, and the sparsity each magnitude threshold would give.
///
/// Magnitudes are compared in single precision (`F64` and integer values are rounded to
/// `Float` for the histogram and thresholds; their mean and spread use `Double`). NaN and
/// infinite values are counted apart and left out of the range, mean and spread; a threshold
/// never prunes them.
public struct TensorStatistics: Sendable, Equatable {
  /// Number of elements.
  public var count: Int
  public var zeroCount: Int
  public var nanCount: Int
  public var infinityCount: Int
  /// Range, mean and population standard deviation of the finite values; nil when there are none.
  public var minimum: Double?
  public var maximum: Double?
  public var mean: Double?
  public var standardDeviation: Double?
  /// `|w|` counts: exact zeros, then `[0, e0)` without the zeros, `[e0, e1)`, ..., `[eLast, ∞)`
  /// for the `magnitudeEdges` e (finite values only).
  public var histogram: [HistogramBin]
  /// For each of `thresholds`, how many elements have `|w| < t`.
  public var belowThreshold: [ThresholdCount]
  /// For each of `quantileTargets`, the smallest magnitude cut that prunes at least that fraction.
  public var quantiles: [Quantile]

  public struct HistogramBin: Sendable, Equatable {
    /// Bounds of `|w|`; `lower == upper == 0` for the bin of exact zeros, `upper` nil for the last.
    public var lower: Float
    public var upper: Float?
    public var count: Int
  }

  public struct ThresholdCount: Sendable, Equatable {
    public var threshold: Float
    /// Elements with `|w| < threshold`.
    public var count: Int
    /// `count` over all elements.
    public var sparsity: Double
  }

  public struct Quantile: Sendable, Equatable {
    /// The fraction asked for.
    public var target: Double
    /// Pruning `|w| < threshold` prunes `sparsity` of the elements, at least `target`: the cut
    /// is exact, on a grid of 128 steps per power of two.
    public var threshold: Float
    public var sparsity: Double
  }

  /// Fraction of elements that are exactly zero.
  public var zeroFraction: Double { count == 0 ? 0 : Double(zeroCount) / Double(count) }

  /// Edges of the magnitude histogram: the powers of ten from 1e-8 to 100.
  public static let magnitudeEdges: [Float] = [1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1, 10, 100]
  /// The thresholds whose sparsity is reported.
  public static let thresholds: [Float] = [1e-4, 1e-3, 1e-2, 1e-1]
  /// The sparsities whose magnitude cut is reported.
  public static let quantileTargets: [Double] = [0.5, 0.75, 0.9, 0.95, 0.99]
}

/// Collects `TensorStatistics` over chunks of raw little-endian elements.
///
/// 8- and 16-bit types are counted per bit pattern (256 or 65,536 counters) and converted once
/// at the end; wider types are converted element by element into a histogram of `|w|` keyed
/// by the top 16 bits of the `Float` (8 exponent bits and 7 mantissa bits), which gives the
/// quantile cuts, and the exact counts below each histogram edge.
public final class TensorStatisticsAccumulator {
  public let dtype: SafetensorsFile.DType
  private var patterns: UnsafeMutableBufferPointer<Int>
  private var magnitudeBins: UnsafeMutableBufferPointer<Int>
  /// For each magnitude bin, 1 + the index of the edge inside it, or 0.
  private static let edgeInBin: [UInt8] = {
    var table = [UInt8](repeating: 0, count: binCount)
    for (index, edge) in edges.enumerated() { table[bin(edge.bitPattern)] = UInt8(index + 1) }
    return table
  }()
  private let edgeInBin = TensorStatisticsAccumulator.edgeInBin
  private var belowEdgeInItsBin: [Int]
  private var count = 0
  private var zeros = 0
  private var nans = 0
  private var infinities = 0
  private var minimum = Double.infinity
  private var maximum = -Double.infinity
  private var sum = 0.0
  private var sumOfSquares = 0.0

  private static let binCount = 1 << 15
  private static let edges = TensorStatistics.magnitudeEdges

  public init(dtype: SafetensorsFile.DType) {
    self.dtype = dtype
    let patternCount = dtype.byteCount == 1 ? 256 : dtype.byteCount == 2 ? 1 << 16 : 0
    patterns = .allocate(capacity: patternCount)
    patterns.initialize(repeating: 0)
    magnitudeBins = .allocate(capacity: Self.binCount)
    magnitudeBins.initialize(repeating: 0)
    belowEdgeInItsBin = [Int](repeating: 0, count: Self.edges.count)
  }

  deinit {
    patterns.deallocate()
    magnitudeBins.deallocate()
  }

  @inline(__always) private static func bin(_ bits: UInt32) -> Int { Int((bits & 0x7FFF_FFFF) >> 16) }

  /// Adds whole elements; `chunk.count` is a multiple of the element size.
  public func add(_ chunk: UnsafeRawBufferPointer) {
    guard let base = chunk.baseAddress else { return }
    let n = chunk.count / dtype.byteCount
    count += n
    switch dtype.byteCount {
    case 1:
      for i in 0..<n { patterns[Int(base.load(fromByteOffset: i, as: UInt8.self))] += 1 }
    case 2:
      for i in 0..<n {
        patterns[Int(UInt16(littleEndian: base.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))] += 1
      }
    default:
      switch dtype {
      case .f32: addFloats(base, n)
      case .f64:
        addWide(base, n) {
          Double(bitPattern: UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: 8 * $1, as: UInt64.self)))
        }
      case .i32:
        addWide(base, n) { Double(Int32(littleEndian: $0.loadUnaligned(fromByteOffset: 4 * $1, as: Int32.self))) }
      case .u32:
        addWide(base, n) { Double(UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: 4 * $1, as: UInt32.self))) }
      case .i64:
        addWide(base, n) { Double(Int64(littleEndian: $0.loadUnaligned(fromByteOffset: 8 * $1, as: Int64.self))) }
      case .u64:
        addWide(base, n) { Double(UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: 8 * $1, as: UInt64.self))) }
      default: preconditionFailure("\(dtype) is not a wide type")
      }
    }
  }

  /// The F32 loop: finite values update the range, sums and magnitude bins.
  private func addFloats(_ base: UnsafeRawPointer, _ n: Int) {
    var low = Float.infinity
    var high = -Float.infinity
    var (sum0, sum1, squares0, squares1) = (0.0, 0.0, 0.0, 0.0)
    var zeros = 0
    let bins = magnitudeBins.baseAddress!
    for i in 0..<n {
      let bits = UInt32(littleEndian: base.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))
      let magnitude = bits & 0x7FFF_FFFF
      if magnitude >= 0x7F80_0000 {
        if magnitude == 0x7F80_0000 { infinities += 1 } else { nans += 1 }
        continue
      }
      let value = Float(bitPattern: bits)
      low = min(low, value)
      high = max(high, value)
      let wide = Double(value)
      if i & 1 == 0 {
        sum0 += wide
        squares0 += wide * wide
      } else {
        sum1 += wide
        squares1 += wide * wide
      }
      if magnitude == 0 { zeros += 1 }
      let bin = Int(magnitude >> 16)
      bins[bin] += 1
      if edgeInBin[bin] != 0 { countBelowEdge(bin: bin, magnitude: Float(bitPattern: magnitude), times: 1) }
    }
    self.zeros += zeros
    if low <= high {
      minimum = min(minimum, Double(low))
      maximum = max(maximum, Double(high))
    }
    sum += sum0 + sum1
    sumOfSquares += squares0 + squares1
  }

  private func addWide(_ base: UnsafeRawPointer, _ n: Int, _ load: (UnsafeRawPointer, Int) -> Double) {
    for i in 0..<n { add(load(base, i), times: 1) }
  }

  /// Adds `times` copies of one value.
  private func add(_ value: Double, times: Int) {
    if value.isNaN {
      nans += times
      return
    }
    if value.isInfinite {
      infinities += times
      return
    }
    minimum = min(minimum, value)
    maximum = max(maximum, value)
    sum += value * Double(times)
    sumOfSquares += value * value * Double(times)
    if value == 0 { zeros += times }
    // A finite Double beyond Float's range counts in the top finite bin.
    let magnitude = min(Float(abs(value)), .greatestFiniteMagnitude)
    let bin = Self.bin(magnitude.bitPattern)
    magnitudeBins[bin] += times
    if edgeInBin[bin] != 0 { countBelowEdge(bin: bin, magnitude: magnitude, times: times) }
  }

  private func countBelowEdge(bin: Int, magnitude: Float, times: Int) {
    let edge = Int(edgeInBin[bin]) - 1
    if magnitude < Self.edges[edge] { belowEdgeInItsBin[edge] += times }
  }

  /// Adds what another accumulator collected (for totals over several tensors).
  public func merge(_ other: TensorStatisticsAccumulator) {
    other.flushPatterns()
    flushPatterns()
    count += other.count
    zeros += other.zeros
    nans += other.nans
    infinities += other.infinities
    minimum = min(minimum, other.minimum)
    maximum = max(maximum, other.maximum)
    sum += other.sum
    sumOfSquares += other.sumOfSquares
    for bin in 0..<Self.binCount { magnitudeBins[bin] += other.magnitudeBins[bin] }
    for edge in belowEdgeInItsBin.indices { belowEdgeInItsBin[edge] += other.belowEdgeInItsBin[edge] }
  }

  /// Moves the per-pattern counts of 8- and 16-bit types into the value statistics.
  private func flushPatterns() {
    guard patterns.count > 0 else { return }
    let counted = count
    for pattern in 0..<patterns.count where patterns[pattern] != 0 {
      add(Self.value(ofPattern: pattern, dtype: dtype), times: patterns[pattern])
      patterns[pattern] = 0
    }
    count = counted
  }

  private static func value(ofPattern pattern: Int, dtype: SafetensorsFile.DType) -> Double {
    switch dtype {
    case .f16: Double(floatFromHalf(UInt16(pattern)))
    case .bf16: Double(Float(bitPattern: UInt32(pattern) << 16))
    case .u16: Double(pattern)
    case .i16: Double(Int16(truncatingIfNeeded: pattern))
    case .u8: Double(pattern)
    case .i8: Double(Int8(truncatingIfNeeded: pattern))
    case .bool: pattern != 0 ? 1 : 0
    case .f8e4m3: Double(floatFromE4M3(UInt8(pattern)))
    case .f8e5m2: Double(floatFromHalf(UInt16(pattern) << 8))
    default: preconditionFailure("\(dtype) is not an 8- or 16-bit type")
    }
  }

  /// The statistics of everything added.
  public func statistics() -> TensorStatistics {
    flushPatterns()
    let finite = count - nans - infinities
    var result = TensorStatistics(
      count: count, zeroCount: zeros, nanCount: nans, infinityCount: infinities, histogram: [], belowThreshold: [],
      quantiles: [])
    if finite > 0 {
      let mean = sum / Double(finite)
      result.minimum = minimum
      result.maximum = maximum
      result.mean = mean
      result.standardDeviation = max(0, sumOfSquares / Double(finite) - mean * mean).squareRoot()
    }
    // Cumulative counts below each edge: whole bins below the edge's bin, plus the part of its bin.
    var below: [Int] = []
    var cumulative = 0
    var nextBin = 0
    for (index, edge) in Self.edges.enumerated() {
      let edgeBin = Self.bin(edge.bitPattern)
      while nextBin < edgeBin {
        cumulative += magnitudeBins[nextBin]
        nextBin += 1
      }
      below.append(cumulative + belowEdgeInItsBin[index])
    }
    var bins = [TensorStatistics.HistogramBin(lower: 0, upper: 0, count: zeros)]
    var previous = zeros
    var lower: Float = 0
    for (edge, count) in zip(Self.edges, below) {
      bins.append(.init(lower: lower, upper: edge, count: count - previous))
      previous = count
      lower = edge
    }
    bins.append(.init(lower: lower, upper: nil, count: finite - previous))
    result.histogram = bins
    result.belowThreshold = TensorStatistics.thresholds.map { threshold in
      let index = Self.edges.firstIndex(of: threshold)!
      return .init(threshold: threshold, count: below[index], sparsity: fraction(below[index]))
    }
    // Quantile cuts: the upper edge of the first bin where the cumulative count reaches the target.
    var targets = TensorStatistics.quantileTargets[...]
    cumulative = 0
    for bin in 0..<Self.binCount where !targets.isEmpty {
      cumulative += magnitudeBins[bin]
      while let target = targets.first, Double(cumulative) >= target * Double(count), count > 0 {
        let cut = Float(bitPattern: UInt32(bin + 1) << 16)
        result.quantiles.append(.init(target: target, threshold: cut, sparsity: fraction(cumulative)))
        targets.removeFirst()
      }
    }
    return result

    func fraction(_ part: Int) -> Double { count == 0 ? 0 : Double(part) / Double(count) }
  }
}

extension MappedSafetensorsFile {
  /// The statistics of one tensor, read in chunks whose pages are released after use.
  public func statistics(of tensor: TensorDescriptor) -> TensorStatistics {
    accumulate(tensor).statistics()
  }

  /// An accumulator holding one tensor's values (to merge into totals).
  public func accumulate(_ tensor: TensorDescriptor) -> TensorStatisticsAccumulator {
    let accumulator = TensorStatisticsAccumulator(dtype: tensor.dtype)
    forEachChunk(of: tensor) { accumulator.add($0) }
    return accumulator
  }
}
