import Foundation
import Testing

/// `train`, then `eval` and `info` on the saved checkpoint, on a tiny fixture dataset: JSON
/// shapes and values, text output, and where progress and the data source go.
@Suite struct TrainEvalInfoTests {
  /// Two epochs of `mlp:784-16-10` on 128 images: a fraction of a second in a debug build.
  static let trainArguments = [
    "train", "--arch", "mlp:784-16-10", "--epochs", "2", "--batch", "16", "--lr", "0.01", "--seed", "1",
  ]

  let data: TemporaryFolder
  let output: TemporaryFolder
  var model: String { output.path("model.safetensors") }
  var dataNote: String { "data: \(data.path) (--data)" }

  init() throws {
    data = try IDXFixture().folder()
    output = try TemporaryFolder()
  }

  private func train(_ extra: String...) throws -> ShearsRun {
    try shears(Self.trainArguments + ["--data", data.path, "--out", model] + extra)
  }

  @Test func trainJSONIsOneObjectWithTheContractKeys() throws {
    let run = try train("--json")
    try requireSuccess(run)
    #expect(run.stderrLines == [dataNote], "with --json, stderr holds only the data source:\n\(run)")
    let json = try jsonObject(run)
    let contractKeys: Set = [
      "accuracy", "loss", "samples", "samples_per_second", "layers", "params", "nonzero", "sparsity",
      "dense_bytes", "sparse_bytes", "flops_dense", "flops_sparse",
    ]
    #expect(contractKeys.subtracting(json.keys).isEmpty, "missing keys in \(json.keys.sorted())")

    let accuracy = try #require(json["accuracy"] as? Double)
    #expect(accuracy > 0.5, "the fixture's bands are easy; chance is 0.1")
    #expect(accuracy <= 1)
    let loss = try #require(json["loss"] as? Double)
    #expect(loss > 0 && loss.isFinite)
    #expect(json["samples"] as? Int == 64)
    #expect((json["samples_per_second"] as? Double ?? 0) > 0)

    let layers = try #require(json["layers"] as? [[String: Any]])
    #expect(layers.map { $0["name"] as? String } == ["0.weight", "2.weight"])
    #expect(layers.map { $0["shape"] as? [Int] } == [[16, 784], [10, 16]])
    #expect(layers.map { $0["params"] as? Int } == [12544, 160])
    #expect(layers.map { $0["nonzero"] as? Int } == [12544, 160])
    #expect(layers.map { $0["sparsity"] as? Double } == [0, 0])
    #expect(json["params"] as? Int == 12704)
    #expect(json["nonzero"] as? Int == 12704)
    #expect(json["sparsity"] as? Double == 0)
    #expect(json["dense_bytes"] as? Int == 4 * (12704 + 16 + 10))
    #expect((json["sparse_bytes"] as? Int ?? 0) > 0)
    #expect(json["flops_dense"] as? Int == 2 * 12704 + 16 + 10)
    #expect(json["flops_sparse"] as? Int == 2 * 12704 + 16 + 10)

    #expect(try output.contents() == ["model.safetensors"], "the checkpoint and nothing else (no temporary file)")
  }

  @Test func evalAndInfoAgreeWithTrain() throws {
    let trainRun = try train("--json")
    try requireSuccess(trainRun)
    let trained = try jsonObject(trainRun)

    let evalRun = try shears("eval", "--model", model, "--data", data.path, "--json")
    expectSuccess(evalRun)
    #expect(evalRun.stderrLines == [dataNote])
    let evaluation = try jsonObject(evalRun)
    // Same weights (F32 round trip), same test set: the same figures.
    #expect(evaluation["samples"] as? Int == 64)
    let accuracy = try #require(evaluation["accuracy"] as? Double)
    let trainedAccuracy = try #require(trained["accuracy"] as? Double)
    #expect((accuracy * 64).rounded() == (trainedAccuracy * 64).rounded())
    #expect(evaluation["correct"] as? Int == Int((trainedAccuracy * 64).rounded()))
    let loss = try #require(evaluation["loss"] as? Double)
    let trainedLoss = try #require(trained["loss"] as? Double)
    #expect(isClose(loss, trainedLoss))

    // Timing adds the median time and changes nothing else; without it there is no time.
    #expect(evaluation["milliseconds"] == nil)
    let timed = try jsonObject(try shears("eval", "--model", model, "--data", data.path, "--repetitions", "3", "--json"))
    let milliseconds = try #require(timed["milliseconds"] as? Double)
    #expect(milliseconds > 0 && milliseconds.isFinite)
    #expect(timed["correct"] as? Int == evaluation["correct"] as? Int && timed["loss"] as? Double == loss)
    let zeroRuns = try shears("eval", "--model", model, "--data", data.path, "--repetitions", "0")
    #expect(zeroRuns.status == 2 && zeroRuns.stderr.contains("--repetitions must be 1 to 1000 (got 0)"))

    let infoRun = try shears("info", "--model", model, "--json")
    expectSuccess(infoRun)
    #expect(infoRun.stderr.isEmpty, "info reads no data:\n\(infoRun)")
    let info = try jsonObject(infoRun)
    #expect(info["arch"] as? String == "mlp:784-16-10")
    let layers = try #require(info["layers"] as? [[String: Any]])
    #expect(layers.map { $0["shape"] as? [Int] } == [[16, 784], [10, 16]])
    #expect(layers.map { $0["sparsity"] as? Double } == [0, 0])
    #expect(layers.map { $0["compression_ratio"] as? Double } == [1, 1])
    #expect(layers.map { $0["ties_at_cut"] as? Int } == [0, 0])
    #expect(info["sparsity"] as? Double == 0)
    #expect(info["compression_ratio"] as? Double == 1)
    for key in ["params", "nonzero", "dense_bytes", "sparse_bytes", "flops_dense", "flops_sparse"] {
      #expect(info[key] as? Int != nil && info[key] as? Int == trained[key] as? Int, "\(key)")
    }
    let recorded = try #require(info["accuracy"] as? Double)
    #expect(isClose(recorded, trainedAccuracy), "the recorded accuracy is train's")
    #expect(info["dataset"] as? String == "\(data.path) (--data)")
    let history = try #require(info["history"] as? [String])
    #expect(history.count == 1)
    #expect(history.first?.hasPrefix("train epochs=2 batch=16 ") == true, "\(history)")
    #expect(history.first?.hasSuffix(" seed=1") == true, "\(history)")
  }

  @Test func textOutputShowsTheFigures() throws {
    let trainRun = try train()
    try requireSuccess(trainRun)
    let trainLines = trainRun.stdoutLines
    #expect(trainLines.count == 3, "\(trainRun)")
    #expect(trainLines.first?.hasPrefix("trained mlp:784-16-10 for 2 epochs in ") == true, "\(trainRun)")
    #expect(trainLines.last == "saved \(model)")
    // Without a terminal, progress is one line per epoch, on stderr after the data source.
    let progress = trainRun.stderrLines
    #expect(progress.count == 3, "\(trainRun)")
    #expect(progress.first == dataNote)
    #expect(progress.dropFirst().map { $0.prefix(13) } == ["epoch 1/2  lo", "epoch 2/2  lo"])

    let evaluation = try jsonObject(try shears("eval", "--model", model, "--data", data.path, "--json"))
    let accuracy = try #require(evaluation["accuracy"] as? Double)
    let loss = try #require(evaluation["loss"] as? Double)
    let correct = try #require(evaluation["correct"] as? Int)
    #expect(
      trainLines.dropFirst().first == String(format: "test accuracy %.4f  loss %.4f  (64 images)", accuracy, loss))

    let evalRun = try shears("eval", "--model", model, "--data", data.path)
    expectSuccess(evalRun)
    #expect(evalRun.stderrLines == [dataNote])
    #expect(
      evalRun.stdout
        == String(format: "accuracy %.4f  loss %.4f  (%d of 64 test images correct)\n", accuracy, loss, correct))

    let info = try jsonObject(try shears("info", "--model", model, "--json"))
    let created = try #require(info["created"] as? String)
    let history = try #require((info["history"] as? [String])?.first)
    let infoRun = try shears("info", "--model", model)
    expectSuccess(infoRun)
    #expect(infoRun.stderr.isEmpty)
    #expect(
      infoRun.stdout == """
        \(model): mlp:784-16-10
        dataset   \(data.path) (--data)
        accuracy  \(String(format: "%.4f", accuracy)) (recorded)
        created   \(created)
        history   \(history)
        layer      shape         params   nonzero  sparsity  compression  ties at cut
        0.weight   16x784         12544     12544     0.00%         1.0x            0
        2.weight   10x16            160       160     0.00%         1.0x            0
        total                     12704     12704     0.00%         1.0x
        size  49.7 KiB dense, 51.3 KiB sparse    FLOPs/sample  25434 dense, 25434 sparse (1.0x fewer)

        """)
  }

  /// `--progress` brings the epoch lines back with `--json`, on stderr; stdout stays one object.
  @Test func progressWithJSONGoesToStderr() throws {
    let run = try train("--json", "--progress")
    try requireSuccess(run)
    _ = try jsonObject(run)
    #expect(run.stderrLines.count == 3, "\(run)")
    #expect(run.stderrLines.first == dataNote)
    #expect(run.stderrLines.dropFirst().allSatisfy { $0.hasPrefix("epoch ") }, "\(run)")
  }

  /// Without `--data`, `$SHEARS_DATA` chooses the folder, and stderr says so.
  @Test func dataFolderFromEnvironment() throws {
    let run = try shears(
      Self.trainArguments + ["--out", model, "--json"], environment: ["SHEARS_DATA": data.path])
    try requireSuccess(run)
    #expect(run.stderrLines == ["data: \(data.path) ($SHEARS_DATA)"])
    let json = try jsonObject(run)
    #expect(json["samples"] as? Int == 64)
  }

  /// The same seed gives the same model: two runs report the same accuracy and loss.
  @Test func trainingIsReproducible() throws {
    let firstRun = try train("--json")
    let secondRun = try shears(
      Self.trainArguments + ["--data", data.path, "--out", output.path("again.safetensors"), "--json"])
    try requireSuccess(firstRun)
    try requireSuccess(secondRun)
    let first = try jsonObject(firstRun)
    let second = try jsonObject(secondRun)
    let accuracy = try #require(first["accuracy"] as? Double)
    let accuracyAgain = try #require(second["accuracy"] as? Double)
    #expect(isClose(accuracy, accuracyAgain))
    let loss = try #require(first["loss"] as? Double)
    let again = try #require(second["loss"] as? Double)
    #expect(isClose(loss, again))
  }
}
