import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A UTF-8 text for a language model, read as bytes (token `b` is byte value `b`) and split
/// into training and validation text.
///
/// The split (datasets/README.md): validation is the last tenth of the bytes, starting just
/// after the first line break at or after the 90% mark, so no line is cut in two; the rest is
/// training. A text with no line break there splits at the mark itself.
public struct TextCorpus: Sendable {
  /// The file, as given.
  public let path: String
  public let training: [Int32]
  public let validation: [Int32]

  /// The embedded default: Jane Austen's six novels, `datasets/corpus.txt`.
  public static let embeddedName = "corpus.txt"

  /// The text `--data` names, else the embedded one, with how it was chosen for the user
  /// (`book.txt (--data)`, `datasets/corpus.txt (embedded text)`).
  /// - Throws: `ShearsError` as `load(path:)` does, or when no embedded text can be found.
  public static func resolve(option: String?) throws -> (corpus: TextCorpus, description: String) {
    if let option { return (try load(path: option), "\(option) (--data)") }
    let candidates = DataSource.embeddedCandidates().map { $0 + "/" + embeddedName }
    guard let embedded = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) else {
      throw ShearsError(
        "datasets/\(embeddedName)", "embedded text not found (looked in \(candidates.joined(separator: ", "))); use --data")
    }
    return (try load(path: embedded), "datasets/\(embeddedName) (embedded text)")
  }

  /// The whole text, training then validation.
  public var all: [Int32] { training + validation }

  /// Reads and splits the file at `path`.
  /// - Throws: `ShearsError` naming the file: it cannot be read, is not UTF-8 (with the offset
  ///   of the first bad byte), or is too short to give both splits a sequence.
  public static func load(path: String) throws -> TextCorpus {
    let bytes = try readBytes(path)
    if let offset = firstInvalidUTF8(bytes) {
      throw ShearsError(path, "not UTF-8 text: invalid byte 0x\(String(bytes[offset], radix: 16)) at offset \(offset)")
    }
    let start = validationStart(bytes)
    guard start >= 2, bytes.count - start >= 2 else {
      throw ShearsError(path, "has \(bytes.count) bytes, too few to split into training and validation text")
    }
    return TextCorpus(
      path: path, training: bytes[..<start].map { Int32($0) }, validation: bytes[start...].map { Int32($0) })
  }

  /// The offset where the validation text starts (see the type's discussion).
  static func validationStart(_ bytes: [UInt8]) -> Int {
    let mark = bytes.count * 9 / 10
    guard let lineBreak = bytes[mark...].firstIndex(of: UInt8(ascii: "\n")) else { return mark }
    return lineBreak + 1
  }

  /// The offset of the first byte that does not belong to well-formed UTF-8 (no overlong forms,
  /// no surrogates, nothing above U+10FFFF); nil when the whole text is well formed.
  static func firstInvalidUTF8(_ bytes: [UInt8]) -> Int? {
    var index = 0
    while index < bytes.count {
      let lead = bytes[index]
      if lead < 0x80 {
        index += 1
        continue
      }
      // Continuation count and the range of the first continuation byte (Unicode table 3-7).
      let (count, low, high): (Int, UInt8, UInt8) =
        switch lead {
        case 0xC2...0xDF: (1, 0x80, 0xBF)
        case 0xE0: (2, 0xA0, 0xBF)
        case 0xE1...0xEC, 0xEE...0xEF: (2, 0x80, 0xBF)
        case 0xED: (2, 0x80, 0x9F)
        case 0xF0: (3, 0x90, 0xBF)
        case 0xF1...0xF3: (3, 0x80, 0xBF)
        case 0xF4: (3, 0x80, 0x8F)
        default: (0, 0, 0)
        }
      guard count > 0 else { return index }
      for offset in 1...count {
        let position = index + offset
        guard position < bytes.count else { return position }
        let byte = bytes[position]
        let (minimum, maximum) = offset == 1 ? (low, high) : (UInt8(0x80), UInt8(0xBF))
        guard byte >= minimum && byte <= maximum else { return position }
      }
      index += count + 1
    }
    return nil
  }

  private static let largestFile = 1 << 31

  private static func readBytes(_ path: String) throws -> [UInt8] {
    let (descriptor, size) = try openRegularFile(at: path)
    defer { close(descriptor) }
    guard size <= largestFile else { throw ShearsError(path, "a text of \(size) bytes is larger than 2 GiB") }
    var bytes = [UInt8](repeating: 0, count: size)
    var filled = 0
    while filled < size {
      let count = bytes.withUnsafeMutableBytes { read(descriptor, $0.baseAddress! + filled, size - filled) }
      guard count > 0 else {
        if count < 0 && errno == EINTR { continue }
        throw ShearsError(path, count == 0 ? "ended early while reading" : "cannot read: \(systemErrorDescription(errno))")
      }
      filled += count
    }
    return bytes
  }
}

/// A token sequence cut into training examples of one language model's context: window `i`
/// reads tokens `i · context ..< (i + 1) · context` and learns each one's next token.
public struct TokenWindows: Sendable {
  public let tokens: [Int32]
  public let context: Int

  public init(tokens: [Int32], context: Int) {
    precondition(context > 0, "a context of \(context)")
    self.tokens = tokens
    self.context = context
  }

  /// Whole windows whose every token has a next one.
  public var count: Int { max(0, tokens.count - 1) / context }
}
