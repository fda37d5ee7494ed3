import Foundation
import Testing

/// Bad `--data` folders (bad archives: `NPZDataTests`): each run exits 1 with the data source
/// line and one error line naming the folder or file, and `train` leaves no checkpoint behind.
@Suite struct DataErrorTests {
  /// One thing wrong with an otherwise good fixture folder.
  enum Defect: String, CaseIterable, CustomTestStringConvertible {
    case truncatedTrainImages, truncatedTestImages, corruptGzipLabels, labelCountMismatch, missingTestLabels,
      labelsInPlaceOfImages

    var testDescription: String { rawValue }

    /// Applies the defect to `folder`; returns the file the error must name and a word of its
    /// problem.
    func apply(to folder: TemporaryFolder) throws -> (subject: String, problem: String) {
      switch self {
      case .truncatedTrainImages, .truncatedTestImages:
        let path = folder.path(self == .truncatedTrainImages ? IDXFixture.trainImages : IDXFixture.testImages)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        try bytes.dropLast(100).write(to: URL(fileURLWithPath: path))
        return (path, "truncated")
      case .corruptGzipLabels:
        let plain = folder.path(IDXFixture.trainLabels)
        try FileManager.default.removeItem(atPath: plain)
        try IDXFixture.write(IDXFixture.corruptGzip, to: plain + ".gz")
        return (plain + ".gz", "corrupt gzip data")
      case .labelCountMismatch:
        try IDXFixture.write(
          IDXFixture.labelFile([UInt8](repeating: 3, count: 100)), to: folder.path(IDXFixture.trainLabels))
        return (
          folder.path(IDXFixture.trainImages),
          "holds 128 images but \(folder.path(IDXFixture.trainLabels)) holds 100 labels"
        )
      case .missingTestLabels:
        let path = folder.path(IDXFixture.testLabels)
        try FileManager.default.removeItem(atPath: path)
        return (path, "no such file")
      case .labelsInPlaceOfImages:
        let images = folder.path(IDXFixture.testImages)
        try FileManager.default.removeItem(atPath: images)
        try FileManager.default.copyItem(atPath: folder.path(IDXFixture.testLabels), toPath: images)
        return (images, "wrong magic")
      }
    }
  }

  @Test(arguments: Defect.allCases)
  func trainFailsNamingTheFile(_ defect: Defect) throws {
    let data = try IDXFixture().folder()
    let (subject, problem) = try defect.apply(to: data)
    let output = try TemporaryFolder()
    let run = try shears(
      "train", "--arch", "mlp:784-16-10", "--epochs", "1", "--data", data.path, "--out", output.path("m.safetensors"))
    let message = expectInputError(run, subject: subject, notes: ["data: \(data.path) (--data)"])
    #expect(message?.contains(problem) == true, "expected '\(problem)' in: \(message ?? "")")
    #expect(try output.contents() == [], "train left a file behind")
  }

  /// `eval` reads only the test files: the same defects there fail it the same way.
  @Test(arguments: [Defect.truncatedTestImages, .missingTestLabels, .labelsInPlaceOfImages])
  func evalFailsNamingTheFile(_ defect: Defect) throws {
    let data = try IDXFixture().folder()
    let output = try TemporaryFolder()
    let model = output.path("m.safetensors")
    try requireSuccess(
      try shears("train", "--arch", "mlp:784-16-10", "--epochs", "1", "--data", data.path, "--out", model))
    let (subject, problem) = try defect.apply(to: data)
    let message = expectInputError(
      try shears("eval", "--model", model, "--data", data.path), subject: subject,
      notes: ["data: \(data.path) (--data)"])
    #expect(message?.contains(problem) == true, "expected '\(problem)' in: \(message ?? "")")
  }

  @Test func missingDataFolder() throws {
    let parent = try TemporaryFolder()
    let missing = parent.path("no-such-folder")
    let run = try shears("train", "--arch", "mlp:784-16-10", "--data", missing, "--out", parent.path("m.safetensors"))
    #expect(expectInputError(run, subject: missing) == "no such data folder")
    #expect(try parent.contents() == [])
  }

  @Test func missingFolderInEnvironment() throws {
    let parent = try TemporaryFolder()
    let missing = parent.path("no-such-folder")
    let run = try shears(
      "train", "--arch", "mlp:784-16-10", "--out", parent.path("m.safetensors"), environment: ["SHEARS_DATA": missing])
    #expect(expectInputError(run, subject: missing) == "no such data folder (from $SHEARS_DATA)")
    #expect(try parent.contents() == [])
  }

  /// A file given as --data is read as an .npz archive, and one that is not is refused as such.
  @Test func dataIsAFileButNotAnArchive() throws {
    let parent = try TemporaryFolder()
    let file = parent.path("data")
    try IDXFixture.write([1, 2, 3], to: file)
    let run = try shears("train", "--arch", "mlp:784-16-10", "--data", file, "--out", parent.path("m.safetensors"))
    let message = expectInputError(run, subject: file, notes: ["data: \(file) (--data)"])
    #expect(message?.hasPrefix("not an .npz archive") == true, "\(message ?? "")")
    #expect(try parent.contents() == ["data"])
  }
}
