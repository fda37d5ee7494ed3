import Foundation
@testable import ExplorerCore
@testable import PruneEngine

// MARK: - Temporary folders

/// A new empty folder under the system's temporary folder, removed with its contents when the
/// value is released.
final class TemporaryFolder: Sendable {
  let url: URL
  var path: String { url.path }

  init(prefix: String = "shears-explorer") throws {
    url = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: false)
  }

  deinit { try? FileManager.default.removeItem(at: url) }

  /// The path of `name` inside the folder.
  func path(_ name: String) -> String { url.appendingPathComponent(name).path }

  /// The names of the folder's entries, sorted.
  func contents() throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: path).sorted() }
}

// MARK: - IDX data

/// A small MNIST-format dataset (a copy of the CLI tests' `IDXFixture`, which this target cannot
/// import): class `c` lights up its own band of rows, with seeded noise everywhere.
struct IDXFixture {
  var trainCount = 128
  var testCount = 64
  var side = 28
  var classCount = 10
  var seed: UInt64 = 7

  /// Writes the four files of a `--data` folder into `folder`.
  func write(to folder: TemporaryFolder) throws {
    var generator = SeededGenerator(seed: seed)
    for (count, images, labels) in [
      (trainCount, "train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
      (testCount, "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
    ] {
      var pixels = [UInt8](repeating: 0, count: count * side * side)
      var classes = [UInt8](repeating: 0, count: count)
      for sample in 0..<count {
        let label = sample % classCount
        classes[sample] = UInt8(label)
        for row in 0..<side {
          let inBand = row * classCount / side == label
          for column in 0..<side {
            let noise = Int(generator.next() % 80)
            pixels[(sample * side + row) * side + column] = UInt8(inBand ? 170 + noise : noise)
          }
        }
      }
      let imageFile =
        Self.bigEndian(0x0000_0803) + Self.bigEndian(UInt32(count)) + Self.bigEndian(UInt32(side))
        + Self.bigEndian(UInt32(side)) + pixels
      try Data(imageFile).write(to: folder.url.appendingPathComponent(images))
      try Data(Self.bigEndian(0x0000_0801) + Self.bigEndian(UInt32(count)) + classes)
        .write(to: folder.url.appendingPathComponent(labels))
    }
  }

  private static func bigEndian(_ value: UInt32) -> [UInt8] {
    [UInt8(value >> 24), UInt8((value >> 16) & 0xff), UInt8((value >> 8) & 0xff), UInt8(value & 0xff)]
  }
}

// MARK: - A session on a tiny model

/// A folder holding the IDX fixture and `model.safetensors`: `mlp:784-16-8-10` trained for three
/// epochs on it, or the convolutional network `cnn:1x28x28-conv4k5-pool2-conv6k3-pool2-fc12-fc10`
/// (laid out as LeNet-5: convolutions `0` and `3`, Linear layers `7` and `9`) trained for eight,
/// so accuracy responds to pruning. Each model is trained once per test run; each fixture is a
/// new folder, so tests can write files side by side.
struct SessionFixture {
  static let convolutionalArchitecture = "cnn:1x28x28-conv4k5-pool2-conv6k3-pool2-fc12-fc10"
  static let residualArchitecture = "resnet:1x28x28-4x1-6x1-10"

  let folder: TemporaryFolder
  let model: Model
  var modelPath: String { folder.path("model.safetensors") }
  var data: DataSource { DataSource(directory: folder.path, origin: .option) }

  /// The trained models, made on first use.
  /// Epochs each model is trained for: the convolutional one learns the bands more slowly.
  private static let epochs = 3
  private static let convolutionalEpochs = 8
  private static let trained = train(epochs: epochs) { .mlp(widths: [784, 16, 8, 10]) }
  private static let trainedConvolutional = train(epochs: convolutionalEpochs) {
    try Architecture(parsing: convolutionalArchitecture)
  }
  private static let trainedResidual = train(epochs: epochs) { try Architecture(parsing: residualArchitecture) }

  private static func train(epochs: Int, _ architecture: () throws -> Architecture) -> Result<Model, any Error> {
    Result {
      let folder = try TemporaryFolder()
      try IDXFixture().write(to: folder)
      var generator = SeededGenerator(seed: 5)
      let initial = Model(architecture: try architecture(), generator: &generator)
      let train = try DataSource(directory: folder.path, origin: .option).load().train
      return try Trainer.train(
        initial, on: train, options: TrainingOptions(epochs: epochs, batchSize: 16, optimizer: .adam(learningRate: 0.01))
      ).model
    }
  }

  init(convolutional: Bool = false, residual: Bool = false) throws {
    folder = try TemporaryFolder()
    try IDXFixture().write(to: folder)
    model = try (residual ? Self.trainedResidual : convolutional ? Self.trainedConvolutional : Self.trained).get()
    try Checkpoint.save(model, metadata: CheckpointMetadata(history: ["train epochs=\(convolutional ? Self.convolutionalEpochs : Self.epochs)"]), to: modelPath)
  }

  /// A started session on the model, idle.
  func session() -> Session {
    let session = Session(Session.Setup(modelPath: modelPath, data: data, cacheDirectory: folder.path("cache")))
    session.start()
    session.waitUntilIdle()
    return session
  }

  /// Sends a command and waits until the session has handled it.
  @discardableResult
  static func run(_ command: SessionCommand, on session: Session) -> SessionSnapshot {
    session.send(command)
    session.waitUntilIdle()
    return session.snapshot
  }
}
