/// The Python values an `.npy` header dict can hold.
indirect enum PythonLiteral: Equatable {
  case string(String)
  case integer(Int)
  case bool(Bool)
  case none
  case tuple([PythonLiteral])
  case list([PythonLiteral])
}

/// A parser for the subset of Python literal syntax `numpy.lib.format` writes: one flat dict of
/// string keys whose values are strings, integers, `True`/`False`/`None`, tuples and lists.
struct PythonLiteralParser {
  struct SyntaxError: Error {
    let problem: String
  }

  private let bytes: [UInt8]
  private var position = 0

  init(_ bytes: ArraySlice<UInt8>) { self.bytes = Array(bytes) }

  /// Parses the whole text as one dict followed by nothing but whitespace.
  mutating func parseHeaderDict() throws -> [(key: String, value: PythonLiteral)] {
    try expect("{")
    var fields: [(key: String, value: PythonLiteral)] = []
    while try peek() != "}" {
      guard case .string(let key) = try value() else { throw SyntaxError(problem: "a dict key is not a string") }
      try expect(":")
      fields.append((key, try value()))
      guard try peek() == "," else { break }
      position += 1
    }
    try expect("}")
    skipWhitespace()
    guard position == bytes.count else { throw SyntaxError(problem: "text after the dict") }
    return fields
  }

  /// The next value, nested tuples and lists up to a depth that no real header reaches.
  private mutating func value(depth: Int = 0) throws -> PythonLiteral {
    guard depth < 8 else { throw SyntaxError(problem: "values nested too deeply") }
    switch try peek() {
    case "'", "\"": return .string(try string())
    case "(": return .tuple(try sequence(closing: ")", depth: depth))
    case "[": return .list(try sequence(closing: "]", depth: depth))
    case let c where c == "-" || c.isNumber: return .integer(try integer())
    default:
      let word = identifier()
      switch word {
      case "True": return .bool(true)
      case "False": return .bool(false)
      case "None": return .none
      default: throw SyntaxError(problem: word.isEmpty ? "unexpected character" : "unexpected name '\(word)'")
      }
    }
  }

  /// `(a, b, )` or `[a, b]`; a trailing comma is allowed, as Python writes `(5,)`.
  private mutating func sequence(closing: Character, depth: Int) throws -> [PythonLiteral] {
    position += 1
    var items: [PythonLiteral] = []
    while try peek() != closing {
      items.append(try value(depth: depth + 1))
      guard try peek() == "," else { break }
      position += 1
    }
    try expect(closing)
    return items
  }

  /// A quoted string; backslash escapes keep the next character as it is.
  private mutating func string() throws -> String {
    let quote = bytes[position]
    position += 1
    var text: [UInt8] = []
    while position < bytes.count, bytes[position] != quote {
      if bytes[position] == UInt8(ascii: "\\") { position += 1 }
      if position < bytes.count { text.append(bytes[position]) }
      position += 1
    }
    guard position < bytes.count else { throw SyntaxError(problem: "unterminated string") }
    position += 1
    return String(decoding: text, as: UTF8.self)
  }

  /// A decimal integer (an `L` suffix, as Python 2 wrote long sizes, is skipped).
  private mutating func integer() throws -> Int {
    let start = position
    if bytes[position] == UInt8(ascii: "-") { position += 1 }
    while position < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[position]) { position += 1 }
    let digits = String(decoding: bytes[start..<position], as: UTF8.self)
    if position < bytes.count, bytes[position] == UInt8(ascii: "L") { position += 1 }
    guard let value = Int(digits) else {
      throw SyntaxError(problem: "integer '\(digits)' is malformed or out of range")
    }
    return value
  }

  private mutating func identifier() -> String {
    let start = position
    while position < bytes.count, Character(UnicodeScalar(bytes[position])).isLetter { position += 1 }
    return String(decoding: bytes[start..<position], as: UTF8.self)
  }

  /// The next character that is not whitespace, without consuming it.
  private mutating func peek() throws -> Character {
    skipWhitespace()
    guard position < bytes.count else { throw SyntaxError(problem: "the dict is not closed") }
    return Character(UnicodeScalar(bytes[position]))
  }

  private mutating func expect(_ character: Character) throws {
    guard try peek() == character else {
      throw SyntaxError(problem: "expected '\(character)' at byte \(position)")
    }
    position += 1
  }

  private mutating func skipWhitespace() {
    while position < bytes.count, [0x20, 0x0A, 0x0D, 0x09].contains(bytes[position]) { position += 1 }
  }
}
