import Foundation
import PruneEngine

/// `shears bench` figures: the machine, then LeNet-300-100's figures at the top level (as
/// before LeNet-5 was measured) and LeNet-5's under `lenet5`, each when measured.
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
    /// Dense evaluation time / this one.
    var evalSpeedup: Double
    var singleSampleMicroseconds: Double
    /// Dense batch-1 latency / this one.
    var singleSampleSpeedup: Double
    var batchKernels: [String]
    var singleSampleKernels: [String]
    var layers: [LayerFigure]
  }

  /// LeNet-300-100's figures.
  struct MLPFigures: Encodable {
    var microKernelGflops: Double
    var gemm: [GEMMFigure]
    var trainSamplesPerSecond: Double
    var trainBatch: Int
    var evalMilliseconds: Double
    var evalSamples: Int
    /// Dense batch-1 latency: one test image to its predicted class.
    var singleSampleMicroseconds: Double
    /// Samples per batch of the per-layer timings.
    var layerBatch: Int
    var sparse: [SparseFigure]
    var explorer: ExplorerFigure
  }

  /// A product of a LeNet-5 training step: the GEMM on stored matrices, and for a
  /// convolution's product the kernel training runs instead (`KernelBenchmark.convolutionGFLOPS`).
  struct ConvolutionGEMMFigure: Encodable {
    var name: String
    var m: Int
    var n: Int
    var k: Int
    var form: String
    var gflopsAllThreads: Double
    var kernelGflopsAllThreads: Double?
  }

  /// LeNet-5's figures.
  struct LeNet5Figure: Encodable {
    var gemm: [ConvolutionGEMMFigure]
    var trainSamplesPerSecond: Double
    var trainBatch: Int
    /// Samples of each timed training run (one epoch over them).
    var trainSamples: Int
    var evalMilliseconds: Double
    var evalSamples: Int
    /// Samples per batch of the per-layer timings.
    var layerBatch: Int
    /// Sparsity of the model timed on the sparse kernels.
    var sparsity: Double
    /// Fraction of filters and hidden neurons removed from the shrunk model; nil when no shrunk
    /// model was timed.
    var shrunkRowFraction: Double?
    var layers: [LayerTable.Row]
  }

  var machine: String
  var threads: Int
  var data: String
  /// ResNet-20's figures, on images of the data's shape.
  struct ResNetFigure: Encodable {
    /// `[channels, height, width]` of its input.
    var inputShape: [Int]
    var parameters: Int
    var trainSamplesPerSecond: Double
    var trainBatch: Int
    /// Samples of each timed training run (one epoch over them).
    var trainSamples: Int
    var evalMilliseconds: Double
    var evalSamples: Int
  }

  var mlp: MLPFigures?
  var lenet5: LeNet5Figure?
  var resnet20: ResNetFigure?
  var explorer: [KeyPressFigure]?

  enum CodingKeys: String, CodingKey { case machine, threads, data, lenet5, resnet20, explorer }

  func encode(to encoder: Encoder) throws {
    try mlp?.encode(to: encoder)
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encode(machine, forKey: .machine)
    try container.encode(threads, forKey: .threads)
    try container.encode(data, forKey: .data)
    try container.encodeIfPresent(lenet5, forKey: .lenet5)
    try container.encodeIfPresent(resnet20, forKey: .resnet20)
    try container.encodeIfPresent(explorer, forKey: .explorer)
  }

  var table: String {
    var lines = ["machine: \(machine), \(threads) threads", "data:    \(data)"]
    if let mlp { lines += ["", mlpTable(mlp)] }
    if let lenet5 { lines += ["", leNet5Table(lenet5)] }
    if let explorer { lines += ["", Self.keyPressTable(explorer)] }
    if let resnet20 {
      let shape = resnet20.inputShape.map(String.init).joined(separator: "x")
      lines += [
        "",
        "training ResNet-20 (\(shape), \(resnet20.parameters) parameters), batch \(resnet20.trainBatch): "
          + "\(ProgressPrinter.rate(resnet20.trainSamplesPerSecond)) samples/s",
        String(format: "evaluation of %d test images: %.1f ms", resnet20.evalSamples, resnet20.evalMilliseconds),
      ]
    }
    return lines.joined(separator: "\n")
  }

  private func mlpTable(_ mlp: MLPFigures) -> String {
    var lines = [
      "micro-kernel \(GEMM.tileDescription), 1 thread, L1-resident: "
        + String(format: "%.1f GFLOP/s", mlp.microKernelGflops),
      "",
      "GEMM (LeNet-300-100, batch 64)        m     n     k  form   GFLOP/s 1T  GFLOP/s \(threads)T",
    ]
    for figure in mlp.gemm {
      lines.append(
        figure.name.padding(toLength: 33, withPad: " ", startingAt: 0)
          + String(format: "%6d%6d%6d", figure.m, figure.n, figure.k) + "  "
          + figure.form.padding(toLength: 5, withPad: " ", startingAt: 0)
          + String(format: "%11.1f%12.1f", figure.gflopsOneThread, figure.gflopsAllThreads))
    }
    lines.append("")
    lines.append(
      "training LeNet-300-100, batch \(mlp.trainBatch): \(ProgressPrinter.rate(mlp.trainSamplesPerSecond)) samples/s")
    lines.append(String(format: "evaluation of %d test images: %.1f ms", mlp.evalSamples, mlp.evalMilliseconds))
    lines.append("")
    lines.append(
      "inference, magnitude-pruned per layer   eval \(mlp.evalSamples) (\(threads)T)   speed-up   batch 1   speed-up   kernels"
    )
    let denseKernels = [String](repeating: "dense", count: mlp.sparse.first?.batchKernels.count ?? 0)
    lines.append(
      "dense".padding(toLength: 39, withPad: " ", startingAt: 0)
        + String(
          format: "%11.2f ms%10.2fx%8.1f us%10.2fx   %@", mlp.evalMilliseconds, 1.0, mlp.singleSampleMicroseconds, 1.0,
          Self.kernelSummary(batch: denseKernels, single: denseKernels)))
    for figure in mlp.sparse {
      lines.append(
        String(format: "%.0f%% sparse", figure.sparsity * 100).padding(toLength: 39, withPad: " ", startingAt: 0)
          + String(
            format: "%11.2f ms%10.2fx%8.1f us%10.2fx   %@", figure.evalMilliseconds, figure.evalSpeedup,
            figure.singleSampleMicroseconds, figure.singleSampleSpeedup,
            Self.kernelSummary(batch: figure.batchKernels, single: figure.singleSampleKernels)))
    }
    for figure in mlp.sparse {
      lines.append("")
      lines.append(
        String(format: "layer times at %.0f%% sparsity, 1 thread", figure.sparsity * 100)
          + "      density   batch \(mlp.layerBatch) dense   sparse     batch 1 dense   sparse")
      for layer in figure.layers {
        lines.append(
          "  " + layer.name.padding(toLength: 37, withPad: " ", startingAt: 0)
            + String(
              format: "%7.3f%12.1f us%9.1f us%13.2f us%9.2f us", layer.density, layer.denseMicroseconds,
              layer.sparseMicroseconds, layer.singleDenseMicroseconds, layer.singleSparseMicroseconds))
      }
    }
    lines.append("")
    lines.append(
      String(format: "explorer: key press to redrawn screen (80x24)       %.2f ms", mlp.explorer.keyToFrameMilliseconds)
    )
    lines.append(
      String(
        format: "explorer: threshold change to full accuracy         %.1f ms dense, %.1f ms at 90%%",
        mlp.explorer.thresholdToAccuracyDenseMilliseconds, mlp.explorer.thresholdToAccuracySparseMilliseconds))
    lines.append(
      String(
        format: "explorer: fine-tune epoch                           %.2f s (direct %.2f s, %+.1f%%)",
        mlp.explorer.fineTuneEpochExplorerSeconds, mlp.explorer.fineTuneEpochDirectSeconds,
        (mlp.explorer.fineTuneEpochExplorerSeconds / mlp.explorer.fineTuneEpochDirectSeconds - 1) * 100))
    return lines.joined(separator: "\n")
  }

  private func leNet5Table(_ figure: LeNet5Figure) -> String {
    var lines = [
      "GEMM (LeNet-5, batch \(figure.trainBatch))           m     n     k  form   GFLOP/s \(threads)T  conv kernel \(threads)T"
    ]
    for product in figure.gemm {
      lines.append(
        product.name.padding(toLength: 33, withPad: " ", startingAt: 0)
          + String(format: "%6d%6d%6d", product.m, product.n, product.k) + "  "
          + product.form.padding(toLength: 5, withPad: " ", startingAt: 0)
          + String(format: "%12.1f", product.gflopsAllThreads)
          + (product.kernelGflopsAllThreads.map { String(format: "%15.1f", $0) } ?? ""))
    }
    lines.append("")
    lines.append(
      "training LeNet-5, batch \(figure.trainBatch): \(ProgressPrinter.rate(figure.trainSamplesPerSecond)) samples/s")
    lines.append(String(format: "evaluation of %d test images: %.1f ms", figure.evalSamples, figure.evalMilliseconds))
    lines.append("")
    let shrunk =
      figure.shrunkRowFraction.map { String(format: ", shrunk: %.0f%% of filters and neurons removed", $0 * 100) }
      ?? ", no shrunk model (shrink cannot remove these filters)"
    lines.append(
      String(format: "LeNet-5 layer times, 1 thread, sparse: %.0f%% magnitude-pruned", figure.sparsity * 100) + shrunk)
    lines.append(LayerTable.text(figure.layers, batch: figure.layerBatch))
    return lines.joined(separator: "\n")
  }

  /// Kernels per layer as one letter each (S sparse, D dense), batches then single samples:
  /// `SSS / SSD`.
  private static func kernelSummary(batch: [String], single: [String]) -> String {
    func letters(_ kinds: [String]) -> String { kinds.map { $0 == "sparse" ? "S" : "D" }.joined() }
    return "\(letters(batch)) / \(letters(single))"
  }
}

/// Forward times of each weighted layer of a model with the dense and the sparse kernels, and
/// of the same layer in the model's shrunk form: what `bench` reports for LeNet-5 and
/// `info --timings` for any checkpoint.
struct LayerTable {
  /// One layer's times, one thread.
  struct Row: Encodable {
    var name: String
    var shape: [Int]
    var density: Double
    var denseMicroseconds: Double
    var sparseMicroseconds: Double
    var singleDenseMicroseconds: Double
    var singleSparseMicroseconds: Double
    /// The layer's weight shape in the shrunk model, when one was timed.
    var shrunkShape: [Int]?
    /// The shrunk layer's time on the dense kernel.
    var shrunkMicroseconds: Double?
  }

  let rows: [Row]

  /// Times the layers of `model` and, given one, of its shrunk form, on the first samples of
  /// `dataset` (seeded random inputs without one).
  init(model: Model, shrunk: Model?, dataset: Dataset?, clock: MonotonicClock, repetitions: Int) {
    let timings = KernelBenchmark.layerTimings(model: model, dataset: dataset, clock: clock, repetitions: repetitions)
    let shrunkTimings = shrunk.map {
      KernelBenchmark.layerTimings(model: $0, dataset: dataset, clock: clock, repetitions: repetitions)
    }
    let shrunkLayers = Dictionary(uniqueKeysWithValues: (shrunk?.weightedLayers ?? []).map { ($0.path, $0.layer) })
    rows = zip(model.weightedLayers, timings).map { weighted, timing in
      let shrunkTiming = shrunkTimings?.first { $0.layer == timing.layer }
      return Row(
        name: timing.layer.appending("weight").description, shape: weighted.layer.weight.shape,
        density: Double(weighted.layer.weight.nonzeroCount) / Double(max(1, weighted.layer.weight.count)),
        denseMicroseconds: timing.denseSeconds * 1e6, sparseMicroseconds: timing.sparseSeconds * 1e6,
        singleDenseMicroseconds: timing.singleDenseSeconds * 1e6,
        singleSparseMicroseconds: timing.singleSparseSeconds * 1e6,
        shrunkShape: shrunkLayers[timing.layer]?.weight.shape,
        shrunkMicroseconds: shrunkTiming.map { $0.denseSeconds * 1e6 })
    }
  }

  /// The table: one line per layer.
  static func text(_ rows: [Row], batch: Int) -> String {
    var lines = [
      "  layer       shape           density   batch \(batch) dense     sparse     shrunk              batch 1 dense    sparse"
    ]
    for row in rows {
      let shape = row.shape.map(String.init).joined(separator: "x")
      var shrunk = "-"
      if let shrunkShape = row.shrunkShape, let seconds = row.shrunkMicroseconds {
        shrunk = shrunkShape.map(String.init).joined(separator: "x") + String(format: " %.1f us", seconds)
      }
      lines.append(
        "  " + row.name.padding(toLength: 12, withPad: " ", startingAt: 0)
          + shape.padding(toLength: 14, withPad: " ", startingAt: 0)
          + String(format: "%8.3f%14.1f us%9.1f us   ", row.density, row.denseMicroseconds, row.sparseMicroseconds)
          + shrunk.padding(toLength: 20, withPad: " ", startingAt: 0)
          + String(format: "%12.2f us%8.2f us", row.singleDenseMicroseconds, row.singleSparseMicroseconds))
    }
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
