import Foundation
import Testing

/// `eval` and `info` on checkpoints that cannot be used: exit 1 and one error line naming the file.
@Suite struct ModelErrorTests {
  let folder: TemporaryFolder

  init() throws {
    folder = try TemporaryFolder()
  }

  /// Something at `--model` that is not a checkpoint.
  enum BadModel: String, CaseIterable, CustomTestStringConvertible {
    case textFile, emptyFile, missingFile, folder, truncatedCheckpoint

    var testDescription: String { rawValue }

    /// Makes the bad file in `folder`; returns its path and the start of the expected problem.
    func make(in folder: TemporaryFolder, data: TemporaryFolder) throws -> (path: String, problem: String) {
      let path = folder.path("model.safetensors")
      switch self {
      case .textFile:
        try IDXFixture.write(Array("accuracy 0.97, a model we trained earlier\n".utf8), to: path)
        return (path, "not a safetensors file: header length")
      case .emptyFile:
        try IDXFixture.write([], to: path)
        return (path, "not a safetensors file: only 0 bytes long")
      case .missingFile:
        return (path, "cannot open: No such file or directory")
      case .folder:
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        return (path, "not a regular file")
      case .truncatedCheckpoint:
        let run = try shears("train", "--arch", "mlp:784-16-10", "--epochs", "1", "--data", data.path, "--out", path)
        try requireSuccess(run)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: path))
        return (path, "tensor '")
      }
    }
  }

  @Test(arguments: BadModel.allCases, [["eval", "--json"], ["info"]])
  func unusableModel(_ bad: BadModel, _ command: [String]) throws {
    let data = try IDXFixture().folder()
    let (path, problem) = try bad.make(in: folder, data: data)
    var arguments = command + ["--model", path]
    if command.first == "eval" { arguments += ["--data", data.path] }
    let message = expectInputError(try shears(arguments), subject: path)
    #expect(message?.hasPrefix(problem) == true, "expected '\(problem)...', got: \(message ?? "")")
  }

  /// A model trained on 28x28 images cannot evaluate 10x10 ones: the error names the model.
  @Test func inputSizeDoesNotMatchTheData() throws {
    let data = try IDXFixture().folder()
    let small = try IDXFixture(side: 10).folder()
    let model = folder.path("model.safetensors")
    try requireSuccess(
      try shears("train", "--arch", "mlp:784-16-10", "--epochs", "1", "--data", data.path, "--out", model))
    let run = try shears("eval", "--model", model, "--data", small.path, "--json")
    let message = expectInputError(run, subject: model, notes: ["data: \(small.path) (--data)"])
    #expect(message == "model takes 784 inputs but the images in \(small.path) have 100 pixels")
  }

  /// A model with fewer outputs than the data has classes: the error names the model.
  @Test func classCountDoesNotMatchTheData() throws {
    let fiveClasses = try IDXFixture(classCount: 5).folder()
    let tenClasses = try IDXFixture().folder()
    let model = folder.path("model.safetensors")
    try requireSuccess(
      try shears("train", "--arch", "mlp:784-16-5", "--epochs", "1", "--data", fiveClasses.path, "--out", model))
    let run = try shears("eval", "--model", model, "--data", tenClasses.path)
    let message = expectInputError(run, subject: model, notes: ["data: \(tenClasses.path) (--data)"])
    #expect(message == "model has 5 outputs but the labels in \(tenClasses.path) go up to 9")
  }
}
