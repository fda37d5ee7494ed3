import Testing
@testable import ExplorerCore
@testable import PruneEngine

/// The histogram counts its columns from sorted values with binary searches: the counts must be
/// those of a pass over every value, for signed and magnitude views at any width.
struct HistogramCountTests {
  /// The panel's column of a value, as `HistogramPanel.render` computes it.
  private func column(low: Float, high: Float, bins: Int) -> (Float) -> Int {
    let scale = Float(bins) / (high - low)
    return { value in
      let position = (value - low) * scale
      return position.isNaN ? 0 : Int(min(Float(bins - 1), max(0, position)))
    }
  }

  @Test(arguments: [1, 7, 38, 80, 201])
  func columnCountsEqualAPassOverEveryValue(bins: Int) {
    var generator = SeededGenerator(seed: 5)
    // Ties, exact zeros and both signs, plus values far outside the drawn range.
    let values =
      (0..<5000).map { _ in (generator.nextNormal() * 100).rounded() / 1000 } + [0, -0.0, 0, 2.5, -3]
    let sorted = values.sorted()
    for absolute in [false, true] {
      for (low, high) in [(Float(0), Float(0.25)), (-0.3, 0.3), (0.01, 0.02), (-Float.greatestFiniteMagnitude, .greatestFiniteMagnitude)] {
        let column = column(low: low, high: high, bins: bins)
        var expected = [Int](repeating: 0, count: bins)
        for value in values { expected[column(absolute ? abs(value) : value)] += 1 }
        let counts = HistogramPanel.columnCounts(sorted, bins: bins, absolute: absolute, column: column)
        #expect(counts == expected, "absolute \(absolute), range \(low)...\(high)")
      }
    }
  }

  @Test func aDistributionKeepsItsFiniteValuesAscendingAndCountsTheOthers() {
    let scores = ScoreDistribution(sorted: [], values: [0.5, .nan, -1, .infinity, 0.25])
    #expect(scores.values == [-1, 0.25, 0.5])
    #expect(scores.nonFiniteCount == 2)
  }
}
