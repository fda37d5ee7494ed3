import Synchronization

/// GPT-2's byte-level byte-pair encoding, with the ids HuggingFace's tokenizers give for the same
/// `tokenizer.json`, or `vocab.json` and `merges.txt`.
///
/// Text is first cut around the added tokens (`<|endoftext|>`), which stand for themselves.
/// Each other stretch is cut into words by GPT-2's pattern (`ByteLevelPreTokenizer`), each word's
/// UTF-8 bytes are written as printable characters, and the word starts as one symbol per
/// byte. The pair of neighbouring symbols with the lowest merge rank is then merged everywhere
/// in the word, left to right, until no pair has a merge; the symbols' ids are the word's ids.
/// Words are cached, so repeated words cost one dictionary lookup.
public struct BytePairTokenizer: TextTokenizer {
  /// One more than the largest id, the vocabulary's and the added tokens'.
  public let vocabularySize: Int
  /// Ids by token, tokens written byte-level (a space is `Ġ`). No two such strings are
  /// canonically equivalent, so `String` keys keep every token apart.
  private let vocabulary: [String: Int]
  /// The id of the one-byte token of each byte, nil when the vocabulary lacks it.
  private let byteIDs: [Int?]
  /// Rank and merged id by the pair's ids (`left << 32 | right`).
  private let merges: [Int: (rank: Int, merged: Int)]
  /// Tokens by id, added tokens over the vocabulary's, nil for ids neither has.
  private let tokens: [String?]
  /// Added tokens matched on the raw text, then those matched on normalized text (the same
  /// text here, since byte-level BPE has no normalizer).
  private let rawAddedTokens: AddedTokenSplitter
  private let normalizedAddedTokens: AddedTokenSplitter
  private let options: Options
  private let cache = WordCache()

  /// Settings of the BPE model and the ByteLevel pre-tokenizer in a tokenizer.json.
  struct Options: Sendable {
    /// Put a space before text that does not start with one (`add_prefix_space`).
    var addPrefixSpace = false
    /// Take a word whole when the vocabulary has it, without merging (`ignore_merges`).
    var ignoreMerges = false
    /// The token of bytes without a one-byte token (`unk_token`); without one they are dropped.
    var unknownToken: String?
    /// Write consecutive unknown bytes as one unknown token (`fuse_unk`).
    var fuseUnknown = false
  }

  /// A tokenizer of `vocabulary` (tokens written byte-level, `Ġ` for a space) and `merges` in
  /// rank order, with `addedTokens` recognised whole in text.
  /// - Throws: `ShearsError` when ids are not 0 to count - 1 or a merge names a token not in the
  ///   vocabulary (see `init(tokenizerFile:)`).
  public init(vocabulary: [String: Int], merges: [(String, String)], addedTokens: [String: Int] = [:]) throws {
    try self.init(
      vocabulary: Array(vocabulary), merges: merges,
      addedTokens: addedTokens.map { AddedTokenSplitter.Token(content: $0.key, id: $0.value) },
      normalizedAddedTokens: [], options: Options(), vocabularySubject: "vocabulary", mergesSubject: "merges")
  }

  /// Checks and indexes a vocabulary and its merges; the subjects are the files errors name.
  init(
    vocabulary entries: [(key: String, value: Int)], merges mergeList: [(String, String)],
    addedTokens: [AddedTokenSplitter.Token], normalizedAddedTokens: [AddedTokenSplitter.Token], options: Options,
    vocabularySubject subject: String, mergesSubject: String
  ) throws {
    guard !entries.isEmpty else { throw ShearsError(subject, "vocabulary is empty") }
    var vocabulary: [String: Int] = [:]
    var tokens = [String?](repeating: nil, count: entries.count)
    for (token, id) in entries {
      guard id >= 0 && id < entries.count else {
        throw ShearsError(subject, "id \(id) of '\(token)' is not in 0..<\(entries.count)")
      }
      if let other = tokens[id] { throw ShearsError(subject, "id \(id) is both '\(other)' and '\(token)'") }
      tokens[id] = token
      vocabulary[token] = id
    }
    var merges: [Int: (rank: Int, merged: Int)] = [:]
    for (rank, (left, right)) in mergeList.enumerated() {
      func id(_ token: String) throws -> Int {
        guard let id = vocabulary[token] else {
          throw ShearsError(mergesSubject, "merge \(rank + 1): '\(token)' is not in the vocabulary")
        }
        return id
      }
      let (leftID, rightID, merged) = (try id(left), try id(right), try id(left + right))
      merges[leftID << 32 | rightID] = (rank, merged)  // a repeated pair keeps its later rank, as tokenizers does
    }
    if let unknown = options.unknownToken, vocabulary[unknown] == nil {
      throw ShearsError(subject, "unknown token '\(unknown)' is not in the vocabulary")
    }
    let added = addedTokens + normalizedAddedTokens
    // Added ids follow the vocabulary's; bounding them keeps a stray id from sizing the table.
    let idLimit = entries.count + added.count
    if let token = added.first(where: { $0.id < 0 || $0.id >= idLimit }) {
      throw ShearsError(subject, "id \(token.id) of added token '\(token.content)' is not in 0..<\(idLimit)")
    }
    let size = max(entries.count, (added.map(\.id).max() ?? -1) + 1)
    tokens += [String?](repeating: nil, count: size - tokens.count)
    for token in added { tokens[token.id] = token.content }

    self.vocabulary = vocabulary
    self.merges = merges
    self.tokens = tokens
    self.options = options
    vocabularySize = size
    byteIDs = ByteLevelPreTokenizer.byteScalars.map { vocabulary[String($0)] }
    rawAddedTokens = AddedTokenSplitter(addedTokens)
    self.normalizedAddedTokens = AddedTokenSplitter(normalizedAddedTokens)
  }

  // MARK: - Encoding and decoding

  /// The ids of `text`; no token is added at its start or end, as GPT-2's tokenizer adds none.
  /// - Complexity: O(n) for n scalars once words are cached; a new word of b bytes costs O(b²).
  public func encode(_ text: String) -> [Int] {
    var ids: [Int] = []
    for piece in normalizedAddedTokens.split(rawAddedTokens.split(text)) {
      switch piece {
      case .token(let id): ids.append(id)
      case .text(let text):
        var scalars = Array(text.unicodeScalars)
        if options.addPrefixSpace && scalars.first != " " { scalars.insert(" ", at: 0) }
        for range in ByteLevelPreTokenizer.wordRanges(scalars) {
          var bytes: [UInt8] = []
          for scalar in scalars[range] { UTF8.encode(scalar) { bytes.append($0) } }
          ids += cache.ids(of: bytes) { wordIDs($0) }
        }
      }
    }
    return ids
  }

  /// The text of `ids`: each token's characters turned back into bytes, read as UTF-8.
  ///
  /// Invalid UTF-8 (a character cut between tokens) becomes U+FFFD; ids no token has are
  /// skipped, and a token with characters outside the byte alphabet (an added token such as
  /// `東京`) is its own UTF-8, as tokenizers' ByteLevel decoder does.
  public func decode(_ ids: [Int]) -> String {
    var bytes: [UInt8] = []
    for id in ids {
      guard id >= 0 && id < tokens.count, let token = tokens[id] else { continue }
      let mapped = token.unicodeScalars.compactMap { ByteLevelPreTokenizer.scalarBytes[$0] }
      if mapped.count == token.unicodeScalars.count { bytes += mapped } else { bytes += token.utf8 }
    }
    return String(decoding: bytes, as: UTF8.self)
  }

  /// The ids of one word's UTF-8 bytes, merged by rank.
  private func wordIDs(_ bytes: [UInt8]) -> [Int] {
    if options.ignoreMerges {
      var word = ""
      word.unicodeScalars.append(contentsOf: bytes.map { ByteLevelPreTokenizer.byteScalars[Int($0)] })
      if let id = vocabulary[word] { return [id] }
    }
    let unknownID = options.unknownToken.flatMap { vocabulary[$0] }
    var symbols: [Int] = []
    var lastWasUnknown = false
    for byte in bytes {
      if let id = byteIDs[Int(byte)] {
        symbols.append(id)
        lastWasUnknown = false
      } else if let unknownID, !(options.fuseUnknown && lastWasUnknown) {
        symbols.append(unknownID)
        lastWasUnknown = true
      }
    }
    while symbols.count > 1 {
      var best: (pair: Int, rank: Int, merged: Int)?
      for index in 0..<symbols.count - 1 {
        let pair = symbols[index] << 32 | symbols[index + 1]
        if let merge = merges[pair], merge.rank < best?.rank ?? Int.max { best = (pair, merge.rank, merge.merged) }
      }
      guard let best else { break }
      var merged: [Int] = []
      var index = 0
      while index < symbols.count {
        if index + 1 < symbols.count && symbols[index] << 32 | symbols[index + 1] == best.pair {
          merged.append(best.merged)
          index += 2
        } else {
          merged.append(symbols[index])
          index += 1
        }
      }
      symbols = merged
    }
    return symbols
  }
}

/// Word ids already computed, shared by copies of a tokenizer and safe across threads.
private final class WordCache: Sendable {
  /// Words kept at most; later words are computed each time (tokenizers' default capacity).
  static let capacity = 10_000
  private let words = Mutex<[[UInt8]: [Int]]>([:])

  /// The cached ids of `word`, or `compute(word)` stored while there is room.
  func ids(of word: [UInt8], compute: ([UInt8]) -> [Int]) -> [Int] {
    if let ids = words.withLock({ $0[word] }) { return ids }
    let ids = compute(word)
    words.withLock { words in
      if words.count < Self.capacity { words[word] = ids }
    }
    return ids
  }
}
