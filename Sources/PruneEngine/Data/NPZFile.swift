import CShearsZlib
import Foundation
import ZIPFoundation

/// Reader for a dataset in a NumPy `.npz` archive, in the convention of Keras' `load_data()`.
///
/// The archive (`np.savez` or `np.savez_compressed`: a zip of `.npy` files, stored or deflated)
/// holds `x_train`, `y_train`, `x_test` and `y_test`. Images are `[N, H, W]` or `[N, H, W, C]`
/// (channels last, as Keras and NumPy write them) of `uint8` or `float32`; they are stored
/// channel-major per sample (`[C, H, W]`, as PyTorch's `Conv2d` reads them) as they arrive.
/// Labels are `[N]` (or Keras' CIFAR shape `[N, 1]`) of any integer type, each 0 to 255.
///
/// Archives are untrusted: every declared shape is checked against the size of its zip entry,
/// and both against fixed limits, before anything is allocated from it.
enum NPZFile {
  /// Reads both splits.
  /// - Throws: `ShearsError` naming `path` and the first problem found.
  static func load(at path: String) throws -> (train: Dataset, test: Dataset) {
    let archive = try NPZArchive(path: path)
    try archive.requireArrays(["x_train", "y_train", "x_test", "y_test"])
    let train = try archive.split(images: "x_train", labels: "y_train")
    let test = try archive.split(images: "x_test", labels: "y_test")
    guard test.imageShape == train.imageShape else {
      throw ShearsError(path, "x_test: images are \(test.imageShape) but the training images (x_train) are \(train.imageShape)")
    }
    guard test.hasSameImages(as: train) else {
      throw ShearsError(
        path, "x_test: images are \(dtype(test)) but the training images (x_train) are \(dtype(train)); use one dtype")
    }
    return (train, test)
  }

  /// Reads the test split alone, without reading the training arrays.
  /// - Throws: `ShearsError` naming `path` and the first problem found.
  static func loadTest(at path: String) throws -> Dataset {
    let archive = try NPZArchive(path: path)
    try archive.requireArrays(["x_test", "y_test"])
    return try archive.split(images: "x_test", labels: "y_test")
  }

  private static func dtype(_ dataset: Dataset) -> String { dataset.pixels.storesBytes ? "uint8" : "float32" }
}

// MARK: - The archive

/// An `.npz` file opened for reading its arrays through ZIPFoundation.
final class NPZArchive {
  let path: String
  private let descriptor: Int32
  private let fileSize: Int
  private let archive: Archive

  /// Chunks handed to and from ZIPFoundation.
  static let chunkSize = 1 << 16
  /// Deflate cannot expand data by more than 1032 to 1 (a run of 258 bytes in under two bits).
  static let maxDeflateRatio = 1032

  /// - Throws: `ShearsError` naming `path`: it cannot be opened, is not a regular file
  ///   (`openRegularFile(at:)`), or is not a zip archive.
  init(path: String) throws {
    self.path = path
    (descriptor, fileSize) = try openRegularFile(at: path)
    // ZIPFoundation opens archives by path. `/dev/fd/N` names the file already opened and
    // checked, so it cannot be swapped for a FIFO between the check and ZIPFoundation's open.
    do {
      archive = try Archive(url: URL(fileURLWithPath: "/dev/fd/\(descriptor)"), accessMode: .read)
    } catch {
      close(descriptor)
      if case Archive.ArchiveError.missingEndOfCentralDirectoryRecord = error {
        throw ShearsError(path, "not an .npz archive: no zip end-of-central-directory record (not a zip file, or truncated)")
      }
      throw ShearsError(path, "cannot open as a zip archive (\(error))")
    }
  }

  deinit { close(descriptor) }

  /// Throws unless every array of `names` is in the archive, so a missing one is reported
  /// before any is read.
  func requireArrays(_ names: [String]) throws {
    for name in names where npyEntry(name) == nil {
      throw ShearsError(
        path,
        "no array \(name) (\(name).npy) in the archive; a dataset .npz holds x_train, y_train, x_test and y_test")
    }
  }

  /// Reads an image array and its labels and checks that they hold the same number of samples.
  func split(images imageName: String, labels labelName: String) throws -> Dataset {
    let images = ImageSink()
    try read(imageName, into: images)
    let labels = LabelSink()
    try read(labelName, into: labels)
    guard images.recordCount == labels.recordCount else {
      throw ShearsError(
        path, "\(imageName) holds \(images.recordCount) images but \(labelName) holds \(labels.recordCount) labels")
    }
    return Dataset(
      pixels: images.pixels, labels: labels.labels, channels: images.channels, rows: images.rows,
      columns: images.columns)
  }

  private func npyEntry(_ name: String) -> Entry? {
    archive["\(name).npy"].flatMap { $0.type == .file ? $0 : nil }
  }

  // MARK: - Reading one array

  /// Streams the array `name` into `sink`: its header is parsed as soon as it has arrived, the
  /// sink checks it, the declared size is compared with the entry's, and only then does the
  /// sink allocate and receive the elements, one whole record (image or label) at a time.
  private func read(_ name: String, into sink: some NPYRecordSink) throws {
    guard let entry = npyEntry(name) else { throw ShearsError(path, "no array \(name) (\(name).npy) in the archive") }
    let reader = try EntryReader(entry: entry, name: name, archive: path, fileSize: fileSize, sink: sink)
    do {
      _ = try archive.extract(entry, bufferSize: Self.chunkSize, skipCRC32: true, consumer: reader.consume)
    } catch is EntryReader.Complete {
      // Every declared byte has arrived; see `EntryReader.consume`.
    } catch let error as ShearsError {
      throw error
    } catch {
      throw ShearsError(path, "\(name): cannot read its zip entry (\(error))")
    }
    try reader.finish()
  }
}

// MARK: - Record sinks

/// Where the records of an array go: images or labels.
protocol NPYRecordSink: AnyObject {
  /// Records the header declares (set by `accept`).
  var recordCount: Int { get }
  /// Bytes of one record as stored in the file (set by `accept`).
  var recordByteCount: Int { get }
  /// Checks a header and takes its layout, allocating nothing.
  /// - Throws: `ShearsError` (empty subject) saying why this array cannot be used.
  func accept(_ header: NPYHeader) throws
  /// Allocates room for `recordCount` records, once the entry's size has been checked.
  func allocate()
  /// Takes record `index`, `recordByteCount` bytes as the file stores them.
  /// - Throws: `ShearsError` (empty subject) when a value cannot be used.
  func take(_ record: UnsafeRawPointer, index: Int) throws
}

/// Images `[N, H, W]` or `[N, H, W, C]` of `uint8` or `float32`, transposed to channel-major as
/// each image arrives.
final class ImageSink: NPYRecordSink {
  private(set) var recordCount = 0
  private(set) var recordByteCount = 0
  private(set) var channels = 1
  private(set) var rows = 0
  private(set) var columns = 0
  private var element = NPYHeader.Element.float32
  private var bytes: [UInt8] = []
  private var floats: [Float] = []

  var pixels: Dataset.Pixels { element == .float32 ? .floats(floats) : .bytes(bytes) }

  func accept(_ header: NPYHeader) throws {
    guard header.element == .float32 || header.element == .integer(byteCount: 1, signed: false) else {
      throw ShearsError("", "images of \(header.element.name) ('\(header.descr)') are not supported; use uint8 or float32")
    }
    guard header.shape.count == 3 || header.shape.count == 4 else {
      throw ShearsError("", "shape \(shapeText(header.shape)) is not images [N, H, W] or [N, H, W, C]")
    }
    let (count, height, width) = (header.shape[0], header.shape[1], header.shape[2])
    let channels = header.shape.count == 4 ? header.shape[3] : 1
    guard count > 0 else { throw ShearsError("", "the array holds no images") }
    guard (1...Dataset.maxSide).contains(height), (1...Dataset.maxSide).contains(width),
      (1...Dataset.maxChannels).contains(channels)
    else {
      throw ShearsError(
        "", "implausible image shape \(shapeText(header.shape)) (sides 1 to \(Dataset.maxSide), "
          + "channels 1 to \(Dataset.maxChannels))")
    }
    let sampleBytes = height * width * channels * header.element.byteCount
    let (payload, overflow) = count.multipliedReportingOverflow(by: sampleBytes)
    guard count <= Dataset.maxCount, !overflow, payload <= Dataset.maxPayload else {
      throw ShearsError("", "implausible size: shape \(shapeText(header.shape)) of \(header.element.name)")
    }
    (recordCount, recordByteCount) = (count, sampleBytes)
    (self.channels, rows, columns, element) = (channels, height, width, header.element)
  }

  func allocate() {
    let values = recordCount * channels * rows * columns
    if element == .float32 { floats = [Float](repeating: 0, count: values) } else { bytes = [UInt8](repeating: 0, count: values) }
  }

  /// Writes image `index` channel-major: value `(y, x, c)` of the file goes to `c * H * W + y * W + x`.
  func take(_ record: UnsafeRawPointer, index: Int) throws {
    let plane = rows * columns
    let features = plane * channels
    let channels = channels
    if element == .float32 {
      try floats.withUnsafeMutableBufferPointer { floats in
        let destination = floats.baseAddress! + index * features
        for p in 0..<plane {
          for c in 0..<channels {
            let bits = record.loadUnaligned(fromByteOffset: 4 * (p * channels + c), as: UInt32.self)
            let value = Float(bitPattern: UInt32(littleEndian: bits))
            guard value.isFinite else {
              throw ShearsError("", "image \(index) holds \(value); float images must be finite")
            }
            destination[c * plane + p] = value
          }
        }
      }
    } else {
      bytes.withUnsafeMutableBufferPointer { bytes in
        let destination = bytes.baseAddress! + index * features
        let source = record.assumingMemoryBound(to: UInt8.self)
        guard channels > 1 else { return destination.update(from: source, count: features) }
        for p in 0..<plane {
          for c in 0..<channels { destination[c * plane + p] = source[p * channels + c] }
        }
      }
    }
  }
}

/// Labels `[N]` or `[N, 1]` of any integer type, each a class number 0 to 255.
final class LabelSink: NPYRecordSink {
  private(set) var recordCount = 0
  private(set) var recordByteCount = 0
  private var signed = false
  private(set) var labels: [UInt8] = []

  func accept(_ header: NPYHeader) throws {
    guard case .integer(let byteCount, let signed) = header.element else {
      throw ShearsError("", "labels of \(header.element.name) ('\(header.descr)') are not supported; labels are integers")
    }
    guard header.shape.count == 1 || (header.shape.count == 2 && header.shape[1] == 1) else {
      throw ShearsError("", "shape \(shapeText(header.shape)) is not one label per sample, [N] or [N, 1]")
    }
    let count = header.shape[0]
    guard count > 0 else { throw ShearsError("", "the array holds no labels") }
    guard count <= Dataset.maxCount else { throw ShearsError("", "implausible size: \(count) labels") }
    (recordCount, recordByteCount, self.signed) = (count, byteCount, signed)
  }

  func allocate() { labels = [UInt8](repeating: 0, count: recordCount) }

  func take(_ record: UnsafeRawPointer, index: Int) throws {
    var raw: UInt64 = 0
    for b in (0..<recordByteCount).reversed() { raw = raw << 8 | UInt64(record.load(fromByteOffset: b, as: UInt8.self)) }
    let unusedBits = UInt64(64 - 8 * recordByteCount)
    let negative = signed && (raw >> (UInt64(8 * recordByteCount) - 1)) & 1 == 1
    guard !negative, raw <= 255 else {
      let value = negative ? String(Int64(bitPattern: raw << unusedBits) >> Int64(unusedBits)) : String(raw)
      throw ShearsError("", "label \(value) at index \(index) is outside 0 to 255 (labels are class numbers)")
    }
    labels[index] = UInt8(raw)
  }
}

/// `(60000, 28, 28)`, as NumPy prints a shape.
private func shapeText(_ shape: [Int]) -> String {
  shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
}

// MARK: - Streaming one entry

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
private final class EntryReader {
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
    // The data follows a local header of at least 30 bytes plus the name.
    guard compressed <= UInt64(max(0, fileSize - 30 - name.utf8.count)) else {
      throw ShearsError(archive, "\(name): its zip entry declares \(compressed) compressed bytes, more than the file holds")
    }
    let limit = entry.isCompressed ? compressed * UInt64(NPZArchive.maxDeflateRatio) + 1024 : compressed
    guard uncompressed <= limit, uncompressed <= UInt64(Dataset.maxPayload) + UInt64(NPYHeader.maxDictCount + 12) else {
      throw ShearsError(
        archive, "\(name): its zip entry declares \(uncompressed) bytes from \(compressed) stored bytes, which cannot be")
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
    guard parsed.byteCount + payload == declaredSize else {
      throw problem(
        "the .npy header declares \(shapeText(parsed.shape)) \(parsed.element.name) (\(parsed.byteCount + payload) "
          + "bytes) but its zip entry holds \(declaredSize)")
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
private struct CRC32Accumulator {
  private(set) var value: UInt32 = 0

  mutating func update(_ bytes: UnsafeRawBufferPointer) {
    guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
    value = UInt32(crc32(uLong(value), base.assumingMemoryBound(to: Bytef.self), uInt(bytes.count)))
  }
}
