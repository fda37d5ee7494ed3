#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

extension SafetensorsFile {
  /// Largest header accepted, as in the reference implementation.
  static let maximumHeaderByteCount = 100_000_000

  /// Reads and validates a file.
  ///
  /// The file is untrusted: the header length, JSON, dtypes, shapes and offsets are all checked
  /// before any tensor bytes are copied, and the tensors must cover the data area exactly, with
  /// no overlaps and no gaps (as the format requires).
  /// - Throws: `ShearsError` naming `path` and the first problem found.
  public init(contentsOf path: String) throws {
    try self.init(decoding: try readRegularFile(at: path), subject: path)
  }

  /// Decodes the bytes of a file; `subject` (the path) is named in errors.
  init(decoding bytes: [UInt8], subject: String) throws {
    guard bytes.count >= 8 else {
      throw ShearsError(subject, "not a safetensors file: only \(bytes.count) bytes long")
    }
    let length = (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[$1]) << UInt64(8 * $1) }
    guard length <= Self.maximumHeaderByteCount else {
      throw ShearsError(
        subject,
        "not a safetensors file: header length \(length) exceeds the limit of \(Self.maximumHeaderByteCount) bytes")
    }
    guard length <= bytes.count - 8 else {
      throw ShearsError(
        subject, "not a safetensors file: header length \(length) runs past the end of the file (\(bytes.count) bytes)")
    }
    let dataStart = 8 + Int(length)
    guard case .object(let members) = try JSONValue(parsing: Array(bytes[8..<dataStart]), subject: subject) else {
      throw ShearsError(subject, "header is not a JSON object")
    }
    var metadata: [String: String] = [:]
    var layouts: [Layout] = []
    for (key, value) in members {
      if key == "__metadata__" {
        metadata = try Self.metadata(from: value, subject: subject)
      } else {
        layouts.append(try Layout(name: key, value, dataCount: bytes.count - dataStart, subject: subject))
      }
    }
    try Layout.checkCoverage(layouts, dataCount: bytes.count - dataStart, subject: subject)
    self.init(
      entries: layouts.map {
        Entry(
          name: $0.name, dtype: $0.dtype, shape: $0.shape,
          bytes: Array(bytes[(dataStart + $0.begin)..<(dataStart + $0.end)]))
      },
      metadata: metadata)
  }

  private static func metadata(from value: JSONValue, subject: String) throws -> [String: String] {
    switch value {
    case .null: return [:]
    case .object(let members):
      var metadata: [String: String] = [:]
      for (key, value) in members {
        guard case .string(let string) = value else {
          throw ShearsError(subject, "metadata value for '\(key)' is not a string")
        }
        metadata[key] = string
      }
      return metadata
    default: throw ShearsError(subject, "__metadata__ is not a JSON object")
    }
  }
}

/// One header entry, validated against the size of the data area.
private struct Layout {
  var name: String
  var dtype: SafetensorsFile.DType
  var shape: [Int]
  var begin: Int
  var end: Int

  init(name: String, _ value: JSONValue, dataCount: Int, subject: String) throws {
    func failure(_ problem: String) -> ShearsError { ShearsError(subject, "tensor '\(name)' \(problem)") }
    guard case .object(let members) = value else {
      throw failure("is not an object with dtype, shape and data_offsets")
    }
    func field(_ key: String) throws -> JSONValue {
      guard let member = members.first(where: { $0.key == key }) else { throw failure("has no \(key)") }
      return member.value
    }
    guard case .string(let typeName) = try field("dtype") else { throw failure("has a dtype that is not a string") }
    guard let dtype = SafetensorsFile.DType(rawValue: typeName) else {
      throw failure("has unsupported dtype '\(typeName)' (expected F32, F16, BF16, F64 or U8)")
    }
    guard case .array(let dimensions) = try field("shape") else { throw failure("has a shape that is not a list") }
    let shape = dimensions.compactMap(\.integer)
    guard shape.count == dimensions.count else { throw failure("has a shape that is not a list of integers") }
    if let negative = shape.first(where: { $0 < 0 }) {
      throw failure("has negative dimension \(negative) in shape \(shape)")
    }
    var byteCount = dtype.byteCount
    for dimension in shape {
      let (product, overflow) = byteCount.multipliedReportingOverflow(by: dimension)
      guard !overflow else { throw failure("has shape \(shape), too large to address") }
      byteCount = product
    }
    guard case .array(let offsets) = try field("data_offsets"), offsets.count == 2,
      let begin = offsets[0].integer, let end = offsets[1].integer
    else { throw failure("has data_offsets that are not two integers") }
    guard 0 <= begin, begin <= end, end <= dataCount else {
      throw failure("has data_offsets [\(begin), \(end)] outside the data area of \(dataCount) bytes")
    }
    guard end - begin == byteCount else {
      let span = end - begin
      let expected = "\(dtype.rawValue) \(shape) (\(byteCount) bytes)"
      throw failure("is \(expected) but its data_offsets [\(begin), \(end)] span \(span) bytes")
    }
    self.name = name
    self.dtype = dtype
    self.shape = shape
    self.begin = begin
    self.end = end
  }

  /// Checks that the layouts tile the data area: no overlaps, no gaps, nothing after the last.
  static func checkCoverage(_ layouts: [Layout], dataCount: Int, subject: String) throws {
    var covered = 0
    var previous: String?
    for layout in layouts.sorted(by: { ($0.begin, $0.end) < ($1.begin, $1.end) }) {
      if layout.begin < covered, let previous {
        throw ShearsError(subject, "tensors '\(previous)' and '\(layout.name)' overlap in the data area")
      }
      guard layout.begin == covered else {
        throw ShearsError(subject, "data area bytes \(covered)..<\(layout.begin) belong to no tensor")
      }
      covered = layout.end
      previous = layout.name
    }
    guard covered == dataCount else {
      throw ShearsError(subject, "data area has \(dataCount - covered) stray bytes after the last tensor")
    }
  }
}

extension SafetensorsFile.Entry {
  /// The elements converted to `Float` (`F64` rounds to nearest; `U8` gives 0 to 255).
  public var floats: [Float] {
    let size = dtype.byteCount
    return (0..<(bytes.count / size)).map { index in
      let start = index * size
      let bits = (0..<size).reduce(UInt64(0)) { $0 | UInt64(bytes[start + $1]) << UInt64(8 * $1) }
      switch dtype {
      case .f32: return Float(bitPattern: UInt32(truncatingIfNeeded: bits))
      case .f16: return floatFromHalf(UInt16(truncatingIfNeeded: bits))
      case .bf16: return Float(bitPattern: UInt32(truncatingIfNeeded: bits) << 16)
      case .f64: return Float(Double(bitPattern: bits))
      case .u8: return Float(bits)
      }
    }
  }
}

/// The `Float` of IEEE 754 half-precision bits (exact: every half is a float).
func floatFromHalf(_ half: UInt16) -> Float {
  let sign = UInt32(half & 0x8000) << 16
  let exponent = UInt32(half >> 10) & 0x1F
  let mantissa = UInt32(half & 0x3FF)
  switch exponent {
  case 0:  // zero or subnormal: mantissa x 2^-24
    let magnitude = Float(mantissa) * 0x1p-24
    return sign == 0 ? magnitude : -magnitude
  case 0x1F:  // infinity or NaN
    return Float(bitPattern: sign | 0x7F80_0000 | mantissa << 13)
  default:
    return Float(bitPattern: sign | (exponent + 112) << 23 | mantissa << 13)
  }
}

/// The whole content of a regular file (not a folder, pipe or device, which could block or never end).
/// - Throws: `ShearsError` naming `path` and the system's reason.
private func readRegularFile(at path: String) throws -> [UInt8] {
  let descriptor = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
  guard descriptor >= 0 else { throw ShearsError(path, "cannot open: \(systemErrorDescription(errno))") }
  defer { close(descriptor) }
  var status = stat()
  guard fstat(descriptor, &status) == 0 else {
    throw ShearsError(path, "cannot read: \(systemErrorDescription(errno))")
  }
  guard status.st_mode & S_IFMT == S_IFREG else { throw ShearsError(path, "not a regular file") }
  var bytes = [UInt8](repeating: 0, count: Int(status.st_size))
  var count = 0
  while count < bytes.count {
    let result = bytes.withUnsafeMutableBytes { buffer in
      buffer.baseAddress.map { read(descriptor, $0 + count, buffer.count - count) } ?? 0
    }
    if result == 0 { break }  // the file shrank while being read
    if result < 0 {
      if errno == EINTR { continue }
      throw ShearsError(path, "cannot read: \(systemErrorDescription(errno))")
    }
    count += result
  }
  return Array(bytes[..<count])
}
