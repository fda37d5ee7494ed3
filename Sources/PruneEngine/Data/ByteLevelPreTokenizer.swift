/// GPT-2's byte-level pre-tokenization: text cut into words by GPT-2's pattern, each word's
/// UTF-8 bytes written as printable characters.
///
/// The pattern is `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`,
/// matched here by hand over Unicode scalars: a contraction, or a run of letters, of numbers or
/// of other symbols with at most one space before it, or whitespace, which leaves its last
/// character to the word that follows.
enum ByteLevelPreTokenizer {
  /// The character each byte is written as (GPT-2's `bytes_to_unicode`): printable Latin-1
  /// bytes as themselves, the other 68 as U+0100 onward in byte order.
  static let byteScalars: [Unicode.Scalar] = {
    var next: UInt32 = 0x100
    return (0...255).map { (byte: Int) -> Unicode.Scalar in
      if (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte) || (0xAE...0xFF).contains(byte) {
        return Unicode.Scalar(UInt8(byte))
      }
      defer { next += 1 }
      return Unicode.Scalar(next) ?? "\u{FFFD}"  // never: U+0100 to U+0143 are scalars
    }
  }()

  /// The byte each character of `byteScalars` stands for.
  static let scalarBytes: [Unicode.Scalar: UInt8] = Dictionary(
    uniqueKeysWithValues: byteScalars.enumerated().map { ($0.element, UInt8($0.offset)) })

  /// The words of `scalars`: consecutive ranges that cover them all, in order.
  static func wordRanges(_ scalars: [Unicode.Scalar]) -> [Range<Int>] {
    var ranges: [Range<Int>] = []
    var start = 0
    while start < scalars.count {
      let end = wordEnd(scalars, from: start)
      ranges.append(start..<end)
      start = end
    }
    return ranges
  }

  /// Where the pattern's match starting at `start` ends; the alternatives in the pattern's order.
  private static func wordEnd(_ scalars: [Unicode.Scalar], from start: Int) -> Int {
    let count = scalars.count
    func scalar(_ index: Int) -> Unicode.Scalar? { index < count ? scalars[index] : nil }

    // 's 't 're 've 'm 'll 'd
    if scalars[start] == "'", let next = scalar(start + 1) {
      switch next {
      case "s", "t", "m", "d": return start + 2
      case "r" where scalar(start + 2) == "e", "v" where scalar(start + 2) == "e": return start + 3
      case "l" where scalar(start + 2) == "l": return start + 3
      default: break
      }
    }
    // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: one optional space, then a run of one class.
    let first = scalars[start] == " " && start + 1 < count ? start + 1 : start
    let kind = WordClass(scalars[first])
    if kind != .whitespace {
      var end = first + 1
      while end < count && WordClass(scalars[end]) == kind { end += 1 }
      return end
    }
    // `\s+(?!\S)`, then `\s+`: a whitespace run leaves its last character to a following word.
    var end = start + 1
    while end < count && scalars[end].isWhitespace { end += 1 }
    return end == count || end - start == 1 ? end : end - 1
  }

  /// The classes of the pattern's runs.
  private enum WordClass {
    case letter, number, whitespace, other

    init(_ scalar: Unicode.Scalar) {
      self = scalar.isLetter ? .letter : scalar.isNumber ? .number : scalar.isWhitespace ? .whitespace : .other
    }
  }
}
