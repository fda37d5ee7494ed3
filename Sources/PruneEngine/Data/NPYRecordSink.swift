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
      throw ShearsError(
        "", "images of \(header.element.name) ('\(header.descr)') are not supported; use uint8 or float32")
    }
    guard header.shape.count == 3 || header.shape.count == 4 else {
      throw ShearsError("", "shape \(NPYHeader.shapeText(header.shape)) is not images [N, H, W] or [N, H, W, C]")
    }
    let (count, height, width) = (header.shape[0], header.shape[1], header.shape[2])
    let channels = header.shape.count == 4 ? header.shape[3] : 1
    guard count > 0 else { throw ShearsError("", "the array holds no images") }
    guard (1...Dataset.maxSide).contains(height), (1...Dataset.maxSide).contains(width),
      (1...Dataset.maxChannels).contains(channels)
    else {
      throw ShearsError(
        "",
        "implausible image shape \(NPYHeader.shapeText(header.shape)) (sides 1 to \(Dataset.maxSide), "
          + "channels 1 to \(Dataset.maxChannels))")
    }
    let sampleBytes = height * width * channels * header.element.byteCount
    let (payload, overflow) = count.multipliedReportingOverflow(by: sampleBytes)
    guard count <= Dataset.maxCount, !overflow, payload <= Dataset.maxPayload else {
      throw ShearsError("", "implausible size: shape \(NPYHeader.shapeText(header.shape)) of \(header.element.name)")
    }
    (recordCount, recordByteCount) = (count, sampleBytes)
    (self.channels, rows, columns, element) = (channels, height, width, header.element)
  }

  func allocate() {
    let values = recordCount * channels * rows * columns
    if element == .float32 {
      floats = [Float](repeating: 0, count: values)
    } else {
      bytes = [UInt8](repeating: 0, count: values)
    }
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
      throw ShearsError(
        "", "labels of \(header.element.name) ('\(header.descr)') are not supported; labels are integers")
    }
    guard header.shape.count == 1 || (header.shape.count == 2 && header.shape[1] == 1) else {
      throw ShearsError("", "shape \(NPYHeader.shapeText(header.shape)) is not one label per sample, [N] or [N, 1]")
    }
    let count = header.shape[0]
    guard count > 0 else { throw ShearsError("", "the array holds no labels") }
    guard count <= Dataset.maxCount else { throw ShearsError("", "implausible size: \(count) labels") }
    (recordCount, recordByteCount, self.signed) = (count, byteCount, signed)
  }

  func allocate() { labels = [UInt8](repeating: 0, count: recordCount) }

  func take(_ record: UnsafeRawPointer, index: Int) throws {
    var raw: UInt64 = 0
    for b in (0..<recordByteCount).reversed() {
      raw = raw << 8 | UInt64(record.load(fromByteOffset: b, as: UInt8.self))
    }
    let unusedBits = UInt64(64 - 8 * recordByteCount)
    let negative = signed && (raw >> (UInt64(8 * recordByteCount) - 1)) & 1 == 1
    guard !negative, raw <= 255 else {
      let value = negative ? String(Int64(bitPattern: raw << unusedBits) >> Int64(unusedBits)) : String(raw)
      throw ShearsError("", "label \(value) at index \(index) is outside 0 to 255 (labels are class numbers)")
    }
    labels[index] = UInt8(raw)
  }
}
