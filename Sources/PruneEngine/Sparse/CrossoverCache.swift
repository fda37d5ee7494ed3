import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A small file of kernel crossovers measured by earlier processes on this machine, so that a
/// process does not spend a tenth of a second timing kernels an earlier one already timed.
///
/// **Key.** A file holds the measurements of one `machine`: the CPU (`model name` and a hash of
/// the `flags` of `/proc/cpuinfo`, which name its vector extensions), the build configuration,
/// the identity of the running executable (its size and modification time, which change with
/// any rebuild, for example with another `SHEARS_TARGET_CPU`) and `kernelsVersion`. Within the
/// file an entry is keyed by layer shape and, for a convolution, its geometry. The thread count
/// is not part of the key: kernels are timed on one thread, as each evaluation chunk runs.
///
/// **Format** (text, one record a line):
/// ```
/// shears kernel crossovers 1
/// machine <key>
/// linear <rows> <columns> <batch density> <single density> <dense batch s> <dense single s>
/// conv <rows> <columns> <channels> <height> <width> <kh> <kw> <stride> <padding> <4 numbers as above>
/// end <number of entries>
/// ```
///
/// **Safety.** Reading never fails: a file that is missing, not a regular file, larger than
/// 1 MiB, of another format version or machine, truncated (no matching `end` line) or with any
/// malformed line reads as empty, and the next write replaces it. Writers hold an advisory lock
/// on `<file>.lock` (when it can be created), merge what the file already has, and replace it
/// atomically (`writeAtomically`: a temporary file renamed over it), so concurrent processes
/// never leave a partial file and, with the lock, never drop each other's entries. A folder
/// that cannot be created or written means no cache: every failure is silent.
public struct CrossoverCache: Sendable {
  /// The file's name in the cache folder.
  public static let fileName = "kernel-crossovers.txt"
  /// The first line of the format this code reads and writes.
  static let header = "shears kernel crossovers 1"
  /// Bumped whenever a kernel changes speed enough to move its crossovers.
  static let kernelsVersion = 2
  /// Files larger than this are not ours.
  static let sizeLimit = 1 << 20

  /// Path of the cache file.
  public let path: String
  /// What the measurements are valid for (no newlines).
  public let machine: String

  /// A cache in `folder`, for `machine` (by default, this process on this machine).
  public init(folder: String, machine: String = CrossoverCache.currentMachine) {
    path = folder.hasSuffix("/") ? folder + Self.fileName : folder + "/" + Self.fileName
    self.machine = machine.filter { $0 != "\n" && $0 != "\r" }
  }

  /// One measured shape.
  struct Entry: Equatable {
    var rows: Int
    var columns: Int
    var convolution: ConvolutionKernels.Geometry?
    var crossover: KernelCrossover
    /// Seconds of the dense batch and single-sample kernels, for timing a layer near the
    /// crossover against them.
    var denseBatchSeconds: Double
    var denseSingleSeconds: Double
  }

  // MARK: - Reading

  /// The entries of the file, or none when it is missing, foreign or damaged in any way.
  func load() -> [Entry] {
    guard let text = readText() else { return [] }
    return Self.parse(text, machine: machine) ?? []
  }

  private func readText() -> String? {
    guard let (descriptor, size) = try? openRegularFile(at: path) else { return nil }
    defer { close(descriptor) }
    guard size <= Self.sizeLimit else { return nil }
    var bytes = [UInt8](repeating: 0, count: size + 1)
    var filled = 0
    while filled < bytes.count {
      let count = bytes.withUnsafeMutableBytes { read(descriptor, $0.baseAddress! + filled, $0.count - filled) }
      if count < 0 && errno == EINTR { continue }
      guard count > 0 else { break }
      filled += count
    }
    // More than the size said: the file is changing or not what it seems.
    guard filled <= size else { return nil }
    return String(validating: bytes[..<filled], as: UTF8.self)
  }

  /// The entries of `text`, or nil unless it is a complete file of this format for `machine`.
  static func parse(_ text: String, machine: String) -> [Entry]? {
    guard text.hasSuffix("\n") else { return nil }
    let lines = text.dropLast().split(separator: "\n", omittingEmptySubsequences: false)
    guard lines.count >= 3, lines[0] == header, lines[1] == "machine " + machine else { return nil }
    let footer = lines[lines.count - 1].split(separator: " ")
    guard footer.count == 2, footer[0] == "end", Int(footer[1]) == lines.count - 3 else { return nil }
    var entries: [Entry] = []
    for line in lines[2..<(lines.count - 1)] {
      guard let entry = Entry(line: line) else { return nil }
      entries.append(entry)
    }
    return entries
  }

  // MARK: - Writing

  /// Adds `entries` to the file (replacing any of the same shape), keeping the ones already
  /// there; does nothing when the folder or file cannot be written.
  func store(_ entries: [Entry]) {
    guard !entries.isEmpty else { return }
    let folder = (path as NSString).deletingLastPathComponent
    guard (try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)) != nil
    else { return }
    let lock = open(path + ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
    if lock >= 0 {
      while flock(lock, LOCK_EX) != 0 && errno == EINTR {}
    }
    defer { if lock >= 0 { close(lock) } }
    var merged = load()
    for entry in entries {
      merged.removeAll { $0.rows == entry.rows && $0.columns == entry.columns && $0.convolution == entry.convolution }
      merged.append(entry)
    }
    try? writeAtomically(Array(Self.text(of: merged, machine: machine).utf8), to: path)
  }

  /// The file's content for `entries`.
  static func text(of entries: [Entry], machine: String) -> String {
    var text = header + "\nmachine " + machine + "\n"
    for entry in entries { text += entry.line + "\n" }
    return text + "end \(entries.count)\n"
  }

  // MARK: - The machine

  /// This process's key: CPU, build and executable (see the type's discussion).
  public static let currentMachine: String = {
    let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
    func field(_ name: String) -> String {
      let line = cpuinfo.split(separator: "\n").first { $0.hasPrefix(name) }
      return line?.split(separator: ":", maxSplits: 1).last?.trimmingCharacters(in: .whitespaces) ?? "unknown"
    }
    #if DEBUG
      let build = "debug"
    #else
      let build = "release"
    #endif
    #if arch(x86_64)
      let architecture = "x86_64"
    #elseif arch(arm64)
      let architecture = "arm64"
    #else
      let architecture = "other"
    #endif
    var executable = "unknown"
    #if os(Linux)
      var status = stat()
      if stat("/proc/self/exe", &status) == 0 {
        executable = "\(status.st_size)-\(status.st_mtim.tv_sec)"
      }
    #endif
    return [
      field("model name"), "flags \(fnv1a(field("flags")))", architecture, build, "executable \(executable)",
      "kernels \(kernelsVersion)",
    ].joined(separator: " | ")
  }()

  /// A stable 64-bit hash of a string (FNV-1a), in hexadecimal: Swift's `Hasher` is seeded per
  /// process.
  static func fnv1a(_ text: String) -> String {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in text.utf8 {
      hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
    }
    return String(hash, radix: 16)
  }
}

extension CrossoverCache.Entry {
  /// The entry's line in the file.
  var line: String {
    let numbers = [crossover.batchDensity, crossover.singleDensity, denseBatchSeconds, denseSingleSeconds]
      .map { "\($0)" }.joined(separator: " ")
    guard let g = convolution else { return "linear \(rows) \(columns) \(numbers)" }
    return
      "conv \(rows) \(columns) \(g.channels) \(g.height) \(g.width) \(g.kernelHeight) \(g.kernelWidth) \(g.stride) \(g.padding) \(numbers)"
  }

  /// Parses a line written by `line`; nil unless every field is present and plausible.
  init?(line: Substring) {
    let fields = line.split(separator: " ", omittingEmptySubsequences: false)
    let integerCount: Int
    switch fields.first {
    case "linear": integerCount = 2
    case "conv": integerCount = 9
    default: return nil
    }
    guard fields.count == 1 + integerCount + 4 else { return nil }
    let integers = fields[1...integerCount].compactMap { Int($0) }
    let numbers = fields[(1 + integerCount)...].compactMap { Double($0) }
    guard integers.count == integerCount, integers.allSatisfy({ $0 >= 0 && $0 <= 1 << 24 }),
      integers[0] > 0, integers[1] > 0, numbers.count == 4, numbers.allSatisfy(\.isFinite),
      (0...1).contains(numbers[0]), (0...1).contains(numbers[1]), numbers[2] >= 0, numbers[3] >= 0
    else { return nil }
    rows = integers[0]
    columns = integers[1]
    if integerCount == 9 {
      let geometry = ConvolutionKernels.Geometry(
        channels: integers[2], height: integers[3], width: integers[4], kernelHeight: integers[5],
        kernelWidth: integers[6], stride: integers[7], padding: integers[8])
      guard geometry.stride > 0, geometry.kernelHeight > 0, geometry.kernelWidth > 0,
        geometry.patchSize == columns, geometry.outputHeight > 0, geometry.outputWidth > 0
      else { return nil }
      convolution = geometry
    } else {
      convolution = nil
    }
    crossover = KernelCrossover(batchDensity: numbers[0], singleDensity: numbers[1])
    denseBatchSeconds = numbers[2]
    denseSingleSeconds = numbers[3]
  }
}
