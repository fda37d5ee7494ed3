import Foundation
import Testing

/// A model trained once for a whole suite on the tiny fixture dataset, and the same model
/// pruned by magnitude to 50%, shared read-only by the suite's tests.
///
/// Tests must not write into `folder`: a test that needs to overwrite a checkpoint copies it into
/// its own `TemporaryFolder` first. `modelBytes` and `prunedBytes` are the files as written, to
/// check that a command left its input untouched.
final class TrainedModel: Sendable {
  /// The model the suite runs in, set by the `.trainedModel` suite trait.
  @TaskLocal static var current: TrainedModel?

  /// Two epochs of `mlp:784-16-10` on 128 images: a fraction of a second in a debug build.
  static let trainArguments = [
    "train", "--arch", "mlp:784-16-10", "--epochs", "2", "--batch", "16", "--lr", "0.01", "--seed", "1",
  ]

  let data: TemporaryFolder
  let folder: TemporaryFolder
  let modelBytes: Data
  let prunedBytes: Data

  /// The dense trained checkpoint.
  var model: String { folder.path("model.safetensors") }
  /// `model` pruned by `magnitude --amount 0.5` (layer scope).
  var pruned: String { folder.path("pruned.safetensors") }
  /// The data source line every data-reading command prints on stderr.
  var dataNote: String { "data: \(data.path) (--data)" }

  private init() throws {
    data = try IDXFixture().folder()
    folder = try TemporaryFolder(prefix: "shears-trained")
    let model = folder.path("model.safetensors")
    try requireSuccess(try shears(Self.trainArguments + ["--data", data.path, "--out", model]))
    try requireSuccess(
      try shears(
        "prune", "--model", model, "--criterion", "magnitude", "--amount", "0.5", "--data", data.path, "--out",
        folder.path("pruned.safetensors")))
    modelBytes = try #require(fileBytes(model))
    prunedBytes = try #require(fileBytes(folder.path("pruned.safetensors")))
  }

  /// The suite's model; fails the test when the suite lacks the `.trainedModel` trait.
  static func shared(sourceLocation: SourceLocation = #_sourceLocation) throws -> TrainedModel {
    try #require(current, "the suite needs the .trainedModel trait", sourceLocation: sourceLocation)
  }

  /// Runs `function` (a whole suite) with a newly trained model as `current`.
  fileprivate static func withNew(_ function: @Sendable () async throws -> Void) async throws {
    let trained = try TrainedModel()
    try await $current.withValue(trained) { try await function() }
  }
}

/// Trains one `TrainedModel` for a suite and removes it when the suite ends.
struct TrainedModelTrait: SuiteTrait, TestScoping {
  func provideScope(
    for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
  ) async throws {
    try await TrainedModel.withNew(function)
  }
}

extension Trait where Self == TrainedModelTrait {
  /// Train the fixture model once for the suite (see `TrainedModel`).
  static var trainedModel: Self { Self() }
}
