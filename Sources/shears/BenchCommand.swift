import ArgumentParser
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
          gflopsAllThreads: KernelBenchmark.gemmGFLOPS(shape, threads: threads, clock: clock, repetitions: repetitions)))
    }

    note("training")
    var generator = SeededGenerator(seed: 1)
    let model = Model(architecture: architecture, generator: &generator)
    let trainingSlice = data.train.prefix(200 * batch)
    let trainingRates = (0..<repetitions).map { run in
      Trainer.train(
        model, on: trainingSlice,
        options: TrainingOptions(epochs: 1, batchSize: batch, seed: UInt64(run + 1), threads: threads),
        clock: clock
      ).samplesPerSecond
    }

    note("evaluation")
    // Evaluate a trained-looking model: a few batches make activations realistic.
    let evaluator = Evaluator(model: model, threads: threads)
    _ = evaluator.evaluate(data.test)
    let evaluationTimes = (0..<max(repetitions, 10)).map { _ in
      let start = clock.nanoseconds()
      _ = evaluator.evaluate(data.test)
      return clock.seconds(since: start)
    }

    let result = BenchResult(
      machine: MachineDescription.current, threads: threads, data: source.description,
      microKernelGflops: kernel, gemm: gemms,
      trainSamplesPerSecond: median(trainingRates), trainBatch: batch,
      evalMilliseconds: median(evaluationTimes) * 1000, evalSamples: data.test.count)
    if output.json {
      try JSONOutput.print(result)
    } else {
      print(result.table)
    }
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

  var machine: String
  var threads: Int
  var data: String
  var microKernelGflops: Double
  var gemm: [GEMMFigure]
  var trainSamplesPerSecond: Double
  var trainBatch: Int
  var evalMilliseconds: Double
  var evalSamples: Int

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
    lines.append("training LeNet-300-100, batch \(trainBatch): \(ProgressPrinter.rate(trainSamplesPerSecond)) samples/s")
    lines.append(String(format: "evaluation of %d test images: %.1f ms", evalSamples, evalMilliseconds))
    return lines.joined(separator: "\n")
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
