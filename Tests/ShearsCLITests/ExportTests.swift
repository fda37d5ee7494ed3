import Foundation
import PruneEngine
import Testing

/// `export --format compact|recipe` on the suite's trained model, and the compact form read
/// back: the same weights and masks, the smaller encoding chosen, sizes in `info`, and
/// inconsistent compact files rejected with one line.
@Suite(.trainedModel) struct ExportTests {
  let trained: TrainedModel
  let output: TemporaryFolder

  init() throws {
    trained = try TrainedModel.shared()
    output = try TemporaryFolder()
  }

  /// `shears export --model <model> --format <format> --out <out> --json`, which must succeed
  /// with nothing on stderr; returns the JSON.
  private func export(
    _ model: String, format: String, out: String, _ extra: String..., sourceLocation: SourceLocation = #_sourceLocation
  ) throws -> [String: Any] {
    let run = try shears(["export", "--model", model, "--format", format, "--out", out, "--json"] + extra)
    try requireSuccess(run, sourceLocation: sourceLocation)
    #expect(run.stderr.isEmpty, "\(run)", sourceLocation: sourceLocation)
    return try jsonObject(run, sourceLocation: sourceLocation)
  }

  /// A pruned copy of the trained model: `prune <arguments>` into the output folder.
  private func pruned(_ name: String, _ arguments: String...) throws -> String {
    let path = output.path(name)
    try requireSuccess(
      try shears(["prune", "--model", trained.model, "--data", trained.data.path, "--out", path] + arguments))
    return path
  }

  // MARK: - Compact

  @Test func compactFileLoadsBackToTheSameModel() throws {
    let out = output.path("compact.safetensors")
    let json = try export(trained.pruned, format: "compact", out: out)
    #expect(json["format"] as? String == "compact")
    #expect(json["out"] as? String == out)
    let bytes = try #require(fileBytes(out))
    #expect(json["bytes"] as? Int == bytes.count)
    #expect((json["gzip_bytes"] as? Int ?? 0) > 0)
    #expect(json["dense_file_bytes"] as? Int == trained.prunedBytes.count, "the fixture keeps no rewind weights")
    // 50% of 784 columns: a bitmask (1,568 bytes) beats CSR (6,272 x 2 + 17 x 2).
    #expect(column(json, "encoding", as: String.self) == ["bitmask", "bitmask"])
    #expect(column(json, "byte_count", as: Int.self) == [6272 * 4 + 1568, 80 * 4 + 20])
    #expect(bytes.count < trained.prunedBytes.count / 2)

    let dense = try Checkpoint.load(from: trained.pruned)
    let compact = try Checkpoint.load(from: out)
    #expect(compact.model == dense.model, "the same weights, bit for bit, and the same masks")
    #expect(compact.metadata == dense.metadata)

    // The file as another tool sees it: values, a packed bitmask (LSB first), metadata.
    let file = try SafetensorsFile(path: out)
    #expect(file.metadata["format"] == "shears-compact-1")
    #expect(file.metadata["0.weight.encoding"] == "bitmask")
    #expect(file.metadata["0.weight.shape"] == "16,784")
    #expect(
      Set(file.tensors.keys) == [
        "0.weight.values", "0.weight.bitmask", "0.bias", "2.weight.values", "2.weight.bitmask", "2.bias",
      ])
    let packed = try #require(file.tensors["0.weight.bitmask"]).uint8s
    let mask = (0..<12544).map { packed[$0 / 8] >> UInt8($0 % 8) & 1 }
    let original = try SafetensorsFile(path: trained.pruned)
    #expect(mask == original.mask(layer: 0))
    let weights = try original.floats("0.weight")
    #expect(try file.floats("0.weight.values") == weights.indices.filter { mask[$0] == 1 }.map { weights[$0] })

    // eval gives the same figures on both forms.
    let evalDense = try jsonObject(try shears("eval", "--model", trained.pruned, "--data", trained.data.path, "--json"))
    let evalCompact = try jsonObject(try shears("eval", "--model", out, "--data", trained.data.path, "--json"))
    #expect(evalCompact["correct"] as? Int == evalDense["correct"] as? Int)
    #expect(isClose(evalCompact["loss"] as? Double ?? -1, evalDense["loss"] as? Double ?? 1, relative: 1e-5))
  }

  /// At 99% sparsity CSR positions (2 bytes each) beat a bitmask of one bit per weight.
  @Test func compactChoosesCSRWhenSmaller() throws {
    let model = try pruned("sparse.safetensors", "--criterion", "magnitude", "--amount", "0.99")
    let out = output.path("compact.safetensors")
    let json = try export(model, format: "compact", out: out)
    // Layer 0 keeps 125 of 12,544: CSR 125 x 2 + 17 x 2 = 284 bytes < 1,568. Layer 2 keeps 2
    // of 160: CSR 2 x 1 + 11 x 2 = 24 > 20.
    #expect(column(json, "encoding", as: String.self) == ["csr", "bitmask"])
    #expect(column(json, "byte_count", as: Int.self) == [125 * 4 + 284, 2 * 4 + 20])
    let file = try SafetensorsFile(path: out)
    #expect(file.metadata["0.weight.encoding"] == "csr")
    let indices = try #require(file.tensors["0.weight.indices"])
    let offsets = try #require(file.tensors["0.weight.indptr"])
    #expect(indices.dtype == "U16" && indices.shape == [125])
    #expect(offsets.dtype == "U16" && offsets.shape == [17])
    // Rebuild the mask from CSR, independently of the engine.
    func u16(_ data: Data) -> [Int] {
      stride(from: data.startIndex, to: data.endIndex, by: 2).map { Int(data[$0]) | Int(data[$0 + 1]) << 8 }
    }
    let columns = u16(indices.bytes)
    let starts = u16(offsets.bytes)
    var mask = [UInt8](repeating: 0, count: 12544)
    for row in 0..<16 {
      for position in starts[row]..<starts[row + 1] { mask[row * 784 + columns[position]] = 1 }
    }
    #expect(mask == (try SafetensorsFile(path: model)).mask(layer: 0))
    #expect(try Checkpoint.load(from: out).model == (try Checkpoint.load(from: model)).model)
  }

  /// An unpruned model has no masks: its weights are stored dense.
  @Test func unprunedLayersAreStoredDense() throws {
    let out = output.path("compact.safetensors")
    let json = try export(trained.model, format: "compact", out: out)
    #expect(column(json, "encoding", as: String.self) == ["dense", "dense"])
    #expect(try Checkpoint.load(from: out).model == (try Checkpoint.load(from: trained.model)).model)
  }

  @Test func infoReportsDenseCompactAndGzipSizes() throws {
    let out = output.path("compact.safetensors")
    let exported = try export(trained.pruned, format: "compact", out: out)
    let info = try infoJSON(trained.pruned)
    #expect(info["kind"] as? String == "mlp")
    #expect(info["file_bytes"] as? Int == trained.prunedBytes.count)
    #expect(info["dense_file_bytes"] as? Int == trained.prunedBytes.count)
    #expect(info["compact_file_bytes"] as? Int == exported["bytes"] as? Int)
    #expect(info["compact_gzip_bytes"] as? Int == exported["gzip_bytes"] as? Int)
    let denseGzip = try #require(info["dense_gzip_bytes"] as? Int)
    let compactGzip = try #require(info["compact_gzip_bytes"] as? Int)
    #expect(denseGzip > 0 && denseGzip < trained.prunedBytes.count)
    #expect(compactGzip > 0 && compactGzip < (exported["bytes"] as? Int ?? 0))
    // The compact file itself describes the same model.
    let compactInfo = try infoJSON(out)
    expectNonzeros(compactInfo, [6272, 80])
    #expect(compactInfo["compact_file_bytes"] as? Int == exported["bytes"] as? Int)

    let text = try shears("info", "--model", trained.pruned)
    expectSuccess(text)
    let line = try #require(text.stdoutLines.last)
    #expect(line.hasPrefix("files  ") && line.contains(" dense (") && line.contains(" compact ("), "\(line)")
  }

  // MARK: - Recipe

  @Test func recipeListsPerLayerAmountsAndTheCriterion() throws {
    let out = output.path("recipe.json")
    let json = try export(trained.pruned, format: "recipe", out: out)
    #expect(json["format"] as? String == "recipe")
    let data = try #require(fileBytes(out))
    #expect(json["bytes"] as? Int == data.count)
    let recipe = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    #expect(recipe["format"] as? String == "shears-recipe-1")
    #expect(recipe["arch"] as? String == "mlp:784-16-10")
    #expect(recipe["criterion"] as? String == "magnitude")
    #expect(recipe["scope"] as? String == "layer")
    #expect(recipe["structured"] as? Bool == false)
    #expect(recipe["operations"] as? [String] == ["prune magnitude scope=layer amount=0.5"])
    #expect(isClose(recipe["sparsity"] as? Double ?? -1, 0.5))
    #expect(column(recipe, "module", as: String.self) == ["0", "2"])
    #expect(column(recipe, "pruned", as: Int.self) == [6272, 80])
    let steps = column(recipe, "steps", as: [[String: Any]].self)
    #expect(steps.map { $0?.map { $0["method"] as? String } } == [["l1_unstructured"], ["l1_unstructured"]])
    #expect(steps.map { $0?.first?["count"] as? Int } == [6272, 80])
    #expect(steps.map { $0?.first?["amount"] as? Double } == [0.5, 0.5])
    let python = try #require(recipe["python"] as? String)
    #expect(python.contains("def apply_shears_recipe(model, recipe, modules=None):"))
    #expect(python.contains("prune.l1_unstructured(module, \"weight\", amount=step[\"amount\"])"))
    // The same object is in the JSON on stdout.
    #expect((json["recipe"] as? [String: Any])?["criterion"] as? String == "magnitude")
  }

  @Test func recipeOfNeuronPruningUsesStructuredSteps() throws {
    let model = try pruned("neurons.safetensors", "--criterion", "neuron-l2", "--amount", "0.25")
    let recipe = try #require(
      try export(model, format: "recipe", out: output.path("recipe.json"))["recipe"] as? [String: Any])
    #expect(recipe["criterion"] as? String == "neuron-l2")
    #expect(recipe["structured"] as? Bool == true)
    #expect(column(recipe, "pruned_neurons", as: Int.self) == [4, 0], "neuron pruning leaves the output layer")
    let steps = column(recipe, "steps", as: [[String: Any]].self)
    #expect(steps[0]?.map { $0["method"] as? String } == ["ln_structured"])
    #expect(steps[0]?.first?["count"] as? Int == 4)
    #expect(steps[0]?.first?["amount"] as? Double == 0.25)
    #expect(steps[1]?.isEmpty == true)
  }

  @Test func textOutputNamesTheFileWritten() throws {
    let out = output.path("compact.safetensors")
    let run = try shears("export", "--model", trained.pruned, "--format", "compact", "--out", out)
    expectSuccess(run)
    #expect(run.stdoutLines.first == "layer      encoding      bytes")
    #expect(run.stdoutLines.dropFirst().first?.hasPrefix("0.weight   bitmask ") == true, "\(run)")
    #expect(run.stdoutLines.last?.hasPrefix("wrote \(out): ") == true, "\(run)")
    let recipe = try shears("export", "--model", trained.pruned, "--format", "recipe", "--out", output.path("r.json"))
    expectSuccess(recipe)
    #expect(recipe.stdoutLines.first == "0.weight     50.00% pruned  l1_unstructured(amount=0.5)")
    #expect(recipe.stdoutLines.last?.contains("(criterion magnitude, scope layer)") == true, "\(recipe)")
  }

  // MARK: - Errors

  @Test func exportNeverOverwritesTheInputWithoutForce() throws {
    let model = output.path("model.safetensors")
    try trained.prunedBytes.write(to: URL(fileURLWithPath: model))
    for format in ["compact", "recipe"] {
      let run = try shears("export", "--model", model, "--format", format, "--out", model)
      let message = expectInputError(run, subject: model)
      #expect(message == "is the input checkpoint; write elsewhere or pass --force to replace it")
      #expect(fileBytes(model) == trained.prunedBytes)
    }
    // With --force the compact form replaces it and still loads as the same model.
    _ = try export(model, format: "compact", out: model, "--force")
    #expect(try Checkpoint.load(from: model).model == (try Checkpoint.load(from: trained.pruned)).model)
    #expect(try output.contents() == ["model.safetensors"], "no temporary file left")
  }

  @Test func badOutputsAndFormatsAreRejected() throws {
    let missing = output.path("missing/out.safetensors")
    let message = expectInputError(
      try shears("export", "--model", trained.pruned, "--format", "compact", "--out", missing), subject: missing)
    #expect(message == "folder \(output.path("missing")) does not exist")
    let usage = expectUsageError(
      try shears("export", "--model", trained.pruned, "--format", "onnx", "--out", output.path("x")))
    #expect(usage.first?.hasPrefix("Error: The value 'onnx' is invalid for '--format <format>'") == true, "\(usage)")
    let bad = output.path("bad.safetensors")
    try Data("not a model".utf8).write(to: URL(fileURLWithPath: bad))
    let out = output.path("out.safetensors")
    let problem = expectInputError(
      try shears("export", "--model", bad, "--format", "compact", "--out", out), subject: bad)
    #expect(problem?.hasPrefix("not a safetensors file") == true)
    #expect(fileBytes(out) == nil)
  }

  /// Compact files whose parts disagree: each is one line naming the file, never a crash.
  @Test(arguments: CompactDamage.allCases)
  func inconsistentCompactFilesAreRejected(_ damage: CompactDamage) throws {
    let out = output.path("compact.safetensors")
    let model = try pruned("sparse.safetensors", "--criterion", "magnitude", "--amount", "0.99")
    _ = try export(model, format: "compact", out: out)
    let file = try PruneEngine.SafetensorsFile(contentsOf: out)
    try damage.apply(to: file).write(to: out)
    let message = expectInputError(try shears("info", "--model", out), subject: out)
    #expect(message?.contains(damage.problem) == true, "\(message ?? "")")
  }
}

/// A change that makes a compact file inconsistent, and a fragment of the error it must give.
enum CompactDamage: String, CaseIterable, CustomTestStringConvertible, Sendable {
  case missingEncoding, unknownEncoding, badShape, hugeShape, bitmaskCountsDisagree, bitmaskTooLong
  case csrColumnOutOfRange, csrOffsetsDecrease, missingValues

  var testDescription: String { rawValue }

  var problem: String {
    switch self {
    case .missingEncoding: "tensor '0.weight.values' has no 0.weight.encoding in the metadata"
    case .unknownEncoding: "metadata 2.weight.encoding 'rle' is not dense, bitmask or csr"
    case .badShape: "metadata 0.weight.shape '16x784' is not positive integers out,in or filters,channels,kh,kw"
    case .hugeShape: "compact layers would expand to"
    case .bitmaskCountsDisagree: "2.weight.bitmask keeps 3 weights but there are 2 values"
    case .bitmaskTooLong: "2.weight.bitmask is U8 [21], expected U8 [20]"
    case .csrColumnOutOfRange: "0.weight.indices has column 784 out of order or not below 784 in row"
    case .csrOffsetsDecrease: "0.weight.indptr decreases at row 1"
    case .missingValues: "missing 2.weight.values"
    }
  }

  /// The damaged file (layer 0 is CSR, layer 2 a bitmask with 2 of 160 weights kept).
  func apply(to file: PruneEngine.SafetensorsFile) throws -> PruneEngine.SafetensorsFile {
    typealias Entry = PruneEngine.SafetensorsFile.Entry
    var entries = file.entries
    var metadata = file.metadata
    func replace(_ name: String, _ change: (inout [UInt8]) -> Void) {
      guard let index = entries.firstIndex(where: { $0.name == name }) else { return }
      var bytes = entries[index].bytes
      change(&bytes)
      entries[index] = Entry(
        name: name, dtype: entries[index].dtype, shape: [bytes.count / entries[index].dtype.byteCount], bytes: bytes)
    }
    switch self {
    case .missingEncoding: metadata["0.weight.encoding"] = nil
    case .unknownEncoding: metadata["2.weight.encoding"] = "rle"
    case .badShape: metadata["0.weight.shape"] = "16x784"
    case .hugeShape: metadata["0.weight.shape"] = "16,1000000000"
    case .bitmaskCountsDisagree:
      replace("2.weight.bitmask") { bytes in bytes[bytes.firstIndex(of: 0)!] = 1 }
    case .bitmaskTooLong: replace("2.weight.bitmask") { $0.append(1) }
    case .csrColumnOutOfRange:
      replace("0.weight.indices") {
        $0[0] = 0x10; $0[1] = 0x03
      }  // 784
    case .csrOffsetsDecrease:
      replace("0.weight.indptr") {
        $0[2] = 0xFF; $0[3] = 0x00
      }  // row 1 starts at 255 > 125
    case .missingValues: entries.removeAll { $0.name == "2.weight.values" }
    }
    return PruneEngine.SafetensorsFile(entries: entries, metadata: metadata)
  }
}

/// `info` on safetensors files that are not MLPs: per-tensor statistics read by memory map.
@Suite struct TensorInfoTests {
  let folder: TemporaryFolder
  var path: String { folder.path("shard.safetensors") }

  init() throws {
    folder = try TemporaryFolder()
  }

  /// A few tensors named as in a transformer shard, with values whose figures are known:
  /// `q_proj` F16 `[8, 16]` holding k/64 - 1 (exact in F16) with every fourth zeroed, a BF16
  /// embedding of 0.5s and -0.25s, an F32 norm of ones, and an I64 position table.
  static func shard() -> PruneEngine.SafetensorsFile {
    typealias Entry = PruneEngine.SafetensorsFile.Entry
    let q = (0..<128).map { $0 % 4 == 0 ? Float(0) : Float($0) / 64 - 1 }
    func bytes<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
      values.flatMap { value in (0..<MemoryLayout<T>.size).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }
    }
    func half(_ value: Float) -> UInt16 {  // exact for zero and these normal values
      guard value != 0 else { return 0 }
      let bits = value.bitPattern
      return UInt16(truncatingIfNeeded: bits >> 16) & 0x8000 | UInt16(Int((bits >> 23) & 0xFF) - 112) << 10
        | UInt16(truncatingIfNeeded: (bits >> 13) & 0x3FF)
    }
    return PruneEngine.SafetensorsFile(
      entries: [
        Entry(
          name: "model.embed_tokens.weight", dtype: .bf16, shape: [4, 16],
          bytes: bytes((0..<64).map { $0 % 2 == 0 ? UInt16(0x3F00) : 0xBE80 })),
        Entry(name: "model.layers.0.input_layernorm.weight", tensor: PruneEngine.Tensor(shape: [16], repeating: 1)),
        Entry(name: "model.layers.0.self_attn.q_proj.weight", dtype: .f16, shape: [8, 16], bytes: bytes(q.map(half))),
        Entry(name: "position_ids", dtype: .i64, shape: [1, 8], bytes: bytes((0..<8).map { Int64($0) })),
      ],
      metadata: ["format": "pt"])
  }

  @Test func jsonDescribesEveryTensor() throws {
    try Self.shard().write(to: path)
    let run = try shears("info", "--model", path, "--json")
    try requireSuccess(run)
    #expect(run.stderr.isEmpty, "\(run)")
    let json = try jsonObject(run)
    #expect(json["kind"] as? String == "tensors")
    #expect(json["reason"] as? String == "no Linear or Conv2d layer tensors (0.weight, 0.bias, ...)")
    #expect(json["file_bytes"] as? Int == fileBytes(path)?.count)
    #expect(json["metadata"] as? [String: String] == ["format": "pt"])
    let tensors = try #require(json["tensors"] as? [[String: Any]])
    #expect(
      tensors.map { $0["name"] as? String } == [
        "model.embed_tokens.weight", "model.layers.0.input_layernorm.weight", "model.layers.0.self_attn.q_proj.weight",
        "position_ids",
      ])
    #expect(tensors.map { $0["dtype"] as? String } == ["BF16", "F32", "F16", "I64"])
    #expect(tensors.map { $0["shape"] as? [Int] } == [[4, 16], [16], [8, 16], [1, 8]])
    #expect(tensors.map { $0["count"] as? Int } == [64, 16, 128, 8])
    #expect(tensors.map { $0["zeros"] as? Int } == [0, 0, 32, 1])

    let embedding = tensors[0]
    #expect(embedding["min"] as? Double == -0.25 && embedding["max"] as? Double == 0.5)
    #expect(embedding["mean"] as? Double == 0.125 && embedding["std"] as? Double == 0.375)
    let q = tensors[2]
    #expect(q["zero_fraction"] as? Double == 0.25)
    #expect(q["min"] as? Double == 1.0 / 64 - 1 && q["max"] as? Double == 127.0 / 64 - 1)
    // |k/64 - 1| < 0.1 for k = 58...70 minus the zeroed 60, 64 and 68: 10 values, plus 32 zeros.
    let below = try #require(q["below"] as? [[String: Any]])
    #expect(below.map { $0["threshold"] as? Double } == [0.0001, 0.001, 0.01, 0.1])
    #expect(below.map { $0["count"] as? Int } == [32, 32, 32, 42])
    #expect(below.last?["sparsity"] as? Double == 42.0 / 128)
    let histogram = try #require(q["histogram"] as? [[String: Any]])
    #expect(histogram.count == 13)
    #expect(histogram.reduce(0) { $0 + ($1["count"] as? Int ?? 0) } == 128)
    #expect(histogram.first?["count"] as? Int == 32, "the first bin holds the exact zeros")
    let quantiles = try #require(q["quantiles"] as? [[String: Any]])
    #expect(quantiles.map { $0["sparsity"] as? Double } == [0.5, 0.75, 0.9, 0.95, 0.99])
    for quantile in quantiles {
      #expect((quantile["actual_sparsity"] as? Double ?? 0) >= quantile["sparsity"] as? Double ?? 1)
    }

    // Totals and `layers` cover the floating-point matrices only: the embedding and q_proj.
    #expect(
      column(json, "name", as: String.self) == ["model.embed_tokens.weight", "model.layers.0.self_attn.q_proj.weight"])
    #expect(json["params"] as? Int == 192)
    #expect(json["nonzero"] as? Int == 160)
    #expect(isClose(json["sparsity"] as? Double ?? -1, 32.0 / 192))
    #expect((json["total"] as? [String: Any])?["count"] as? Int == 192)
  }

  @Test func textShowsTablesAndHistogram() throws {
    try Self.shard().write(to: path)
    let run = try shears("info", "--model", path)
    try requireSuccess(run)
    let lines = run.stdoutLines
    let reason = "no Linear or Conv2d layer tensors (0.weight, 0.bias, ...)"
    #expect(
      lines.first == "\(path): 4 tensors, 0.9 KiB; not a model Shears can run (\(reason)), so tensor statistics only")
    #expect(lines.dropFirst().first == "metadata  format=pt")
    #expect(lines.contains { $0.hasPrefix("model.layers.0.self_attn.q_proj.weight  F16    8x16") })
    #expect(
      lines.contains { $0.hasPrefix("model.layers.0.self_attn.q_proj.weight    25.00%   25.00%   25.00%   32.81%") })
    #expect(lines.contains("|w| over the 2 weight matrices (192 weights)"))
    #expect(lines.contains { $0.hasPrefix("  = 0                     32   16.67%") })
    #expect(lines.last?.hasPrefix("read in ") == true)
  }

  @Test func nonFiniteValuesAreCountedAndWarned() throws {
    let nan = Float.nan.bitPattern
    let entry = PruneEngine.SafetensorsFile.Entry(
      name: "encoder.weight", dtype: .f32, shape: [2, 2],
      bytes: [nan, Float.infinity.bitPattern, Float(1).bitPattern, Float(-3).bitPattern].flatMap { bits in
        (0..<4).map { UInt8(truncatingIfNeeded: bits >> (8 * $0)) }
      })
    try PruneEngine.SafetensorsFile(entries: [entry]).write(to: path)
    let run = try shears("info", "--model", path, "--json")
    try requireSuccess(run)
    #expect(run.stderrLines == ["shears: warning: \(path): encoder.weight holds 1 NaN and 1 infinite values"])
    let tensor = try #require((try jsonObject(run)["tensors"] as? [[String: Any]])?.first)
    #expect(tensor["nan"] as? Int == 1 && tensor["inf"] as? Int == 1)
    #expect(tensor["min"] as? Double == -3 && tensor["max"] as? Double == 1 && tensor["mean"] as? Double == -1)
  }

  /// An MLP with NaN or infinite weights loads, with a warning naming the tensor.
  @Test func nonFiniteWeightsOfAnMLPAreWarned() throws {
    var weight = PruneEngine.Tensor(shape: [2, 3], repeating: 0.5)
    weight.scalars[1] = .nan
    weight.scalars[4] = -.infinity
    try PruneEngine.SafetensorsFile(entries: [
      .init(name: "0.weight", tensor: weight), .init(name: "0.bias", tensor: PruneEngine.Tensor(shape: [2])),
    ]).write(to: path)
    let run = try shears("info", "--model", path, "--json")
    try requireSuccess(run)
    #expect(run.stderrLines == ["shears: warning: \(path): 0.weight holds 1 NaN and 1 infinite values"])
    #expect(try jsonObject(run)["arch"] as? String == "mlp:3-2")
  }

  /// A file that says it is a Shears checkpoint must load as one: no fallback to statistics.
  @Test func brokenShearsCheckpointIsStillAnError() throws {
    try PruneEngine.SafetensorsFile(
      entries: [.init(name: "0.weight", tensor: PruneEngine.Tensor(shape: [2, 3]))], metadata: ["format": "shears-1"]
    ).write(to: path)
    #expect(expectInputError(try shears("info", "--model", path), subject: path) == "missing 0.bias")
  }

  /// A PyTorch MLP state dict needs no metadata to be read as a model.
  @Test func stateDictWithoutMetadataIsAnMLP() throws {
    try PruneEngine.SafetensorsFile(entries: [
      .init(name: "0.weight", tensor: PruneEngine.Tensor(shape: [2, 3], repeating: 0.5)),
      .init(name: "0.bias", tensor: PruneEngine.Tensor(shape: [2])),
    ]).write(to: path)
    let json = try infoJSON(path)
    #expect(json["kind"] as? String == "mlp")
    #expect(json["arch"] as? String == "mlp:3-2")
  }
}
