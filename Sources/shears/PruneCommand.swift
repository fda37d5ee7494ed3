import ArgumentParser
import Foundation
import PruneEngine

struct PruneCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "prune",
    abstract: "Prune a checkpoint by a criterion and save the result.",
    discussion: """
      Pruning is cumulative, as in torch.nn.utils.prune: only weights still kept compete, and a \
      fraction applies to their number (round half to even). Ties go lowest index first. \
      Structured criteria (neuron-l2, filter-l1, bn-scale, activation, apoz, redundancy, taylor \
      --structured) remove whole neurons, or filters of a convolution, together with the channels \
      coupled to them: in a ResNet, a residual stream's channel in every block that writes it, \
      with its BatchNorm scales and shifts. bn-scale ranks channels by |gamma| (network \
      slimming; train with --l1-bn first). --shrink then removes them physically.
      """)

  @Option(name: .long, help: ArgumentHelp("Checkpoint to prune (safetensors).", valueName: "PATH"))
  var model: String

  @OptionGroup var criterionOptions: CriterionOptions
  @OptionGroup var amountOptions: AmountOptions
  @OptionGroup var dataOptions: DataOptions

  @Flag(name: .long, help: "Remove pruned neurons and filters physically (the outputs stay the same).")
  var shrink = false

  @Option(name: .long, help: ArgumentHelp("Checkpoint to write (safetensors).", valueName: "PATH"))
  var out: String

  @Flag(name: .long, help: "Allow --out to overwrite the input checkpoint.")
  var force = false

  @OptionGroup var memory: MemoryOptions
  @OptionGroup var output: JSONOption

  func run() throws {
    let request = try criterionOptions.request(rule: try amountOptions.rule())
    try OutputPath.checkWritable(out, input: model, force: force)
    let (loaded, metadata, rewind) = try memory.loadCheckpoint(model)
    for warning in Checkpoint.nonFiniteWarnings(in: loaded) { Console.warning("\(model): \(warning)") }
    let work = try DataWork(
      options: dataOptions, model: loaded, modelPath: model, needsTraining: request.criterion.needsData,
      memory: memory.budget)
    let outcome = try PruningPipeline.apply(request, to: loaded, context: work.scoringContext(seed: criterionOptions.seed))
    let (pruned, removed) = shrink ? outcome.model.shrunk() : (outcome.model, [:])
    let evaluation = Evaluator(model: pruned).evaluate(work.test)
    let shift = request.criterion.rewritesKeptWeights ? OutputShift(from: loaded, to: outcome.model, on: work.test) : nil

    var history = metadata.history
    history.append("prune \(criterionOptions.summary) \(amountOptions.summary)" + (shrink ? " shrink" : ""))
    try Checkpoint.save(
      pruned,
      metadata: CheckpointMetadata(
        dataset: metadata.dataset ?? work.source.description, accuracy: evaluation.accuracy,
        created: ISO8601DateFormatter().string(from: Date()), history: history, rewindEpoch: metadata.rewindEpoch),
      rewind: shrink ? nil : rewind, to: out)

    let result = PruneResult(
      model: ModelReport(pruned), evaluation: evaluation, layers: outcome.layers, outputShift: shift, out: out)
    if output.json {
      try JSONOutput.print(result)
    } else {
      try Console.output(result.model.table)
      for layer in outcome.layers {
        let isConvolution = loaded.weightedLayer(at: layer.layer)?.isConvolution == true
        let unit = request.granularity == .weight ? "weights" : isConvolution ? "filters" : "neurons"
        try Console.output(
          "layer \(layer.layer): pruned \(layer.prunedUnits) of \(layer.keptUnitsBefore) \(unit) still kept"
            + (layer.tiesAtCut > 0 ? " (\(layer.tiesAtCut) tied at the cut, lowest index pruned first)" : ""))
      }
      for (path, layer) in outcome.model.weightedLayers {
        guard let rows = removed[path] else { continue }
        let unit = layer.isConvolution ? "filters" : "neurons"
        try Console.output("shrink: layer \(path) keeps \(layer.outputCount - rows.count) of \(layer.outputCount) \(unit)")
      }
      if let shift {
        try Console.output(String(format: "outputs moved: mean |Δlogit| %.5f, max %.5f", shift.meanAbsolute, shift.maximumAbsolute))
      }
      try Console.output(String(format: "test accuracy %.4f  loss %.4f  (%d images)", evaluation.accuracy, evaluation.loss, evaluation.samples))
      try Console.output("saved \(out)")
    }
  }
}

/// How far a change moved a model's logits on some data.
struct OutputShift: Encodable {
  var meanAbsolute: Double
  var maximumAbsolute: Double

  init(from before: Model, to after: Model, on dataset: Dataset, limit: Int = 2048) {
    let old = Evaluator(model: before).logits(dataset, limit: limit)
    let new = Evaluator(model: after).logits(dataset, limit: limit)
    let differences = zip(old, new).map { Double(abs($0 - $1)) }
    meanAbsolute = differences.reduce(0, +) / Double(max(1, differences.count))
    maximumAbsolute = differences.max() ?? 0
  }
}

/// `prune --json`.
struct PruneResult: Encodable {
  struct Layer: Encodable {
    var layer: LayerName
    var pruned: Int
    var keptBefore: Int
    var tiesAtCut: Int
  }

  var model: ModelReport
  var evaluation: Evaluation
  var layers: [LayerPruning]
  var outputShift: OutputShift?
  var out: String

  enum CodingKeys: String, CodingKey { case accuracy, loss, samples, pruned, outputShift, out }

  func encode(to encoder: Encoder) throws {
    try model.encode(to: encoder)
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encode(evaluation.accuracy, forKey: .accuracy)
    try container.encode(evaluation.loss, forKey: .loss)
    try container.encode(evaluation.samples, forKey: .samples)
    try container.encode(
      layers.map { Layer(layer: LayerName($0.layer), pruned: $0.prunedUnits, keptBefore: $0.keptUnitsBefore, tiesAtCut: $0.tiesAtCut) },
      forKey: .pruned)
    try container.encodeIfPresent(outputShift, forKey: .outputShift)
    try container.encode(out, forKey: .out)
  }
}

/// The data a pruning command works with: the test set always, the training set when a
/// criterion or fine-tuning needs it.
struct DataWork {
  let source: DataSource
  let test: Dataset
  let train: Dataset?

  /// Loads the data a command's work on `model` needs and checks that the model fits it, and
  /// that the work fits in `memory`: training on batches of `batchSize` with Adam when
  /// `needsTraining` (calibration runs backward passes too), else evaluation.
  init(
    options: DataOptions, model: Model, modelPath: String, needsTraining: Bool, memory: MemoryBudget,
    batchSize: Int = TrainingOptions(epochs: 1).batchSize
  ) throws {
    source = try options.resolveSource()
    if needsTraining {
      let splits = try source.load()
      test = splits.test
      train = splits.train
      try ModelCompatibility.check(model, modelPath: modelPath, with: splits.train, source: source)
    } else {
      test = try source.loadTest()
      train = nil
    }
    try ModelCompatibility.check(model, modelPath: modelPath, with: test, source: source)
    let architecture = model.architecture
    try memory.check(
      needsTraining
        ? architecture.trainingMemory(batchSize: batchSize, optimizer: TrainingOptions(epochs: 1).optimizer)
        : architecture.evaluationMemory(threads: GEMM.defaultThreads),
      for: modelPath)
  }

  func scoringContext(seed: UInt64) -> ScoringContext {
    ScoringContext(calibration: train, seed: seed)
  }
}
