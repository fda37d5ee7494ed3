/// Turns text into the token ids a language model's embedding table is indexed by.
///
/// `WordPieceTokenizer` (BERT) and `BytePairTokenizer` (GPT-2) give the ids HuggingFace's
/// tokenizers give for the same vocabulary files.
public protocol TextTokenizer: Sendable {
  /// The token ids of `text`, with the special tokens the model's inputs start or end with.
  func encode(_ text: String) -> [Int]

  /// One more than the largest id `encode` can return: the row count of the embedding table.
  var vocabularySize: Int { get }
}
