import Foundation
import Testing

@testable import PruneEngine

// MARK: - Fixtures

/// A fresh empty folder for tokenizer files, removed when the value is released.
private final class TokenizerFolder {
  let url = FileManager.default.temporaryDirectory.appendingPathComponent("shears-tokenizer-\(UUID().uuidString)")

  init() throws { try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true) }
  deinit { try? FileManager.default.removeItem(at: url) }

  /// Writes `bytes` to `name` in the folder and returns its URL.
  func write(_ name: String, _ bytes: [UInt8]) throws -> URL {
    let file = url.appendingPathComponent(name)
    try Data(bytes).write(to: file)
    return file
  }

  func write(_ name: String, _ text: String) throws -> URL { try write(name, Array(text.utf8)) }
}

/// The ShearsError `body` throws (or nil).
private func shearsError(_ body: () throws -> Any) -> ShearsError? {
  do {
    _ = try body()
    return nil
  } catch {
    return error as? ShearsError
  }
}

/// A BERT vocabulary: specials first, then word pieces; comments give the ids.
private let bertVocabulary = [
  "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",  // 0-4
  "un", "##aff", "##able", "hello", ",",  // 5-9
  "world", "!", "cafe", "東", "京",  // 10-14
  "##s", "a", "##b", "Hello", "héllo",  // 15-19
]

/// A byte-level vocabulary (`Ġ` is a space, `Ã` `©` the bytes of é) and its merges in rank order.
private let bpeVocabulary: [String: Int] = [
  "a": 0, "b": 1, "c": 2, "Ġ": 3, "ab": 4, "abc": 5, "Ġa": 6, "Ã": 7, "©": 8, "Ã©": 9, "'": 10, "m": 11, "'m": 12,
]
private let bpeMerges = [("a", "b"), ("ab", "c"), ("Ġ", "a"), ("Ã", "©"), ("'", "m")]

/// The words GPT-2's pattern cuts `text` into.
private func gpt2Words(_ text: String) -> [String] {
  let scalars = Array(text.unicodeScalars)
  return ByteLevelPreTokenizer.wordRanges(scalars).map { range in
    var word = ""
    word.unicodeScalars.append(contentsOf: scalars[range])
    return word
  }
}

// MARK: - WordPiece

@Suite struct WordPieceTokenizerTests {
  let tokenizer: WordPieceTokenizer

  init() throws { tokenizer = try WordPieceTokenizer(vocabulary: bertVocabulary) }

  @Test func splitsWordsIntoLongestPiecesBetweenClassAndSeparator() {
    #expect(tokenizer.encode("UnAffable") == [2, 5, 6, 7, 3])
    #expect(tokenizer.encode("UnAffable", addSpecialTokens: false) == [5, 6, 7])
    #expect(tokenizer.encode("") == [2, 3])
    #expect(tokenizer.vocabularySize == 20)
  }

  @Test func basicTokenizerLowercasesStripsAccentsAndSplitsPunctuation() {
    // "Héllo" lower-cases and loses its accent: "hello", not the vocabulary's "héllo".
    #expect(tokenizer.encode("Héllo, WORLD!", addSpecialTokens: false) == [8, 9, 10, 11])
    #expect(tokenizer.encode("Cafés", addSpecialTokens: false) == [12, 15])
    #expect(tokenizer.encode("He\u{0301}llo", addSpecialTokens: false) == [8])
    // Ideographs are words of their own; a word with no first piece is [UNK] as a whole.
    #expect(tokenizer.encode("x東京y", addSpecialTokens: false) == [1, 13, 14, 1])
    #expect(tokenizer.encode("unknown", addSpecialTokens: false) == [1])
    // Zero-width space, NUL and U+FFFD vanish; tab, newline and no-break space separate words.
    #expect(tokenizer.encode("hel\u{200B}lo\u{0}\u{FFFD}", addSpecialTokens: false) == [8])
    #expect(tokenizer.encode("hello\tworld\u{A0}hello\nworld", addSpecialTokens: false) == [8, 10, 8, 10])
    #expect(
      tokenizer.words("a-b$c\u{2014}d") == ["a", "-", "b", "$", "c", "\u{2014}", "d"].map { Array($0.unicodeScalars) })
  }

  @Test func wordsOfMoreThanOneHundredScalarsAreUnknown() {
    let longest = "a" + String(repeating: "b", count: 99)
    #expect(tokenizer.encode(longest, addSpecialTokens: false) == [16] + Array(repeating: 17, count: 99))
    #expect(tokenizer.encode(longest + "b", addSpecialTokens: false) == [1])
  }

  @Test func specialTokensInTextStandForThemselves() {
    #expect(tokenizer.encode("[MASK] hello[SEP]") == [2, 4, 8, 3, 3])
    // Matched before lower-casing, as tokenizers matches them: "[mask]" is ordinary text.
    #expect(tokenizer.encode("[mask]", addSpecialTokens: false) == [1, 1, 1])
  }

  @Test func casedTokenizerKeepsCaseAndAccents() throws {
    let cased = try WordPieceTokenizer(vocabulary: bertVocabulary, lowercase: false)
    #expect(cased.encode("Hello héllo hello", addSpecialTokens: false) == [18, 19, 8])
  }

  @Test func vocabularyFileLinesAreIDsAndALaterDuplicateWins() throws {
    let folder = try TokenizerFolder()
    let file = try folder.write("vocab.txt", "[UNK]\r\n[CLS]\n[SEP]\rx\nx\n")
    let tokenizer = try WordPieceTokenizer(vocabularyFile: file)
    #expect(tokenizer.encode("x") == [1, 4, 2])
    #expect(tokenizer.vocabularySize == 5)
  }

  @Test func unusableVocabularyFilesGiveOneLineErrors() throws {
    let folder = try TokenizerFolder()
    let missing = folder.url.appendingPathComponent("missing.txt")
    let cases: [(URL, String)] = [
      (missing, "\(missing.path): cannot open: No such file or directory"),
      (try folder.write("empty.txt", ""), "vocabulary is empty"),
      (try folder.write("no-unk.txt", "[CLS]\n[SEP]\nhello\n"), "vocabulary has no [UNK] token"),
      (try folder.write("no-sep.txt", "[UNK]\n[CLS]\n"), "vocabulary has no [SEP] token"),
      (try folder.write("latin1.txt", [0x5B, 0x55, 0x4E, 0x4B, 0x5D, 0x0A, 0xE9, 0x0A]), "is not valid UTF-8"),
    ]
    for (file, problem) in cases {
      let error = shearsError { try WordPieceTokenizer(vocabularyFile: file) }
      #expect(error?.subject == file.path)
      #expect(error?.description.hasSuffix(problem) == true, "\(String(describing: error))")
      #expect(error?.description.contains("\n") == false)
    }
  }
}

// MARK: - Byte-level BPE

@Suite struct BytePairTokenizerTests {
  let tokenizer: BytePairTokenizer

  init() throws {
    tokenizer = try BytePairTokenizer(
      vocabulary: bpeVocabulary, merges: bpeMerges, addedTokens: ["<|endoftext|>": 13])
  }

  @Test func gpt2PatternCutsContractionsRunsAndWhitespace() {
    #expect(gpt2Words("Hello world") == ["Hello", " world"])
    #expect(gpt2Words("I'm  ok\n") == ["I", "'m", " ", " ok", "\n"])
    #expect(gpt2Words("they'll've 'S ''s") == ["they", "'ll", "'ve", " '", "S", " ''", "s"])
    #expect(gpt2Words("100$ \u{2014} ok?") == ["100", "$", " \u{2014}", " ok", "?"])
    #expect(gpt2Words("x   ") == ["x", "   "])
    #expect(gpt2Words(" \tx\u{3000}y") == [" ", "\t", "x", "\u{3000}", "y"])
    #expect(gpt2Words("½² café") == ["½²", " café"])
  }

  @Test func bytesToUnicodeMapsEveryByteToOneCharacter() {
    let scalars = ByteLevelPreTokenizer.byteScalars
    #expect(Set(scalars).count == 256)
    #expect(scalars[Int(UInt8(ascii: "!"))] == "!" && scalars[0x20] == "Ġ" && scalars[0x0A] == "Ċ")
    #expect(scalars[0] == "\u{100}" && scalars[0xAD] == "\u{143}" && scalars[0xE9] == "é")
  }

  @Test func mergesApplyLowestRankFirst() {
    #expect(tokenizer.encode("abc") == [5])
    #expect(tokenizer.encode("abab") == [4, 4])
    // " abc": (a, b) has rank 0, before (Ġ, a) at rank 2, so the space stays alone.
    #expect(tokenizer.encode("ab abc") == [4, 3, 5])
    #expect(tokenizer.encode(" a") == [6])
    #expect(tokenizer.encode("a'm") == [0, 12])
    #expect(tokenizer.encode("é") == [9])
    // No one-byte token for "d" and no unknown token: the byte is dropped, as tokenizers drops
    // it, and its neighbours merge.
    #expect(tokenizer.encode("adb") == [4])
    #expect(tokenizer.vocabularySize == 14)
  }

  @Test func addedTokensAreFoundWhole() {
    #expect(tokenizer.encode("ab<|endoftext|>c") == [4, 13, 2])
    // A cut-off token is ordinary text, whose bytes this vocabulary lacks.
    #expect(tokenizer.encode("c<|endoftext|><|endoftext") == [2, 13])
  }

  @Test func decodeInvertsBytesAndReplacesInvalidUTF8() {
    #expect(tokenizer.decode([4, 3, 5, 13, 9]) == "ab abc<|endoftext|>é")
    #expect(tokenizer.decode([7]) == "\u{FFFD}")
    #expect(tokenizer.decode([0, 99, -1, 1]) == "ab")
  }

  @Test func concurrentEncodingSharesTheWordCache() async {
    let tokenizer = tokenizer
    let results = await withTaskGroup(of: [Int].self) { group in
      for _ in 0..<8 { group.addTask { tokenizer.encode("abc ab abc abab") } }
      return await group.reduce(into: []) { $0.append($1) }
    }
    #expect(results.allSatisfy { $0 == [5, 3, 4, 3, 5, 3, 4, 4] })
  }
}

// MARK: - Byte-level BPE files

/// `<|endoftext|>` as `ByteLevelBPETokenizer` lists it in `added_tokens`.
private let endOfTextEntry = """
  [{"id":13,"content":"<|endoftext|>","single_word":false,"lstrip":false,"rstrip":false,
  "normalized":true,"special":true}]
  """

/// A tokenizer.json of `bpeVocabulary`; `merges`, `model` (the model's members before `vocab`)
/// and `addedTokens` are JSON text.
private func tokenizerJSON(
  merges: String = #"[["a","b"],["ab","c"],["Ġ","a"],["Ã","©"],["'","m"]]"#, addPrefixSpace: Bool = false,
  model: String = #""type":"BPE","dropout":null,"unk_token":null,"fuse_unk":false"#,
  addedTokens: String = endOfTextEntry
) -> String {
  let vocabulary = bpeVocabulary.sorted { $0.value < $1.value }.map { "\"\($0.key)\":\($0.value)" }
  return """
    {"version":"1.0","added_tokens":\(addedTokens),"normalizer":null,
    "pre_tokenizer":{"type":"ByteLevel","add_prefix_space":\(addPrefixSpace),"trim_offsets":true,"use_regex":true},
    "post_processor":{"type":"ByteLevel"},"decoder":{"type":"ByteLevel"},
    "model":{\(model),"vocab":{\(vocabulary.joined(separator: ","))},"merges":\(merges)}}
    """
}

@Suite struct BytePairFileTests {
  private let folder: TokenizerFolder

  init() throws { folder = try TokenizerFolder() }

  @Test func tokenizerJSONReadsBothMergeFormsAndThePrefixSpace() throws {
    let pairs = try BytePairTokenizer(tokenizerFile: folder.write("pairs.json", tokenizerJSON()))
    let strings = try BytePairTokenizer(
      tokenizerFile: folder.write(
        "strings.json", tokenizerJSON(merges: #"["a b","ab c","Ġ a","Ã ©","' m"]"#, addPrefixSpace: true)))
    #expect(pairs.encode("abc<|endoftext|>ab") == [5, 13, 4])
    // With add_prefix_space each stretch between added tokens gains a leading space.
    #expect(strings.encode("abc<|endoftext|>ab") == [3, 5, 13, 3, 4])
    #expect(strings.encode(" abc") == [3, 5])
    #expect(pairs.vocabularySize == 14)
  }

  @Test func addedTokensStripAndMatchSingleWords() throws {
    let added = #"""
      [{"id":13,"content":"<mask>","single_word":false,"lstrip":true,"rstrip":false,"normalized":false,"special":true},
       {"id":14,"content":"ab","single_word":true,"lstrip":false,"rstrip":true,"normalized":true,"special":false}]
      """#
    let tokenizer = try BytePairTokenizer(tokenizerFile: folder.write("added.json", tokenizerJSON(addedTokens: added)))
    // "<mask>" takes the spaces before it; "ab" only counts alone and takes the spaces after it.
    #expect(tokenizer.encode("c  <mask>c") == [2, 13, 2])
    #expect(tokenizer.encode("ab  c abc") == [14, 2, 3, 5])
    #expect(tokenizer.decode([14, 13]) == "ab<mask>")
    #expect(tokenizer.vocabularySize == 15)
  }

  @Test func vocabularyAndMergesFilesMatchTheTokenizerJSON() throws {
    let vocabulary = bpeVocabulary.map { "\"\($0.key)\": \($0.value)" }.joined(separator: ", ")
    let vocabularyFile = try folder.write("vocab.json", "{\(vocabulary), \"<|endoftext|>\": 13}")
    let mergesFile = try folder.write("merges.txt", "#version: 0.2\na b\r\nab c\nĠ a\nÃ ©\n' m\n")
    let plain = try BytePairTokenizer(vocabularyFile: vocabularyFile, mergesFile: mergesFile)
    let gpt2 = try BytePairTokenizer(
      vocabularyFile: vocabularyFile, mergesFile: mergesFile, specialTokens: ["<|endoftext|>"])
    #expect(gpt2.encode("ab abc<|endoftext|>é") == [4, 3, 5, 13, 9])
    #expect(plain.encode("ab abc<|endoftext|>é") == [4, 3, 5, 9])
  }

  @Test func malformedFilesGiveOneLineErrors() throws {
    let cases: [(String, String, String)] = [
      ("truncated.json", String(tokenizerJSON().dropLast(9)), "file is not valid JSON: unterminated string at byte"),
      ("unknown-merge.json", tokenizerJSON(merges: #"[["a","b"],["a","q"]]"#), "merge 2: 'q' is not in the vocabulary"),
      ("unmerged.json", tokenizerJSON(merges: #"[["b","a"]]"#), "merge 1: 'ba' is not in the vocabulary"),
      ("three.json", tokenizerJSON(merges: #"["a b c"]"#), "merge 1 is not two tokens"),
      ("wordpiece.json", tokenizerJSON(model: #""type":"WordPiece""#), "model type 'WordPiece' is not BPE"),
      ("unk.json", tokenizerJSON(model: #""unk_token":"<unk>""#), "unknown token '<unk>' is not in the vocabulary"),
      (
        "gap.json", tokenizerJSON().replacingOccurrences(of: #""'m":12"#, with: #""'m":40"#),
        "id 40 of ''m' is not in 0..<13"
      ),
      (
        "twice.json", tokenizerJSON().replacingOccurrences(of: #""'m":12"#, with: #""'m":11"#),
        "id 11 is both 'm' and ''m'"
      ),
      (
        "added-id.json", tokenizerJSON(addedTokens: #"[{"id":1000000000000,"content":"<x>"}]"#),
        "id 1000000000000 of added token '<x>' is not in 0..<14"
      ),
      (
        "metaspace.json",
        tokenizerJSON().replacingOccurrences(of: #""type":"ByteLevel","add"#, with: #""type":"Metaspace","add"#),
        "pre_tokenizer is not ByteLevel"
      ),
    ]
    for (name, text, problem) in cases {
      let file = try folder.write(name, text)
      let error = shearsError { try BytePairTokenizer(tokenizerFile: file) }
      #expect(error?.subject == file.path, "\(name)")
      #expect(error?.problem.hasPrefix(problem) == true, "\(name): \(String(describing: error))")
      #expect(error?.description.contains("\n") == false)
    }
    let vocabularyFile = try folder.write("vocab.json", #"{"a": 0, "b": 1, "ab": 2}"#)
    let mergesFile = try folder.write("merges.txt", "#version: 0.2\na b\nab\n")
    let error = shearsError { try BytePairTokenizer(vocabularyFile: vocabularyFile, mergesFile: mergesFile) }
    #expect(error == ShearsError(mergesFile.path, "merge 3 is not two tokens"))
    let badID = try folder.write("bad-id.json", #"{"a": 0, "b": "1"}"#)
    #expect(
      shearsError { try BytePairTokenizer(vocabularyFile: badID, mergesFile: mergesFile) }
        == ShearsError(badID.path, "id of 'b' is not an integer"))
  }
}
