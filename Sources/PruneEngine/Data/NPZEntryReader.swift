import CShearsZlib
import Foundation
import ZIPFoundation

/// Turns the chunks ZIPFoundation delivers for one entry into a checked header and whole
/// records for a sink.
///
/// It also guards against ZIPFoundation 0.9.20's inflate loop on Linux, which spins forever
/// without calling the consumer once the file ends before the deflate stream does
/// (weichsel/ZIPFoundation#389). The loop calls the consumer at least once per compressed
/// chunk it reads, the last time with less than a full chunk of output, and a well-formed entry
/// has produced all its bytes by the end of the last chunk its compressed size spans. So
/// reading stops with an error at that chunk if bytes are missing, and with `Complete` as soon
/// as the last declared byte arrives, before the loop can ask the file for more.
final class NPZEntryReader {
  /// Thrown from the consumer once every declared byte has arrived, to end the extraction.
  struct Complete: Error {}

  private let name: String
  private let archive: String
  private let sink: any NPYRecordSink
  /// The entry's uncompressed size, which the header and the data must match exactly.
  private let declaredSize: Int
  private let expectedChecksum: UInt32
  /// For a deflated entry, the compressed chunks it spans.
  private let chunkLimit: Int?
  private var header: [UInt8] = []
  private var headerSize: Int?
  private var accepted = false
  private var staging = UnsafeMutableRawBufferPointer(start: nil, count: 0)
  private var staged = 0
  private var records = 0
  private var received = 0
  private var chunkEnds = 0
  private var checksum = CRC32Accumulator()

  /// - Throws: `ShearsError` when the entry's sizes are impossible: larger than the file,
  ///   inflating beyond what deflate can, or too small for an array.
  init(entry: Entry, name: String, archive: String, fileSize: Int, sink: any NPYRecordSink) throws {
    (self.name, self.archive, self.sink) = (name, archive, sink)
    expectedChecksum = entry.checksum
    let compressed = entry.compressedSize
    let uncompressed = entry.uncompressedSize
    // The data follows a local header of at least 30 bytes plus the entry's path.
    guard compressed <= UInt64(max(0, fileSize - 30 - entry.path.utf8.count)) else {
      throw ShearsError(
        archive, "\(name): its zip entry declares \(compressed) compressed bytes, more than the file holds")
    }
    let limit = entry.isCompressed ? compressed * UInt64(NPZArchive.maxDeflateRatio) + 1024 : compressed
    guard uncompressed <= limit, uncompressed <= UInt64(Dataset.maxPayload) + UInt64(NPYHeader.maxDictCount + 12) else {
      throw ShearsError(
        archive,
        "\(name): its zip entry declares \(uncompressed) bytes, more than its \(compressed) compressed bytes can hold")
    }
    guard uncompressed >= 10 else {
      throw ShearsError(archive, "\(name): its zip entry holds \(uncompressed) bytes, too few for a .npy array")
    }
    declaredSize = Int(uncompressed)
    let chunk = UInt64(NPZArchive.chunkSize)
    chunkLimit = entry.isCompressed ? Int((compressed + chunk - 1) / chunk) : nil
  }

  deinit { staging.deallocate() }

  func consume(_ data: Data) throws {
    received += data.count
    guard received <= declaredSize else {
      throw problem("corrupt: the data runs past the \(declaredSize) bytes its zip entry declares")
    }
    try data.withUnsafeBytes { bytes in
      checksum.update(bytes)
      try feed(bytes)
    }
    if received == declaredSize { throw Complete() }
    if let chunkLimit, data.count < NPZArchive.chunkSize {
      chunkEnds += 1
      guard chunkEnds < chunkLimit else {
        throw problem("truncated or corrupt deflate data: it ends after \(received) of \(declaredSize) bytes")
      }
    }
  }

  /// Checks that the entry was complete and intact.
  func finish() throws {
    guard received == declaredSize else {
      throw problem("truncated: its zip entry declares \(declaredSize) bytes but the file holds \(received)")
    }
    guard accepted else { throw problem("bad .npy header: the entry ends inside it") }
    guard checksum.value == expectedChecksum else { throw problem("corrupt: the data does not match its CRC-32") }
  }

  /// Splits `bytes` into header bytes and record bytes.
  private func feed(_ bytes: UnsafeRawBufferPointer) throws {
    var offset = 0
    while offset < bytes.count {
      guard accepted else {
        // 10 bytes announce a version 1 header's size, 12 a later version's.
        let want = headerSize.map { $0 - header.count } ?? ((header.count < 10 ? 10 : 12) - header.count)
        let take = min(want, bytes.count - offset)
        header.append(contentsOf: bytes[offset..<offset + take])
        offset += take
        if headerSize == nil { headerSize = try wrapped { try NPYHeader.byteCount(announcedBy: header) } }
        if header.count == headerSize { try acceptHeader() }
        continue
      }
      let recordBytes = sink.recordByteCount
      if staged == 0, bytes.count - offset >= recordBytes {
        try wrapped { try sink.take(bytes.baseAddress! + offset, index: records) }
        records += 1
        offset += recordBytes
        continue
      }
      let take = min(recordBytes - staged, bytes.count - offset)
      (staging.baseAddress! + staged).copyMemory(from: bytes.baseAddress! + offset, byteCount: take)
      staged += take
      offset += take
      if staged == recordBytes {
        try wrapped { try sink.take(UnsafeRawPointer(staging.baseAddress!), index: records) }
        records += 1
        staged = 0
      }
    }
  }

  /// Parses the header, lets the sink check it, and compares the size it declares with the
  /// entry's before the sink allocates.
  private func acceptHeader() throws {
    let parsed = try wrapped { try NPYHeader(parsing: header) }
    try wrapped { try sink.accept(parsed) }
    let payload = sink.recordCount * sink.recordByteCount
    let total = parsed.byteCount + payload
    guard total == declaredSize else {
      let shape = NPYHeader.shapeText(parsed.shape)
      throw problem(
        "the .npy header declares \(shape) \(parsed.element.name) (\(total) bytes) "
          + "but its zip entry holds \(declaredSize)")
    }
    sink.allocate()
    staging = .allocate(byteCount: sink.recordByteCount, alignment: 16)
    accepted = true
  }

  /// Runs `body`, giving a problem it throws this array's name and the archive's path.
  private func wrapped<T>(_ body: () throws -> T) throws -> T {
    do {
      return try body()
    } catch let error as ShearsError where error.subject.isEmpty {
      throw problem(error.problem)
    }
  }

  private func problem(_ text: String) -> ShearsError { ShearsError(archive, "\(name): \(text)") }
}

/// The CRC-32 of the bytes seen so far, through zlib (the checksum a zip entry records).
struct CRC32Accumulator {
  private(set) var value: UInt32 = 0

  mutating func update(_ bytes: UnsafeRawBufferPointer) {
    guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
    value = UInt32(crc32(uLong(value), base.assumingMemoryBound(to: Bytef.self), uInt(bytes.count)))
  }
}
