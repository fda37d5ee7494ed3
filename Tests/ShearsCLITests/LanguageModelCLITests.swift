import Foundation
import Testing

/// `train`, `eval` and `info` on a GPT language model over a small UTF-8 text, and the errors a
/// bad text or a command that needs images gives.
@Suite struct LanguageModelCLITests {
  let folder: TemporaryFolder
  /// 60 lines of prose-like text, 2,940 bytes.
  let text: String

  init() throws {
    folder = try TemporaryFolder(prefix: "shears-lm")
    let sentence = "the quick brown fox jumps over the lazy dog, and "
    text = (0..<60).map { "\(sentence.dropFirst($0 % 7))\($0)\n" }.joined()
    try Data(text.utf8).write(to: URL(fileURLWithPath: folder.path("text.txt")))
  }

  @Test func trainsEvaluatesAndDescribesAGPT() throws {
    let model = folder.path("gpt.safetensors")
    let train = try shears(
      "train", "--arch", "gpt:1-2-16-8", "--data", folder.path("text.txt"), "--epochs", "2", "--batch", "8",
      "--lr", "0.01", "--out", model, "--json")
    let trained = try jsonObject(train)
    #expect(train.stderrLines.first == "data: \(folder.path("text.txt")) (--data)")
    let loss = try #require(trained["loss"] as? Double)
    let perplexity = try #require(trained["perplexity"] as? Double)
    #expect(isClose(perplexity, exp(loss), relative: 1e-9))
    // Better than a uniform guess over 256 bytes after two epochs.
    #expect(loss < log(256.0))
    let bytes = text.utf8.count
    let validationStart = Array(text.utf8)[(bytes * 9 / 10)...].firstIndex(of: 0x0A)! + 1
    #expect(trained["tokens"] as? Int == bytes - validationStart - 1)
    #expect((trained["tokens_per_second"] as? Double ?? 0) > 0)

    let eval = try jsonObject(try shears("eval", "--model", model, "--data", folder.path("text.txt"), "--json"))
    #expect(eval["split"] as? String == "validation")
    #expect(isClose(try #require(eval["loss"] as? Double), loss, relative: 1e-6))
    let all = try jsonObject(
      try shears("eval", "--model", model, "--data", folder.path("text.txt"), "--split", "all", "--json"))
    #expect(all["tokens"] as? Int == bytes - 1)

    let info = try shears("info", "--model", model)
    expectSuccess(info)
    #expect(info.stdout.hasPrefix("\(model): gpt:1-2-16-8\n"))
    #expect(info.stdout.contains("transformer.h.0.mlp.c_fc.weight"))
  }

  @Test func aTextThatIsNotUTF8IsRefusedWithItsOffset() throws {
    let bad = folder.path("bad.txt")
    try Data(Array("hello\n".utf8) + [0xC3, 0x28] + Array(" world\n".utf8)).write(to: URL(fileURLWithPath: bad))
    let run = try shears("train", "--arch", "gpt:1-2-16-8", "--data", bad, "--out", folder.path("m.safetensors"))
    #expect(expectInputError(run, subject: bad) == "not UTF-8 text: invalid byte 0x28 at offset 7")
    #expect(!FileManager.default.fileExists(atPath: folder.path("m.safetensors")))
  }

  @Test func commandsThatNeedImagesRefuseALanguageModel() throws {
    let model = folder.path("tiny.safetensors")
    try requireSuccess(
      try shears(
        "train", "--arch", "gpt:1-2-16-8", "--data", folder.path("text.txt"), "--epochs", "1", "--out", model))
    let data = try IDXFixture().folder()
    let run = try shears(
      "prune", "--model", model, "--data", data.path, "--criterion", "magnitude", "--amount", "0.5", "--out",
      folder.path("pruned.safetensors"))
    let problem = expectInputError(run, subject: model, notes: ["data: \(data.path) (--data)"])
    #expect(problem == "model is a language model: it reads text (train, eval and info take one), not the images in \(data.path)")
    let augmented = try shears(
      "train", "--arch", "gpt:1-2-16-8", "--data", folder.path("text.txt"), "--augment", "--out",
      folder.path("a.safetensors"))
    #expect(expectInputError(augmented, subject: "--augment") == "shifts and flips images, and gpt:1-2-16-8 reads text")
  }
}
