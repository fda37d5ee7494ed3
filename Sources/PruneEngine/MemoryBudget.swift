import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// The memory limits a process runs under, to refuse work whose estimate does not fit.
///
/// Swift stops the process when an allocation fails (and Linux may kill it when physical memory
/// runs out), so commands check `Architecture.trainingMemory`, `evaluationMemory` and
/// `Checkpoint.loadingMemory` against the budget before they allocate.
public struct MemoryBudget: Sendable, Equatable {
  /// One limit and what the process already holds that counts against it.
  public struct Limit: Sendable, Equatable {
    /// What sets the limit, as it reads in a message: "this machine has", "this process may use".
    public var name: String
    public var bytes: Int
    public var inUse: Int

    public init(name: String, bytes: Int, inUse: Int) {
      self.name = name
      self.bytes = bytes
      self.inUse = inUse
    }
  }

  public var limits: [Limit]

  public init(limits: [Limit]) {
    self.limits = limits
  }

  /// The limits of this process now: `memory` (named `memoryName`) when given, else the
  /// machine's physical memory or its container's (cgroup) limit if lower, against the resident
  /// set, and the memory the machine has available now (`MemAvailable`: a run that fits in the
  /// total but not in what others leave would swap or be killed); and the address-space and
  /// data-segment limits (`RLIMIT_AS`, `RLIMIT_DATA`) when set, against the virtual size and
  /// data segment.
  public static func current(memory: Int? = nil, memoryName: String = "") -> MemoryBudget {
    let usage = ProcessMemory.current()
    var limits: [Limit] = []
    if let memory {
      limits.append(Limit(name: memoryName, bytes: memory, inUse: usage.resident))
    } else {
      let physical = Int(clamping: ProcessInfo.processInfo.physicalMemory)
      if let container = ProcessMemory.containerLimit(), container < physical {
        limits.append(Limit(name: "this container may use", bytes: container, inUse: usage.resident))
      } else {
        limits.append(Limit(name: "this machine has", bytes: physical, inUse: usage.resident))
      }
      if let available = ProcessMemory.machineAvailable() {
        limits.append(Limit(name: "free memory on this machine is", bytes: available, inUse: 0))
      }
    }
    for (resource, inUse) in [(ProcessMemory.addressSpace, usage.virtual), (ProcessMemory.dataSegment, usage.data)] {
      if let bytes = ProcessMemory.resourceLimit(resource) {
        limits.append(Limit(name: "this process may use", bytes: bytes, inUse: inUse))
      }
    }
    return MemoryBudget(limits: limits)
  }

  /// Throws unless `bytes` more fit under every limit.
  /// - Throws: `ShearsError` naming `subject`: "needs 12.3 GiB, this machine has 7.7 GiB", with
  ///   what is already in use when that is what makes it not fit.
  public func check(_ bytes: Int, for subject: String) throws {
    for limit in limits where bytes > limit.bytes - min(limit.inUse, limit.bytes) {
      var problem = "needs \(Self.describe(bytes)), \(limit.name) \(Self.describe(limit.bytes))"
      if bytes <= limit.bytes { problem += " and \(Self.describe(limit.inUse)) of it is in use" }
      throw ShearsError(subject, problem)
    }
  }

  /// A size in GiB, or in MiB below 1 GiB, with one decimal ("12.3 GiB", "35.0 MiB").
  public static func describe(_ bytes: Int) -> String {
    let mebibytes = Double(bytes) / Double(1 << 20)
    return mebibytes < 1024
      ? String(format: "%.1f MiB", mebibytes) : String(format: "%.1f GiB", mebibytes / 1024)
  }
}

/// What the process holds now, from `/proc/self/status` (zeros where it is not available).
enum ProcessMemory {
  /// Resident set, virtual size and data segment, in bytes.
  static func current() -> (resident: Int, virtual: Int, data: Int) {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return (0, 0, 0) }
    var fields: [String: Int] = [:]
    for line in status.split(separator: "\n") {
      let parts = line.split(whereSeparator: { $0 == ":" || $0 == " " || $0 == "\t" })
      // "VmRSS:	   12345 kB"
      if parts.count == 3, parts[2] == "kB", let kibibytes = Int(parts[1]) {
        fields[String(parts[0])] = kibibytes * 1024
      }
    }
    return (fields["VmRSS"] ?? 0, fields["VmSize"] ?? 0, fields["VmData"] ?? 0)
  }

  /// Memory the machine can give without swapping (`MemAvailable` in `/proc/meminfo`).
  static func machineAvailable() -> Int? {
    guard let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8) else { return nil }
    for line in text.split(separator: "\n") where line.hasPrefix("MemAvailable:") {
      let parts = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
      if parts.count == 3, parts[2] == "kB", let kibibytes = Int(parts[1]) { return kibibytes * 1024 }
    }
    return nil
  }

  /// The cgroup v2 memory limit of the process's container, when one is set.
  static func containerLimit() -> Int? {
    guard let text = try? String(contentsOfFile: "/sys/fs/cgroup/memory.max", encoding: .utf8) else { return nil }
    return Int(text.trimmingCharacters(in: .whitespacesAndNewlines))
  }

  #if canImport(Glibc)
    typealias Resource = __rlimit_resource_t
    /// `RLIMIT_AS` and `RLIMIT_DATA` as `getrlimit` takes them.
    static let addressSpace = Resource(RLIMIT_AS.rawValue)
    static let dataSegment = Resource(RLIMIT_DATA.rawValue)
  #else
    typealias Resource = Int32
    static let addressSpace = RLIMIT_AS
    static let dataSegment = RLIMIT_DATA
  #endif

  /// The soft limit of a resource (`addressSpace`, `dataSegment`), when one is set
  /// (`RLIM_INFINITY` is all ones).
  static func resourceLimit(_ resource: Resource) -> Int? {
    var limit = rlimit()
    guard getrlimit(resource, &limit) == 0, limit.rlim_cur != rlim_t.max else { return nil }
    return Int(clamping: limit.rlim_cur)
  }
}
