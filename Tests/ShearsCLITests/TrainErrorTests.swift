import Foundation
import Testing

/// `train` refusing bad values (exit 1, one error line, no file written) and bad usage (exit 2,
/// the parser's message).
@Suite struct TrainErrorTests {
  let data: TemporaryFolder
  let output: TemporaryFolder

  init() throws {
    data = try IDXFixture().folder()
    output = try TemporaryFolder()
  }

  static let usage = "Usage: shears train [<options>] --arch <ARCH> --out <PATH>"

  static let expected =
    "expected mlp:784-300-100-10, cnn:1x28x28-conv20k5-pool2-fc10, lenet5, resnet20, resnet:1x28x28-16x3-32x3-10 "
    + "or gpt:2-4-128-64"

  /// The architecture is checked before any data is read.
  @Test(arguments: [
    ("rnn:5", "unknown architecture (\(expected))"),
    ("cnn:5", "input '5' is not CxHxW (as 1x28x28)"),
    ("cnn:1x28x28-conv8k3", "the last layer must be fc<classes>"),
    ("cnn:1x28x28-conv8k3x-fc10", "'conv8k3x' is not conv<N>k<K>[s<S>][p<P>], pool<K> or fc<N>"),
    ("cnn:1x28x28-fc10-pool2", "'pool2' follows an fc layer; only fc layers can"),
    ("cnn:1x4x4-conv8k5-fc10", "a 5x5 kernel does not fit a 4x4 input"),
    ("mlp:784-x-10", "layer width 'x' is not an integer from 1 to 1048576"),
    ("mlp:784-0-10", "layer width '0' is not an integer from 1 to 1048576"),
    ("mlp:784", "an MLP needs at least an input and an output width"),
    ("784-16-10", "unknown architecture (\(expected))"),
  ])
  func unknownArchitecture(_ arch: String, _ problem: String) throws {
    let run = try shears("train", "--arch", arch, "--data", data.path, "--out", output.path("m.safetensors"))
    #expect(expectInputError(run, subject: "--arch \(arch)") == problem)
    #expect(try output.contents() == [])
  }

  /// An architecture that does not fit the data is found after loading it, before training.
  @Test(arguments: [
    ("mlp:100-16-10", "takes 100 inputs but the images in DATA have 784 pixels"),
    ("mlp:784-16-5", "has 5 outputs but the labels in DATA go up to 9"),
  ])
  func architectureDoesNotFitTheData(_ arch: String, _ problem: String) throws {
    let run = try shears("train", "--arch", arch, "--data", data.path, "--out", output.path("m.safetensors"))
    let message = expectInputError(run, subject: "--arch \(arch)", notes: ["data: \(data.path) (--data)"])
    #expect(message == problem.replacingOccurrences(of: "DATA", with: data.path))
    #expect(try output.contents() == [])
  }

  /// A bad `--out` fails at once: stderr has no data line, so no data was read and nothing trained.
  @Test func outputFolderDoesNotExist() throws {
    let folder = output.path("missing")
    let out = folder + "/m.safetensors"
    let run = try shears("train", "--arch", "mlp:784-16-10", "--data", data.path, "--out", out)
    #expect(expectInputError(run, subject: out) == "folder \(folder) does not exist")
    #expect(try output.contents() == [])
  }

  @Test func outputIsAFolder() throws {
    let run = try shears("train", "--arch", "mlp:784-16-10", "--data", data.path, "--out", output.path)
    #expect(expectInputError(run, subject: output.path) == "is a folder, not a file")
    #expect(try output.contents() == [])
  }

  /// A failed run leaves an existing checkpoint at `--out` as it was.
  @Test func failureKeepsThePreviousCheckpoint() throws {
    let out = output.path("m.safetensors")
    try IDXFixture.write([1, 2, 3, 4], to: out)
    let run = try shears("train", "--arch", "mlp:784-16-5", "--data", data.path, "--out", out)
    expectInputError(run, subject: "--arch mlp:784-16-5", notes: ["data: \(data.path) (--data)"])
    #expect(try Data(contentsOf: URL(fileURLWithPath: out)) == Data([1, 2, 3, 4]))
    #expect(try output.contents() == ["m.safetensors"])
  }

  @Test func zeroEpochsIsBadUsage() throws {
    let run = try shears("train", "--arch", "mlp:784-16-10", "--epochs", "0", "--out", output.path("m.safetensors"))
    expectUsageError(run)
    #expect(
      run.stderr == """
        Error: --epochs must be 1 to 10000 (got 0)
        \(Self.usage)
          See 'shears train --help' for more information.

        """)
    #expect(try output.contents() == [])
  }

  @Test func missingOutIsBadUsage() throws {
    let run = try shears("train", "--arch", "mlp:784-16-10", "--data", data.path)
    expectUsageError(run)
    #expect(
      run.stderr == """
        Error: Missing expected argument '--out <PATH>'
        Help:  --out <PATH>  Checkpoint to write (safetensors).
        \(Self.usage)
          See 'shears train --help' for more information.

        """)
  }

  @Test(arguments: [
    (["--batch", "0"], "Error: --batch must be 1 to 65536 (got 0)"),
    (["--batch", "65537"], "Error: --batch must be 1 to 65536 (got 65537)"),
    (["--epochs", "10001"], "Error: --epochs must be 1 to 10000 (got 10001)"),
    (["--epochs", "9223372036854775807"], "Error: --epochs must be 1 to 10000 (got 9223372036854775807)"),
    (["--epochs", "2", "--rewind-epoch", "3"], "Error: --rewind-epoch must be 0 to 2 (got 3)"),
    (["--lr", "0"], "Error: --lr must be above 0 and at most 10 (got 0.0)"),
    (["--lr", "nan"], "Error: --lr must be above 0 and at most 10 (got nan)"),
    (["--lr", "1e309"], "Error: --lr must be above 0 and at most 10 (got inf)"),
    (["--l1", "inf"], "Error: --l1 must be 0 to 1 (got inf)"),
    (["--l1=-0.5"], "Error: --l1 must be 0 to 1 (got -0.5)"),
    (["--epochs", "two"], "Error: The value 'two' is invalid for '--epochs <epochs>'"),
    (
      ["--optimizer", "rmsprop"],
      "Error: The value 'rmsprop' is invalid for '--optimizer <optimizer>'. Please provide one of 'adam' and 'sgd'."
    ),
  ])
  func badOptionValueIsBadUsage(_ arguments: [String], _ firstLine: String) throws {
    let run = try shears(
      ["train", "--arch", "mlp:784-16-10", "--data", data.path, "--out", output.path("m.safetensors")] + arguments)
    #expect(expectUsageError(run).first == firstLine)
    #expect(try output.contents() == [])
  }
}
