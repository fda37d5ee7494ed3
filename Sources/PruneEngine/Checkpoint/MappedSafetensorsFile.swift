#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A safetensors file read through a memory map, for files too large to load: the header is
/// parsed and validated as `SafetensorsFile` does (every standard dtype accepted), and tensor
/// bytes are read in place, one range at a time, and released from memory after use.
///
/// The mapping is read-only and private. As with any memory map, a file truncated by another
/// process while it is being read can stop the process (`SIGBUS`); Shears never writes into a
/// file it has open this way (saving goes to a new file that is renamed).
public final class MappedSafetensorsFile {
  public let path: String
  /// Size of the file in bytes.
  public let fileSize: Int
  /// Offset of the data area (8 + header length).
  public let dataStart: Int
  /// The tensors, in header order.
  public let tensors: [TensorDescriptor]
  /// The `__metadata__` map.
  public let metadata: [String: String]

  private let base: UnsafeRawPointer
  private static let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))

  /// Maps and validates a file.
  /// - Throws: `ShearsError` naming `path`: it cannot be opened or mapped, is not a regular
  ///   file, or its header is not valid (see `SafetensorsHeader`).
  public init(path: String) throws {
    let (descriptor, size) = try openRegularFile(at: path)
    defer { close(descriptor) }
    guard size >= 8 else { throw ShearsError(path, "not a safetensors file: only \(size) bytes long") }
    guard let mapping = mmap(nil, size, PROT_READ, MAP_PRIVATE, descriptor, 0), mapping != MAP_FAILED else {
      throw ShearsError(path, "cannot map into memory: \(systemErrorDescription(errno))")
    }
    let file = UnsafeRawBufferPointer(start: mapping, count: size)
    do {
      let length = try SafetensorsHeader.headerLength(prefix: file, fileSize: size, subject: path)
      let header = try SafetensorsHeader(
        json: UnsafeRawBufferPointer(rebasing: file[8..<(8 + length)]), fileSize: size,
        accepting: SafetensorsFile.DType.allCases, subject: path)
      self.path = path
      fileSize = size
      base = UnsafeRawPointer(mapping)
      dataStart = header.dataStart
      tensors = header.tensors
      metadata = header.metadata
    } catch {
      munmap(mapping, size)
      throw error
    }
    // Tensors are read front to back: ask for read-ahead, and release the header's pages.
    _ = madvise(mapping, size, MADV_SEQUENTIAL)
    release(0..<dataStart)
  }

  deinit {
    munmap(UnsafeMutableRawPointer(mutating: base), fileSize)
  }

  /// Calls `body` with the bytes of `tensor` in chunks of at most `chunkByteCount` bytes (a
  /// multiple of the element size), releasing each chunk's pages from memory after `body`
  /// returns, so memory use stays near one chunk whatever the tensor's size.
  public func forEachChunk(
    of tensor: TensorDescriptor, chunkByteCount: Int = 32 << 20, _ body: (UnsafeRawBufferPointer) throws -> Void
  ) rethrows {
    let step = max(tensor.dtype.byteCount, chunkByteCount / tensor.dtype.byteCount * tensor.dtype.byteCount)
    var start = dataStart + tensor.begin
    let end = dataStart + tensor.end
    while start < end {
      let stop = min(end, start + step)
      try body(UnsafeRawBufferPointer(start: base + start, count: stop - start))
      release(start..<stop)
      start = stop
    }
  }

  /// A copy of a tensor's bytes.
  public func bytes(of tensor: TensorDescriptor) -> [UInt8] {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(tensor.byteCount)
    forEachChunk(of: tensor) { bytes.append(contentsOf: $0) }
    return bytes
  }

  /// The file as a `SafetensorsFile` (the tensors copied into memory), for loading a model.
  /// - Throws: `ShearsError` when a tensor's dtype is not one of `DType.checkpointTypes`, with
  ///   the message `SafetensorsFile(contentsOf:)` gives.
  public func loadFile() throws -> SafetensorsFile {
    let accepted = SafetensorsFile.DType.checkpointTypes
    let entries = try tensors.map { tensor in
      guard accepted.contains(tensor.dtype) else {
        let names = accepted.map(\.rawValue)
        let expected = names.dropLast().joined(separator: ", ") + " or " + (names.last ?? "")
        throw ShearsError(
          path, "tensor '\(tensor.name)' has unsupported dtype '\(tensor.dtype.rawValue)' (expected \(expected))")
      }
      return SafetensorsFile.Entry(
        name: tensor.name, dtype: tensor.dtype, shape: tensor.shape, bytes: bytes(of: tensor))
    }
    return SafetensorsFile(entries: entries, metadata: metadata)
  }

  /// Drops the pages holding a byte range of the file from this process's memory. They stay in
  /// the system's page cache, and the mapping is private and never written, so a later read of
  /// a page shared with the next range faults it back in unchanged.
  private func release(_ range: Range<Int>) {
    let first = range.lowerBound / Self.pageSize * Self.pageSize
    let last = min(fileSize, (range.upperBound + Self.pageSize - 1) / Self.pageSize * Self.pageSize)
    guard last > first else { return }
    _ = madvise(UnsafeMutableRawPointer(mutating: base + first), last - first, MADV_DONTNEED)
  }
}
