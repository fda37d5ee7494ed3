import Foundation

/// How the learning rate changes over a run.
public enum LearningRateSchedule: String, Sendable, Equatable, CaseIterable {
  /// The configured rate throughout.
  case constant
  /// Cosine annealing from the configured rate to zero over the run (Loshchilov & Hutter 2017).
  case cosine

  /// The factor applied to the configured rate after `step` of `totalSteps` steps.
  public func factor(step: Int, totalSteps: Int) -> Float {
    switch self {
    case .constant: 1
    case .cosine: Float(0.5 * (1 + cos(Double.pi * Double(step) / Double(max(1, totalSteps)))))
    }
  }
}

/// Settings of a training run.
public struct TrainingOptions: Sendable, Equatable {
  public var epochs: Int
  public var batchSize: Int
  public var optimizer: OptimizerKind
  public var schedule: LearningRateSchedule
  /// Coefficient of an L1 penalty `l1 · Σ|w|` on the weights (not biases), which drives weights
  /// to zero before pruning. The reported loss is the cross-entropy alone.
  public var l1: Float
  /// Coefficient of an L1 penalty `l1BatchNorm · Σ|γ|` on BatchNorm scales: network slimming's
  /// sparsity regularisation (Liu et al. 2017), which drives the scales of unimportant channels
  /// towards zero so that `bn-scale` can prune them.
  public var l1BatchNorm: Float
  /// L2 penalty on every parameter, as PyTorch's `weight_decay`.
  public var weightDecay: Float
  /// Random shifts and flips of the training images, drawn per sample and batch; nil trains on
  /// the images as they are.
  public var augmentation: ImageAugmentation?
  /// Keep a copy of the weights after this epoch (0 = before training) for lottery-ticket
  /// rewinding; see `TrainingReport.rewindWeights`.
  public var rewindEpoch: Int?
  /// Seeds the per-epoch shuffling.
  public var seed: UInt64
  public var threads: Int

  public init(
    epochs: Int, batchSize: Int = 64, optimizer: OptimizerKind = .adam(learningRate: 1e-3),
    schedule: LearningRateSchedule = .cosine, l1: Float = 0, l1BatchNorm: Float = 0, weightDecay: Float = 0,
    augmentation: ImageAugmentation? = nil, rewindEpoch: Int? = nil, seed: UInt64 = 1,
    threads: Int = GEMM.defaultThreads
  ) {
    self.rewindEpoch = rewindEpoch
    self.epochs = epochs
    self.batchSize = batchSize
    self.optimizer = optimizer
    self.schedule = schedule
    self.l1 = l1
    self.l1BatchNorm = l1BatchNorm
    self.weightDecay = weightDecay
    self.augmentation = augmentation
    self.seed = seed
    self.threads = threads
  }
}

/// Where a training run stands, sent after every batch.
public struct TrainingProgress: Sendable, Equatable {
  /// 1-based epoch.
  public var epoch: Int
  public var epochs: Int
  /// 1-based batch within the epoch.
  public var batch: Int
  public var batchesPerEpoch: Int
  /// Mean loss over the batches of this epoch so far.
  public var loss: Double
  /// Training samples processed per second since the run started.
  public var samplesPerSecond: Double
  public var elapsedSeconds: Double

  /// Fraction of the whole run done, 0 to 1 (in floating point, so no count can overflow).
  public var fraction: Double {
    (Double(epoch - 1) * Double(batchesPerEpoch) + Double(batch)) / max(1, Double(epochs) * Double(batchesPerEpoch))
  }

  /// Estimated seconds left at the current speed.
  public var remainingSeconds: Double {
    fraction > 0 ? elapsedSeconds * (1 - fraction) / fraction : 0
  }
}

/// What a training run reports to its listener (a progress printer, the UI).
public enum TrainingEvent: Sendable, Equatable {
  case batchFinished(TrainingProgress)
  case epochFinished(TrainingProgress)
}

/// Masks that change during training (gradual pruning): every `interval` steps up to
/// `lastStep`, `update` receives the model as trained so far and the global step, and returns
/// the model with its new masks.
public struct MaskSchedule {
  public var interval: Int
  public var lastStep: Int
  public var update: (Model, _ step: Int) throws -> Model

  public init(interval: Int, lastStep: Int, update: @escaping (Model, _ step: Int) throws -> Model) {
    self.interval = max(1, interval)
    self.lastStep = lastStep
    self.update = update
  }
}

/// The outcome of a training run.
public struct TrainingReport: Sendable {
  public var model: Model
  public var epochsCompleted: Int
  /// True when the run stopped early because it was cancelled; `model` is as of the last
  /// finished batch.
  public var wasCancelled: Bool
  /// Mean loss over the last epoch that ran.
  public var finalLoss: Double
  public var samplesPerSecond: Double
  public var seconds: Double
  /// The weights after `TrainingOptions.rewindEpoch`, when asked for and reached.
  public var rewindWeights: Model?
}

/// Mini-batch training of a model with softmax cross-entropy.
public enum Trainer {
  /// The batches of a run of `options` on `sampleCount` samples: the batch size (at most the
  /// whole set), the batches of one epoch and of the whole run.
  /// - Throws: `ShearsError` naming `--epochs` when the run has more steps than an `Int` counts
  ///   (no run would finish them, and step numbers would overflow).
  public static func batchCounts(sampleCount: Int, options: TrainingOptions) throws
    -> (batchSize: Int, perEpoch: Int, total: Int)
  {
    let batchSize = max(1, min(options.batchSize, sampleCount))
    let perEpoch = (sampleCount + batchSize - 1) / batchSize
    let (total, overflow) = max(0, options.epochs).multipliedReportingOverflow(by: perEpoch)
    guard !overflow else {
      throw ShearsError(
        "--epochs \(options.epochs)", "times \(perEpoch) batches per epoch is more training steps than can be counted")
    }
    return (batchSize, perEpoch, total)
  }

  /// Trains `model` on `dataset`: each epoch visits every sample once in an order shuffled by a
  /// generator seeded from `options.seed`, in batches of `options.batchSize` (the last may be
  /// smaller), and applies one optimizer step per batch on the mean loss.
  ///
  /// The same model, data, options and thread count give the same result.
  ///
  /// - Parameters:
  ///   - masks: changes the masks during training; pruned weights and their optimizer state are
  ///     zeroed from the next step on.
  ///   - cancellation: checked between batches.
  ///   - events: called on the training thread after every batch and epoch.
  ///   - epochModels: receives the model after every epoch (the explorer redraws from it).
  /// - Throws: `ShearsError` when a label has no output in the model or the run has more steps
  ///   than an `Int` counts (see `batchCounts`), and what `masks.update` throws.
  /// - Complexity: O(epochs · samples · parameters).
  public static func train(
    _ model: Model, on dataset: Dataset, options: TrainingOptions, masks: MaskSchedule? = nil,
    clock: MonotonicClock = .system, cancellation: CancellationToken? = nil,
    events: (TrainingEvent) -> Void = { _ in }, epochModels: ((Model) -> Void)? = nil
  ) throws -> TrainingReport {
    // The loss reads the logit of each label, so every label needs an output.
    guard dataset.classCount <= model.classCount else {
      throw ShearsError(
        "training data", "labels go up to \(dataset.classCount - 1) but the model has \(model.classCount) outputs")
    }
    return try run(
      model, examples: dataset.count, columnsPerExample: 1, options: options, masks: masks, clock: clock,
      cancellation: cancellation, events: events, epochModels: epochModels
    ) { state, indices, rateScale in
      state.step(indices: indices, dataset: dataset, learningRateScale: rateScale, threads: options.threads)
    }
  }

  /// Trains a language model on windows of tokens as `train(_:on:options:...)` trains a
  /// classifier on images: an epoch visits every window once in a shuffled order, and the loss
  /// is the mean cross-entropy of predicting each token's successor.
  /// - Throws: `ShearsError` when the windows are not the model's context long, a token has no
  ///   output in the model, or as `train(_:on:options:...)` does.
  public static func train(
    _ model: Model, on windows: TokenWindows, options: TrainingOptions, masks: MaskSchedule? = nil,
    clock: MonotonicClock = .system, cancellation: CancellationToken? = nil,
    events: (TrainingEvent) -> Void = { _ in }, epochModels: ((Model) -> Void)? = nil
  ) throws -> TrainingReport {
    guard let shape = model.languageModel, shape.context == windows.context else {
      throw ShearsError("training text", "windows of \(windows.context) tokens do not fit the model")
    }
    if let largest = windows.tokens.max(), largest >= shape.vocabulary {
      throw ShearsError("training text", "token \(largest) is outside the model's vocabulary of \(shape.vocabulary)")
    }
    guard windows.count > 0 else {
      throw ShearsError("training text", "has fewer than \(windows.context + 1) tokens, one window of the model's context")
    }
    return try run(
      model, examples: windows.count, columnsPerExample: windows.context, options: options, masks: masks, clock: clock,
      cancellation: cancellation, events: events, epochModels: epochModels
    ) { state, indices, rateScale in
      state.step(windows: indices, of: windows, learningRateScale: rateScale, threads: options.threads)
    }
  }

  /// The loop both `train` functions share: epochs of shuffled batches of examples, each
  /// filling `columnsPerExample` columns of the plan, one optimizer step per batch by `step`.
  private static func run(
    _ model: Model, examples: Int, columnsPerExample: Int, options: TrainingOptions, masks: MaskSchedule?,
    clock: MonotonicClock, cancellation: CancellationToken?, events: (TrainingEvent) -> Void,
    epochModels: ((Model) -> Void)?,
    step: (TrainingState, UnsafeBufferPointer<Int32>, _ learningRateScale: Float) -> Double
  ) throws -> TrainingReport {
    let (batchSize, batchesPerEpoch, totalSteps) = try batchCounts(sampleCount: examples, options: options)
    let state = TrainingState(
      model: model, capacity: batchSize * columnsPerExample, optimizer: options.optimizer, l1: options.l1, l1BatchNorm: options.l1BatchNorm,
      weightDecay: options.weightDecay, augmentation: options.augmentation, maskAll: masks != nil,
      seed: options.seed)
    var generator = SeededGenerator(seed: options.seed)
    var order = (0..<Int32(examples)).map { $0 }
    let start = clock.nanoseconds()
    var samplesSeen = 0
    var epochsCompleted = 0
    var epochLoss = 0.0
    var wasCancelled = false
    var rewindWeights = options.rewindEpoch == 0 ? model : nil

    training: for epoch in 1...max(1, options.epochs) where options.epochs > 0 {
      order.shuffle(using: &generator)
      epochLoss = 0
      for batch in 0..<batchesPerEpoch {
        if cancellation?.isCancelled == true {
          wasCancelled = true
          break training
        }
        let globalStep = (epoch - 1) * batchesPerEpoch + batch
        if let masks, globalStep <= masks.lastStep,
          globalStep % masks.interval == 0 || globalStep == masks.lastStep
        {
          state.plan.adoptMasks(of: try masks.update(state.model(), globalStep).parameters)
        }
        let first = batch * batchSize
        let n = min(batchSize, examples - first)
        let rateScale = options.schedule.factor(step: globalStep, totalSteps: totalSteps)
        let loss = order.withUnsafeBufferPointer { indices in
          step(state, UnsafeBufferPointer(rebasing: indices[first..<(first + n)]), rateScale)
        }
        samplesSeen += n
        epochLoss += loss
        let elapsed = clock.seconds(since: start)
        events(
          .batchFinished(
            TrainingProgress(
              epoch: epoch, epochs: options.epochs, batch: batch + 1, batchesPerEpoch: batchesPerEpoch,
              loss: epochLoss / Double(batch + 1), samplesPerSecond: Double(samplesSeen) / max(elapsed, 1e-9),
              elapsedSeconds: elapsed)))
      }
      epochsCompleted = epoch
      if options.rewindEpoch == epoch { rewindWeights = state.model() }
      epochModels?(state.model())
      let elapsed = clock.seconds(since: start)
      epochLoss /= Double(batchesPerEpoch)
      events(
        .epochFinished(
          TrainingProgress(
            epoch: epoch, epochs: options.epochs, batch: batchesPerEpoch, batchesPerEpoch: batchesPerEpoch,
            loss: epochLoss, samplesPerSecond: Double(samplesSeen) / max(elapsed, 1e-9),
            elapsedSeconds: elapsed)))
    }
    let seconds = clock.seconds(since: start)
    return TrainingReport(
      model: state.model(), epochsCompleted: epochsCompleted, wasCancelled: wasCancelled,
      finalLoss: epochLoss, samplesPerSecond: Double(samplesSeen) / max(seconds, 1e-9), seconds: seconds,
      rewindWeights: rewindWeights)
  }
}

/// What a training run updates in place: the model's execution plan, the optimizer's state for
/// its trained parameters, and the batch's labels.
final class TrainingState {
  let plan: ExecutionPlan
  let optimizer: Optimizer
  private let template: Model
  /// The trained parameters' buffers (weights and biases) and their gradients, in the
  /// optimizer's order.
  private let values: [UnsafeMutableBufferPointer<Float>]
  private let gradients: [UnsafeMutableBufferPointer<Float>]
  /// The label of each column of the batch.
  private let labels: UnsafeMutableBufferPointer<Int32>
  private let augmentation: ImageAugmentation?
  /// Draws the augmentation of each sample; its own stream, so augmenting leaves the shuffling
  /// and Dropout of a seeded run as they were.
  private var augmentationGenerator: SeededGenerator
  /// One sample's values, for transforming it in place.
  private let sampleScratch: UnsafeMutableBufferPointer<Float>

  /// - Parameters:
  ///   - l1: the L1 penalty on weights (not biases).
  ///   - l1BatchNorm: the L1 penalty on BatchNorm scales.
  ///   - augmentation: random transformations of each training image.
  ///   - maskAll: give every weight a mask, so a schedule can prune during the run.
  /// - seed: seeds the random steps (Dropout, augmentation), as the run's seed seeds its shuffling.
  init(
    model: Model, capacity: Int, optimizer kind: OptimizerKind, l1: Float, l1BatchNorm: Float, weightDecay: Float,
    augmentation: ImageAugmentation? = nil, maskAll: Bool, seed: UInt64 = 0
  ) {
    template = model
    self.augmentation = augmentation
    augmentationGenerator = SeededGenerator(seed: seed ^ 0x6175_676D_656E_7473)
    sampleScratch = .allocate(capacity: augmentation == nil ? 0 : model.inputShape.reduce(1, *))
    plan = ExecutionPlan(
      model: model, capacity: capacity, gradients: true, maskAll: maskAll, seed: seed)
    let trained = plan.parameters.filter { $0.gradient != nil }
    values = trained.map(\.value)
    gradients = trained.compactMap(\.gradient)
    // Weights carry the L1 penalty, BatchNorm scales network slimming's; biases none. Masks
    // hold whatever pruning removed (weights, or whole channels' scales and shifts).
    let penalties: [Parameter.Role: Float] = [.weight: l1, .scale: l1BatchNorm]
    optimizer = Optimizer(
      kind: kind, parameters: values,
      roles: trained.map { ParameterRole(mask: $0.mask, l1: penalties[$0.role] ?? 0) }, weightDecay: weightDecay)
    labels = .allocate(capacity: capacity)
    labels.initialize(repeating: 0)
  }

  deinit {
    labels.deallocate()
    sampleScratch.deallocate()
  }

  /// The parameters as a `Model` value.
  func model() -> Model {
    Model(module: template.module, parameters: plan.parameterStore(), inputShape: template.inputShape)
  }

  /// One optimizer step on the samples `indices`; returns the batch's mean loss.
  func step(indices: UnsafeBufferPointer<Int32>, dataset: Dataset, learningRateScale: Float, threads: Int) -> Double {
    let n = indices.count
    return step(columns: n, learningRateScale: learningRateScale, threads: threads) { input, labels in
      dataset.gatherFeatureMajor(indices, into: input, leadingDimension: n)
      if let augmentation, let scratch = sampleScratch.baseAddress {
        augmentation.apply(
          to: input, leadingDimension: n, count: n, channels: dataset.channels, rows: dataset.rows,
          columns: dataset.columns, scratch: scratch, generator: &augmentationGenerator)
      }
      dataset.labels.withUnsafeBufferPointer { source in
        for j in 0..<n { labels[j] = Int32(source[Int(indices[j])]) }
      }
    }
  }

  /// One optimizer step on the token windows `indices`, every token's label its successor;
  /// returns the mean loss per token.
  func step(windows indices: UnsafeBufferPointer<Int32>, of windows: TokenWindows, learningRateScale: Float, threads: Int)
    -> Double
  {
    let context = windows.context
    return step(columns: indices.count * context, learningRateScale: learningRateScale, threads: threads) { input, labels in
      windows.tokens.withUnsafeBufferPointer { tokens in
        for (position, window) in indices.enumerated() {
          let start = Int(window) * context
          for t in 0..<context {
            input[position * context + t] = Float(tokens[start + t])
            labels[position * context + t] = tokens[start + t + 1]
          }
        }
      }
    }
  }

  /// One optimizer step on `n` columns that `fill` writes into the plan's input (`[features, n]`)
  /// and the labels; returns the mean loss per column.
  private func step(
    columns n: Int, learningRateScale: Float, threads: Int,
    fill: (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Int32>) -> Void
  ) -> Double {
    fill(plan.input, labels.baseAddress!)
    plan.forward(count: n, mode: .training, threads: threads)
    let (loss, _) = Kernels.softmaxCrossEntropy(
      logits: plan.logits, classes: plan.classCount, batch: n, leadingDimension: n, labels: labels.baseAddress!,
      gradient: plan.logitsGradient, gradientScale: 1 / Float(n))
    plan.backward(count: n, mode: .training, threads: threads)
    optimizer.step(
      parameters: values, gradients: gradients, learningRateScale: learningRateScale, threads: threads)
    return loss / Double(n)
  }
}
