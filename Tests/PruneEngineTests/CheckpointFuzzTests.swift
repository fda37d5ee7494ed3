import Foundation
import Testing

@testable import PruneEngine

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A seeded mutation test of checkpoint loading (GUIDE section 4: files are untrusted).
///
/// Six real files (MLPs and conv nets) are mutated in memory — bit flips, bytes replaced by boundary values,
/// truncations, changed header lengths, and edits of the header's JSON tokens (numbers, names,
/// dtypes, metadata values replaced, deleted, duplicated or swapped, with the length prefix
/// usually fixed up so the edit reaches the checks behind the JSON parser) — and every result
/// goes through `Checkpoint.loadWithRewind(decoding:subject:)`, the whole path of `load` but the
/// disk read. Each must load or throw a one-line `ShearsError`; a crash or a hang stops the test
/// run, and an allocation sized from an unchecked number shows as a slow case or a jump in peak
/// memory. Every 64th input also goes through the header parse and tensor statistics of `info`.
///
/// To look closer: `SHEARS_FUZZ_REASONS=1` prints how often each kind of error came up, and
/// `SHEARS_FUZZ_DUMP=<shard>:<case>` writes that input to `fuzz-case.safetensors` in the
/// temporary folder.
@Suite struct CheckpointFuzzTests {
  /// At least 100,000 inputs in all (issue 4); the cases are split over `CheckpointFuzzTests.shards`.
  static let caseCount = 120_000
  static let shards = 4

  @Test(arguments: 0..<shards)
  func mutatedCheckpointsLoadOrFailWithOneLine(shard: Int) throws {
    let seeds = try FuzzSeed.all()
    var generator = SeededGenerator(seed: 0x5EED_0000 + UInt64(shard))
    let peakBefore = peakResidentBytes()
    let clock = ContinuousClock()
    let start = clock.now
    var slowest = (duration: Duration.zero, index: 0)
    var loaded = 0
    var rejected = 0
    var reasons: [String: Int] = [:]
    var reported = 0
    let cases = Self.caseCount / Self.shards
    let environment = ProcessInfo.processInfo.environment
    let dump = environment["SHEARS_FUZZ_DUMP"]
    for index in 0..<cases {
      let seed = seeds[index % seeds.count]
      var bytes = seed.bytes
      var mutator = Mutator(seed: seed)
      let roll = generator.next() % 10
      for _ in 0..<(roll < 6 ? 1 : roll < 9 ? 2 : 3) { mutator.mutate(&bytes, using: &generator) }
      if let dump, dump == "\(shard):\(index)" {
        try Data(bytes).write(
          to: FileManager.default.temporaryDirectory.appendingPathComponent("fuzz-case.safetensors"))
      }
      let caseStart = clock.now
      do {
        let result = try Checkpoint.loadWithRewind(decoding: bytes, subject: "case")
        loaded += 1
        // Whatever loads saves again and reloads to the same bits (NaN weights included).
        if index % 8 == 0 {
          let again = try Checkpoint.file(for: result.model, metadata: result.metadata, subject: "again").encoded
          let reloaded = try Checkpoint.loadWithRewind(decoding: again, subject: "again")
          #expect(
            try Checkpoint.file(for: reloaded.model, metadata: reloaded.metadata, subject: "again").encoded == again)
        }
      } catch let error as ShearsError {
        rejected += 1
        let text = error.description
        if text.contains("\n") || !text.hasPrefix("case") || error.problem.isEmpty, reported < 5 {
          reported += 1
          Issue.record("shard \(shard) case \(index): not a one-line error naming the file: \(text)\n\(hex(bytes))")
        }
        reasons[Self.category(error.problem), default: 0] += 1
      } catch {
        if reported < 5 {
          reported += 1
          Issue.record(
            "shard \(shard) case \(index): threw \(type(of: error)), not ShearsError: \(error)\n\(hex(bytes))")
        }
      }
      // What `info` does with a file that is not a model: every dtype, statistics per tensor.
      if index % 64 == 0 { checkStatistics(bytes, shard: shard, index: index) }
      let duration = clock.now - caseStart
      if duration > slowest.duration { slowest = (duration, index) }
    }
    let elapsed = clock.now - start
    let growth = peakResidentBytes() - peakBefore
    print(
      "checkpoint fuzz shard \(shard): \(cases) inputs in \(elapsed), slowest \(slowest.duration) (case "
        + "\(slowest.index)); loaded \(loaded), rejected \(rejected); peak memory grew \(growth >> 20) MiB; "
        + "\(reasons.count) kinds of error")
    if environment["SHEARS_FUZZ_REASONS"] != nil {
      print(reasons.sorted { $0.value > $1.value }.map { "\($0.value)\t\($0.key)" }.joined(separator: "\n"))
    }
    #expect(loaded + rejected == cases)
    #expect(loaded > cases / 100, "mutations should leave some files loadable")
    #expect(reasons.count > 40, "mutations should reach many different checks: \(reasons.keys.sorted())")
    #expect(slowest.duration < .seconds(1), "case \(slowest.index) is this slow: a hang, or an unchecked size?")
    // Inputs are a few KiB: hundreds of MiB would come from a size that was not checked.
    #expect(growth < 256 << 20)
  }

  /// Parses the header accepting every dtype (as `MappedSafetensorsFile` does) and checks the
  /// statistics of each tensor add up.
  private func checkStatistics(_ bytes: [UInt8], shard: Int, index: Int) {
    bytes.withUnsafeBytes { file in
      guard
        let header = try? SafetensorsHeader(file: file, accepting: SafetensorsFile.DType.allCases, subject: "case")
      else { return }
      _ = Checkpoint.modelProblem(in: header.tensors)
      for tensor in header.tensors {
        let accumulator = TensorStatisticsAccumulator(dtype: tensor.dtype)
        let start = header.dataStart
        accumulator.add(UnsafeRawBufferPointer(rebasing: file[(start + tensor.begin)..<(start + tensor.end)]))
        let statistics = accumulator.statistics()
        let finite = statistics.count - statistics.nanCount - statistics.infinityCount
        let counts = statistics.belowThreshold.map(\.count)
        #expect(
          statistics.count == tensor.elementCount && statistics.histogram.reduce(0) { $0 + $1.count } == finite
            && counts == counts.sorted() && (counts.last ?? 0) <= finite,
          "shard \(shard) case \(index): statistics of \(tensor.name) do not add up: \(statistics)")
      }
    }
  }

  /// An error's problem without the numbers and names in it, to count kinds of error.
  static func category(_ problem: String) -> String {
    var words: [Substring] = []
    for word in problem.split(separator: " ") {
      if word.contains(where: \.isNumber) || word.contains("'") || word.contains(".") { continue }
      words.append(word)
    }
    return words.prefix(6).joined(separator: " ")
  }
}

/// The files the mutations start from.
struct FuzzSeed {
  var name: String
  var bytes: [UInt8]
  /// Where the header's JSON tokens are, in `bytes`.
  var tokens: [Range<Int>]

  init(name: String, bytes: [UInt8]) {
    self.name = name
    self.bytes = bytes
    tokens = Mutator.tokens(in: bytes)
  }

  static func all() throws -> [FuzzSeed] {
    [
      FuzzSeed(name: "shears", bytes: try shearsCheckpoint()),
      FuzzSeed(name: "pytorch", bytes: pytorchStateDict()),
      FuzzSeed(name: "compact", bytes: try compactCheckpoint()),
      FuzzSeed(name: "shears-conv", bytes: try shearsConvolutionCheckpoint()),
      FuzzSeed(name: "pytorch-conv", bytes: pytorchConvolutionStateDict()),
      FuzzSeed(name: "compact-conv", bytes: try compactConvolutionCheckpoint()),
    ]
  }

  /// A small conv net pruned and saved by Shears, with rewind weights and `arch` metadata.
  static func shearsConvolutionCheckpoint() throws -> [UInt8] {
    let architecture = try Architecture(parsing: "cnn:1x8x8-conv2k3-pool2-conv3k3-fc4-fc2")
    var generator = SeededGenerator(seed: 13)
    var model = Model(architecture: architecture, generator: &generator)
    let rewind = Model(architecture: architecture, generator: &generator)
    prune(&model, layer: 0) { $0 % 3 == 0 }
    prune(&model, layer: 3) { $0 / 18 == 1 }
    let metadata = CheckpointMetadata(history: ["train epochs=1 seed=3"], rewindEpoch: 0)
    return try Checkpoint.file(for: model, metadata: metadata, rewind: rewind, subject: "seed").encoded
  }

  /// `safetensors.torch.save_file` of a small PyTorch conv net without metadata, its first
  /// Conv2d pruned by `torch.nn.utils.prune` (`weight_orig`, float `weight_mask`): the layout
  /// Shears infers from the layers' positions.
  static func pytorchConvolutionStateDict() -> [UInt8] {
    func entries(_ index: Int, _ shape: [Int], pruned: Bool = false) -> [SafetensorsFile.Entry] {
      let count = shape.reduce(1, *)
      let weight = Tensor(shape: shape, scalars: (0..<count).map { Float($0 % 13) / 8 - 0.75 })
      let bias = Tensor(shape: [shape[0]], scalars: (0..<shape[0]).map { Float($0) / 4 })
      guard pruned else {
        return [.init(name: "\(index).weight", tensor: weight), .init(name: "\(index).bias", tensor: bias)]
      }
      let mask = Tensor(shape: shape, scalars: (0..<count).map { Float($0 % 2) })
      return [
        .init(name: "\(index).weight_orig", tensor: weight), .init(name: "\(index).weight_mask", tensor: mask),
        .init(name: "\(index).bias", tensor: bias),
      ]
    }
    let file = SafetensorsFile(
      entries: entries(0, [2, 1, 3, 3], pruned: true) + entries(3, [3, 2, 3, 3]) + entries(6, [4, 3])
        + entries(8, [2, 4]))
    return file.encoded
  }

  /// The compact form of a conv net: a CSR conv layer, a bitmask conv layer, a dense Linear one.
  static func compactConvolutionCheckpoint() throws -> [UInt8] {
    var generator = SeededGenerator(seed: 14)
    var model = Model(architecture: try Architecture(parsing: "cnn:4x8x8-conv8k5-conv3k3-fc5"), generator: &generator)
    prune(&model, layer: 0) { $0 % 100 != 0 }
    prune(&model, layer: 2) { $0 % 2 == 0 }
    let (file, layers) = try CompactCheckpoint.file(for: model, metadata: CheckpointMetadata(), subject: "seed")
    precondition(layers.map(\.encoding) == [.csr, .bitmask, .dense], "\(layers)")
    return file.encoded
  }

  /// A small pruned model as `Checkpoint.save` writes it: masks, rewind weights, full metadata
  /// with an escaped history.
  static func shearsCheckpoint() throws -> [UInt8] {
    var generator = SeededGenerator(seed: 11)
    var model = Model(architecture: .mlp(widths: [6, 5, 4, 3]), generator: &generator)
    let rewind = Model(architecture: .mlp(widths: [6, 5, 4, 3]), generator: &generator)
    prune(&model, layer: 0) { $0 % 3 == 0 }
    prune(&model, layer: 2) { $0 % 2 == 1 }
    let metadata = CheckpointMetadata(
      architecture: "mlp:6-5-4-3", dataset: "fixture (--data)", accuracy: 0.8125, created: "2025-01-02T03:04:05Z",
      history: ["train epochs=2 seed=1", "prune magnitude scope=layer amount=0.5 \"q\" \\ é"], rewindEpoch: 0)
    return try Checkpoint.file(for: model, metadata: metadata, rewind: rewind, subject: "seed").encoded
  }

  /// `safetensors.torch.save_file` of a model pruned by `torch.nn.utils.prune` and then halved:
  /// `weight_orig` and float `weight_mask` in F16, a BF16 layer, string metadata.
  static func pytorchStateDict() -> [UInt8] {
    // The values are zero or normal halves with short mantissas: the conversion is exact.
    func half(_ values: [Float]) -> [UInt8] {
      values.flatMap { value -> [UInt8] in
        let bits = value.bitPattern
        let sign = UInt16(truncatingIfNeeded: bits >> 16) & 0x8000
        let exponent = Int((bits >> 23) & 0xFF) - 127 + 15
        let half = value == 0 ? sign : sign | UInt16(exponent) << 10 | UInt16(truncatingIfNeeded: (bits >> 13) & 0x3FF)
        return [UInt8(truncatingIfNeeded: half), UInt8(truncatingIfNeeded: half >> 8)]
      }
    }
    func bfloat(_ values: [Float]) -> [UInt8] {
      values.flatMap { value -> [UInt8] in
        let bits = value.bitPattern >> 16
        return [UInt8(truncatingIfNeeded: bits), UInt8(truncatingIfNeeded: bits >> 8)]
      }
    }
    let weights = (0..<30).map { Float($0 - 15) / 16 }
    let mask = (0..<30).map { Float($0 % 4 == 0 ? 0 : 1) }
    let file = SafetensorsFile(
      entries: [
        .init(name: "0.bias", dtype: .f16, shape: [5], bytes: half([0.5, -0.5, 0.25, 0, 1])),
        .init(name: "0.weight_orig", dtype: .f16, shape: [5, 6], bytes: half(weights)),
        .init(name: "0.weight_mask", dtype: .f16, shape: [5, 6], bytes: half(mask)),
        .init(name: "2.bias", dtype: .bf16, shape: [3], bytes: bfloat([0.125, 0, -1])),
        .init(name: "2.weight", dtype: .bf16, shape: [3, 5], bytes: bfloat((0..<15).map { Float($0) / 8 })),
        .init(name: "2.weight_mask", dtype: .u8, shape: [3, 5], bytes: (0..<15).map { UInt8($0 % 2) }),
        .init(name: "1.running_mean", dtype: .f64, shape: [2], bytes: [UInt8](repeating: 0, count: 16)),
      ],
      metadata: ["format": "pt", "note": "pruned with torch.nn.utils.prune"])
    return file.encoded
  }

  /// The compact form of a model with a CSR layer, a bitmask layer and a dense layer.
  static func compactCheckpoint() throws -> [UInt8] {
    var generator = SeededGenerator(seed: 12)
    var model = Model(architecture: .mlp(widths: [64, 4, 3, 2]), generator: &generator)
    prune(&model, layer: 0) { $0 % 20 != 0 }
    prune(&model, layer: 2) { $0 % 2 == 0 }
    let metadata = CheckpointMetadata(history: ["prune magnitude scope=layer amount=0.9"])
    let (file, layers) = try CompactCheckpoint.file(for: model, metadata: metadata, subject: "seed")
    precondition(layers.map(\.encoding) == [.csr, .bitmask, .dense], "\(layers)")
    return file.encoded
  }

  /// Prunes the weights of weighted layer `layer` whose index satisfies `pruned`.
  static func prune(_ model: inout Model, layer: Int, where pruned: (Int) -> Bool) {
    guard case .weighted(var dense) = model.layers[layer] else { return }
    dense.setMask((0..<dense.weight.count).map { pruned($0) ? 0 : 1 })
    model.layers[layer] = .weighted(dense)
  }
}

/// Mutations of a safetensors file.
struct Mutator {
  let seed: FuzzSeed
  /// Whether the bytes are still the seed's (its token positions are then still right).
  private var pristine = true

  init(seed: FuzzSeed) { self.seed = seed }

  static let boundaryBytes: [UInt8] =
    [0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF, 0xC0, 0xED, 0x20, 0x09] + Array("\"\\{}[],:-0189e.".utf8)

  static let numbers: [String] = [
    "-1", "0", "1", "2", "3", "4", "5", "7", "8", "16", "-0", "1.5", "1e3", "1e999", "255", "256", "65535",
    "65536", "2147483647", "2147483648", "4294967296", "4611686018427387904", "9223372036854775807",
    "9223372036854775808", "-9223372036854775808", "18446744073709551616", "99999999999999999999999",
  ]

  static let strings: [String] = [
    "\"F32\"", "\"F16\"", "\"BF16\"", "\"F64\"", "\"U8\"", "\"U16\"", "\"U32\"", "\"I64\"", "\"BOOL\"", "\"F8_E4M3\"",
    "\"\"", "\"0.weight\"", "\"0.bias\"", "\"0.weight_orig\"", "\"0.weight_mask\"", "\"2.weight\"", "\"4.weight\"",
    "\"1.weight\"", "\"rewind.0.weight\"", "\"0.weight.values\"", "\"0.weight.bitmask\"", "\"0.weight.indices\"",
    "\"0.weight.indptr\"", "\"2.weight.encoding\"", "\"0.weight.shape\"", "\"__metadata__\"", "\"dtype\"", "\"shape\"",
    "\"data_offsets\"", "\"format\"", "\"arch\"", "\"accuracy\"", "\"history\"", "\"rewind_epoch\"",
    "\"shears-1\"", "\"shears-compact-1\"", "\"dense\"", "\"bitmask\"", "\"csr\"", "\"64,4\"", "\"4,64\"", "\"1,1\"",
    "\"0,5\"", "\"-1,4\"", "\"99999999,4\"", "\"4,1048576\"", "\"mlp:6-5-4-3\"", "\"mlp:6-4\"", "\"mlp:0\"", "\"nan\"",
    "\"[]\"", "\"[1]\"", "\"3.weight\"", "\"6.weight\"", "\"3.weight_mask\"", "\"lenet5\"",
    "\"cnn:1x8x8-conv2k3-pool2-conv3k3-fc4-fc2\"", "\"cnn:1x8x8-conv2k3s2p1-fc4\"", "\"2,1,3,3\"", "\"8,4,5,5\"",
    "\"8,100\"", "\"[\\\"x\\\"]\"", "\"\\u0000\"", "\"\\ud800\"", "\"é\"", "\"0.5\"", "\"-1\"", "\"3\"",
  ]

  static let structures: [String] = [
    "[]", "{}", "[0]", "[0,0]", "[1,2]", "[-1]", "[[]]", "{\"a\":1}", "null", "true", "false", "\"x\"", "0",
  ]
  mutating func mutate(_ bytes: inout [UInt8], using generator: inout SeededGenerator) {
    switch generator.next() % 100 {
    case 0..<12: flipBit(&bytes, using: &generator)
    case 12..<20: replaceByte(&bytes, using: &generator)
    case 20..<25: truncate(&bytes, using: &generator)
    case 25..<32: changeHeaderLength(&bytes, using: &generator)
    case 32..<42: flipDataBit(&bytes, using: &generator)
    default: editToken(&bytes, using: &generator)
    }
    pristine = false
  }

  /// A position, in the header three times out of four (most checks are about the header).
  private func position(in bytes: [UInt8], using generator: inout SeededGenerator) -> Int? {
    guard !bytes.isEmpty else { return nil }
    let header = min(bytes.count, 8 + Self.headerLength(bytes))
    if generator.next() % 4 != 0, header > 0 { return Int(generator.next() % UInt64(header)) }
    return Int(generator.next() % UInt64(bytes.count))
  }

  private func flipBit(_ bytes: inout [UInt8], using generator: inout SeededGenerator) {
    guard let index = position(in: bytes, using: &generator) else { return }
    bytes[index] ^= 1 << UInt8(generator.next() % 8)
  }

  /// A bit flip in the tensor bytes: weights, masks, bitmasks, indices.
  private func flipDataBit(_ bytes: inout [UInt8], using generator: inout SeededGenerator) {
    let start = 8 + Self.headerLength(bytes)
    guard bytes.count > start else { return }
    bytes[start + Int(generator.next() % UInt64(bytes.count - start))] ^= 1 << UInt8(generator.next() % 8)
  }

  private func replaceByte(_ bytes: inout [UInt8], using generator: inout SeededGenerator) {
    guard let index = position(in: bytes, using: &generator) else { return }
    bytes[index] = Self.boundaryBytes[Int(generator.next() % UInt64(Self.boundaryBytes.count))]
  }

  private func truncate(_ bytes: inout [UInt8], using generator: inout SeededGenerator) {
    guard !bytes.isEmpty else { return }
    let keep =
      generator.next() % 2 == 0
      ? bytes.count - 1 - Int(generator.next() % UInt64(min(bytes.count, 16)))
      : Int(generator.next() % UInt64(bytes.count))
    bytes.removeLast(bytes.count - keep)
  }

  private func changeHeaderLength(_ bytes: inout [UInt8], using generator: inout SeededGenerator) {
    guard bytes.count >= 8 else { return }
    let length = UInt64(Self.headerLength(bytes))
    let size = UInt64(bytes.count)
    let candidates: [UInt64] = [
      0, 1, 2, 7, 8, length &- 1, length + 1, length &- 8, length + 8, size &- 8, size &- 7, size, 100_000_000,
      100_000_001, UInt64(Int.max), 1 << 63, .max, generator.next() % (size + 16),
    ]
    setHeaderLength(&bytes, candidates[Int(generator.next() % UInt64(candidates.count))])
  }

  /// Replaces, deletes, duplicates or swaps tokens of the header's JSON, then usually sets the
  /// length prefix to the new header's length.
  private mutating func editToken(_ bytes: inout [UInt8], using generator: inout SeededGenerator) {
    let tokens = pristine ? seed.tokens : Self.tokens(in: bytes)
    guard !tokens.isEmpty else { return flipBit(&bytes, using: &generator) }
    let oldLength = Self.headerLength(bytes)
    var token = tokens[Int(generator.next() % UInt64(tokens.count))]
    let kind = generator.next() % 10
    if kind >= 3 {
      // Replacements go to values (strings, numbers, literals), not to punctuation.
      for _ in 0..<8 where Self.isPunctuation(bytes[token.lowerBound]) {
        token = tokens[Int(generator.next() % UInt64(tokens.count))]
      }
    }
    var edited = bytes
    func pick(_ list: [String]) -> [UInt8] { Array(list[Int(generator.next() % UInt64(list.count))].utf8) }
    switch kind {
    case 0:
      edited.removeSubrange(token)
    case 1:
      edited.insert(contentsOf: Array(bytes[token]) + Array(",".utf8), at: token.lowerBound)
    case 2:
      let other = tokens[Int(generator.next() % UInt64(tokens.count))]
      let (first, second) = token.lowerBound < other.lowerBound ? (token, other) : (other, token)
      guard first.upperBound <= second.lowerBound else { return }
      edited.replaceSubrange(second, with: Array(bytes[first]))
      edited.replaceSubrange(first, with: Array(bytes[second]))
    case 3:
      edited.replaceSubrange(token, with: pick(Self.structures))
    default:
      // A token of the same kind, so the JSON stays valid and the edit reaches later checks.
      switch bytes[token.lowerBound] {
      case UInt8(ascii: "\""): edited.replaceSubrange(token, with: pick(Self.strings))
      case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
        edited.replaceSubrange(token, with: pick(Self.numbers))
      default: edited.replaceSubrange(token, with: pick(Self.structures))
      }
    }
    if generator.next() % 8 != 0, oldLength <= bytes.count - 8 {
      setHeaderLength(&edited, UInt64(oldLength + edited.count - bytes.count))
    }
    bytes = edited
  }

  /// The declared header length, or 0 when the file is shorter than 8 bytes; clamped to the file.
  static func headerLength(_ bytes: [UInt8]) -> Int {
    guard bytes.count >= 8 else { return 0 }
    var length: UInt64 = 0
    for index in 0..<8 { length |= UInt64(bytes[index]) << UInt64(8 * index) }
    return Int(min(length, UInt64(bytes.count - 8)))
  }

  private func setHeaderLength(_ bytes: inout [UInt8], _ length: UInt64) {
    guard bytes.count >= 8 else { return }
    for index in 0..<8 { bytes[index] = UInt8(truncatingIfNeeded: length >> UInt64(8 * index)) }
  }

  private static func isPunctuation(_ byte: UInt8) -> Bool {
    switch byte {
    case UInt8(ascii: "{"), UInt8(ascii: "}"), UInt8(ascii: "["), UInt8(ascii: "]"), UInt8(ascii: ":"),
      UInt8(ascii: ","):
      true
    default: false
    }
  }

  private static func isNumberByte(_ byte: UInt8) -> Bool {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "+"), UInt8(ascii: "."),
      UInt8(ascii: "e"), UInt8(ascii: "E"):
      true
    default: false
    }
  }

  /// The JSON tokens of the header (strings, numbers, literals, punctuation), by position.
  static func tokens(in bytes: [UInt8]) -> [Range<Int>] {
    let end = 8 + headerLength(bytes)
    var tokens: [Range<Int>] = []
    var index = 8
    while index < end {
      let byte = bytes[index]
      let start = index
      switch byte {
      case UInt8(ascii: "\""):
        index += 1
        while index < end, bytes[index] != UInt8(ascii: "\"") { index += bytes[index] == UInt8(ascii: "\\") ? 2 : 1 }
        index = min(end, index + 1)
      case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
        while index < end, Self.isNumberByte(bytes[index]) { index += 1 }
      case UInt8(ascii: "a")...UInt8(ascii: "z"):
        while index < end, bytes[index] &- UInt8(ascii: "a") < 26 { index += 1 }
      case 0x20, 0x09, 0x0A, 0x0D:
        index += 1
        continue
      default:
        index += 1
      }
      tokens.append(start..<index)
    }
    return tokens
  }
}

/// The process's peak resident memory so far, in bytes.
private func peakResidentBytes() -> Int {
  var usage = rusage()
  #if os(Linux)
    getrusage(RUSAGE_SELF.rawValue, &usage)
  #else
    getrusage(RUSAGE_SELF, &usage)
  #endif
  #if os(Linux)
    return usage.ru_maxrss * 1024
  #else
    return usage.ru_maxrss
  #endif
}

/// The bytes of a failing input, to reproduce it.
private func hex(_ bytes: [UInt8]) -> String {
  bytes.map { String(format: "%02x", $0) }.joined()
}
