import Foundation
import PruneEngine
import Testing

/// Running `Tests/Interop/tokenizers.py` (the HuggingFace side of the tokenizer interop tests).
enum TokenizerInterop {
  static let script = PythonInterop.repository.appendingPathComponent("Tests/Interop/tokenizers.py").path

  /// Whether `python3 -c "import tokenizers, transformers"` succeeds (checked once).
  static let isAvailable: Bool = (try? PythonInterop.python(["-c", "import tokenizers, transformers"]).status) == 0

  /// Runs `tokenizers.py COMMAND FOLDER TEXTS` with `texts` written to a file; returns its JSON object.
  static func run(_ command: String, in folder: TemporaryFolder, texts: [String]) throws -> [String: Any] {
    let textsPath = folder.path("texts.json")
    try JSONSerialization.data(withJSONObject: texts).write(to: URL(fileURLWithPath: textsPath))
    let result = try PythonInterop.python([script, command, folder.path, textsPath])
    guard result.status == 0 else {
      throw PythonInterop.Failure(description: "tokenizers.py \(command) exited \(result.status):\n\(result.stderr)")
    }
    let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8))
    guard let json = object as? [String: Any] else {
      throw PythonInterop.Failure(description: "not a JSON object: \(result.stdout)")
    }
    return json
  }
}

/// Shears' tokenizers give HuggingFace's ids: a BERT WordPiece vocabulary and a GPT-2 byte-level
/// BPE trained by the `tokenizers` package on the spot, read from the files it saves, on texts
/// with punctuation, accents, scripts without spaces, emoji, odd whitespace and special tokens.
@Suite(
  .enabled(
    if: TokenizerInterop.isAvailable,
    "needs python3 with tokenizers and transformers (pip install tokenizers transformers)"))
struct TokenizerInteropTests {
  static let texts = [
    "Héllo, wörld! Naïve café-goers' résumés... 東京 & 100$ — ok?\n  Tabs\tand  spaces",
    "I'm sure they'll've DONE it: \"quotes\", (parens) [brackets] {braces} #hash @at ~tilde `tick`",
    "  leading and trailing spaces   ",
    "<|endoftext|>Second document<|endoftext|> after <mask> masked <mask>end",
    "ΟΔΟΣ İstanbul ǅ ﬁ Straße x\u{200B}y \u{A0}nbsp\u{3000}ideographic\u{2028}line \u{0B}\u{85}\u{1C}",
    "日本語のテキスト、한국어 텍스트 and emoji 😀🥰 👩‍👩‍👧 numbers ١٢٣ ½ ² 3.14e-10",
    "[CLS] is [MASK]ed [SEP] [UNK] [PAD] [cls]",
    String(repeating: "supercalifragilisticexpialidocious", count: 3) + "!!",
    "'s 't 're 've 'm 'll 'd 'S 'x ''s  's\n\n\nnewlines\r\nwindows",
    "",
    "e\u{301} vs é, A\u{30A} vs Å, ﬀ",
  ]

  let folder: TemporaryFolder

  init() throws {
    folder = try TemporaryFolder(prefix: "shears-tokenizers")
  }

  @Test func wordPieceIDsMatchBertTokenizer() throws {
    let python = try TokenizerInterop.run("wordpiece", in: folder, texts: Self.texts)
    let vocabulary = try #require(python["vocab"] as? String)
    let tokenizer = try WordPieceTokenizer(vocabularyFile: URL(fileURLWithPath: vocabulary))
    let ours = Self.texts.map { tokenizer.encode($0) }
    // BertTokenizerLegacy (pure Python) exists from transformers 5 on.
    for source in ["transformers", "tokenizers", "legacy"] {
      guard let theirs = python[source] as? [[Int]] else {
        #expect(source == "legacy", "no ids from \(source)")
        continue
      }
      for (index, text) in Self.texts.enumerated() {
        #expect(ours[index] == theirs[index], "\(source) on \(text.debugDescription)")
      }
    }
    // A word of 102 letters is [UNK] (id 1 in a trained vocabulary) whatever its pieces.
    #expect(ours[7].count == 5 && ours[7][1] == 1, "\(ours[7])")
  }

  @Test func bytePairIDsMatchTokenizersAndGPT2Tokenizer() throws {
    let python = try TokenizerInterop.run("bpe", in: folder, texts: Self.texts)
    func url(_ key: String) throws -> URL { URL(fileURLWithPath: try #require(python[key] as? String)) }
    func ids(_ key: String) throws -> [[Int]] { try #require(python[key] as? [[Int]], "\(key)") }
    let tokenizer = try BytePairTokenizer(tokenizerFile: url("tokenizer"))
    let prefixSpace = try BytePairTokenizer(tokenizerFile: url("prefix_space"))
    let gpt2 = try BytePairTokenizer(
      vocabularyFile: url("vocab"), mergesFile: url("merges"), specialTokens: ["<|endoftext|>"])
    let plain = try BytePairTokenizer(vocabularyFile: url("vocab"), mergesFile: url("merges"))
    let cases: [(String, BytePairTokenizer)] = [
      ("tokenizers", tokenizer), ("tokenizers_prefix_space", prefixSpace), ("transformers", gpt2),
      ("vocab_merges", plain),
    ]
    for (key, ours) in cases {
      let theirs = try ids(key)
      for (index, text) in Self.texts.enumerated() {
        #expect(ours.encode(text) == theirs[index], "\(key) on \(text.debugDescription)")
      }
    }
    let decoded = try #require(python["decoded"] as? [String])
    let truncated = try #require(python["decoded_truncated"] as? [String])
    for (index, ids) in try ids("tokenizers").enumerated() {
      #expect(tokenizer.decode(ids) == decoded[index], "decoding \(Self.texts[index].debugDescription)")
      #expect(tokenizer.decode(Array(ids.dropLast())) == truncated[index], "decoding all but the last id")
    }
    #expect(decoded[0] == Self.texts[0], "byte-level BPE decodes to the text itself")
    #expect(tokenizer.vocabularySize == python["vocabulary_size"] as? Int)
  }
}
