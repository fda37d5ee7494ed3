import Foundation

/// Reading a byte-level BPE tokenizer from HuggingFace's files.
extension BytePairTokenizer {
  /// Reads a HuggingFace `tokenizer.json` of a byte-level BPE model (GPT-2's, or one trained with
  /// `ByteLevelBPETokenizer`).
  ///
  /// The model must be `BPE` with `vocab` a map from token to id and `merges` in rank order,
  /// each `"a b"` or `["a", "b"]` (tokenizers writes the second form since 0.20). The
  /// pre-tokenizer must be `ByteLevel` (its `add_prefix_space` honoured), the normalizer null and
  /// the post-processor null or `ByteLevel`: anything else would change the ids, so it is refused
  /// rather than ignored. `added_tokens` are recognised whole in text with their `single_word`,
  /// `lstrip` and `rstrip` settings.
  /// - Throws: `ShearsError` naming the file: it cannot be read, is not JSON, has another model
  ///   or pre-tokenizer, ids not 0 to count - 1, or a merge of tokens not in the vocabulary.
  public init(tokenizerFile: URL) throws {
    let path = tokenizerFile.path
    let json = try JSONValue(parsing: readRegularFile(at: path), subject: path, document: "file")
    let file = JSONFields(json, path: path, name: "file")
    let model = try file.object("model")
    if let type = try model.optionalString("type"), type != "BPE" {
      throw ShearsError(path, "model type '\(type)' is not BPE")
    }
    for name in ["continuing_subword_prefix", "end_of_word_suffix"] {
      if let value = try model.optionalString(name), !value.isEmpty {
        throw ShearsError(path, "model.\(name) is not supported")
      }
    }
    if try model.optionalBool("byte_fallback") == true {
      throw ShearsError(path, "model.byte_fallback is not supported")
    }
    if case .number(let text)? = model["dropout"], (Double(text) ?? 1) > 0 {
      throw ShearsError(path, "model.dropout is not supported")
    }
    try Self.requireByteLevel(file, path: path)

    var options = Options()
    options.ignoreMerges = try model.optionalBool("ignore_merges") ?? false
    options.fuseUnknown = try model.optionalBool("fuse_unk") ?? false
    options.unknownToken = try model.optionalString("unk_token")
    if case .object? = file["pre_tokenizer"] {
      options.addPrefixSpace = try file.object("pre_tokenizer").optionalBool("add_prefix_space") ?? false
    }
    let vocabulary = try Self.vocabulary(model.object("vocab"))
    guard case .array(let mergeValues)? = model["merges"] else { throw ShearsError(path, "model.merges is not a list") }
    let merges = try mergeValues.enumerated().map { index, value -> (String, String) in
      switch value {
      case .string(let text): return try Self.merge(text, number: index + 1, subject: path)
      case .array(let pair):
        guard pair.count == 2, case .string(let left) = pair[0], case .string(let right) = pair[1] else {
          throw ShearsError(path, "merge \(index + 1) is not two tokens")
        }
        return (left, right)
      default: throw ShearsError(path, "merge \(index + 1) is not two tokens")
      }
    }
    var raw: [AddedTokenSplitter.Token] = []
    var normalized: [AddedTokenSplitter.Token] = []
    if let added = file["added_tokens"] {
      guard case .array(let values) = added else { throw ShearsError(path, "added_tokens is not a list") }
      for value in values {
        let entry = JSONFields(value, path: path, name: "added token")
        guard let id = entry["id"]?.integer, let content = try entry.optionalString("content") else {
          throw ShearsError(path, "added token without an integer id and a content")
        }
        var token = AddedTokenSplitter.Token(content: content, id: id)
        token.singleWord = try entry.optionalBool("single_word") ?? false
        token.stripsLeft = try entry.optionalBool("lstrip") ?? false
        token.stripsRight = try entry.optionalBool("rstrip") ?? false
        // tokenizers matches `normalized` tokens after the (here absent) normalizer, in a second pass.
        if try entry.optionalBool("normalized") ?? true { normalized.append(token) } else { raw.append(token) }
      }
    }
    try self.init(
      vocabulary: vocabulary, merges: merges, addedTokens: raw, normalizedAddedTokens: normalized, options: options,
      vocabularySubject: path, mergesSubject: path)
  }

  /// Reads GPT-2's `vocab.json` (token to id) and `merges.txt` (one `a b` pair a line, rank
  /// order, after an optional `#version` line), as `GPT2Tokenizer(vocab_file, merges_file)` does.
  /// - Parameters:
  ///   - specialTokens: tokens of the vocabulary recognised whole in text; `transformers`'
  ///     `GPT2Tokenizer` recognises `<|endoftext|>`, `ByteLevelBPETokenizer.from_file` none.
  /// - Throws: `ShearsError` naming the file at fault: unreadable, not JSON, ids not 0 to
  ///   count - 1, a line of `merges.txt` that is not two tokens or names one not in the
  ///   vocabulary, or a special token not in the vocabulary.
  public init(vocabularyFile: URL, mergesFile: URL, specialTokens: [String] = []) throws {
    let vocabularyPath = vocabularyFile.path
    let json = try JSONValue(parsing: readRegularFile(at: vocabularyPath), subject: vocabularyPath, document: "file")
    let vocabulary = try Self.vocabulary(JSONFields(json, path: vocabularyPath, name: "file"))
    let mergesPath = mergesFile.path
    guard let text = String(validating: try readRegularFile(at: mergesPath), as: UTF8.self) else {
      throw ShearsError(mergesPath, "is not valid UTF-8")
    }
    var merges: [(String, String)] = []
    // Split on scalars: as a Character, "\r\n" is not "\n".
    for (index, scalars) in text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
      let line = String(scalars.last == "\r" ? scalars.dropLast() : scalars[...])
      if line.isEmpty || (index == 0 && line.hasPrefix("#version")) { continue }
      merges.append(try Self.merge(line, number: index + 1, subject: mergesPath))
    }
    let ids = Dictionary(vocabulary, uniquingKeysWith: { _, last in last })
    let added = try specialTokens.map { token in
      guard let id = ids[token] else { throw ShearsError(vocabularyPath, "no special token '\(token)'") }
      return AddedTokenSplitter.Token(content: token, id: id)
    }
    try self.init(
      vocabulary: vocabulary, merges: merges, addedTokens: [], normalizedAddedTokens: added, options: Options(),
      vocabularySubject: vocabularyPath, mergesSubject: mergesPath)
  }

  /// The entries of a `vocab` object, each id an integer.
  private static func vocabulary(_ object: JSONFields) throws -> [(key: String, value: Int)] {
    guard case .object(let members) = object.value else {
      throw ShearsError(object.path, "\(object.name) is not an object")
    }
    return try members.map { member in
      guard let id = member.value.integer else {
        throw ShearsError(object.path, "id of '\(member.key)' is not an integer")
      }
      return (member.key, id)
    }
  }

  /// A merge written `a b`: two tokens around one space.
  private static func merge(_ text: String, number: Int, subject: String) throws -> (String, String) {
    let parts = text.split(separator: " ", omittingEmptySubsequences: false)
    guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
      throw ShearsError(subject, "merge \(number) is not two tokens")
    }
    return (String(parts[0]), String(parts[1]))
  }

  /// Refuses a normalizer, pre-tokenizer or post-processor that would give other ids.
  private static func requireByteLevel(_ file: JSONFields, path: String) throws {
    if let normalizer = file["normalizer"], !normalizer.isNull {
      throw ShearsError(path, "normalizer '\(componentType(normalizer))' is not supported")
    }
    guard let preTokenizer = file["pre_tokenizer"], componentType(preTokenizer) == "ByteLevel" else {
      throw ShearsError(path, "pre_tokenizer is not ByteLevel")
    }
    if case .bool(false)? = JSONFields(preTokenizer, path: path, name: "pre_tokenizer")["use_regex"] {
      throw ShearsError(path, "pre_tokenizer.use_regex false is not supported")
    }
    if let processor = file["post_processor"], !processor.isNull, componentType(processor) != "ByteLevel" {
      throw ShearsError(path, "post_processor '\(componentType(processor))' is not supported")
    }
  }

  /// The `type` member of a tokenizer.json component, or its JSON text.
  private static func componentType(_ value: JSONValue) -> String {
    if case .string(let type)? = JSONFields(value, path: "", name: "")["type"] { return type }
    return value.text
  }
}

extension JSONValue {
  fileprivate var isNull: Bool { if case .null = self { true } else { false } }
}

/// Members of a JSON object read with errors that name the file and the object.
private struct JSONFields {
  let value: JSONValue
  let path: String
  let name: String

  init(_ value: JSONValue, path: String, name: String) {
    self.value = value
    self.path = path
    self.name = name
  }

  /// The member `key`, nil when absent or when `value` is not an object.
  subscript(key: String) -> JSONValue? {
    guard case .object(let members) = value else { return nil }
    return members.first { $0.key == key }?.value
  }

  func object(_ key: String) throws -> JSONFields {
    guard case .object? = self[key] else { throw ShearsError(path, "\(qualified(key)) is not an object") }
    return JSONFields(self[key] ?? .null, path: path, name: qualified(key))
  }

  /// A string member; nil when absent or null.
  func optionalString(_ key: String) throws -> String? {
    switch self[key] {
    case nil, .null?: return nil
    case .string(let string)?: return string
    default: throw ShearsError(path, "\(qualified(key)) is not a string")
    }
  }

  /// A boolean member; nil when absent or null.
  func optionalBool(_ key: String) throws -> Bool? {
    switch self[key] {
    case nil, .null?: return nil
    case .bool(let flag)?: return flag
    default: throw ShearsError(path, "\(qualified(key)) is not true or false")
    }
  }

  private func qualified(_ key: String) -> String { name == "file" ? key : "\(name).\(key)" }
}
