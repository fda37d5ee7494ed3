import Foundation
import NPZFixture
import Testing

/// `--data FILE.npz` and `SHEARS_DATA=FILE.npz` with 3-channel images, through the built binary:
/// a convolutional network and an MLP train, prune, fine-tune and evaluate on them, and a bad
/// archive or a model of the wrong input fails with one line.
@Suite struct NPZDataTests {
  /// Trains a tiny `cnn:3x8x8` for an epoch on a stored archive, prunes half of its first
  /// convolution's filters and evaluates the result: `eval` reports the accuracy `prune` measured.
  @Test func aColourConvolutionalNetworkTrainsPrunesAndEvaluates() throws {
    let folder = try TemporaryFolder(prefix: "shears-npz")
    let data = folder.path("colour.npz")
    try KerasData().write(to: data)
    let model = folder.path("cnn.safetensors")
    let trained = try jsonObject(
      try shears(
        "train", "--arch", "cnn:3x8x8-conv4k3-pool2-fc3", "--epochs", "1", "--batch", "16", "--data", data,
        "--out", model, "--json"))
    #expect((trained["samples"] as? Int) == 32)

    let pruned = folder.path("pruned.safetensors")
    let pruneRun = try shears(
      "prune", "--model", model, "--criterion", "filter-l1", "--layers", "0", "--amount", "0.5", "--data", data,
      "--out", pruned, "--json")
    #expect(pruneRun.stderrLines.first == "data: \(data) (--data)")
    let prune = try jsonObject(pruneRun)
    let layers = try #require(prune["layers"] as? [[String: Any]])
    #expect((layers.first?["shape"] as? [Int]) == [4, 3, 3, 3])
    #expect((layers.first?["nonzero"] as? Int) == 2 * 27)

    let evalRun = try shears("eval", "--model", pruned, "--json", environment: ["SHEARS_DATA": data])
    #expect(evalRun.stderrLines == ["data: \(data) ($SHEARS_DATA)"])
    let evaluation = try jsonObject(evalRun)
    #expect((evaluation["samples"] as? Int) == 32)
    let accuracy = try #require(evaluation["accuracy"] as? Double)
    #expect(accuracy == prune["accuracy"] as? Double)
  }

  /// An MLP over the 192 values of a deflated float32 archive trains, fine-tunes and sweeps,
  /// and learns the easy classes.
  @Test func aColourMLPLearnsFromFloatImages() throws {
    let folder = try TemporaryFolder(prefix: "shears-npz")
    let data = folder.path("floats.npz")
    var fixture = KerasData()
    fixture.float = true
    try fixture.write(to: data, compressed: true)
    let model = folder.path("mlp.safetensors")
    let trained = try jsonObject(
      try shears(
        "train", "--arch", "mlp:192-32-3", "--epochs", "5", "--batch", "16", "--data", data, "--out", model, "--json"))
    #expect((trained["accuracy"] as? Double ?? 0) > 0.9, "\(trained)")
    let tuned = folder.path("tuned.safetensors")
    try requireSuccess(
      try shears("finetune", "--model", model, "--epochs", "1", "--data", data, "--out", tuned, "--json"))
    let sweep = try jsonObject(
      try shears("sweep", "--model", tuned, "--criterion", "magnitude", "--amounts", "0,0.5", "--data", data, "--json"))
    #expect((sweep["rows"] as? [[String: Any]])?.count == 2)
  }

  /// A model whose input does not fit the images, and an archive missing an array, each fail
  /// with one line naming the file; `train` leaves nothing behind.
  @Test func mismatchesAndBadArchivesFailWithOneLine() throws {
    let folder = try TemporaryFolder(prefix: "shears-npz")
    let data = folder.path("colour.npz")
    try KerasData().write(to: data)
    let out = folder.path("m.safetensors")
    var message = expectInputError(
      try shears("train", "--arch", "mlp:64-3", "--data", data, "--out", out), subject: "--arch mlp:64-3",
      notes: ["data: \(data) (--data)"])
    #expect(message == "takes 64 inputs but the images in \(data) have 192 values (3x8x8)")
    message = expectInputError(
      try shears("train", "--arch", "cnn:1x8x24-conv4k3-fc3", "--data", data, "--out", out),
      subject: "--arch cnn:1x8x24-conv4k3-fc3", notes: ["data: \(data) (--data)"])
    #expect(message == "takes 1x8x24 images but the images in \(data) are 3x8x8")

    let broken = folder.path("broken.npz")
    try NPZWriter.write(arrays: KerasData().arrays.filter { $0.name != "y_test" }, to: broken, compressed: true)
    message = expectInputError(
      try shears("train", "--arch", "mlp:192-3", "--data", broken, "--out", out), subject: broken,
      notes: ["data: \(broken) (--data)"])
    #expect(message?.hasPrefix("no array y_test (y_test.npy) in the archive") == true, "\(message ?? "")")
    #expect(try folder.contents() == ["broken.npz", "colour.npz"])
  }
}
