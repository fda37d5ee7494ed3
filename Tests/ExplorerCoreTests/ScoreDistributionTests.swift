import Testing
@testable import ExplorerCore

/// The cut arithmetic the screen and the session share.
struct ScoreDistributionTests {
  private let scores = ScoreDistribution(sorted: [0.1, 0.2, 0.3, 0.3, 0.4, 0.6], values: [])

  @Test func aTargetPrunesRoundHalfToEvenOfTheUnits() {
    #expect(scores.newlyPruned(at: 0) == 0)
    #expect(scores.newlyPruned(at: 0.5) == 3)
    // 0.25 × 6 = 1.5 rounds to 2, 0.75 × 6 = 4.5 rounds to 4 (half to even, as Python).
    #expect(scores.newlyPruned(at: 0.25) == 2)
    #expect(scores.newlyPruned(at: 0.75) == 4)
    #expect(scores.newlyPruned(at: 1) == 6)
    #expect(scores.newlyPruned(at: 1.5) == 6)
    #expect(scores.newlyPruned(at: -1) == 0)
  }

  @Test func theCutIsTheLargestPrunedScore() {
    #expect(scores.cut(at: 0) == nil)
    #expect(scores.cut(at: 0.05) == nil)
    #expect(scores.cut(at: 0.25) == 0.2)
    #expect(scores.cut(at: 0.5) == 0.3)
    #expect(scores.cut(at: 1) == 0.6)
  }

  @Test func tiesAreCountedOnlyWhenTheCutSplitsThem() {
    #expect(scores.ties(at: 0.5) == 2)
    #expect(scores.ties(at: 0.75) == 0)
    #expect(scores.ties(at: 0.25) == 0)
    #expect(scores.ties(at: 1) == 0)
    #expect(ScoreDistribution(sorted: [0, 0, 0, 0, 1], values: []).ties(at: 0.4) == 4)
  }

  @Test func unitsPrunedBeforeSetTheFloorAndAreNotPrunedAgain() {
    let tuned = ScoreDistribution(sorted: [0.2, 0.3, 0.5, 0.9], values: [], prunedCount: 4)
    #expect(tuned.unitCount == 8)
    #expect(tuned.floor == 0.5)
    #expect(tuned.newlyPruned(at: 0.25) == 0)
    #expect(tuned.newlyPruned(at: 0.5) == 0)
    #expect(tuned.cut(at: 0.5) == nil)
    #expect(tuned.newlyPruned(at: 0.75) == 2)
    #expect(tuned.cut(at: 0.75) == 0.3)
  }

  @Test func countsAtAndBelowAScore() {
    #expect(scores.countAtMost(0.3) == 4)
    #expect(scores.countAtMost(0.05) == 0)
    #expect(scores.countAtMost(1) == 6)
    #expect(scores.equalCount(0.3) == 2)
    #expect(scores.equalCount(0.35) == 0)
  }

  @Test func anEmptyDistributionIsALayerTheCriterionSkips() {
    let empty = ScoreDistribution(sorted: [], values: [])
    #expect(empty.isEmpty)
    #expect(empty.floor == 0)
    #expect(empty.cut(at: 0.5) == nil)
    #expect(empty.ties(at: 0.5) == 0)
  }
}
