/// The header of a NumPy `.npy` array: the type of its elements and its shape.
///
/// The format (`numpy.lib.format`): the magic `\x93NUMPY`, a major and a minor version byte,
/// the length of what follows (2 bytes little-endian in version 1, 4 in versions 2 and 3), then
/// that many bytes of a Python dict literal padded with spaces and ended by a newline:
/// `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 32, 32, 3), }`. The elements follow,
/// row-major (C order) unless `fortran_order` is true.
///
/// Headers are untrusted: the parser accepts exactly that dict (the three keys, each once), and
/// every problem is a `ShearsError` with an empty subject, for the reader to name the file.
struct NPYHeader: Equatable {
  /// What one element is; the only kinds a dataset can use.
  enum Element: Equatable {
    /// A little-endian (or single-byte) integer of `byteCount` bytes.
    case integer(byteCount: Int, signed: Bool)
    /// A little-endian IEEE 754 single.
    case float32

    var byteCount: Int {
      switch self {
      case .integer(let byteCount, _): byteCount
      case .float32: 4
      }
    }

    /// The NumPy name: `uint8`, `int64`, `float32`.
    var name: String {
      switch self {
      case .integer(let byteCount, let signed): (signed ? "int" : "uint") + "\(8 * byteCount)"
      case .float32: "float32"
      }
    }
  }

  let element: Element
  /// The `descr` as written (`<f4`, `|u1`), for messages.
  let descr: String
  let shape: [Int]
  /// Bytes before the first element: magic, version, length field and the dict.
  let byteCount: Int

  /// `\x93NUMPY`.
  static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]
  /// Longest dict accepted. NumPy writes well under 200 bytes and itself refuses headers
  /// above 10,000 bytes unless told otherwise.
  static let maxDictCount = 65_536

  /// The total header size announced by the first bytes of an array, or `nil` while `prefix`
  /// is too short to tell (fewer than 10 bytes, or 12 for versions 2 and 3).
  ///
  /// - Throws: `ShearsError` when the magic or the version is wrong or the dict is too long.
  static func byteCount(announcedBy prefix: [UInt8]) throws -> Int? {
    guard prefix.count >= 8 else {
      guard prefix.elementsEqual(magic.prefix(prefix.count)) else { throw notAnArray }
      return nil
    }
    guard prefix.starts(with: magic) else { throw notAnArray }
    let (major, minor) = (prefix[6], prefix[7])
    guard (1...3).contains(major) else {
      throw ShearsError("", "unsupported .npy format version \(major).\(minor) (1.0 to 3.0 are read)")
    }
    let lengthBytes = major == 1 ? 2 : 4
    guard prefix.count >= 8 + lengthBytes else { return nil }
    let length = prefix[8..<8 + lengthBytes].reversed().reduce(0) { $0 << 8 | Int($1) }
    guard length <= maxDictCount else {
      throw ShearsError("", "bad .npy header: it declares \(length) bytes, more than the \(maxDictCount) allowed")
    }
    return 8 + lengthBytes + length
  }

  private static var notAnArray: ShearsError { ShearsError("", "not a .npy array (no \\x93NUMPY magic)") }

  /// Parses a complete header, `byteCount(announcedBy:)` bytes long.
  ///
  /// - Throws: `ShearsError` (empty subject) naming what is wrong or unsupported.
  init(parsing bytes: [UInt8]) throws {
    guard let total = try Self.byteCount(announcedBy: bytes), total == bytes.count else {
      throw ShearsError("", "bad .npy header: truncated")
    }
    let dictStart = bytes[6] == 1 ? 10 : 12
    var parser = PythonLiteralParser(bytes[dictStart...])
    let fields: [(key: String, value: PythonLiteral)]
    do {
      fields = try parser.parseHeaderDict()
    } catch let error as PythonLiteralParser.SyntaxError {
      throw ShearsError("", "bad .npy header: \(error.problem)")
    }
    var values: [String: PythonLiteral] = [:]
    for (key, value) in fields {
      guard ["descr", "fortran_order", "shape"].contains(key) else {
        throw ShearsError("", "bad .npy header: unexpected key '\(key)'")
      }
      guard values.updateValue(value, forKey: key) == nil else {
        throw ShearsError("", "bad .npy header: key '\(key)' appears twice")
      }
    }
    guard case .string(let descr)? = values["descr"] else {
      throw ShearsError("", values["descr"] == nil ? "bad .npy header: no 'descr'" : Self.structuredProblem)
    }
    guard case .bool(let fortranOrder)? = values["fortran_order"] else {
      throw ShearsError("", "bad .npy header: 'fortran_order' missing or not True/False")
    }
    guard case .tuple(let dimensions)? = values["shape"] else {
      throw ShearsError("", "bad .npy header: 'shape' missing or not a tuple")
    }
    var shape: [Int] = []
    for dimension in dimensions {
      guard case .integer(let size) = dimension, size >= 0 else {
        throw ShearsError("", "bad .npy header: 'shape' holds something other than sizes")
      }
      shape.append(size)
    }
    guard !fortranOrder else {
      throw ShearsError(
        "", "Fortran-order arrays are not supported; save np.ascontiguousarray(x) instead")
    }
    self.element = try Self.element(of: descr)
    self.descr = descr
    self.shape = shape
    self.byteCount = bytes.count
  }

  private static let structuredProblem = "structured arrays (a record dtype) are not supported"

  /// The element a `descr` names: byte order, kind and size (`<i8`, `|u1`, `<f4`).
  /// - Throws: `ShearsError` for big-endian data and for every kind a dataset cannot hold.
  static func element(of descr: String) throws -> Element {
    let characters = Array(descr)
    guard characters.count >= 2, "<>|=".contains(characters[0]) else {
      throw ShearsError("", "bad .npy header: dtype '\(descr)' is not a NumPy type string")
    }
    let (order, kind) = (characters[0], characters[1])
    guard kind != "O" else { throw ShearsError("", "object arrays (dtype=object) are not supported") }
    guard let size = Int(String(characters.dropFirst(2))) else {
      throw ShearsError("", "bad .npy header: dtype '\(descr)' is not a NumPy type string")
    }
    switch (kind, size) {
    case ("u", 1), ("u", 2), ("u", 4), ("u", 8), ("i", 1), ("i", 2), ("i", 4), ("i", 8):
      let element = Element.integer(byteCount: size, signed: kind == "i")
      guard order != ">" || size == 1 else { throw bigEndian(element, descr) }
      return element
    case ("f", 4):
      guard order != ">" else { throw bigEndian(.float32, descr) }
      return .float32
    case ("f", 8):
      throw ShearsError("", "dtype float64 ('\(descr)') is not supported; save x.astype('float32') (or uint8)")
    case ("f", _): throw ShearsError("", "dtype float\(8 * size) ('\(descr)') is not supported; use float32 or uint8")
    case ("b", _): throw ShearsError("", "boolean arrays ('\(descr)') are not supported")
    case ("V", _): throw ShearsError("", structuredProblem)
    default: throw ShearsError("", "dtype '\(descr)' is not supported (integers, uint8 or float32 are read)")
    }
  }

  private static func bigEndian(_ element: Element, _ descr: String) -> ShearsError {
    ShearsError("", "big-endian \(element.name) ('\(descr)') is not supported; save x.astype('<\(descr.dropFirst())')")
  }

  /// `(60000, 28, 28)` or `(10,)`, as NumPy prints a shape.
  static func shapeText(_ shape: [Int]) -> String {
    shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
  }
}
