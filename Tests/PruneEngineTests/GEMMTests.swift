import Testing
@testable import PruneEngine

/// `C = op(A)·op(B)` computed the obvious way, in Double.
private func referenceProduct(
  m: Int, n: Int, k: Int, a: [Float], aTransposed: Bool, b: [Float], bTransposed: Bool
) -> [Float] {
  var c = [Float](repeating: 0, count: m * n)
  for i in 0..<m {
    for j in 0..<n {
      var sum = 0.0
      for p in 0..<k {
        let left = aTransposed ? a[p * m + i] : a[i * k + p]
        let right = bTransposed ? b[j * k + p] : b[p * n + j]
        sum += Double(left) * Double(right)
      }
      c[i * n + j] = Float(sum)
    }
  }
  return c
}

private func runGEMM(
  m: Int, n: Int, k: Int, a: [Float], aTransposed: Bool, b: [Float], bTransposed: Bool,
  initial: [Float], accumulate: Bool, threads: Int
) -> [Float] {
  var c = initial
  a.withUnsafeBufferPointer { a in
    b.withUnsafeBufferPointer { b in
      c.withUnsafeMutableBufferPointer { c in
        gemm(
          m: m, n: n, k: k,
          a: aTransposed ? .transposed(a.baseAddress!, leadingDimension: m) : .rowMajor(a.baseAddress!, leadingDimension: k),
          b: bTransposed ? .transposed(b.baseAddress!, leadingDimension: k) : .rowMajor(b.baseAddress!, leadingDimension: n),
          c: c.baseAddress!, ldc: n, accumulate: accumulate, threads: threads)
      }
    }
  }
  return c
}

struct GEMMTests {
  // Shapes with edges in every direction, a K longer than one K block, and large enough ones to
  // take the threaded path.
  static let shapes: [(m: Int, n: Int, k: Int)] = [
    (1, 1, 1), (8, 32, 16), (13, 37, 5), (9, 33, 200), (3, 70, 401), (64, 64, 64), (100, 96, 130),
  ]

  @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
  func matchesReferenceInEveryForm(aTransposed: Bool, bTransposed: Bool) {
    for (index, shape) in Self.shapes.enumerated() {
      let a = randomFloats(shape.m * shape.k, seed: UInt64(index))
      let b = randomFloats(shape.k * shape.n, seed: UInt64(100 + index))
      let expected = referenceProduct(
        m: shape.m, n: shape.n, k: shape.k, a: a, aTransposed: aTransposed, b: b, bTransposed: bTransposed)
      let result = runGEMM(
        m: shape.m, n: shape.n, k: shape.k, a: a, aTransposed: aTransposed, b: b, bTransposed: bTransposed,
        initial: [Float](repeating: 9, count: shape.m * shape.n), accumulate: false, threads: 2)
      for (got, want) in zip(result, expected) {
        #expect(isClose(got, want, absolute: 1e-4, relative: 1e-4), "shape \(shape)")
      }
    }
  }

  @Test func accumulateAddsToExistingValues() {
    let (m, n, k) = (11, 40, 23)
    let a = randomFloats(m * k, seed: 1), b = randomFloats(k * n, seed: 2)
    let initial = randomFloats(m * n, seed: 3)
    let product = referenceProduct(m: m, n: n, k: k, a: a, aTransposed: false, b: b, bTransposed: false)
    let result = runGEMM(
      m: m, n: n, k: k, a: a, aTransposed: false, b: b, bTransposed: false, initial: initial,
      accumulate: true, threads: 1)
    for index in result.indices {
      #expect(isClose(result[index], initial[index] + product[index], absolute: 1e-4))
    }
  }

  @Test func zeroDepthClearsOrKeepsTheOutput() {
    let initial: [Float] = [1, 2, 3, 4]
    #expect(
      runGEMM(m: 2, n: 2, k: 0, a: [], aTransposed: false, b: [], bTransposed: false, initial: initial,
        accumulate: false, threads: 1) == [0, 0, 0, 0])
    #expect(
      runGEMM(m: 2, n: 2, k: 0, a: [], aTransposed: false, b: [], bTransposed: false, initial: initial,
        accumulate: true, threads: 1) == initial)
  }

  @Test func resultDoesNotDependOnThreadCount() {
    let (m, n, k) = (200, 96, 300)
    let a = randomFloats(m * k, seed: 5), b = randomFloats(k * n, seed: 6)
    let zeros = [Float](repeating: 0, count: m * n)
    let one = runGEMM(m: m, n: n, k: k, a: a, aTransposed: false, b: b, bTransposed: true, initial: zeros, accumulate: false, threads: 1)
    let two = runGEMM(m: m, n: n, k: k, a: a, aTransposed: false, b: b, bTransposed: true, initial: zeros, accumulate: false, threads: 2)
    #expect(one == two)
  }
}
