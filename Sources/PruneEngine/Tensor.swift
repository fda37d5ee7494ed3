/// A dense fp32 tensor in row-major order.
///
/// Storage is a Swift array, so tensors are values with copy-on-write. Kernels reach the
/// scalars through `withUnsafeBufferPointer` / `withUnsafeMutableBufferPointer`.
public struct Tensor: Sendable, Equatable {
  /// Extent of each dimension, outermost first (a Linear weight is `[outputCount, inputCount]`).
  public private(set) var shape: [Int]
  /// The scalars, row-major; `scalars.count == shape.product`.
  public var scalars: [Float]

  /// A tensor filled with one value.
  public init(shape: [Int], repeating value: Float = 0) {
    self.shape = shape
    self.scalars = [Float](repeating: value, count: shape.reduce(1, *))
  }

  /// A tensor over existing scalars; the count must match the shape.
  public init(shape: [Int], scalars: [Float]) {
    precondition(shape.reduce(1, *) == scalars.count, "shape \(shape) does not hold \(scalars.count) scalars")
    self.shape = shape
    self.scalars = scalars
  }

  /// Number of scalars.
  public var count: Int { scalars.count }

  /// Number of scalars that are not exactly zero.
  public var nonzeroCount: Int {
    scalars.withUnsafeBufferPointer { values in
      var zeros = 0
      for value in values where value == 0 { zeros += 1 }
      return values.count - zeros
    }
  }
}
