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
  /// no overlaps and no gaps (as the format requires). Only `DType.checkpointTypes` are accepted.
  /// - Throws: `ShearsError` naming `path` and the first problem found.
  public init(contentsOf path: String) throws {
    try self.init(decoding: try readRegularFile(at: path), subject: path)
  }

  /// Decodes the bytes of a file; `subject` (the path) is named in errors.
  init(decoding bytes: [UInt8], subject: String) throws {
    let header = try bytes.withUnsafeBytes { buffer in
      try SafetensorsHeader(file: buffer, accepting: DType.checkpointTypes, subject: subject)
    }
    self.init(
      entries: header.tensors.map {
        Entry(
          name: $0.name, dtype: $0.dtype, shape: $0.shape,
          bytes: Array(bytes[(header.dataStart + $0.begin)..<(header.dataStart + $0.end)]))
      },
      metadata: header.metadata)
  }
}

/// Where one tensor sits in a safetensors file, as its validated header describes it.
public struct TensorDescriptor: Sendable, Equatable {
  public var name: String
  public var dtype: SafetensorsFile.DType
  public var shape: [Int]
  /// Byte range in the data area (offsets from the end of the header).
  public var begin: Int
  public var end: Int

  /// Number of elements (the product of the shape; 1 for a scalar).
  public var elementCount: Int { (end - begin) / dtype.byteCount }
  public var byteCount: Int { end - begin }
}

/// The validated header of a safetensors file: where each tensor is, and the metadata.
///
/// Every number is checked before it is used: the header length against the limit and the file
/// size, each dtype against the accepted list, each shape for negative dimensions and overflow,
/// each `data_offsets` pair against the data area and the shape, and the tensors together must
/// tile the data area with no overlap, gap or stray bytes.
struct SafetensorsHeader {
  /// Offset of the data area from the start of the file.
  var dataStart: Int
  /// Tensors in header order.
  var tensors: [TensorDescriptor]
  var metadata: [String: String]

  /// The header of a whole file in memory (or mapped).
  init(file: UnsafeRawBufferPointer, accepting types: [SafetensorsFile.DType], subject: String) throws {
    let length = try Self.headerLength(prefix: file, fileSize: file.count, subject: subject)
    try self.init(
      json: UnsafeRawBufferPointer(rebasing: file[8..<(8 + length)]), fileSize: file.count, accepting: types,
      subject: subject)
  }

  /// The length the first 8 bytes declare, checked against the limit and the file's size.
  static func headerLength(prefix: UnsafeRawBufferPointer, fileSize: Int, subject: String) throws -> Int {
    guard prefix.count >= 8, fileSize >= 8 else {
      throw ShearsError(subject, "not a safetensors file: only \(fileSize) bytes long")
    }
    var length: UInt64 = 0
    for index in 0..<8 { length |= UInt64(prefix[index]) << UInt64(8 * index) }
    let limit = SafetensorsFile.maximumHeaderByteCount
    guard length <= limit else {
      throw ShearsError(
        subject, "not a safetensors file: header length \(length) exceeds the limit of \(limit) bytes")
    }
    guard length <= fileSize - 8 else {
      throw ShearsError(
        subject, "not a safetensors file: header length \(length) runs past the end of the file (\(fileSize) bytes)")
    }
    return Int(length)
  }

  /// Parses and checks the JSON header of a file of `fileSize` bytes.
  init(json: UnsafeRawBufferPointer, fileSize: Int, accepting types: [SafetensorsFile.DType], subject: String) throws {
    dataStart = 8 + json.count
    let dataCount = fileSize - dataStart
    guard case .object(let members) = try JSONValue(parsing: Array(json), subject: subject) else {
      throw ShearsError(subject, "header is not a JSON object")
    }
    metadata = [:]
    tensors = []
    tensors.reserveCapacity(members.count)
    for (key, value) in members {
      if key == "__metadata__" {
        metadata = try Self.metadata(from: value, subject: subject)
      } else {
        tensors.append(try Self.descriptor(name: key, value, dataCount: dataCount, types: types, subject: subject))
      }
    }
    try Self.checkCoverage(tensors, dataCount: dataCount, subject: subject)
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

  /// One header entry, validated against the size of the data area.
  private static func descriptor(
    name: String, _ value: JSONValue, dataCount: Int, types: [SafetensorsFile.DType], subject: String
  ) throws -> TensorDescriptor {
    func failure(_ problem: String) -> ShearsError { ShearsError(subject, "tensor '\(name)' \(problem)") }
    guard case .object(let members) = value else {
      throw failure("is not an object with dtype, shape and data_offsets")
    }
    func field(_ key: String) throws -> JSONValue {
      guard let member = members.first(where: { $0.key == key }) else { throw failure("has no \(key)") }
      return member.value
    }
    guard case .string(let typeName) = try field("dtype") else { throw failure("has a dtype that is not a string") }
    guard let dtype = SafetensorsFile.DType(rawValue: typeName), types.contains(dtype) else {
      let names = types.map(\.rawValue)
      let expected = names.dropLast().joined(separator: ", ") + " or " + (names.last ?? "")
      throw failure("has unsupported dtype '\(typeName)' (expected \(expected))")
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
    return TensorDescriptor(name: name, dtype: dtype, shape: shape, begin: begin, end: end)
  }

  /// Checks that the tensors tile the data area: no overlaps, no gaps, nothing after the last.
  private static func checkCoverage(_ tensors: [TensorDescriptor], dataCount: Int, subject: String) throws {
    var covered = 0
    var previous: String?
    for tensor in tensors.sorted(by: { ($0.begin, $0.end) < ($1.begin, $1.end) }) {
      if tensor.begin < covered, let previous {
        throw ShearsError(subject, "tensors '\(previous)' and '\(tensor.name)' overlap in the data area")
      }
      guard tensor.begin == covered else {
        throw ShearsError(subject, "data area bytes \(covered)..<\(tensor.begin) belong to no tensor")
      }
      covered = tensor.end
      previous = tensor.name
    }
    guard covered == dataCount else {
      throw ShearsError(subject, "data area has \(dataCount - covered) stray bytes after the last tensor")
    }
  }
}

extension SafetensorsFile.Entry {
  /// The elements converted to `Float` (`F64` and 64-bit integers round to nearest; `U8` gives
  /// 0 to 255, `BOOL` 0 or 1).
  public var floats: [Float] {
    let count = bytes.count / dtype.byteCount
    return [Float](unsafeUninitializedCapacity: count) { output, initialized in
      bytes.withUnsafeBytes { input in
        convertToFloat(input, dtype: dtype, into: UnsafeMutableBufferPointer(rebasing: output[0..<count]))
      }
      initialized = count
    }
  }
}

/// Converts little-endian elements of `dtype` to floats; `output` holds `input.count / dtype.byteCount`.
func convertToFloat(
  _ input: UnsafeRawBufferPointer, dtype: SafetensorsFile.DType, into output: UnsafeMutableBufferPointer<Float>
) {
  let count = output.count
  guard count > 0, let base = input.baseAddress else { return }
  func load<T: FixedWidthInteger>(_: T.Type, _ index: Int) -> T {
    T(littleEndian: base.loadUnaligned(fromByteOffset: index * MemoryLayout<T>.size, as: T.self))
  }
  switch dtype {
  case .f32: for i in 0..<count { output[i] = Float(bitPattern: load(UInt32.self, i)) }
  case .f16: for i in 0..<count { output[i] = floatFromHalf(load(UInt16.self, i)) }
  case .bf16: for i in 0..<count { output[i] = Float(bitPattern: UInt32(load(UInt16.self, i)) << 16) }
  case .f64: for i in 0..<count { output[i] = Float(Double(bitPattern: load(UInt64.self, i))) }
  case .u8: for i in 0..<count { output[i] = Float(load(UInt8.self, i)) }
  case .u16: for i in 0..<count { output[i] = Float(load(UInt16.self, i)) }
  case .u32: for i in 0..<count { output[i] = Float(load(UInt32.self, i)) }
  case .u64: for i in 0..<count { output[i] = Float(load(UInt64.self, i)) }
  case .i8: for i in 0..<count { output[i] = Float(load(Int8.self, i)) }
  case .i16: for i in 0..<count { output[i] = Float(load(Int16.self, i)) }
  case .i32: for i in 0..<count { output[i] = Float(load(Int32.self, i)) }
  case .i64: for i in 0..<count { output[i] = Float(load(Int64.self, i)) }
  case .bool: for i in 0..<count { output[i] = load(UInt8.self, i) != 0 ? 1 : 0 }
  case .f8e4m3: for i in 0..<count { output[i] = floatFromE4M3(load(UInt8.self, i)) }
  case .f8e5m2: for i in 0..<count { output[i] = floatFromHalf(UInt16(load(UInt8.self, i)) << 8) }
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

/// The `Float` of an 8-bit `E4M3` float as PyTorch's `float8_e4m3fn` defines it: exponent bias
/// 7, no infinities, `S.1111.111` is NaN.
func floatFromE4M3(_ bits: UInt8) -> Float {
  let exponent = Int(bits >> 3) & 0xF
  let mantissa = Float(bits & 0x7)
  let magnitude: Float =
    if exponent == 0xF && bits & 0x7 == 0x7 { .nan } else if exponent == 0 { mantissa * 0x1p-9 } else {
      (1 + mantissa / 8) * Float(sign: .plus, exponent: exponent - 7, significand: 1)
    }
  return bits & 0x80 != 0 ? -magnitude : magnitude
}
