/// Finds tokens that stand for themselves in text (`<|endoftext|>`, `[MASK]`) before the rest of
/// the text is tokenized, as HuggingFace's added vocabulary does.
///
/// Matches are leftmost-longest and do not overlap, over Unicode scalars (tokenizers' Aho-Corasick
/// automaton over bytes gives the same matches for valid UTF-8). A token marked single-word only
/// counts where no word character touches it; one that strips takes the whitespace beside it.
struct AddedTokenSplitter: Sendable {
  /// One token and how it is matched, as `added_tokens` in a tokenizer.json describes it.
  struct Token: Sendable {
    var content: String
    var id: Int
    var singleWord = false
    var stripsLeft = false
    var stripsRight = false
  }

  /// A stretch of text to tokenize further, or a token found whole.
  enum Piece: Equatable, Sendable {
    case text(String)
    case token(Int)
  }

  /// The tokens by their first scalar, longest first, so the first that matches is the longest.
  private let candidates: [Unicode.Scalar: [(scalars: [Unicode.Scalar], token: Token)]]

  init(_ tokens: [Token]) {
    var candidates: [Unicode.Scalar: [(scalars: [Unicode.Scalar], token: Token)]] = [:]
    for token in tokens {
      let scalars = Array(token.content.unicodeScalars)
      guard let first = scalars.first else { continue }  // tokenizers ignores an empty token
      candidates[first, default: []].append((scalars, token))
    }
    self.candidates = candidates.mapValues { list in list.sorted { $0.scalars.count > $1.scalars.count } }
  }

  /// Whether there is no token to find.
  var isEmpty: Bool { candidates.isEmpty }

  /// `text` cut around the tokens found in it; text pieces are never empty.
  func split(_ text: String) -> [Piece] {
    guard !isEmpty else { return text.isEmpty ? [] : [.text(text)] }
    let scalars = Array(text.unicodeScalars)
    var pieces: [Piece] = []
    var textStart = 0
    var position = 0
    while position < scalars.count {
      guard let match = longestMatch(in: scalars, at: position) else {
        position += 1
        continue
      }
      var start = position
      var stop = position + match.scalars.count
      // The automaton resumes after a match even when the match is then discarded.
      position = stop
      if match.token.singleWord {
        let touchesLeft = start > 0 && scalars[start - 1].isWordCharacter
        let touchesRight = stop < scalars.count && scalars[stop].isWordCharacter
        if touchesLeft || touchesRight { continue }
      }
      if match.token.stripsLeft {
        while start > textStart && scalars[start - 1].isWhitespace { start -= 1 }
      }
      if match.token.stripsRight {
        while stop < scalars.count && scalars[stop].isWhitespace { stop += 1 }
        position = stop
      }
      if textStart < start { pieces.append(.text(Self.string(scalars[textStart..<start]))) }
      pieces.append(.token(match.token.id))
      textStart = stop
    }
    if textStart < scalars.count { pieces.append(.text(Self.string(scalars[textStart...]))) }
    return pieces
  }

  /// `pieces` with each text piece split again.
  func split(_ pieces: [Piece]) -> [Piece] {
    guard !isEmpty else { return pieces }
    return pieces.flatMap { piece -> [Piece] in
      if case .text(let text) = piece { split(text) } else { [piece] }
    }
  }

  private func longestMatch(in scalars: [Unicode.Scalar], at position: Int) -> (
    scalars: [Unicode.Scalar], token: Token
  )? {
    candidates[scalars[position]]?.first { candidate in
      position + candidate.scalars.count <= scalars.count
        && scalars[position..<position + candidate.scalars.count].elementsEqual(candidate.scalars)
    }
  }

  private static func string(_ scalars: ArraySlice<Unicode.Scalar>) -> String {
    var string = ""
    string.unicodeScalars.append(contentsOf: scalars)
    return string
  }
}
