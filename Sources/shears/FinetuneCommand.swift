import ArgumentParser
import Foundation
import PruneEngine

struct FinetuneCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "finetune",
    abstract: "Fine-tune a pruned checkpoint with its masks held, optionally pruning on a schedule.",
    discussion: """
      Pruned weights stay exactly zero: the gradient, the update and the optimizer state are \
      masked. With --schedule and --target-sparsity the model is pruned as it trains: oneshot \
      prunes once and fine-tunes; iterative prunes in --steps steps with --epochs of fine-tuning \
      after each; gradual raises the sparsity every --interval steps over the first 75% of the \
      run (Zhu & Gupta 2017).
      """)

  @Option(name: .long, help: ArgumentHelp("Checkpoint to fine-tune (safetensors).", valueName: "PATH"))
  var model: String

  @OptionGroup var dataOptions: DataOptions

  @Option(
    name: .long,
    help: "Passes over the training set, \(OptionRange<Int>.epochs.text) (per step with --schedule iterative).")
  var epochs: Int

  @Option(name: .long, help: "adam or sgd (with momentum 0.9).")
  var optimizer: TrainCommand.OptimizerName = .adam

  @Option(
    name: .long,
    help: """
      Learning rate, \(OptionRange<Float>.learningRate.text), decayed to zero over the run (default 0.008 for adam, \
      0.05 for sgd).
      """)
  var lr: Float?

  @Option(
    name: .long, help: "L1 penalty X, \(OptionRange<Float>.l1.text): adds X x sum|w| over the weights to the loss.")
  var l1: Float = 0

  @OptionGroup var augmentation: AugmentationOption

  @Option(name: .long, help: "Samples per optimizer step, \(OptionRange<Int>.batch.text).")
  var batch = 64

  @Option(name: .long, help: "Seed for shuffling, 0 to 2^64-1.")
  var seed: UInt64 = 1

  @Option(name: .long, help: "none, oneshot, iterative or gradual.")
  var schedule: ScheduleName = .none

  @Option(
    name: .long, parsing: .unconditional,
    help: ArgumentHelp("Sparsity to reach with --schedule, \(OptionRange<Double>.fraction.text).", valueName: "S"))
  var targetSparsity: Double?

  @Option(name: .long, help: ArgumentHelp("Criterion for --schedule (default magnitude).", valueName: "C"))
  var criterion: Criterion = .magnitude

  @Option(name: .long, help: "layer, global or row, for --schedule.")
  var scope: PruningScope = .layer

  @Option(name: .long, help: "Pruning steps of --schedule iterative, \(OptionRange<Int>.steps.text).")
  var steps = 3

  @Option(
    name: .long, help: "Training steps between mask updates of --schedule gradual, \(OptionRange<Int>.interval.text).")
  var interval = 100

  @Flag(
    name: .long,
    help: "Restart from the checkpoint's rewind weights under its masks (lottery ticket; train --rewind-epoch).")
  var rewind = false

  @Option(name: .long, help: ArgumentHelp("Checkpoint to write (safetensors).", valueName: "PATH"))
  var out: String

  @Flag(name: .long, help: "Allow --out to overwrite the input checkpoint.")
  var force = false

  @OptionGroup var memory: MemoryOptions
  @OptionGroup var output: OutputOptions

  enum ScheduleName: String, ExpressibleByArgument, CaseIterable {
    case none, oneshot, iterative, gradual
  }

  func validate() throws {
    try OptionRange<Int>.epochs.check(epochs, option: "--epochs")
    try OptionRange<Int>.batch.check(batch, option: "--batch")
    try OptionRange<Float>.learningRate.check(lr, option: "--lr")
    try OptionRange<Float>.l1.check(l1, option: "--l1")
    try OptionRange<Int>.steps.check(steps, option: "--steps")
    try OptionRange<Int>.interval.check(interval, option: "--interval")
    try OptionRange<Double>.fraction.check(targetSparsity, option: "--target-sparsity")
    if schedule != .none && targetSparsity == nil {
      throw ValidationError("--schedule \(schedule.rawValue) needs --target-sparsity")
    }
  }

  func run() throws {
    try OutputPath.checkWritable(out, input: model, force: force)
    let (checkpoint, metadata, rewindWeights) = try memory.loadCheckpoint(model)
    var loaded = checkpoint
    if rewind {
      guard let rewindWeights else {
        throw ShearsError(model, "has no rewind weights; train it with --rewind-epoch to keep them")
      }
      loaded = FineTuning.rewound(checkpoint, to: rewindWeights)
    }
    let work = try DataWork(
      options: dataOptions, model: loaded, modelPath: model, needsTraining: true, memory: memory.budget,
      batchSize: batch)
    guard let train = work.train else { return }
    let pruningSchedule: PruningSchedule =
      switch schedule {
      case .none: .none
      case .oneshot: .oneshot
      case .iterative: .iterative(steps: steps)
      case .gradual: .gradual(interval: interval)
      }
    let request = PruningRequest(criterion: criterion, scope: scope, rule: .fraction(0))
    if pruningSchedule != .none { _ = try Pruner.targetLayers(of: loaded, request: request) }
    let kind: OptimizerKind =
      switch optimizer {
      case .adam: .adam(learningRate: lr ?? 8e-3)
      case .sgd: .sgd(learningRate: lr ?? 0.05, momentum: 0.9)
      }
    let options = TrainingOptions(
      epochs: epochs, batchSize: batch, optimizer: kind, schedule: .cosine, l1: l1,
      augmentation: augmentation.augmentation, seed: seed)
    let printer = ProgressPrinter()
    let report = try FineTuning.run(
      loaded, schedule: pruningSchedule, sparsity: targetSparsity, request: request, on: train, options: options,
      context: work.scoringContext(seed: seed)
    ) { event in
      if output.showsProgress { printer.handle(event) }
    }
    let evaluation = Evaluator(model: report.model).evaluate(work.test)
    var history = metadata.history
    var entry = "finetune epochs=\(epochs) \(kind) l1=\(l1)\(augmentation.historyEntry) seed=\(seed)"
    if rewind { entry += " rewind=\(metadata.rewindEpoch.map(String.init) ?? "?")" }
    if schedule != .none {
      entry += " schedule=\(schedule.rawValue) target=\(targetSparsity ?? 0) criterion=\(criterion.rawValue) scope=\(scope.rawValue)"
    }
    history.append(entry)
    try Checkpoint.save(
      report.model,
      metadata: CheckpointMetadata(
        dataset: metadata.dataset ?? work.source.description, accuracy: evaluation.accuracy,
        created: ISO8601DateFormatter().string(from: Date()), history: history, rewindEpoch: metadata.rewindEpoch),
      rewind: rewindWeights, to: out)
    let result = TrainResult(
      model: ModelReport(report.model), evaluation: evaluation, samplesPerSecond: report.samplesPerSecond,
      seconds: report.seconds, epochs: report.epochsCompleted, out: out)
    if output.json {
      try JSONOutput.print(result)
    } else {
      try Console.output(result.model.table)
      try Console.output(String(format: "test accuracy %.4f  loss %.4f  (%d images)", evaluation.accuracy, evaluation.loss, evaluation.samples))
      try Console.output("saved \(out)")
    }
  }
}

extension FineTuning {
  /// Training settings for fine-tuning after pruning: Adam at 0.008 with cosine decay (the best
  /// of 0.0005 to 0.012 when recovering LeNet-300-100 at 92% sparsity in 3 epochs).
  static func options(epochs: Int) -> TrainingOptions {
    TrainingOptions(epochs: epochs, optimizer: .adam(learningRate: 8e-3), schedule: .cosine)
  }
}
