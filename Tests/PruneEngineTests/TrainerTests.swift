import Synchronization
import Testing
@testable import PruneEngine

struct TrainerTests {
  @Test func learnsATinySeparableProblemPerfectly() throws {
    let dataset = bandDataset(samples: 240, classes: 4, seed: 1)
    var generator = SeededGenerator(seed: 2)
    let model = Model(architecture: .mlp(widths: [16, 12, 4]), generator: &generator)
    let before = Evaluator(model: model, threads: 1).evaluate(dataset)
    let report = try Trainer.train(
      model, on: dataset, options: TrainingOptions(epochs: 15, batchSize: 16, optimizer: .adam(learningRate: 0.01)))
    let after = Evaluator(model: report.model, threads: 1).evaluate(dataset)
    #expect(before.accuracy < 0.9)
    #expect(after.accuracy == 1.0)
    #expect(after.loss < before.loss)
    #expect(report.epochsCompleted == 15)
    #expect(!report.wasCancelled)
  }

  /// The loss reads the logit of every label: a label without an output is an error, not a trap.
  @Test func labelsBeyondTheModelsOutputsAreRefused() throws {
    let dataset = bandDataset(samples: 32, classes: 4, seed: 1)
    var generator = SeededGenerator(seed: 2)
    let model = Model(architecture: .mlp(widths: [16, 12, 3]), generator: &generator)
    #expect(throws: ShearsError("training data", "labels go up to 3 but the model has 3 outputs")) {
      try Trainer.train(model, on: dataset, options: TrainingOptions(epochs: 1, batchSize: 16))
    }
  }

  @Test func sgdWithMomentumAlsoLearns() throws {
    let dataset = bandDataset(samples: 240, classes: 4, seed: 1)
    var generator = SeededGenerator(seed: 2)
    let model = Model(architecture: .mlp(widths: [16, 12, 4]), generator: &generator)
    let report = try Trainer.train(
      model, on: dataset,
      options: TrainingOptions(epochs: 15, batchSize: 16, optimizer: .sgd(learningRate: 0.05, momentum: 0.9)))
    #expect(Evaluator(model: report.model, threads: 1).evaluate(dataset).accuracy == 1.0)
  }

  @Test func sameSeedGivesTheSameModelAndAnotherSeedDoesNot() throws {
    let dataset = bandDataset(samples: 100, classes: 4, seed: 1)
    var generator = SeededGenerator(seed: 2)
    let model = Model(architecture: .mlp(widths: [16, 8, 4]), generator: &generator)
    func run(seed: UInt64) throws -> Model {
      try Trainer.train(model, on: dataset, options: TrainingOptions(epochs: 2, batchSize: 10, seed: seed, threads: 2)).model
    }
    #expect(try run(seed: 5) == run(seed: 5))
    #expect(try run(seed: 5) != run(seed: 6))
  }

  /// Every kernel of a convolutional network's step keeps one summation order per output
  /// whatever the thread count. The shapes are large enough for each to run threaded: both
  /// convolutions' GEMMs, the second one's input gradient folded into the image, the weight
  /// gradients, the pooling and the bias gradients.
  @Test func convolutionalTrainingDoesNotDependOnTheThreadCount() throws {
    let architecture = try Architecture(parsing: "cnn:1x12x12-conv16k3-conv12k3p1-pool2-fc10")
    let dataset = bandDataset(samples: 128, classes: 10, side: 12, seed: 3)
    var generator = SeededGenerator(seed: 4)
    let model = Model(architecture: architecture, generator: &generator)
    func run(threads: Int) throws -> Model {
      try Trainer.train(model, on: dataset, options: TrainingOptions(epochs: 1, batchSize: 64, threads: threads)).model
    }
    let serial = try run(threads: 1)
    #expect(serial != model)
    #expect(try run(threads: 2) == serial)
  }

  /// The same for a ResNet: BatchNorm with its ReLU, residual sums with theirs, stride-1 input
  /// gradients as convolutions and strided ones folded into the image, all large enough to
  /// run threaded.
  @Test func residualTrainingDoesNotDependOnTheThreadCount() throws {
    let module = ResNet.module(channels: 1, stages: [.init(width: 8, blocks: 1), .init(width: 16, blocks: 1)], classes: 10)
    let dataset = bandDataset(samples: 128, classes: 10, side: 16, seed: 3)
    var generator = SeededGenerator(seed: 4)
    let model = Model(module: module, inputShape: [1, 16, 16], generator: &generator)
    func run(threads: Int) throws -> Model {
      try Trainer.train(model, on: dataset, options: TrainingOptions(epochs: 1, batchSize: 64, threads: threads)).model
    }
    let serial = try run(threads: 1)
    #expect(serial != model)
    #expect(try run(threads: 2) == serial)
  }

  @Test func cancellationStopsBetweenBatchesAndKeepsTheLastFinishedBatch() throws {
    let dataset = bandDataset(samples: 100, classes: 4, seed: 1)
    var generator = SeededGenerator(seed: 2)
    let model = Model(architecture: .mlp(widths: [16, 8, 4]), generator: &generator)
    let token = CancellationToken()
    var batchesSeen = 0
    let report = try Trainer.train(
      model, on: dataset, options: TrainingOptions(epochs: 3, batchSize: 10), cancellation: token
    ) { event in
      if case .batchFinished = event {
        batchesSeen += 1
        if batchesSeen == 3 { token.cancel() }
      }
    }
    #expect(report.wasCancelled)
    #expect(batchesSeen == 3)
    #expect(report.epochsCompleted == 0)
    #expect(report.model != model)
  }

  @Test func eventsReportEveryBatchAndEpochInOrder() throws {
    let dataset = bandDataset(samples: 25, classes: 4, seed: 1)
    var generator = SeededGenerator(seed: 2)
    let model = Model(architecture: .mlp(widths: [16, 4]), generator: &generator)
    var events: [TrainingEvent] = []
    let tick = Atomic<UInt64>(0)
    let clock = MonotonicClock { tick.add(1_000_000, ordering: .relaxed).newValue }
    _ = try Trainer.train(model, on: dataset, options: TrainingOptions(epochs: 2, batchSize: 10), clock: clock) {
      events.append($0)
    }
    // 25 samples in batches of 10: 3 batches per epoch, the last of 5 samples.
    let shape = events.map { event -> String in
      switch event {
      case .batchFinished(let p): "b\(p.epoch).\(p.batch)/\(p.batchesPerEpoch)"
      case .epochFinished(let p): "e\(p.epoch)"
      }
    }
    #expect(shape == ["b1.1/3", "b1.2/3", "b1.3/3", "e1", "b2.1/3", "b2.2/3", "b2.3/3", "e2"])
    guard case .epochFinished(let last) = events.last else { return }
    #expect(last.fraction == 1)
    #expect(last.samplesPerSecond > 0)
  }

  /// A run whose steps (epochs x batches per epoch) do not fit an `Int` is refused before it
  /// starts, rather than trapping on the overflow.
  @Test func tooManyStepsToCountIsAnErrorNotATrap() throws {
    let dataset = bandDataset(samples: 20, classes: 4, seed: 1)
    var generator = SeededGenerator(seed: 2)
    let model = Model(architecture: .mlp(widths: [16, 4]), generator: &generator)
    let options = TrainingOptions(epochs: .max, batchSize: 10)
    #expect(
      throws: ShearsError(
        "--epochs \(Int.max)", "times 2 batches per epoch is more training steps than can be counted")
    ) {
      try Trainer.train(model, on: dataset, options: options)
    }
    let counts = try Trainer.batchCounts(sampleCount: 25, options: TrainingOptions(epochs: 3, batchSize: .max))
    #expect(counts.batchSize == 25 && counts.perEpoch == 1 && counts.total == 3)
  }

  @Test func progressFractionDoesNotOverflowOnHugeCounts() {
    let progress = TrainingProgress(
      epoch: .max, epochs: .max, batch: .max, batchesPerEpoch: .max, loss: 0, samplesPerSecond: 0, elapsedSeconds: 0)
    #expect(isClose(progress.fraction, 1))
  }

  @Test func cosineScheduleDecaysFromOneToZero() throws {
    let schedule = LearningRateSchedule.cosine
    #expect(schedule.factor(step: 0, totalSteps: 10) == 1)
    #expect(isClose(schedule.factor(step: 5, totalSteps: 10), 0.5))
    #expect(isClose(schedule.factor(step: 10, totalSteps: 10), 0, absolute: 1e-6))
    #expect(LearningRateSchedule.constant.factor(step: 7, totalSteps: 10) == 1)
  }
}
