/// The contents of a [safetensors](https://huggingface.co/docs/safetensors) file: named tensors
/// in a fixed order, and string metadata.
///
/// Layout: an 8-byte little-endian header length `N`, `N` bytes of UTF-8 JSON
/// (`{"__metadata__": {...}, "name": {"dtype": "F32", "shape": [..], "data_offsets": [b, e]}, ...}`,
/// padded with spaces to a multiple of 8 bytes), then the tensor bytes, little-endian, with
/// offsets relative to the end of the header. Reading is in `SafetensorsFile+Reading.swift`.
public struct SafetensorsFile: Sendable, Equatable {
  /// The element types of the safetensors format.
  ///
  /// Checkpoints (`SafetensorsFile(contentsOf:)`, `Checkpoint.load`) accept `checkpointTypes`;
  /// `MappedSafetensorsFile`, which only describes tensors, accepts them all.
  public enum DType: String, Sendable, CaseIterable {
    case f32 = "F32"
    case f16 = "F16"
    case bf16 = "BF16"
    case f64 = "F64"
    case u8 = "U8"
    case u16 = "U16"
    case u32 = "U32"
    case u64 = "U64"
    case i8 = "I8"
    case i16 = "I16"
    case i32 = "I32"
    case i64 = "I64"
    case bool = "BOOL"
    case f8e4m3 = "F8_E4M3"
    case f8e5m2 = "F8_E5M2"

    /// Bytes per element.
    public var byteCount: Int {
      switch self {
      case .f64, .u64, .i64: 8
      case .f32, .u32, .i32: 4
      case .f16, .bf16, .u16, .i16: 2
      case .u8, .i8, .bool, .f8e4m3, .f8e5m2: 1
      }
    }

    /// Whether the type holds floating-point numbers.
    public var isFloatingPoint: Bool {
      switch self {
      case .f32, .f16, .bf16, .f64, .f8e4m3, .f8e5m2: true
      default: false
      }
    }

    /// What a checkpoint may hold: weights (`F32`, or `F16`, `BF16`, `F64` converted), masks
    /// (`U8`, or a float type), the indices of the compact form (`U8`, `U16`, `U32`), and
    /// BatchNorm's batch count (`I64`).
    public static let checkpointTypes: [DType] = [.f32, .f16, .bf16, .f64, .u8, .u16, .u32, .i64]
  }

  /// One named tensor: its element type, shape, and raw little-endian bytes.
  public struct Entry: Sendable, Equatable {
    public var name: String
    public var dtype: DType
    public var shape: [Int]
    /// `shape.product * dtype.byteCount` bytes, little-endian.
    public var bytes: [UInt8]

    /// An entry over raw bytes; their count must agree with the shape and type.
    public init(name: String, dtype: DType, shape: [Int], bytes: [UInt8]) {
      precondition(
        shape.reduce(1, *) * dtype.byteCount == bytes.count,
        "\(name): \(bytes.count) bytes do not hold \(dtype.rawValue) \(shape)")
      self.name = name
      self.dtype = dtype
      self.shape = shape
      self.bytes = bytes
    }

    /// An `F32` entry holding a tensor.
    /// An `I64` tensor.
    public init(name: String, shape: [Int], integers: [Int64]) {
      var bytes: [UInt8] = []
      bytes.reserveCapacity(integers.count * 8)
      for value in integers {
        for byte in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: UInt64(bitPattern: value) >> (8 * byte))) }
      }
      self.init(name: name, dtype: .i64, shape: shape, bytes: bytes)
    }

    public init(name: String, tensor: Tensor) {
      var bytes: [UInt8] = []
      bytes.reserveCapacity(tensor.count * 4)
      for scalar in tensor.scalars {
        let bits = scalar.bitPattern
        bytes += [
          UInt8(truncatingIfNeeded: bits), UInt8(truncatingIfNeeded: bits >> 8),
          UInt8(truncatingIfNeeded: bits >> 16), UInt8(truncatingIfNeeded: bits >> 24),
        ]
      }
      self.init(name: name, dtype: .f32, shape: tensor.shape, bytes: bytes)
    }
  }

  /// The tensors, in file order; names are unique and not `__metadata__`.
  public private(set) var entries: [Entry]
  /// The `__metadata__` map.
  public var metadata: [String: String]

  /// A file's contents from entries in the order they are to be written.
  public init(entries: [Entry], metadata: [String: String] = [:]) {
    precondition(Set(entries.map(\.name)).count == entries.count, "tensor names must be unique")
    precondition(!entries.contains { $0.name == "__metadata__" }, "__metadata__ is not a tensor name")
    self.entries = entries
    self.metadata = metadata
  }

  /// The entry with a name, if there is one.
  /// - Complexity: O(number of entries).
  public func entry(named name: String) -> Entry? {
    entries.first { $0.name == name }
  }

  /// The bytes of the file: header with `__metadata__` first (keys sorted, omitted when empty),
  /// then the entries in order with contiguous offsets.
  public var encoded: [UInt8] {
    var members: [(key: String, value: JSONValue)] = []
    if !metadata.isEmpty {
      let sorted = metadata.sorted { $0.key < $1.key }
      members.append(("__metadata__", .object(sorted.map { ($0.key, .string($0.value)) })))
    }
    var offset = 0
    for entry in entries {
      let end = offset + entry.bytes.count
      members.append(
        (
          entry.name,
          .object([
            ("dtype", .string(entry.dtype.rawValue)),
            ("shape", .array(entry.shape.map { .number(String($0)) })),
            ("data_offsets", .array([.number(String(offset)), .number(String(end))])),
          ])
        ))
      offset = end
    }
    var header = Array(JSONValue.object(members).text.utf8)
    header += [UInt8](repeating: 0x20, count: (8 - header.count % 8) % 8)
    var bytes: [UInt8] = []
    bytes.reserveCapacity(8 + header.count + offset)
    for shift in stride(from: 0, to: 64, by: 8) {
      bytes.append(UInt8(truncatingIfNeeded: UInt64(header.count) >> UInt64(shift)))
    }
    bytes += header
    for entry in entries { bytes += entry.bytes }
    return bytes
  }

  /// Writes the file atomically (see `writeAtomically(_:to:)`).
  /// - Throws: `ShearsError` naming `path` and the reason.
  public func write(to path: String) throws {
    try writeAtomically(encoded, to: path)
  }
}
