import ArgumentParser
import Foundation
import PruneEngine

struct InfoCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "info", abstract: "Show a checkpoint's layers, sparsity, size, FLOPs and history.",
    discussion: """
      Any other safetensors file (a transformer shard, say) is read by memory map, one tensor \
      at a time, and described tensor by tensor: range, mean, spread, zeros, a histogram of \
      |w| and the sparsity magnitude thresholds would give.
      """)

  @Option(name: .long, help: ArgumentHelp("Checkpoint to describe (safetensors).", valueName: "PATH"))
  var model: String

  @OptionGroup var memory: MemoryOptions
  @OptionGroup var output: JSONOption

  @Flag(
    name: .long,
    help: """
      Also time each layer's forward pass on one thread: dense and sparse kernels, and the \
      shrunk model's layer when pruning left dead filters or neurons.
      """)
  var timings = false

  func run() throws {
    let file = try MappedSafetensorsFile(path: model)
    // A file that says it is a Shears checkpoint must load as one; any other file that is not
    // a model Shears can run is described tensor by tensor.
    // A model too large to load in memory is described tensor by tensor as well.
    let claimsShears = file.metadata["format"]?.hasPrefix("shears") == true || file.metadata["arch"] != nil
    let reason = claimsShears ? nil : Checkpoint.modelProblem(in: file.tensors)
    let tooLarge = (reason == nil ? memoryProblem(loading: file) : nil)
    if let reason = reason ?? tooLarge {
      if timings { Console.warning("\(model): --timings needs a model Shears can run; describing its tensors") }
      try describeTensors(of: file, reason: reason)
      return
    }
    let (loaded, metadata, _) = try Checkpoint.loadWithRewind(file.loadFile(), subject: model)
    let report = ModelReport(loaded)
    let sizes = try CheckpointSizes(model: loaded, metadata: metadata, subject: model)
    for warning in Checkpoint.nonFiniteWarnings(in: loaded) { Console.warning("\(model): \(warning)") }
    let shrunk = timings ? KernelBenchmark.shrunkModel(loaded) : nil
    let layerTimes =
      timings ? LayerTable(model: loaded, shrunk: shrunk, dataset: nil, clock: .system, repetitions: 5).rows : nil
    if output.json {
      try JSONOutput.print(
        InfoResult(model: report, metadata: metadata, fileBytes: file.fileSize, sizes: sizes, layerTimes: layerTimes))
    } else {
      try Console.output("\(model): \(report.arch)")
      if let dataset = metadata.dataset { try Console.output("dataset   \(dataset)") }
      if let accuracy = metadata.accuracy { try Console.output(String(format: "accuracy  %.4f (recorded)", accuracy)) }
      if let created = metadata.created { try Console.output("created   \(created)") }
      for entry in metadata.history { try Console.output("history   \(entry)") }
      if let epoch = metadata.rewindEpoch { try Console.output("rewind    weights of epoch \(epoch) kept") }
      try Console.output(report.table)
      // For an unpruned model the compact form is the dense one; the line shows what pruning saves.
      if report.nonzero < report.params {
        try Console.output(
          "files  \(ModelReport.bytes(sizes.denseFile)) dense (\(ModelReport.bytes(sizes.denseGzip)) gzip), "
            + "\(ModelReport.bytes(sizes.compactFile)) compact (\(ModelReport.bytes(sizes.compactGzip)) gzip)")
      }
      if let layerTimes {
        let shrunkNote =
          shrunk != nil
          ? "shrunk: the model without its dead filters and neurons"
          : loaded.shrunk().removed.isEmpty
            ? "no dead filters or neurons to shrink" : "shrink cannot remove these filters yet"
        try Console.output("layer times, 1 thread, inputs half zeros; \(shrunkNote)")
        try Console.output(LayerTable.text(layerTimes, batch: KernelSelector.batch))
      }
    }
  }

  /// Why the model in `file` is not loaded ("loading it needs 1.8 GiB, this machine has
  /// 1.5 GiB"), or nil when loading it and measuring its file sizes fit in memory.
  private func memoryProblem(loading file: MappedSafetensorsFile) -> String? {
    let sizes = CheckpointSizes.memory(parameterCount: Checkpoint.parameterCount(of: file))
    do {
      try memory.budget.check(Checkpoint.loadingMemory(of: file).addingSaturating(sizes), for: "")
      return nil
    } catch {
      return "loading it \((error as? ShearsError)?.problem ?? "\(error)")"
    }
  }

  /// Statistics of every tensor of a file that is not a model Shears runs, streamed from the
  /// memory map.
  private func describeTensors(of file: MappedSafetensorsFile, reason: String) throws {
    let start = Date()
    let total = TensorStatisticsAccumulator(dtype: .f32)
    // Read in file order (sequential on disk), report in header order.
    let order = file.tensors.indices.sorted { file.tensors[$0].begin < file.tensors[$1].begin }
    var byIndex: [Int: TensorReport] = [:]
    for index in order {
      let tensor = file.tensors[index]
      let accumulator = file.accumulate(tensor)
      let statistics = accumulator.statistics()
      let report = TensorReport(tensor, statistics)
      if report.isWeightMatrix { total.merge(accumulator) }
      byIndex[index] = report
      if statistics.nanCount + statistics.infinityCount > 0 {
        Console.warning(
          "\(model): \(tensor.name) holds \(statistics.nanCount) NaN and \(statistics.infinityCount) infinite values")
      }
    }
    let result = TensorsInfoResult(
      file: file, reason: reason, tensors: file.tensors.indices.map { byIndex[$0]! }, total: total.statistics(),
      seconds: Date().timeIntervalSince(start))
    if output.json {
      try JSONOutput.print(result)
    } else {
      try Console.output(result.text(path: model))
    }
  }
}

/// A warning line on stderr: `shears: warning: <message>`.

/// `info --json` for a model: its figures, its recorded metadata and its file sizes. `kind` is
/// `mlp` or `cnn` (`tensors` for other files, `TensorsInfoResult`).
struct InfoResult: Encodable {
  var model: ModelReport
  var metadata: CheckpointMetadata
  var fileBytes: Int
  var sizes: CheckpointSizes
  /// Per-layer forward times, when asked for (`--timings`).
  var layerTimes: [LayerTable.Row]?

  enum CodingKeys: String, CodingKey {
    case accuracy, dataset, created, history, rewindEpoch, kind, fileBytes, denseFileBytes, denseGzipBytes,
      compactFileBytes, compactGzipBytes, layerTimes
  }

  func encode(to encoder: Encoder) throws {
    try model.encode(to: encoder)
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encode(model.arch.hasPrefix("cnn:") ? "cnn" : "mlp", forKey: .kind)
    try container.encodeIfPresent(metadata.accuracy, forKey: .accuracy)
    try container.encodeIfPresent(metadata.dataset, forKey: .dataset)
    try container.encodeIfPresent(metadata.created, forKey: .created)
    try container.encode(metadata.history, forKey: .history)
    try container.encodeIfPresent(metadata.rewindEpoch, forKey: .rewindEpoch)
    try container.encode(fileBytes, forKey: .fileBytes)
    try container.encode(sizes.denseFile, forKey: .denseFileBytes)
    try container.encode(sizes.denseGzip, forKey: .denseGzipBytes)
    try container.encode(sizes.compactFile, forKey: .compactFileBytes)
    try container.encode(sizes.compactGzip, forKey: .compactGzipBytes)
    try container.encodeIfPresent(layerTimes, forKey: .layerTimes)
  }
}

/// One tensor of a file that is not a model Shears runs: where it is and its statistics.
struct TensorReport: Encodable {
  var name: String
  var dtype: String
  var shape: [Int]
  var statistics: TensorStatistics

  init(_ tensor: TensorDescriptor, _ statistics: TensorStatistics) {
    name = tensor.name
    dtype = tensor.dtype.rawValue
    shape = tensor.shape
    self.statistics = statistics
    isWeightMatrix = tensor.dtype.isFloatingPoint && tensor.shape.count >= 2
  }

  /// Floating-point with two or more dimensions: the weights of linear and convolution layers
  /// (and embeddings), counted in the totals; vectors (biases, norms) and integers are not.
  var isWeightMatrix: Bool

  enum CodingKeys: String, CodingKey { case name, dtype, shape }

  func encode(to encoder: Encoder) throws {
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encode(name, forKey: .name)
    try container.encode(dtype, forKey: .dtype)
    try container.encode(shape, forKey: .shape)
    try StatisticsJSON(statistics).encode(to: encoder)
  }
}

/// The JSON of `TensorStatistics` (snake_case keys through `JSONOutput`); figures that are not
/// finite, which JSON cannot hold, are left out.
struct StatisticsJSON: Encodable {
  struct Bin: Encodable {
    var lower: Float
    var upper: Float?
    var count: Int
  }
  struct Below: Encodable {
    var threshold: Float
    var count: Int
    var sparsity: Double
  }
  struct Quantile: Encodable {
    var sparsity: Double
    var threshold: Float?
    var actualSparsity: Double
  }

  var count: Int
  var zeros: Int
  var zeroFraction: Double
  var nan: Int
  var inf: Int
  var min: Double?
  var max: Double?
  var mean: Double?
  var std: Double?
  var histogram: [Bin]
  var below: [Below]
  var quantiles: [Quantile]

  init(_ statistics: TensorStatistics) {
    func finite(_ value: Double?) -> Double? { value.flatMap { $0.isFinite ? $0 : nil } }
    count = statistics.count
    zeros = statistics.zeroCount
    zeroFraction = statistics.zeroFraction
    nan = statistics.nanCount
    inf = statistics.infinityCount
    min = finite(statistics.minimum)
    max = finite(statistics.maximum)
    mean = finite(statistics.mean)
    std = finite(statistics.standardDeviation)
    histogram = statistics.histogram.map { Bin(lower: $0.lower, upper: $0.upper, count: $0.count) }
    below = statistics.belowThreshold.map { Below(threshold: $0.threshold, count: $0.count, sparsity: $0.sparsity) }
    quantiles = statistics.quantiles.map {
      Quantile(sparsity: $0.target, threshold: $0.threshold.isFinite ? $0.threshold : nil, actualSparsity: $0.sparsity)
    }
  }
}

/// `info` on a file that is not a model Shears runs.
struct TensorsInfoResult: Encodable {
  struct Layer: Encodable {
    var name: String
    var shape: [Int]
    var params: Int
    var nonzero: Int
    var sparsity: Double
  }

  var reason: String
  var fileBytes: Int
  var metadata: [String: String]
  var tensors: [TensorReport]
  /// The weight matrices, in the shape of the MLP report's `layers`.
  var layers: [Layer]
  var params: Int
  var nonzero: Int
  var sparsity: Double
  var total: TensorStatistics
  var seconds: Double

  init(file: MappedSafetensorsFile, reason: String, tensors: [TensorReport], total: TensorStatistics, seconds: Double) {
    self.reason = reason
    fileBytes = file.fileSize
    metadata = file.metadata
    self.tensors = tensors
    layers = tensors.filter(\.isWeightMatrix).map {
      Layer(
        name: $0.name, shape: $0.shape, params: $0.statistics.count,
        nonzero: $0.statistics.count - $0.statistics.zeroCount, sparsity: $0.statistics.zeroFraction)
    }
    params = total.count
    nonzero = total.count - total.zeroCount
    sparsity = total.zeroFraction
    self.total = total
    self.seconds = seconds
  }

  enum CodingKeys: String, CodingKey {
    case kind, reason, fileBytes, metadata, tensors, layers, params, nonzero, sparsity, total, seconds
  }

  func encode(to encoder: Encoder) throws {
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encode("tensors", forKey: .kind)
    try container.encode(reason, forKey: .reason)
    try container.encode(fileBytes, forKey: .fileBytes)
    try container.encode(metadata, forKey: .metadata)
    try container.encode(tensors, forKey: .tensors)
    try container.encode(layers, forKey: .layers)
    try container.encode(params, forKey: .params)
    try container.encode(nonzero, forKey: .nonzero)
    try container.encode(sparsity, forKey: .sparsity)
    try container.encode(StatisticsJSON(total), forKey: .total)
    try container.encode(seconds, forKey: .seconds)
  }

  /// The text report: a line about the file, its metadata, a table of statistics, a table of
  /// threshold sparsities and cuts, and the histogram of all weight matrices.
  func text(path: String) -> String {
    let width = max(24, (tensors.map(\.name.count).max() ?? 0) + 2)
    func name(_ text: String) -> String { text.padding(toLength: width, withPad: " ", startingAt: 0) }
    func number(_ value: Double?) -> String { String(format: "%10.4g", value ?? .nan) }
    func percent(_ fraction: Double) -> String { String(format: "%7.2f%%", fraction * 100) }
    var lines = [
      "\(path): \(tensors.count) tensors, \(ModelReport.bytes(fileBytes)); "
        + "not a model Shears can run (\(reason)), so tensor statistics only"
    ]
    for (key, value) in metadata.sorted(by: { $0.key < $1.key }) { lines.append("metadata  \(key)=\(value)") }
    lines.append(
      name("tensor") + "dtype  " + "shape".padding(toLength: 16, withPad: " ", startingAt: 0)
        + "   elements     zeros        min        max       mean        std")
    for tensor in tensors {
      let s = tensor.statistics
      let shape = tensor.shape.map(String.init).joined(separator: "x")
      lines.append(
        name(tensor.name) + tensor.dtype.padding(toLength: 7, withPad: " ", startingAt: 0)
          + shape.padding(toLength: 16, withPad: " ", startingAt: 0) + String(format: "%11d", s.count)
          + " " + percent(s.zeroFraction) + " " + number(s.minimum) + " " + number(s.maximum) + " " + number(s.mean)
          + " " + number(s.standardDeviation)
          + (s.nanCount + s.infinityCount > 0 ? "  (\(s.nanCount) NaN, \(s.infinityCount) inf)" : ""))
    }
    lines.append("")
    let thresholds = TensorStatistics.thresholds.map { leftPad("<" + Self.short($0), 8) }
    let cuts = TensorStatistics.quantileTargets.map { leftPad("\(Int(($0 * 100).rounded()))%", 10) }
    lines.append(
      name("")
        + "share of weights with |w| below".padding(toLength: 9 * thresholds.count + 1, withPad: " ", startingAt: 0)
        + "|w| cut that prunes")
    lines.append(name("tensor") + thresholds.joined(separator: " ") + "  " + cuts.joined())
    func row(_ label: String, _ s: TensorStatistics) -> String {
      name(label) + s.belowThreshold.map { String(format: "%7.2f%%", $0.sparsity * 100) }.joined(separator: " ") + "  "
        + TensorStatistics.quantileTargets.map { target in
          let cut = s.quantiles.first { $0.target == target }?.threshold
          // A cut in the lowest bin (below 2^-133) means the zeros alone reach the target.
          if let cut, cut < 1e-30 { return leftPad("0+", 10) }
          return String(format: "%10.4g", cut.map(Double.init) ?? .nan)
        }.joined()
    }
    for tensor in tensors { lines.append(row(tensor.name, tensor.statistics)) }
    lines.append(row("total (matrices)", total))
    lines.append("")
    lines.append("|w| over the \(layers.count) weight matrices (\(total.count) weights)")
    let largest = max(1, total.histogram.map(\.count).max() ?? 1)
    for bin in total.histogram {
      let label =
        bin.upper == 0
        ? "= 0"
        : bin.lower == 0
          ? "< \(Self.short(bin.upper!))"
          : bin.upper.map { "\(Self.short(bin.lower)) to \(Self.short($0))" } ?? ">= \(Self.short(bin.lower))"
      let share = total.count == 0 ? 0 : Double(bin.count) / Double(total.count)
      lines.append(
        "  " + label.padding(toLength: 14, withPad: " ", startingAt: 0) + String(format: "%12d ", bin.count)
          + percent(share) + "  "
          + String(repeating: "#", count: Int((40 * Double(bin.count) / Double(largest)).rounded(.up))))
    }
    lines.append(String(format: "read in %.2f s", seconds))
    return lines.joined(separator: "\n")
  }

  private func leftPad(_ text: String, _ width: Int) -> String {
    String(repeating: " ", count: max(0, width - text.count)) + text
  }

  /// `1e-4`, `0.1`, `1`, `100`.
  static func short(_ value: Float) -> String {
    if value >= 0.1 && value < 1000 { return String(format: "%g", value) }
    return String(format: "%.0e", value).replacingOccurrences(of: "e-0", with: "e-").replacingOccurrences(
      of: "e+0", with: "e")
  }
}
