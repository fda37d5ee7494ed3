import Foundation

/// How pruning and fine-tuning are interleaved (`shears finetune --schedule`).
public enum PruningSchedule: Sendable, Equatable {
  /// Fine-tune only; the masks stay as they are.
  case none
  /// Prune to the target once, then fine-tune.
  case oneshot
  /// Prune in `steps` equal-ratio steps to the target, fine-tuning after each (Han et al. 2015).
  case iterative(steps: Int)
  /// Prune while training (Zhu & Gupta 2017): every `interval` steps the sparsity target is
  /// `s_t = s_f + (s_i - s_f)(1 - (t - t0)/(n Δt))³`, from the model's sparsity `s_i` at `t0 = 0`
  /// to `s_f` at 75% of the training steps; the rest of the run trains with the final masks.
  case gradual(interval: Int)
}

/// Pruning to a total sparsity, and the schedules built on it.
public enum FineTuning {
  /// Share of the training steps over which gradual pruning raises the sparsity.
  public static let gradualShare = 0.75

  /// The Zhu & Gupta sparsity at `step` of a ramp from `initial` to `final` ending at `rampEnd`.
  public static func gradualSparsity(step: Int, rampEnd: Int, initial: Double, final: Double) -> Double {
    let progress = min(1, Double(step) / Double(max(1, rampEnd)))
    return final + (initial - final) * pow(1 - progress, 3)
  }

  /// The sparsity after step `k` of `steps` of an iterative schedule: each step prunes the same
  /// fraction of what is left, so `1 - s` shrinks geometrically from `initial` to `final`.
  public static func iterativeSparsity(step: Int, steps: Int, initial: Double, final: Double) -> Double {
    1 - (1 - initial) * pow((1 - final) / (1 - initial), Double(step) / Double(max(1, steps)))
  }

  /// Prunes until the request's layers reach `sparsity` (each layer on its own with layer scope,
  /// all together with global scope, each layer's rows by the layer's fraction with row scope);
  /// the request's rule is replaced. Already sparser layers are left alone.
  public static func prune(
    _ model: Model, to sparsity: Double, request: PruningRequest, context: ScoringContext
  ) throws -> Model {
    let targets = try Pruner.targetLayers(of: model, request: request)
    func fraction(from current: Double) -> Double {
      current >= sparsity || current >= 1 ? 0 : (sparsity - current) / (1 - current)
    }
    switch request.scope {
    case .global:
      var step = request
      step.rule = .fraction(fraction(from: unitSparsity(of: model, layers: targets, granularity: request.granularity)))
      return try PruningPipeline.apply(step, to: model, context: context).model
    case .layer, .row:
      var pruned = model
      for layer in targets {
        var step = request
        step.layers = [layer]
        step.rule = .fraction(fraction(from: unitSparsity(of: pruned, layers: [layer], granularity: request.granularity)))
        pruned = try PruningPipeline.apply(step, to: pruned, context: context).model
      }
      return pruned
    }
  }

  /// Lottery-ticket rewinding (Frankle & Carbin 2019; Frankle et al. 2020): the early weights
  /// `rewind` under `model`'s masks, so training restarts from there on the pruned structure.
  public static func rewound(_ model: Model, to rewind: Model) -> Model {
    var result = rewind
    for (path, dense) in model.weightedLayers {
      guard var early = rewind.weightedLayer(at: path), let mask = dense.mask else { continue }
      early.setMask(mask)
      result.replaceWeightedLayer(at: path, with: early)
    }
    return result
  }

  /// Fraction of the units (weights or neurons) of `layers` that are pruned.
  public static func unitSparsity(of model: Model, layers: [ParameterPath], granularity: Granularity) -> Double {
    var pruned = 0
    var total = 0
    for (path, dense) in model.weightedLayers where layers.contains(path) {
      let mask = dense.keptMask
      switch granularity {
      case .weight:
        total += mask.count
        pruned += mask.count - dense.keptCount
      case .neuron:
        let columns = dense.inputCount
        total += dense.outputCount
        pruned += (0..<dense.outputCount).filter { row in !mask[(row * columns)..<((row + 1) * columns)].contains(1) }.count
      }
    }
    return total == 0 ? 0 : Double(pruned) / Double(total)
  }

  /// Runs a schedule: prunes `model` towards `sparsity` with `request` (ignored for `.none`) and
  /// trains with `options` (per step for iterative schedules).
  public static func run(
    _ model: Model, schedule: PruningSchedule, sparsity: Double?, request: PruningRequest?,
    on dataset: Dataset, options: TrainingOptions, context: ScoringContext,
    clock: MonotonicClock = .system, cancellation: CancellationToken? = nil,
    events: (TrainingEvent) -> Void = { _ in }
  ) throws -> TrainingReport {
    guard schedule != .none, let sparsity, let request else {
      return try Trainer.train(model, on: dataset, options: options, clock: clock, cancellation: cancellation, events: events)
    }
    let targets = try Pruner.targetLayers(of: model, request: request)
    let initial = unitSparsity(of: model, layers: targets, granularity: request.granularity)
    switch schedule {
    case .none, .oneshot:
      let pruned = try prune(model, to: sparsity, request: request, context: context)
      return try Trainer.train(pruned, on: dataset, options: options, clock: clock, cancellation: cancellation, events: events)
    case .iterative(let steps):
      var current = model
      var report: TrainingReport?
      for step in 1...max(1, steps) {
        let target = iterativeSparsity(step: step, steps: steps, initial: initial, final: sparsity)
        current = try prune(current, to: target, request: request, context: context)
        let stepReport = try Trainer.train(
          current, on: dataset, options: options, clock: clock, cancellation: cancellation, events: events)
        current = stepReport.model
        report = stepReport
        if stepReport.wasCancelled { break }
      }
      return report ?? TrainingReport(
        model: current, epochsCompleted: 0, wasCancelled: false, finalLoss: 0, samplesPerSecond: 0, seconds: 0,
        rewindWeights: nil)
    case .gradual(let interval):
      let totalSteps = try Trainer.batchCounts(sampleCount: dataset.count, options: options).total
      let rampEnd = Int(Double(totalSteps) * gradualShare)
      let masks = MaskSchedule(interval: interval, lastStep: rampEnd) { current, step in
        let target = gradualSparsity(step: step, rampEnd: rampEnd, initial: initial, final: sparsity)
        return try prune(current, to: target, request: request, context: context)
      }
      return try Trainer.train(
        model, on: dataset, options: options, masks: masks, clock: clock, cancellation: cancellation, events: events)
    }
  }
}
