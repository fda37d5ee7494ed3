import Foundation

/// BERT's tokenizer: a `vocab.txt` and greedy longest-match-first WordPiece, with the ids
/// HuggingFace's `BertTokenizer` gives.
///
/// Text goes through BERT's basic tokenizer first: U+0000, U+FFFD and other (format, private
/// use) control characters are dropped and whitespace becomes a space; CJK ideographs become
/// words of their own; when lower-casing, accents are stripped (canonical decomposition, then
/// nonspacing marks removed) and letters lower-cased one scalar at a time; words split at
/// whitespace and around each punctuation character (ASCII 33-47, 58-64, 91-96, 123-126 or
/// Unicode category P). Each word is then cut into the longest vocabulary entries from its start,
/// later pieces with the `##` prefix; a word that cannot be cut, or longer than 100 scalars,
/// becomes `[UNK]`. The special tokens `[UNK]`, `[SEP]`, `[PAD]`, `[CLS]` and `[MASK]` written
/// in the text are recognised as themselves.
///
/// The steps follow the Rust `tokenizers` library behind `transformers.BertTokenizer`
/// (`BertNormalizer`, `BertPreTokenizer`, `WordPiece`), which differs from the older pure-Python
/// `BasicTokenizer` in two corners: unassigned code points are kept, and a final capital sigma
/// lower-cases to σ, not ς.
public struct WordPieceTokenizer: TextTokenizer {
  /// One more than the largest id: the number of lines of the vocabulary.
  public let vocabularySize: Int
  /// Whether text is lower-cased and accents stripped (BERT's uncased models).
  public let lowercase: Bool
  /// Ids by the UTF-8 bytes of their tokens: Swift's `String` equality would join tokens that
  /// differ only in Unicode normalization, which vocabularies keep apart.
  private let ids: [[UInt8]: Int]
  private let unknownID: Int
  private let classID: Int
  private let separatorID: Int
  private let specialTokens: AddedTokenSplitter

  /// Words longer than this many scalars become `[UNK]` (`max_input_chars_per_word`).
  static let maximumWordLength = 100
  /// The special tokens recognised in text when the vocabulary has them.
  static let specialTokenNames = ["[UNK]", "[SEP]", "[PAD]", "[CLS]", "[MASK]"]

  /// Reads a `vocab.txt`: one token a line, the id of a token its line number from 0.
  ///
  /// Lines end at `\n`, `\r\n` or `\r`, as Python reads text files; a token listed twice keeps
  /// its later line, as `transformers` does.
  /// - Parameters:
  ///   - vocabularyFile: the `vocab.txt`.
  ///   - lowercase: lower-case and strip accents (`do_lower_case`), true for uncased models.
  /// - Throws: `ShearsError` naming the file when it cannot be read, is not UTF-8, is empty or
  ///   lacks `[UNK]`, `[CLS]` or `[SEP]`.
  public init(vocabularyFile: URL, lowercase: Bool = true) throws {
    let path = vocabularyFile.path
    let bytes = try readRegularFile(at: path)
    guard let text = String(validating: bytes, as: UTF8.self) else { throw ShearsError(path, "is not valid UTF-8") }
    try self.init(vocabulary: Self.lines(text), lowercase: lowercase, subject: path)
  }

  /// A tokenizer whose token `i` is `vocabulary[i]`.
  /// - Throws: `ShearsError` when the vocabulary is empty or lacks `[UNK]`, `[CLS]` or `[SEP]`.
  public init(vocabulary: [String], lowercase: Bool = true) throws {
    try self.init(vocabulary: vocabulary, lowercase: lowercase, subject: "vocabulary")
  }

  private init(vocabulary: [String], lowercase: Bool, subject: String) throws {
    guard !vocabulary.isEmpty else { throw ShearsError(subject, "vocabulary is empty") }
    var ids: [[UInt8]: Int] = [:]
    for (id, token) in vocabulary.enumerated() { ids[Array(token.utf8)] = id }
    func id(of name: String) throws -> Int {
      guard let id = ids[Array(name.utf8)] else { throw ShearsError(subject, "vocabulary has no \(name) token") }
      return id
    }
    unknownID = try id(of: "[UNK]")
    classID = try id(of: "[CLS]")
    separatorID = try id(of: "[SEP]")
    specialTokens = AddedTokenSplitter(
      Self.specialTokenNames.compactMap { name in ids[Array(name.utf8)].map { .init(content: name, id: $0) } })
    self.ids = ids
    self.lowercase = lowercase
    vocabularySize = vocabulary.count
  }

  /// The lines of `text` without their ends; a last line end starts no new line.
  private static func lines(_ text: String) -> [String] {
    var lines: [String] = []
    var line = String.UnicodeScalarView()
    var afterCarriageReturn = false
    for scalar in text.unicodeScalars {
      if scalar == "\n" && afterCarriageReturn {
        afterCarriageReturn = false
        continue
      }
      afterCarriageReturn = scalar == "\r"
      if scalar == "\n" || scalar == "\r" {
        lines.append(String(line))
        line = String.UnicodeScalarView()
      } else {
        line.append(scalar)
      }
    }
    if !line.isEmpty { lines.append(String(line)) }
    return lines
  }

  // MARK: - Encoding

  /// The ids of `text` between `[CLS]` and `[SEP]`, as a BERT model's input starts and ends.
  public func encode(_ text: String) -> [Int] { encode(text, addSpecialTokens: true) }

  /// The ids of `text`, between `[CLS]` and `[SEP]` when `addSpecialTokens` is set.
  /// - Complexity: O(n·w) for n scalars and words of up to w scalars (at most 100).
  public func encode(_ text: String, addSpecialTokens: Bool) -> [Int] {
    var result = addSpecialTokens ? [classID] : []
    for piece in specialTokens.split(text) {
      switch piece {
      case .token(let id): result.append(id)
      case .text(let text): for word in words(text) { appendPieces(of: word, to: &result) }
      }
    }
    if addSpecialTokens { result.append(separatorID) }
    return result
  }

  /// The tokens of `text` before WordPiece: BERT's basic tokenizer (the module's summary).
  func words(_ text: String) -> [[Unicode.Scalar]] {
    var cleaned = String.UnicodeScalarView()
    for scalar in text.unicodeScalars {
      if scalar.value == 0 || scalar.value == 0xFFFD || Self.isControl(scalar) { continue }
      if scalar.isWhitespace {
        cleaned.append(" ")
      } else if Self.isCJKIdeograph(scalar) {
        cleaned.append(contentsOf: [" ", scalar, " "])
      } else {
        cleaned.append(scalar)
      }
    }
    var normalized = String(cleaned).unicodeScalars
    if lowercase {
      normalized = String.UnicodeScalarView()
      for scalar in String(cleaned).decomposedStringWithCanonicalMapping.unicodeScalars
      where scalar.properties.generalCategory != .nonspacingMark {
        if scalar.isASCII {
          // The common case without building a String per scalar.
          normalized.append(("A"..."Z").contains(scalar) ? Unicode.Scalar(UInt8(scalar.value) + 32) : scalar)
        } else {
          normalized.append(contentsOf: scalar.properties.lowercaseMapping.unicodeScalars)
        }
      }
    }
    var words: [[Unicode.Scalar]] = []
    var word: [Unicode.Scalar] = []
    for scalar in normalized {
      if scalar.isWhitespace || Self.isPunctuation(scalar) {
        if !word.isEmpty { words.append(word) }
        word = []
        if !scalar.isWhitespace { words.append([scalar]) }
      } else {
        word.append(scalar)
      }
    }
    if !word.isEmpty { words.append(word) }
    return words
  }

  /// Appends the WordPiece ids of `word`, longest vocabulary entry first, or `[UNK]`.
  private func appendPieces(of word: [Unicode.Scalar], to result: inout [Int]) {
    guard word.count <= Self.maximumWordLength else {
      result.append(unknownID)
      return
    }
    // offsets[i]: where scalar i starts in the word's UTF-8 bytes.
    var bytes: [UInt8] = []
    var offsets = [0]
    for scalar in word {
      UTF8.encode(scalar) { bytes.append($0) }
      offsets.append(bytes.count)
    }
    var pieces: [Int] = []
    var start = 0
    while start < word.count {
      var end = word.count
      var found: Int?
      while start < end {
        let key = (start > 0 ? Array("##".utf8) : []) + bytes[offsets[start]..<offsets[end]]
        if let id = ids[key] {
          found = id
          break
        }
        end -= 1
      }
      guard let id = found else {
        result.append(unknownID)
        return
      }
      pieces.append(id)
      start = end
    }
    result.append(contentsOf: pieces)
  }

  // MARK: - Character classes

  /// Control and format characters, private use and surrogates (category C except unassigned,
  /// which tokenizers keeps); tab, newline and carriage return count as whitespace instead.
  private static func isControl(_ scalar: Unicode.Scalar) -> Bool {
    if scalar == "\t" || scalar == "\n" || scalar == "\r" { return false }
    switch scalar.properties.generalCategory {
    case .control, .format, .privateUse, .surrogate: return true
    default: return false
    }
  }

  /// BERT's punctuation: every non-alphanumeric printable ASCII character, and Unicode category P.
  private static func isPunctuation(_ scalar: Unicode.Scalar) -> Bool {
    switch scalar.value {
    case 33...47, 58...64, 91...96, 123...126: true
    default: scalar.isPunctuation
    }
  }

  /// The CJK Unified Ideographs blocks and their extensions and compatibility blocks, as BERT
  /// lists them (not Hiragana, Katakana or Hangul).
  private static func isCJKIdeograph(_ scalar: Unicode.Scalar) -> Bool {
    switch scalar.value {
    case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F, 0x2B740...0x2B81F,
      0x2B820...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F:
      true
    default: false
    }
  }
}
