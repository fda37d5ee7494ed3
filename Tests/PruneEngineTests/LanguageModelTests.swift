import Foundation
import Testing
@testable import PruneEngine

/// Text as a language model reads it: the UTF-8 check, the training/validation split, training
/// on token windows, and the windowed evaluation that predicts every token once.
struct LanguageModelTests {
  private func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

  @Test func validationStartsAfterTheFirstLineBreakPastNinetyPercent() {
    // 20 bytes: the 90% mark is offset 18; the line break at 18 starts validation at 19.
    let text = bytes("aaaaaaaaa\nbbbbbbbb\nc")
    #expect(TextCorpus.validationStart(text) == 19)
    // No line break after the mark: the split is the mark itself.
    #expect(TextCorpus.validationStart(bytes("aaaaaaaaa\nbbbbbbbbbc")) == 18)
  }

  @Test(arguments: [
    ([0x61, 0xC3, 0xA9, 0x62], nil),  // "aéb"
    ([0x61, 0xFF], 1),  // a byte no UTF-8 sequence starts with
    ([0x61, 0xC0, 0xAF], 1),  // an overlong "/"
    ([0x61, 0xE0, 0x80, 0xAF], 2),  // an overlong three-byte form
    ([0xED, 0xA0, 0x80], 1),  // a surrogate
    ([0xF4, 0x90, 0x80, 0x80], 1),  // above U+10FFFF
    ([0x61, 0x62, 0xE2, 0x82], 4),  // cut short at the end
    ([0xE2, 0x28, 0xA1], 1),  // a continuation byte missing
  ] as [([UInt8], Int?)])
  func theFirstInvalidUTF8ByteIsFound(bytes: [UInt8], offset: Int?) {
    #expect(TextCorpus.firstInvalidUTF8(bytes) == offset)
  }

  @Test func badTextFilesAreRefusedWithTheOffset() throws {
    try withTemporaryFolder { folder in
      let path = folder + "/bad.txt"
      try Data([0x68, 0x69, 0x0A, 0x80, 0x0A]).write(to: URL(fileURLWithPath: path))
      #expect(throws: ShearsError(path, "not UTF-8 text: invalid byte 0x80 at offset 3")) {
        try TextCorpus.load(path: path)
      }
      let short = folder + "/short.txt"
      try Data("abc".utf8).write(to: URL(fileURLWithPath: short))
      #expect(throws: ShearsError(short, "has 3 bytes, too few to split into training and validation text")) {
        try TextCorpus.load(path: short)
      }
    }
  }

  static let shape = GPT.Shape(layers: 1, heads: 2, width: 16, context: 8)

  /// A text whose next byte follows from the one before (a cycle of five letters), so a model
  /// that learns does far better than the unigram entropy (ln 5 nats).
  static let periodicTokens: [Int32] = (0..<1200).map { Int32(Array("abcde".utf8)[$0 % 5]) }

  @Test func aTinyGPTLearnsAPredictableText() throws {
    var generator = SeededGenerator(seed: 1)
    let model = Model(architecture: Architecture(gpt: Self.shape), generator: &generator)
    let tokens = Self.periodicTokens
    let before = LanguageModelEvaluator(model: model, threads: 1).evaluate(tokens)
    let report = try Trainer.train(
      model, on: TokenWindows(tokens: tokens, context: 8),
      options: TrainingOptions(epochs: 8, batchSize: 8, optimizer: .adam(learningRate: 1e-2), threads: 1))
    let after = LanguageModelEvaluator(model: report.model, threads: 1).evaluate(tokens)
    #expect(before.loss > log(5.0))
    #expect(after.loss < 0.2 * log(5.0), "loss \(after.loss) nats per token")
    #expect(after.tokens == tokens.count - 1)
    #expect(report.finalLoss < before.loss)
  }

  /// Windows of 8 overlap by one token: each token but the first is scored once, with as many
  /// earlier tokens as the window holds, exactly as a direct pass over that window scores it.
  @Test func windowedEvaluationScoresEveryTokenOnce() {
    var generator = SeededGenerator(seed: 2)
    let model = Model(architecture: Architecture(gpt: Self.shape), generator: &generator)
    let tokens: [Int32] = (0..<30).map { Int32(($0 * 7 + 3) % 256) }
    let evaluation = LanguageModelEvaluator(model: model, threads: 1, windowsPerPass: 3).evaluate(tokens)
    #expect(evaluation.tokens == 29)
    // The same windows one pass at a time: starts 0, 7, 14, 21, 28 with 7, 7, 7, 7, 1 scored.
    let plan = ExecutionPlan(model: model, capacity: 8, gradients: false)
    var total = 0.0
    var scored = 0
    for start in stride(from: 0, to: 29, by: 7) {
      for t in 0..<8 { plan.input[t] = start + t < tokens.count ? Float(tokens[start + t]) : 0 }
      plan.forward(count: 8, mode: .inference, threads: 1)
      let count = min(7, tokens.count - 1 - start)
      for t in 0..<count {
        var largest = -Float.infinity
        for v in 0..<256 { largest = max(largest, plan.logits[v * 8 + t]) }
        var sum = 0.0
        for v in 0..<256 { sum += exp(Double(plan.logits[v * 8 + t] - largest)) }
        total += log(sum) - Double(plan.logits[Int(tokens[start + t + 1]) * 8 + t] - largest)
      }
      scored += count
    }
    #expect(scored == 29)
    #expect(abs(evaluation.loss - total / Double(scored)) < 1e-5)
  }

  @Test func windowsOfTheWrongLengthOrVocabularyAreRefused() {
    var generator = SeededGenerator(seed: 3)
    let model = Model(architecture: Architecture(gpt: Self.shape), generator: &generator)
    #expect(throws: ShearsError("training text", "windows of 4 tokens do not fit the model")) {
      try Trainer.train(model, on: TokenWindows(tokens: Self.periodicTokens, context: 4), options: TrainingOptions(epochs: 1))
    }
    #expect(throws: ShearsError("training text", "token 300 is outside the model's vocabulary of 256")) {
      try Trainer.train(model, on: TokenWindows(tokens: [1, 2, 300] + Self.periodicTokens, context: 8), options: TrainingOptions(epochs: 1))
    }
  }

  @Test func gptArchitecturesParseAndPrint() throws {
    let architecture = try Architecture(parsing: "gpt:2-4-128-64")
    #expect(architecture.languageModel == GPT.Shape(layers: 2, heads: 4, width: 128, context: 64))
    #expect(architecture.description == "gpt:2-4-128-64")
    #expect(try Architecture(parsing: "gpt:1-2-8-4-v1000").description == "gpt:1-2-8-4-v1000")
    #expect(throws: ShearsError("--arch gpt:2-3-128-64", "has a width of 128, not a multiple of its 3 heads")) {
      try Architecture(parsing: "gpt:2-3-128-64")
    }
    #expect(throws: ShearsError("--arch gpt:2-4-128", "expected gpt:LAYERS-HEADS-WIDTH-CONTEXT, such as gpt:2-4-128-64")) {
      try Architecture(parsing: "gpt:2-4-128")
    }
  }

  /// A GPT saved and loaded keeps its modules and every tensor, and is named as nanoGPT names it.
  @Test func gptCheckpointsRoundTrip() throws {
    var generator = SeededGenerator(seed: 4)
    let model = Model(architecture: Architecture(gpt: Self.shape), generator: &generator)
    try withTemporaryFolder { folder in
      let path = folder + "/gpt.safetensors"
      try Checkpoint.save(model, metadata: CheckpointMetadata(architecture: "gpt:1-2-16-8"), to: path)
      let loaded = try Checkpoint.load(from: path)
      #expect(loaded.model == model)
      #expect(
        loaded.model.parameters.paths.map(\.description).prefix(4) == [
          "transformer.wte.weight", "transformer.wpe.weight", "transformer.h.0.ln_1.weight", "transformer.h.0.ln_1.bias",
        ])
    }
  }
}
