import Testing
@testable import PruneEngine

struct FineTuningTests {
  private func model() -> Model {
    var generator = SeededGenerator(seed: 4)
    return Model(architecture: .mlp(widths: [16, 12, 4]), generator: &generator)
  }

  private let magnitude = PruningRequest(criterion: .magnitude, rule: .fraction(0))

  @Test func gradualSparsityFollowsTheCubicRamp() {
    // s_t = s_f + (s_i - s_f)(1 - t/T)^3 with s_i = 0.2, s_f = 0.9, T = 100.
    #expect(isClose(FineTuning.gradualSparsity(step: 0, rampEnd: 100, initial: 0.2, final: 0.9), 0.2))
    #expect(isClose(FineTuning.gradualSparsity(step: 50, rampEnd: 100, initial: 0.2, final: 0.9), 0.9 - 0.7 * 0.125))
    #expect(isClose(FineTuning.gradualSparsity(step: 100, rampEnd: 100, initial: 0.2, final: 0.9), 0.9))
    #expect(isClose(FineTuning.gradualSparsity(step: 150, rampEnd: 100, initial: 0.2, final: 0.9), 0.9))
  }

  @Test func iterativeStepsPruneTheSameShareOfWhatIsLeft() {
    // From 0 to 0.875 in 3 steps: keep 1/2 each step.
    let targets = (1...3).map { FineTuning.iterativeSparsity(step: $0, steps: 3, initial: 0, final: 0.875) }
    #expect(zip(targets, [0.5, 0.75, 0.875]).allSatisfy { isClose($0, $1) })
  }

  @Test(arguments: [PruningScope.layer, .global])
  func pruneToReachesTheTargetSparsityAndLeavesSparserLayersAlone(scope: PruningScope) throws {
    var request = magnitude
    request.scope = scope
    let half = try FineTuning.prune(model(), to: 0.5, request: request, context: ScoringContext())
    #expect(isClose(ModelMetrics(half).sparsity, 0.5, absolute: 0.01))
    let more = try FineTuning.prune(half, to: 0.8, request: request, context: ScoringContext())
    #expect(isClose(ModelMetrics(more).sparsity, 0.8, absolute: 0.01))
    let same = try FineTuning.prune(more, to: 0.3, request: request, context: ScoringContext())
    #expect(same == more)
  }

  /// Row scope prunes every row by its layer's fraction: rows of 16 and 12 weights keep 8 and
  /// 6 at 0.5, then lose round(0.6 x 8) = 5 and round(0.6 x 6) = 4 more on the way to 0.8.
  @Test func pruneToInRowScopePrunesEveryRowAlike() throws {
    var request = magnitude
    request.scope = .row
    let half = try FineTuning.prune(model(), to: 0.5, request: request, context: ScoringContext())
    let more = try FineTuning.prune(half, to: 0.8, request: request, context: ScoringContext())
    for (pruned, kept) in [(half, [8, 6]), (more, [3, 2])] {
      for ((_, layer), keptPerRow) in zip(pruned.weightedLayers, kept) {
        let mask = layer.keptMask
        let rows = stride(from: 0, to: mask.count, by: layer.inputCount).map { start in
          mask[start..<(start + layer.inputCount)].reduce(0) { $0 + Int($1) }
        }
        #expect(Set(rows) == [keptPerRow])
      }
    }
  }

  @Test func gradualScheduleEndsAtTheTargetWithMasksHeld() throws {
    let dataset = bandDataset(samples: 160, classes: 4, seed: 2)
    let report = try FineTuning.run(
      model(), schedule: .gradual(interval: 3), sparsity: 0.75, request: magnitude, on: dataset,
      options: TrainingOptions(epochs: 4, batchSize: 16), context: ScoringContext())
    #expect(isClose(ModelMetrics(report.model).sparsity, 0.75, absolute: 0.01))
    #expect(report.epochsCompleted == 4)
  }

  /// The gradual ramp counts its steps with the batch size the trainer uses (at most the whole
  /// set), so a batch size near `Int.max` neither overflows nor changes the ramp.
  @Test func gradualScheduleTakesAnyBatchSize() throws {
    let dataset = bandDataset(samples: 40, classes: 4, seed: 2)
    let report = try FineTuning.run(
      model(), schedule: .gradual(interval: 1), sparsity: 0.5, request: magnitude, on: dataset,
      options: TrainingOptions(epochs: 4, batchSize: .max), context: ScoringContext())
    #expect(isClose(ModelMetrics(report.model).sparsity, 0.5, absolute: 0.01))
  }

  @Test func oneshotAndIterativeSchedulesReachTheTarget() throws {
    let dataset = bandDataset(samples: 160, classes: 4, seed: 2)
    for schedule in [PruningSchedule.oneshot, .iterative(steps: 3)] {
      let report = try FineTuning.run(
        model(), schedule: schedule, sparsity: 0.6, request: magnitude, on: dataset,
        options: TrainingOptions(epochs: 1, batchSize: 16), context: ScoringContext())
      #expect(isClose(ModelMetrics(report.model).sparsity, 0.6, absolute: 0.01), "\(schedule)")
    }
  }
}
