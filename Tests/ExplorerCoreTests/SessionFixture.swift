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
/// epochs on it, so accuracy responds to pruning. The model is trained once per test run; each
/// fixture is a new folder, so tests can write files side by side.
struct SessionFixture {
  let folder: TemporaryFolder
  let model: Model
  var modelPath: String { folder.path("model.safetensors") }
  var data: DataSource { DataSource(directory: folder.path, origin: .option) }

  /// The trained model, made on first use.
  private static let trained: Result<Model, any Error> = Result {
    let folder = try TemporaryFolder()
    try IDXFixture().write(to: folder)
    var generator = SeededGenerator(seed: 5)
    let initial = Model(architecture: .mlp(widths: [784, 16, 8, 10]), generator: &generator)
    let train = try DataSource(directory: folder.path, origin: .option).load().train
    return try Trainer.train(
      initial, on: train, options: TrainingOptions(epochs: 3, batchSize: 16, optimizer: .adam(learningRate: 0.01))
    ).model
  }

  init() throws {
    folder = try TemporaryFolder()
    try IDXFixture().write(to: folder)
    model = try Self.trained.get()
    try Checkpoint.save(model, metadata: CheckpointMetadata(history: ["train epochs=3"]), to: modelPath)
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
