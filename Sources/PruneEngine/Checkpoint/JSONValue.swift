/// A JSON value as read from or written to a file header, with object members in file order.
///
/// Foundation's parsers keep only one of two members with the same key and blur integers,
/// floats and booleans together; headers of untrusted files need both told apart, so this small
/// strict parser (RFC 8259) reports duplicate keys, keeps numbers as their text, and limits
/// nesting depth.
enum JSONValue: Sendable {
  case object([(key: String, value: JSONValue)])
  case array([JSONValue])
  case string(String)
  /// A number, exactly as written (`12`, `-0.5e3`).
  case number(String)
  case bool(Bool)
  case null

  /// The value of an integer number that fits in `Int` (`3`, `-1`), or nil for anything else
  /// (`1.0`, `1e3`, `true`, a string, an integer too large).
  var integer: Int? {
    if case .number(let text) = self { Int(text) } else { nil }
  }

  /// Compact JSON text with no spaces; strings escaped as JSON requires.
  var text: String {
    switch self {
    case .object(let members):
      "{" + members.map { Self.quoted($0.key) + ":" + $0.value.text }.joined(separator: ",") + "}"
    case .array(let elements): "[" + elements.map(\.text).joined(separator: ",") + "]"
    case .string(let string): Self.quoted(string)
    case .number(let text): text
    case .bool(let value): value ? "true" : "false"
    case .null: "null"
    }
  }

  private static func quoted(_ string: String) -> String {
    var result = "\""
    for scalar in string.unicodeScalars {
      switch scalar {
      case "\"": result += "\\\""
      case "\\": result += "\\\\"
      case "\n": result += "\\n"
      case "\r": result += "\\r"
      case "\t": result += "\\t"
      case _ where scalar.value < 0x20:
        let hex = String(scalar.value, radix: 16)
        result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
      default: result.unicodeScalars.append(scalar)
      }
    }
    return result + "\""
  }

  /// Parses one JSON value from UTF-8 bytes; only JSON whitespace may follow it.
  /// - Parameters:
  ///   - subject: the file the bytes came from, named in errors.
  ///   - document: what the bytes are, the first word of errors (`header is not valid JSON: ...`).
  /// - Throws: `ShearsError(subject, ...)` for invalid UTF-8 or JSON, a duplicate key, or nesting
  ///   deeper than `maximumDepth`.
  init(parsing bytes: [UInt8], subject: String, document: String = "header", maximumDepth: Int = 32) throws {
    guard String(validating: bytes, as: UTF8.self) != nil else {
      throw ShearsError(subject, "\(document) is not valid UTF-8")
    }
    var parser = JSONParser(bytes: bytes, subject: subject, document: document, maximumDepth: maximumDepth)
    self = try parser.value(depth: 0)
    parser.skipWhitespace()
    guard parser.position == bytes.count else { throw parser.failure("unexpected text after the JSON value") }
  }
}

/// Recursive-descent parser behind `JSONValue(parsing:)`; input is already valid UTF-8.
private struct JSONParser {
  let bytes: [UInt8]
  let subject: String
  let document: String
  let maximumDepth: Int
  var position = 0

  init(bytes: [UInt8], subject: String, document: String, maximumDepth: Int) {
    self.bytes = bytes
    self.subject = subject
    self.document = document
    self.maximumDepth = maximumDepth
  }

  func failure(_ problem: String) -> ShearsError {
    ShearsError(subject, "\(document) is not valid JSON: \(problem) at byte \(position)")
  }

  mutating func skipWhitespace() {
    while position < bytes.count {
      switch bytes[position] {
      case 0x20, 0x09, 0x0A, 0x0D: position += 1
      default: return
      }
    }
  }

  /// Consumes one byte if it is `byte`.
  mutating func consume(_ byte: UInt8) -> Bool {
    guard position < bytes.count, bytes[position] == byte else { return false }
    position += 1
    return true
  }

  /// Consumes `literal` if the input continues with it.
  mutating func consume(_ literal: String) -> Bool {
    let utf8 = literal.utf8
    guard bytes.count - position >= utf8.count, bytes[position..<position + utf8.count].elementsEqual(utf8) else {
      return false
    }
    position += utf8.count
    return true
  }

  mutating func value(depth: Int) throws -> JSONValue {
    guard depth < maximumDepth else { throw failure("nested deeper than \(maximumDepth) levels") }
    skipWhitespace()
    guard position < bytes.count else { throw failure("unexpected end") }
    switch bytes[position] {
    case UInt8(ascii: "{"): return try object(depth: depth)
    case UInt8(ascii: "["): return try array(depth: depth)
    case UInt8(ascii: "\""): return .string(try string())
    case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
    default:
      if consume("true") { return .bool(true) }
      if consume("false") { return .bool(false) }
      if consume("null") { return .null }
      throw failure("unexpected character")
    }
  }

  private mutating func object(depth: Int) throws -> JSONValue {
    position += 1  // {
    var members: [(key: String, value: JSONValue)] = []
    var keys = Set<String>()
    skipWhitespace()
    if consume(UInt8(ascii: "}")) { return .object(members) }
    repeat {
      skipWhitespace()
      guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else { throw failure("expected a key") }
      let key = try string()
      guard keys.insert(key).inserted else { throw ShearsError(subject, "\(document) has duplicate key '\(key)'") }
      skipWhitespace()
      guard consume(UInt8(ascii: ":")) else { throw failure("expected ':'") }
      members.append((key, try value(depth: depth + 1)))
      skipWhitespace()
    } while consume(UInt8(ascii: ","))
    guard consume(UInt8(ascii: "}")) else { throw failure("expected ',' or '}'") }
    return .object(members)
  }

  private mutating func array(depth: Int) throws -> JSONValue {
    position += 1  // [
    var elements: [JSONValue] = []
    skipWhitespace()
    if consume(UInt8(ascii: "]")) { return .array(elements) }
    repeat {
      elements.append(try value(depth: depth + 1))
      skipWhitespace()
    } while consume(UInt8(ascii: ","))
    guard consume(UInt8(ascii: "]")) else { throw failure("expected ',' or ']'") }
    return .array(elements)
  }

  private mutating func string() throws -> String {
    position += 1  // opening quote
    var utf8: [UInt8] = []
    while position < bytes.count {
      let byte = bytes[position]
      position += 1
      switch byte {
      case UInt8(ascii: "\""): return String(decoding: utf8, as: UTF8.self)
      case UInt8(ascii: "\\"): utf8 += try escape()
      case ..<0x20: throw failure("control character in a string")
      default: utf8.append(byte)
      }
    }
    throw failure("unterminated string")
  }

  /// The UTF-8 of the escape after a backslash.
  private mutating func escape() throws -> [UInt8] {
    guard position < bytes.count else { throw failure("unterminated string") }
    let byte = bytes[position]
    position += 1
    switch byte {
    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): return [byte]
    case UInt8(ascii: "b"): return [0x08]
    case UInt8(ascii: "f"): return [0x0C]
    case UInt8(ascii: "n"): return [0x0A]
    case UInt8(ascii: "r"): return [0x0D]
    case UInt8(ascii: "t"): return [0x09]
    case UInt8(ascii: "u"):
      var code = try hexQuad()
      if (0xD800..<0xDC00).contains(code), consume("\\u") {
        let low = try hexQuad()
        guard (0xDC00..<0xE000).contains(low) else { throw failure("unpaired surrogate") }
        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
      }
      guard let scalar = Unicode.Scalar(code) else { throw failure("unpaired surrogate") }
      return Array(String(Character(scalar)).utf8)
    default: throw failure("invalid escape")
    }
  }

  private mutating func hexQuad() throws -> UInt32 {
    guard bytes.count - position >= 4 else { throw failure("invalid \\u escape") }
    var code: UInt32 = 0
    for byte in bytes[position..<position + 4] {
      guard let digit = Character(Unicode.Scalar(byte)).hexDigitValue else { throw failure("invalid \\u escape") }
      code = code << 4 | UInt32(digit)
    }
    position += 4
    return code
  }

  /// A number per the JSON grammar `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, as text.
  private mutating func number() throws -> String {
    let start = position
    func digits(_ parser: inout JSONParser) -> Int {
      let first = parser.position
      while parser.position < parser.bytes.count, parser.bytes[parser.position] &- 0x30 < 10 {
        parser.position += 1
      }
      return parser.position - first
    }
    _ = consume(UInt8(ascii: "-"))
    if !consume(UInt8(ascii: "0")) { guard digits(&self) > 0 else { throw failure("invalid number") } }
    if consume(UInt8(ascii: ".")) { guard digits(&self) > 0 else { throw failure("invalid number") } }
    if consume(UInt8(ascii: "e")) || consume(UInt8(ascii: "E")) {
      _ = consume(UInt8(ascii: "+")) || consume(UInt8(ascii: "-"))
      guard digits(&self) > 0 else { throw failure("invalid number") }
    }
    return String(decoding: bytes[start..<position], as: UTF8.self)
  }
}
