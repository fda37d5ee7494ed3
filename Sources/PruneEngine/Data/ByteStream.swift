import CShearsZlib
import Foundation

/// A forward-only source of bytes: a plain file, or the inflated contents of a gzip file.
///
/// Readers never allocate from what they read; the caller decides how much to ask for.
protocol ByteStream: AnyObject {
  /// The file the bytes come from, for error messages.
  var path: String { get }
  /// How the stream's size is described in messages ("the file holds", "the gzip data inflates to").
  var sizePhrase: String { get }
  /// The exact number of bytes the stream holds, when it is known without reading them.
  var knownSize: Int? { get }
  /// Fills `buffer` from the stream.
  ///
  /// - Returns: the number of bytes written, less than `buffer.count` only at the end of the stream.
  /// - Throws: `ShearsError` naming the file when it cannot be read or its gzip data is corrupt.
  func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int
}

/// Opens `path` as a plain stream or, when it starts with the gzip magic bytes `1f 8b`, as an
/// inflating one. The file name plays no part.
///
/// - Throws: `ShearsError` naming the file when it cannot be opened.
func openByteStream(_ path: String) throws -> any ByteStream {
  let file = try InputFile(path)
  var magic: (UInt8, UInt8) = (0, 0)
  let got = try withUnsafeMutableBytes(of: &magic) { try file.read(into: $0) }
  try file.rewind()
  return got == 2 && magic == (0x1f, 0x8b) ? try GzipStream(file) : file
}

// MARK: - Plain files

/// A regular file opened for reading with C stdio; closed when released.
final class InputFile: ByteStream {
  let path: String
  let sizePhrase = "the file holds"
  let knownSize: Int?
  private let handle: UnsafeMutablePointer<FILE>

  /// - Throws: `ShearsError` naming `path` when it cannot be opened or is not a regular file
  ///   (a FIFO is refused without blocking; see `openRegularFile(at:)`).
  init(_ path: String) throws {
    let (descriptor, size) = try openRegularFile(at: path)
    guard let handle = fdopen(descriptor, "rb") else {
      let code = errno
      close(descriptor)
      throw ShearsError(path, "cannot open: \(systemErrorDescription(code))")
    }
    self.path = path
    self.handle = handle
    self.knownSize = size
  }

  deinit { fclose(handle) }

  func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
    guard let base = buffer.baseAddress, !buffer.isEmpty else { return 0 }
    let got = fread(base, 1, buffer.count, handle)
    if got < buffer.count, ferror(handle) != 0 {
      throw ShearsError(path, "read error: \(String(cString: strerror(errno)).lowercased())")
    }
    return got
  }

  /// Moves back to the first byte.
  func rewind() throws {
    guard fseek(handle, 0, SEEK_SET) == 0 else { throw ShearsError(path, "cannot seek") }
  }
}

// MARK: - Gzip

/// The inflated contents of a gzip file (one or more members), read through zlib's `inflate`.
///
/// Compressed input is read in 64 KiB chunks and output goes straight into the caller's buffer,
/// so memory stays bounded by what the caller asks for, whatever the data claims.
final class GzipStream: ByteStream {
  let sizePhrase = "the gzip data inflates to"
  let knownSize: Int? = nil
  var path: String { file.path }
  private let file: InputFile
  private let stream: UnsafeMutablePointer<z_stream>
  private let chunk: UnsafeMutableRawBufferPointer
  private var finished = false

  /// Window bits for `inflateInit2_`: a 32 KiB window, gzip wrapper only.
  private static let gzipWindowBits: Int32 = 15 + 16
  private static let chunkSize = 1 << 16

  init(_ file: InputFile) throws {
    self.file = file
    stream = .allocate(capacity: 1)
    stream.initialize(to: z_stream())
    chunk = .allocate(byteCount: Self.chunkSize, alignment: 16)
    let status = inflateInit2_(stream, Self.gzipWindowBits, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
    guard status == Z_OK else {
      stream.deallocate()
      chunk.deallocate()
      throw ShearsError(file.path, "cannot start zlib (status \(status))")
    }
  }

  deinit {
    inflateEnd(stream)
    stream.deallocate()
    chunk.deallocate()
  }

  func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
    guard let base = buffer.baseAddress else { return 0 }
    var written = 0
    while written < buffer.count, !finished {
      let want = min(buffer.count - written, Int(UInt32.max))
      stream.pointee.next_out = (base + written).assumingMemoryBound(to: Bytef.self)
      stream.pointee.avail_out = UInt32(want)
      try inflateSome()
      written += want - Int(stream.pointee.avail_out)
    }
    return written
  }

  /// Inflates until the current output window is full or the last member ends.
  private func inflateSome() throws {
    while stream.pointee.avail_out > 0 {
      if stream.pointee.avail_in == 0, try refill() == 0 {
        throw ShearsError(path, "truncated gzip data: the compressed stream ends before its end marker")
      }
      let status = inflate(stream, Z_NO_FLUSH)
      switch status {
      case Z_OK, Z_BUF_ERROR:
        continue
      case Z_STREAM_END:
        // Another member may follow (concatenated gzip); anything else after it is corrupt.
        if stream.pointee.avail_in == 0, try refill() == 0 {
          finished = true
          return
        }
        inflateReset(stream)
      default:
        let detail = stream.pointee.msg.map { String(cString: $0) } ?? "zlib status \(status)"
        throw ShearsError(path, "corrupt gzip data: \(detail)")
      }
    }
  }

  /// Reads the next chunk of compressed bytes; returns how many (0 at the end of the file).
  private func refill() throws -> Int {
    let got = try file.read(into: chunk)
    stream.pointee.next_in = chunk.baseAddress?.assumingMemoryBound(to: Bytef.self)
    stream.pointee.avail_in = UInt32(got)
    return got
  }
}
