import ArgumentParser
import ExplorerCore
import Foundation
import PruneEngine

struct BenchCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "bench",
    abstract: "Measure the engine: GEMM GFLOP/s, training samples/s and test-set evaluation time.",
    discussion: """
      Figures are medians of several runs of LeNet-300-100 (mlp:784-300-100-10) at batch 64. \
      Build with -c release; a debug build is 10 to 100 times slower.
      """)

  @OptionGroup var dataOptions: DataOptions
  @OptionGroup var output: OutputOptions

  @Option(name: .long, help: "Repetitions per measurement (the median is reported).")
  var repetitions = 5

  func validate() throws {
    guard repetitions > 0 else { throw ValidationError("--repetitions must be at least 1 (got \(repetitions))") }
  }

  func run() throws {
    let clock = MonotonicClock.system
    let threads = GEMM.defaultThreads
    let architecture = Architecture.lenet300100
    let batch = 64
    let source = try dataOptions.resolveSource()
    let data = try source.load()
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
    var generator = SeededGenerator(seed: 1)
    let initial = Model(architecture: architecture, generator: &generator)
    let trainingSlice = data.train.prefix(200 * batch)
    var trained = initial
    var trainingRates: [Double] = []
    for run in 0..<repetitions {
      let report = try Trainer.train(
        initial, on: trainingSlice,
        options: TrainingOptions(epochs: 1, batchSize: batch, seed: UInt64(run + 1), threads: threads),
        clock: clock)
      trained = report.model
      trainingRates.append(report.samplesPerSecond)
    }

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
              name: "\(timing.layerIndex).weight", density: densityOf(dense.layer),
              denseMicroseconds: timing.denseSeconds * 1e6, sparseMicroseconds: timing.sparseSeconds * 1e6,
              singleDenseMicroseconds: timing.singleDenseSeconds * 1e6,
              singleSparseMicroseconds: timing.singleSparseSeconds * 1e6)
          }))
    }

    note("explorer latency")
    let explorer = try measureExplorer(trained, data: data, source: source, repetitions: repetitions)

    let result = BenchResult(
      machine: MachineDescription.current, threads: threads, data: source.description,
      microKernelGflops: kernel, gemm: gemms,
      trainSamplesPerSecond: median(trainingRates), trainBatch: batch,
      evalMilliseconds: denseEvaluation * 1000, evalSamples: data.test.count,
      singleSampleMicroseconds: denseSingle * 1e6, layerBatch: KernelSelector.batch, sparse: sparse,
      explorer: explorer)
    if output.json {
      try JSONOutput.print(result)
    } else {
      print(result.table)
    }
  }

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

  private func densityOf(_ dense: WeightedLayer) -> Double {
    Double(dense.weight.nonzeroCount) / Double(max(1, dense.weight.count))
  }

  private func note(_ stage: String) {
    if output.showsProgress { Console.note("bench: \(stage)") }
  }
}

/// `shears bench` figures.
struct BenchResult: Encodable {
  struct GEMMFigure: Encodable {
    var name: String
    var m: Int
    var n: Int
    var k: Int
    var form: String
    var gflopsOneThread: Double
    var gflopsAllThreads: Double
  }

  /// One layer's forward time with each kernel, one thread.
  struct LayerFigure: Encodable {
    var name: String
    var density: Double
    var denseMicroseconds: Double
    var sparseMicroseconds: Double
    var singleDenseMicroseconds: Double
    var singleSparseMicroseconds: Double
  }

  /// The explorer's latencies (see `ExplorerBenchmark`).
  struct ExplorerFigure: Encodable {
    var keyToFrameMilliseconds: Double
    var thresholdToAccuracyDenseMilliseconds: Double
    var thresholdToAccuracySparseMilliseconds: Double
    var fineTuneEpochExplorerSeconds: Double
    var fineTuneEpochDirectSeconds: Double
  }

  /// Inference on the model pruned to one sparsity.
  struct SparseFigure: Encodable {
    var sparsity: Double
    var evalMilliseconds: Double
    /// WeightedLayer evaluation time / this one.
    var evalSpeedup: Double
    var singleSampleMicroseconds: Double
    /// WeightedLayer batch-1 latency / this one.
    var singleSampleSpeedup: Double
    var batchKernels: [String]
    var singleSampleKernels: [String]
    var layers: [LayerFigure]
  }

  var machine: String
  var threads: Int
  var data: String
  var microKernelGflops: Double
  var gemm: [GEMMFigure]
  var trainSamplesPerSecond: Double
  var trainBatch: Int
  var evalMilliseconds: Double
  var evalSamples: Int
  /// WeightedLayer batch-1 latency: one test image to its predicted class.
  var singleSampleMicroseconds: Double
  /// Samples per batch of the per-layer timings.
  var layerBatch: Int
  var sparse: [SparseFigure]
  var explorer: ExplorerFigure

  var table: String {
    var lines = [
      "machine: \(machine), \(threads) threads",
      "data:    \(data)",
      "",
      String(format: "micro-kernel 8x32 SIMD16 FMA, 1 thread, L1-resident: %.1f GFLOP/s", microKernelGflops),
      "",
      "GEMM (LeNet-300-100, batch 64)        m     n     k  form   GFLOP/s 1T  GFLOP/s \(threads)T",
    ]
    for figure in gemm {
      lines.append(
        figure.name.padding(toLength: 33, withPad: " ", startingAt: 0)
          + String(format: "%6d%6d%6d", figure.m, figure.n, figure.k) + "  "
          + figure.form.padding(toLength: 5, withPad: " ", startingAt: 0)
          + String(format: "%11.1f%12.1f", figure.gflopsOneThread, figure.gflopsAllThreads))
    }
    lines.append("")
    lines.append(
      "training LeNet-300-100, batch \(trainBatch): \(ProgressPrinter.rate(trainSamplesPerSecond)) samples/s")
    lines.append(String(format: "evaluation of %d test images: %.1f ms", evalSamples, evalMilliseconds))
    lines.append("")
    lines.append(
      "inference, magnitude-pruned per layer   eval \(evalSamples) (\(threads)T)   speed-up   batch 1   speed-up   kernels"
    )
    lines.append(
      "dense".padding(toLength: 39, withPad: " ", startingAt: 0)
        + String(
          format: "%11.2f ms%10.2fx%8.1f us%10.2fx   %@", evalMilliseconds, 1.0, singleSampleMicroseconds, 1.0,
          Self.kernelSummary(batch: denseKernels, single: denseKernels)))
    for figure in sparse {
      lines.append(
        String(format: "%.0f%% sparse", figure.sparsity * 100).padding(toLength: 39, withPad: " ", startingAt: 0)
          + String(
            format: "%11.2f ms%10.2fx%8.1f us%10.2fx   %@", figure.evalMilliseconds, figure.evalSpeedup,
            figure.singleSampleMicroseconds, figure.singleSampleSpeedup, Self.kernelSummary(figure)))
    }
    for figure in sparse {
      lines.append("")
      lines.append(
        String(format: "layer times at %.0f%% sparsity, 1 thread", figure.sparsity * 100)
          + "      density   batch \(layerBatch) dense   sparse     batch 1 dense   sparse")
      for layer in figure.layers {
        lines.append(
          "  " + layer.name.padding(toLength: 37, withPad: " ", startingAt: 0)
            + String(
              format: "%7.3f%12.1f us%9.1f us%13.2f us%9.2f us", layer.density, layer.denseMicroseconds,
              layer.sparseMicroseconds, layer.singleDenseMicroseconds, layer.singleSparseMicroseconds))
      }
    }
    lines.append("")
    lines.append(String(format: "explorer: key press to redrawn screen (80x24)       %.2f ms", explorer.keyToFrameMilliseconds))
    lines.append(
      String(
        format: "explorer: threshold change to full accuracy         %.1f ms dense, %.1f ms at 90%%",
        explorer.thresholdToAccuracyDenseMilliseconds, explorer.thresholdToAccuracySparseMilliseconds))
    lines.append(
      String(
        format: "explorer: fine-tune epoch                           %.2f s (direct %.2f s, %+.1f%%)",
        explorer.fineTuneEpochExplorerSeconds, explorer.fineTuneEpochDirectSeconds,
        (explorer.fineTuneEpochExplorerSeconds / explorer.fineTuneEpochDirectSeconds - 1) * 100))
    return lines.joined(separator: "\n")
  }

  /// The kernels of the dense anchor: dense everywhere.
  private var denseKernels: [String] {
    [String](repeating: "dense", count: sparse.first?.batchKernels.count ?? 0)
  }

  /// Kernels per layer as one letter each (S sparse, D dense), batches then single samples:
  /// `SSS / SSD`.
  private static func kernelSummary(_ figure: SparseFigure) -> String {
    kernelSummary(batch: figure.batchKernels, single: figure.singleSampleKernels)
  }

  private static func kernelSummary(batch: [String], single: [String]) -> String {
    func letters(_ kinds: [String]) -> String { kinds.map { $0 == "sparse" ? "S" : "D" }.joined() }
    return "\(letters(batch)) / \(letters(single))"
  }
}

/// A one-line description of the machine, for benchmark reports.
enum MachineDescription {
  static var current: String {
    let cpu = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?
      .split(separator: "\n").first { $0.hasPrefix("model name") }?
      .split(separator: ":", maxSplits: 1).last?.trimmingCharacters(in: .whitespaces)
    return "\(cpu ?? "unknown CPU"), \(ProcessInfo.processInfo.activeProcessorCount) cores"
  }
}
