import Dispatch
import Foundation
import Synchronization
import Testing

@testable import PruneEngine

/// Two measured shapes with figures no measurement would give, so a test can tell them apart.
private let sampleEntries = [
  CrossoverCache.Entry(
    rows: 7, columns: 30, convolution: nil, crossover: KernelCrossover(batchDensity: 0.3125, singleDensity: 0.0625),
    denseBatchSeconds: 1.5e-5, denseSingleSeconds: 2.25e-7),
  CrossoverCache.Entry(
    rows: 4, columns: 18,
    convolution: ConvolutionKernels.Geometry(
      channels: 2, height: 6, width: 6, kernelHeight: 3, kernelWidth: 3, stride: 1, padding: 0),
    crossover: KernelCrossover(batchDensity: 0.2, singleDensity: 1), denseBatchSeconds: 3e-4,
    denseSingleSeconds: 0),
]

/// A clock that counts how often it is read, to show that nothing was timed.
private final class CountingClock: Sendable {
  let reads = Atomic<Int>(0)
  var clock: MonotonicClock {
    MonotonicClock { [self] in
      reads.add(1, ordering: .relaxed)
      return DispatchTime.now().uptimeNanoseconds
    }
  }
}

struct CrossoverCacheTests {
  @Test func roundTripsItsEntries() throws {
    try withTemporaryFolder { folder in
      let cache = CrossoverCache(folder: folder + "/nested/shears", machine: "test CPU")
      #expect(cache.load().isEmpty)
      cache.store(sampleEntries)
      #expect(cache.load() == sampleEntries)
      // A second store of the same shape replaces it and keeps the other.
      var changed = sampleEntries[0]
      changed.crossover.batchDensity = 0.5
      cache.store([changed])
      #expect(cache.load() == [sampleEntries[1], changed])
    }
  }

  /// Damaged, foreign and future files read as empty, and the next store replaces them.
  @Test(arguments: ["garbage", "truncated", "cut mid-line", "future version", "other machine", "bad number", "empty"])
  func ignoresFilesItDidNotWrite(damage: String) throws {
    try withTemporaryFolder { folder in
      let cache = CrossoverCache(folder: folder, machine: "test CPU")
      let good = CrossoverCache.text(of: sampleEntries, machine: "test CPU")
      let text =
        switch damage {
        case "garbage": "\u{0}\u{7f}not a cache\n"
        case "truncated": String(good.dropLast(7))
        case "cut mid-line": String(good.prefix(60)) + "\n"
        case "future version": good.replacingOccurrences(of: "crossovers 1", with: "crossovers 2")
        case "other machine": CrossoverCache.text(of: sampleEntries, machine: "another CPU")
        case "bad number": good.replacingOccurrences(of: "0.3125", with: "nan")
        default: ""
        }
      try Data(text.utf8).write(to: URL(fileURLWithPath: cache.path))
      #expect(cache.load().isEmpty)
      cache.store([sampleEntries[1]])
      #expect(cache.load() == [sampleEntries[1]])
    }
  }

  @Test func refusesWhatIsNotARegularFile() throws {
    try withTemporaryFolder { folder in
      let cache = CrossoverCache(folder: folder, machine: "test CPU")
      try FileManager.default.createDirectory(atPath: cache.path, withIntermediateDirectories: false)
      #expect(cache.load().isEmpty)
      cache.store(sampleEntries)
      #expect(cache.load().isEmpty)
    }
  }

  /// A folder that cannot be created (its parent is a file) means no cache, and no error.
  @Test func unwritableFolderMeansNoCache() throws {
    try withTemporaryFolder { folder in
      try Data("a file".utf8).write(to: URL(fileURLWithPath: folder + "/file"))
      let cache = CrossoverCache(folder: folder + "/file/shears", machine: "test CPU")
      cache.store(sampleEntries)
      #expect(cache.load().isEmpty)
      let selector = KernelSelector(clock: .system, cache: cache)
      _ = selector.crossover(rows: 7, columns: 30)
      #expect(selector.timedShapeCount == 1)
      #expect(try FileManager.default.contentsOfDirectory(atPath: folder) == ["file"])
    }
  }

  /// Threads storing at once each add their entry: the lock serialises the merges and the
  /// rename keeps every reader's view whole.
  @Test func concurrentWritersLeaveEveryEntry() throws {
    try withTemporaryFolder { folder in
      let cache = CrossoverCache(folder: folder, machine: "test CPU")
      let writers = 8
      let emptyReads = Atomic<Int>(0)
      DispatchQueue.concurrentPerform(iterations: writers) { writer in
        var entry = sampleEntries[0]
        entry.rows = writer + 1
        cache.store([entry])
        // A reader in the middle of the writes sees a whole file, with at least its own entry.
        if cache.load().isEmpty { emptyReads.add(1, ordering: .relaxed) }
      }
      #expect(emptyReads.load(ordering: .relaxed) == 0)
      #expect(Set(cache.load().map(\.rows)) == Set(1...writers))
      let names = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
      #expect(names == [CrossoverCache.fileName, CrossoverCache.fileName + ".lock"])
    }
  }

  @Test func machineKeyNamesTheCPUAndTheKernels() {
    let key = CrossoverCache.currentMachine
    #expect(!key.contains("\n"))
    #expect(key.contains("kernels \(CrossoverCache.kernelsVersion)"))
    #expect(CrossoverCache.fnv1a("avx512f") == CrossoverCache.fnv1a("avx512f"))
    #expect(CrossoverCache.fnv1a("avx512f") != CrossoverCache.fnv1a("avx2"))
  }
}

struct KernelSelectorCacheTests {
  /// A shape in the cache is taken from it: nothing is timed.
  @Test func usesCachedCrossoversWithoutTiming() throws {
    try withTemporaryFolder { folder in
      let cache = CrossoverCache(folder: folder, machine: "test CPU")
      cache.store(sampleEntries)
      let counter = CountingClock()
      let selector = KernelSelector(clock: counter.clock, cache: cache)
      #expect(selector.crossover(rows: 7, columns: 30) == sampleEntries[0].crossover)
      // About 0.15: well below the cached batch crossover and well above the single-sample
      // one, so the batch kernel is sparse and the single-sample one dense, as the cache (not
      // the cost model, which would say sparse for both) decides.
      let matrix = maskedMatrix(rows: 7, columns: 30, density: 0.15)
      let kinds = selector.kinds(for: matrix)
      #expect(kinds.batch == .sparse)
      #expect(kinds.single == .dense)
      #expect(selector.timedShapeCount == 0)
      #expect(counter.reads.load(ordering: .relaxed) == 0)
    }
  }

  /// What one selector measures, the next one (another process, in life) reads.
  @Test func storesWhatItMeasures() throws {
    try withTemporaryFolder { folder in
      let cache = CrossoverCache(folder: folder, machine: "test CPU")
      let first = KernelSelector(clock: .system, cache: cache)
      let measured = first.crossover(rows: 9, columns: 40)
      #expect(first.timedShapeCount == 1)
      #expect(cache.load().map { [$0.rows, $0.columns] } == [[9, 40]])
      let second = KernelSelector(clock: .system, cache: cache)
      #expect(second.crossover(rows: 9, columns: 40) == measured)
      #expect(second.timedShapeCount == 0)
    }
  }

  /// Far from the expected crossover the cost model decides: a 90%-pruned layer is not timed.
  @Test func costModelSkipsTimingFarFromTheCrossover() {
    let selector = KernelSelector(clock: .system)
    let kinds = selector.kinds(for: maskedMatrix(rows: 30, columns: 50, density: 0.1))
    #expect(kinds.batch == .sparse && kinds.single == .sparse)
    #expect(selector.timedShapeCount == 0)
    // Near it, the shape is measured.
    _ = selector.kinds(for: maskedMatrix(rows: 30, columns: 50, density: 0.5))
    #expect(selector.timedShapeCount == 1)
    // Convolutions have no estimate: always measured.
    let geometry = ConvolutionKernels.Geometry(
      channels: 2, height: 6, width: 6, kernelHeight: 3, kernelWidth: 3, stride: 1, padding: 0)
    _ = selector.kinds(for: maskedMatrix(rows: 4, columns: 18, density: 0.1), convolution: geometry)
    #expect(selector.timedShapeCount == 2)
  }

  @Test func clearChoicesLeaveABandAroundTheCrossover() {
    #expect(KernelSelector.clearChoice(0.1, crossover: 0.5) == .sparse)
    #expect(KernelSelector.clearChoice(0.3, crossover: 0.5) == nil)
    #expect(KernelSelector.clearChoice(0.9, crossover: 0.5) == nil)
    #expect(KernelSelector.clearChoice(0.9, crossover: 0.25) == .dense)
  }
}

/// A seeded `[rows, columns]` matrix with about a fraction `density` of nonzero weights.
private func maskedMatrix(rows: Int, columns: Int, density: Double) -> SparseMatrix {
  var generator = SeededGenerator(seed: UInt64(rows * 1000 + columns))
  let weights = (0..<(rows * columns)).map { _ in
    generator.nextUnitFloat() < Float(density) ? generator.nextUnitFloat() + 0.5 : 0
  }
  return weights.withUnsafeBufferPointer { SparseMatrix(weights: $0, rows: rows, columns: columns) }
}
