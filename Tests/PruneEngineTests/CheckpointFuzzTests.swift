import Foundation
import CheckpointCorpus
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
    var corpus = FuzzCorpus(shard: shard, seeds: try FuzzSeed.all())
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
      guard let bytes = corpus.next() else { break }
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
