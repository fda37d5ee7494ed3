import CShearsZlib

/// How many bytes a model takes on disk in each form Shears writes, and gzip-compressed.
public struct CheckpointSizes: Sendable, Equatable {
  /// The file `Checkpoint.save` writes (without rewind weights).
  public var denseFile: Int
  /// `denseFile` compressed with gzip (zlib level 6, as `gzip` does by default).
  public var denseGzip: Int
  /// The file `CompactCheckpoint.save` writes.
  public var compactFile: Int
  public var compactGzip: Int

  /// Encodes and compresses the model in memory.
  /// - Throws: `ShearsError` naming `subject` if `metadata.architecture` disagrees with the model.
  public init(model: Model, metadata: CheckpointMetadata, subject: String) throws {
    let dense = try Checkpoint.file(for: model, metadata: metadata, subject: subject).encoded
    let compact = try CompactCheckpoint.file(for: model, metadata: metadata, subject: subject).file.encoded
    denseFile = dense.count
    compactFile = compact.count
    denseGzip = gzipByteCount(dense)
    compactGzip = gzipByteCount(compact)
  }

  /// Bytes `init` needs beside the model, for a model of `parameterCount` parameters: the dense
  /// and the compact file, each held as its tensors' bytes and then encoded (at most 4 bytes a
  /// parameter in every form).
  public static func memory(parameterCount: Int) -> Int {
    parameterCount.multipliedSaturating(by: 4 * MemoryLayout<Float>.size)
  }
}

/// Size of `bytes` compressed as a gzip member (zlib `deflate` with the gzip wrapper); the
/// compressed bytes are counted in a 64 KiB buffer, not kept.
public func gzipByteCount(_ bytes: [UInt8], level: Int32 = 6) -> Int {
  var stream = z_stream()
  let windowBits: Int32 = 15 + 16  // 32 KiB window, gzip wrapper
  guard
    deflateInit2_(
      &stream, level, Z_DEFLATED, windowBits, 8, Z_DEFAULT_STRATEGY, zlibVersion(),
      Int32(MemoryLayout<z_stream>.size)) == Z_OK
  else { preconditionFailure("zlib deflateInit2 failed") }
  defer { deflateEnd(&stream) }
  var output = [UInt8](repeating: 0, count: 1 << 16)
  var total = 0
  bytes.withUnsafeBufferPointer { input in
    stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
    var remaining = input.count
    var status = Z_OK
    while status != Z_STREAM_END {
      // avail_in is 32-bit: feed at most 1 GiB at a time.
      if stream.avail_in == 0, remaining > 0 {
        let piece = min(remaining, 1 << 30)
        stream.avail_in = UInt32(piece)
        remaining -= piece
      }
      output.withUnsafeMutableBufferPointer { buffer in
        stream.next_out = buffer.baseAddress
        stream.avail_out = UInt32(buffer.count)
        status = deflate(&stream, remaining == 0 ? Z_FINISH : Z_NO_FLUSH)
        total += buffer.count - Int(stream.avail_out)
      }
      precondition(status == Z_OK || status == Z_STREAM_END || status == Z_BUF_ERROR, "zlib deflate failed: \(status)")
    }
  }
  return total
}
