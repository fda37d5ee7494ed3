import ArgumentParser
import ExplorerCore
import Foundation
import PruneEngine

struct BenchCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "bench",
    abstract: "Measure the engine: GEMM GFLOP/s, training samples/s and test-set evaluation time.",
    discussion: """
      Figures are medians of several runs at batch 64 of LeNet-300-100 \
      (mlp:784-300-100-10: GEMMs, training, evaluation dense and sparse, the explorer), of \
      LeNet-5 (lenet5: its GEMMs and convolution kernels, training, evaluation, per-layer times \
      dense, sparse and shrunk) and of ResNet-20 on images of the data's shape (training, and \
      evaluation of 1,000 test images). --suite explorer (not part of all) presses threshold \
      keys in the explorer on LeNet-300-100, ResNet-20 and a ResNet of about 1M parameters: \
      key press to redrawn screen, median and worst. Build with -c release; a debug build is \
      10 to 100 times slower.
      """)

  /// Which models are measured.
  enum Suite: String, ExpressibleByArgument, CaseIterable {
    case all
    case mlp
    case lenet5
    case resnet20
    /// Threshold key presses in the explorer on LeNet-300-100 and two ResNets.
    case explorer

    /// The fixed-input networks the suite trains and evaluates on the data (ResNet-20 takes the
    /// data's image shape).
    var architectures: [Architecture] {
      switch self {
      case .all: [.lenet300100, .lenet5]
      case .mlp: [.lenet300100]
      case .lenet5: [.lenet5]
      case .resnet20, .explorer: []
      }
    }
  }

  @OptionGroup var dataOptions: DataOptions
  @OptionGroup var output: OutputOptions

  @Option(
    name: .long, help: "Repetitions per measurement, \(OptionRange<Int>.repetitions.text) (the median is reported).")
  var repetitions = 5

  @Option(name: .long, help: "Which models to measure.")
  var suite = Suite.all

  func validate() throws {
    try OptionRange<Int>.repetitions.check(repetitions, option: "--repetitions")
  }

  func run() throws {
    let threads = GEMM.defaultThreads
    let source = try dataOptions.resolveSource()
    let data = try source.load()
    for architecture in suite.architectures {
      for split in [data.train, data.test] {
        try ModelCompatibility.check(architecture, subject: "bench: \(architecture)", with: split, source: source)
      }
    }
    var result = BenchResult(machine: MachineDescription.current, threads: threads, data: source.description)
    if suite == .all || suite == .mlp { result.mlp = try measureMLP(data: data, source: source, threads: threads) }
    if suite == .all || suite == .lenet5 { result.lenet5 = try measureLeNet5(data: data, threads: threads) }
    if suite == .all || suite == .resnet20 { result.resnet20 = try measureResNet20(data: data, threads: threads) }
    if suite == .explorer { result.explorer = try measureExplorerKeyPresses(data: data, source: source) }
    if output.json {
      try JSONOutput.print(result)
    } else {
      try Console.output(result.table)
    }
  }

  /// Trains a fresh model of `architecture` for one epoch of `batches` batches of `batch`, `repetitions`
  /// times with different shuffles: the last trained model (so later timings see realistic
  /// activations) and each run's samples per second.
  private func measureTraining(
    _ architecture: Architecture, batches: Int, of batch: Int, data: DataSplits, threads: Int, clock: MonotonicClock
  ) throws -> (trained: Model, samplesPerSecond: [Double]) {
    var generator = SeededGenerator(seed: 1)
    let initial = Model(architecture: architecture, generator: &generator)
    let trainingSlice = data.train.prefix(batches * batch)
    var trained = initial
    var rates: [Double] = []
    for run in 0..<repetitions {
      let report = try Trainer.train(
        initial, on: trainingSlice,
        options: TrainingOptions(epochs: 1, batchSize: batch, seed: UInt64(run + 1), threads: threads),
        clock: clock)
      trained = report.model
      rates.append(report.samplesPerSecond)
    }
    return (trained, rates)
  }

  /// LeNet-300-100: GEMMs, training, evaluation dense and at the sparsities of `sparsities`,
  /// batch-1 latency, per-layer kernel times and the explorer's latencies.
  private func measureMLP(data: DataSplits, source: DataSource, threads: Int) throws -> BenchResult.MLPFigures {
    let clock = MonotonicClock.system
    let architecture = Architecture.lenet300100
    let batch = 64
    note("micro-kernel")
    let kernel = KernelBenchmark.microKernelGFLOPS(clock: clock, repetitions: repetitions)
    var gemms: [BenchResult.GEMMFigure] = []
    for shape in GEMMShape.trainingStep(of: architecture, batch: batch) {
      note("gemm \(shape.name)")
      gemms.append(
        BenchResult.GEMMFigure(
          name: shape.name, m: shape.m, n: shape.n, k: shape.k, form: shape.form.rawValue,
          gflopsOneThread: KernelBenchmark.gemmGFLOPS(shape, threads: 1, clock: clock, repetitions: repetitions),
          gflopsAllThreads: KernelBenchmark.gemmGFLOPS(shape, threads: threads, clock: clock, repetitions: repetitions))
      )
    }

    note("training")
    let (trained, trainingRates) = try measureTraining(
      architecture, batches: 200, of: batch, data: data, threads: threads, clock: clock)

    // The anchor is the dense model (trained for 200 batches, so its activations are realistic)
    // on the dense kernels; the pruned models are timed in turn with it, one run of each per
    // round, so that a busy machine slows all of them alike.
    note("evaluation")
    let models = [trained] + Self.sparsities.map { KernelBenchmark.magnitudePruned(trained, sparsity: $0) }
    let evaluators = models.map { Evaluator(model: $0, threads: threads) }
    for evaluator in evaluators { _ = evaluator.evaluate(data.test) }
    var evaluationTimes = [[Double]](repeating: [], count: evaluators.count)
    for _ in 0..<max(repetitions, 10) {
      for (index, evaluator) in evaluators.enumerated() {
        evaluationTimes[index].append(
          KernelBenchmark.evaluationSeconds(evaluator, on: data.test, clock: clock, repetitions: 1, warmUp: false))
      }
    }
    note("batch-1 latency")
    var singleTimes = [[Double]](repeating: [], count: evaluators.count)
    for _ in 0..<repetitions {
      for (index, evaluator) in evaluators.enumerated() {
        singleTimes[index].append(
          KernelBenchmark.singleSampleSeconds(evaluator, on: data.test, clock: clock, repetitions: 1))
      }
    }
    let denseEvaluation = median(evaluationTimes[0])
    let denseSingle = median(singleTimes[0])

    var sparse: [BenchResult.SparseFigure] = []
    for (offset, sparsity) in Self.sparsities.enumerated() {
      note(String(format: "layer timings at %.0f%%", sparsity * 100))
      let index = offset + 1
      let pruned = models[index]
      let evaluation = median(evaluationTimes[index])
      let single = median(singleTimes[index])
      let layers = KernelBenchmark.layerTimings(
        model: pruned, dataset: data.test, clock: clock, repetitions: repetitions)
      sparse.append(
        BenchResult.SparseFigure(
          sparsity: sparsity, evalMilliseconds: evaluation * 1000, evalSpeedup: denseEvaluation / evaluation,
          singleSampleMicroseconds: single * 1e6, singleSampleSpeedup: denseSingle / single,
          batchKernels: evaluators[index].batchKernels.map(\.rawValue),
          singleSampleKernels: evaluators[index].singleSampleKernels.map(\.rawValue),
          layers: zip(pruned.weightedLayers, layers).map { dense, timing in
            BenchResult.LayerFigure(
              name: timing.layer.appending("weight").description, density: densityOf(dense.layer),
              denseMicroseconds: timing.denseSeconds * 1e6, sparseMicroseconds: timing.sparseSeconds * 1e6,
              singleDenseMicroseconds: timing.singleDenseSeconds * 1e6,
              singleSparseMicroseconds: timing.singleSparseSeconds * 1e6)
          }))
    }

    note("explorer latency")
    let explorer = try measureExplorer(trained, data: data, source: source, repetitions: repetitions)
    return BenchResult.MLPFigures(
      microKernelGflops: kernel, gemm: gemms, trainSamplesPerSecond: median(trainingRates), trainBatch: batch,
      evalMilliseconds: denseEvaluation * 1000, evalSamples: data.test.count,
      singleSampleMicroseconds: denseSingle * 1e6,
      layerBatch: KernelSelector.batch, sparse: sparse, explorer: explorer)
  }

  /// LeNet-5: the GEMM and convolution kernels of a training step, training, evaluation, and
  /// each layer's forward time dense, sparse (magnitude-pruned to `leNet5Sparsity`) and shrunk
  /// (a fraction `leNet5RowFraction` of filters and neurons pruned by L2 norm, then removed).
  private func measureLeNet5(data: DataSplits, threads: Int) throws -> BenchResult.LeNet5Figure {
    let clock = MonotonicClock.system
    let architecture = Architecture.lenet5
    let batch = 64
    var gemms: [BenchResult.ConvolutionGEMMFigure] = []
    for shape in GEMMShape.trainingStep(of: architecture, batch: batch) {
      note("lenet5 gemm \(shape.name)")
      gemms.append(
        BenchResult.ConvolutionGEMMFigure(
          name: shape.name, m: shape.m, n: shape.n, k: shape.k, form: shape.form.rawValue,
          gflopsAllThreads: KernelBenchmark.gemmGFLOPS(shape, threads: threads, clock: clock, repetitions: repetitions),
          kernelGflopsAllThreads: KernelBenchmark.convolutionGFLOPS(
            shape, threads: threads, clock: clock, repetitions: repetitions)))
    }

    note("lenet5 training")
    let (trained, trainingRates) = try measureTraining(
      architecture, batches: Self.leNet5Batches, of: batch, data: data, threads: threads, clock: clock)

    note("lenet5 evaluation")
    let evaluator = Evaluator(model: trained, threads: threads)
    let evaluation = KernelBenchmark.evaluationSeconds(
      evaluator, on: data.test, clock: clock, repetitions: repetitions)

    note("lenet5 layer timings")
    let sparseModel = KernelBenchmark.magnitudePruned(trained, sparsity: Self.leNet5Sparsity)
    let rowPruned = KernelBenchmark.rowPruned(trained, fraction: Self.leNet5RowFraction)
    let shrunk = KernelBenchmark.shrunkModel(rowPruned)
    let layers = LayerTable(
      model: sparseModel, shrunk: shrunk, dataset: data.test, clock: clock, repetitions: repetitions)
    return BenchResult.LeNet5Figure(
      gemm: gemms, trainSamplesPerSecond: median(trainingRates), trainBatch: batch,
      trainSamples: min(Self.leNet5Batches * batch, data.train.count), evalMilliseconds: evaluation * 1000, evalSamples: data.test.count,
      layerBatch: KernelSelector.batch, sparsity: Self.leNet5Sparsity,
      shrunkRowFraction: shrunk == nil ? nil : Self.leNet5RowFraction, layers: layers.rows)
  }

  /// ResNet-20 on the data's image shape, with as many outputs as the data has classes (at
  /// least 10): training samples/s over `resNetBatches` batches of 64, and the evaluation time
  /// of the first `resNetEvalSamples` test images.
  private func measureResNet20(data: DataSplits, threads: Int) throws -> BenchResult.ResNetFigure {
    let clock = MonotonicClock.system
    let train = data.train
    let inputShape = [train.channels, train.rows, train.columns]
    let module = ResNet.module(
      channels: train.channels, stages: ResNet.resnet20Stages,
      classes: max(10, train.classCount, data.test.classCount))
    var generator = SeededGenerator(seed: 1)
    let initial = Model(module: module, inputShape: inputShape, generator: &generator)
    let batch = 64
    let slice = train.prefix(Self.resNetBatches * batch)
    var trained = initial
    var rates: [Double] = []
    for run in 0..<repetitions {
      note("resnet20 training \(run + 1)/\(repetitions)")
      let report = try Trainer.train(
        initial, on: slice,
        options: TrainingOptions(epochs: 1, batchSize: batch, seed: UInt64(run + 1), threads: threads), clock: clock)
      trained = report.model
      rates.append(report.samplesPerSecond)
    }
    note("resnet20 evaluation")
    let test = data.test.prefix(Self.resNetEvalSamples)
    let evaluation = KernelBenchmark.evaluationSeconds(
      Evaluator(model: trained, threads: threads), on: test, clock: clock, repetitions: repetitions)
    return BenchResult.ResNetFigure(
      inputShape: inputShape, parameters: trained.parameterCount, trainSamplesPerSecond: median(rates),
      trainBatch: batch, trainSamples: slice.count, evalMilliseconds: evaluation * 1000, evalSamples: test.count)
  }

  /// Batches of ResNet-20's training figure.
  static let resNetBatches = 20
  /// Test images of ResNet-20's evaluation figure.
  static let resNetEvalSamples = 1000

  /// Runs the explorer's session (no terminal) on `model` saved to a temporary checkpoint.
  private func measureExplorer(
    _ model: Model, data: DataSplits, source: DataSource, repetitions: Int
  ) throws -> BenchResult.ExplorerFigure {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("shears-bench-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    let path = folder.appendingPathComponent("model.safetensors").path
    try Checkpoint.save(model, metadata: CheckpointMetadata(), to: path)
    let session = Session(Session.Setup(modelPath: path, data: source, cacheDirectory: folder.path))
    session.start()
    let figures = ExplorerBenchmark.measure(
      session, model: model, train: data.train, test: data.test, clock: .system, repetitions: max(repetitions, 7))
    return BenchResult.ExplorerFigure(
      keyToFrameMilliseconds: figures.keyToFrameMilliseconds,
      thresholdToAccuracyDenseMilliseconds: figures.thresholdToAccuracyDenseMilliseconds,
      thresholdToAccuracySparseMilliseconds: figures.thresholdToAccuracySparseMilliseconds,
      fineTuneEpochExplorerSeconds: figures.fineTuneEpochSessionSeconds,
      fineTuneEpochDirectSeconds: figures.fineTuneEpochDirectSeconds)
  }

  /// Sparsities of the sparse-inference figures (magnitude pruning, each layer on its own).
  static let sparsities = [0.5, 0.9, 0.95]
  /// Batches of LeNet-5's training figure.
  static let leNet5Batches = 100
  /// Sparsity of LeNet-5's sparse per-layer figures (magnitude pruning, each layer on its own).
  static let leNet5Sparsity = 0.9
  /// Fraction of LeNet-5's filters and hidden neurons removed for the shrunk per-layer figures.
  static let leNet5RowFraction = 0.5

  private func densityOf(_ dense: WeightedLayer) -> Double {
    Double(dense.weight.nonzeroCount) / Double(max(1, dense.weight.count))
  }

  func note(_ stage: String) {
    if output.showsProgress { Console.note("bench: \(stage)") }
  }
}
