import Foundation
import Testing

/// A small LeNet-shaped convolutional model trained once for a whole suite on the tiny fixture
/// dataset, shared read-only by the suite's tests (which must not write into `folder`).
///
/// `cnn:1x28x28-conv3k5-pool2-conv4k3-pool2-fc16-fc10` is numbered as `lenet5` is: Conv2d at 0
/// (3 filters of 1x5x5 on 28x28: 24x24 outputs, pooled to 12x12), Conv2d at 3 (4 filters of
/// 3x3x3: 10x10 outputs, pooled to 5x5), Linear(100, 16) at 7 and Linear(16, 10) at 9.
final class ConvolutionalModel: Sendable {
  /// The model the suite runs in, set by the `.trainedConvolutionalModel` suite trait.
  @TaskLocal static var current: ConvolutionalModel?

  static let architecture = "cnn:1x28x28-conv3k5-pool2-conv4k3-pool2-fc16-fc10"
  /// Weighted layers and their weight counts.
  static let layers = [0, 3, 7, 9]
  static let weights = [75, 108, 1600, 160]
  /// Neurons or filters per weighted layer.
  static let rows = [3, 4, 16, 10]
  /// Output positions of each layer per sample (24x24 and 10x10 for the convolutions).
  static let positions = [576, 100, 1, 1]

  let data: TemporaryFolder
  let folder: TemporaryFolder
  let modelBytes: Data

  /// The dense trained checkpoint.
  var model: String { folder.path("model.safetensors") }
  /// The data source line every data-reading command prints on stderr.
  var dataNote: String { "data: \(data.path) (--data)" }

  private init() throws {
    data = try IDXFixture().folder()
    folder = try TemporaryFolder(prefix: "shears-conv")
    try requireSuccess(
      try shears(
        "train", "--arch", Self.architecture, "--epochs", "2", "--batch", "16", "--lr", "0.01", "--seed", "1",
        "--data", data.path, "--out", folder.path("model.safetensors")))
    modelBytes = try #require(fileBytes(folder.path("model.safetensors")))
  }

  /// The suite's model; fails the test when the suite lacks the trait.
  static func shared(sourceLocation: SourceLocation = #_sourceLocation) throws -> ConvolutionalModel {
    try #require(current, "the suite needs the .trainedConvolutionalModel trait", sourceLocation: sourceLocation)
  }

  /// Runs `function` (a whole suite) with a newly trained model as `current`.
  fileprivate static func withNew(_ function: @Sendable () async throws -> Void) async throws {
    let trained = try ConvolutionalModel()
    try await $current.withValue(trained) { try await function() }
  }
}

/// Trains one `ConvolutionalModel` for a suite.
struct ConvolutionalModelTrait: SuiteTrait, TestScoping {
  func provideScope(
    for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
  ) async throws {
    try await ConvolutionalModel.withNew(function)
  }
}

extension Trait where Self == ConvolutionalModelTrait {
  /// Train the convolutional fixture model once for the suite (see `ConvolutionalModel`).
  static var trainedConvolutionalModel: Self { Self() }
}
