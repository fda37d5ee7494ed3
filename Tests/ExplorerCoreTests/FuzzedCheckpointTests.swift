import CheckpointCorpus
import Foundation
import Testing
@testable import ExplorerCore
@testable import PruneEngine

/// The explorer on the checkpoints of the loading fuzz test (`CheckpointFuzzTests`): every one
/// that loads opens in a session, draws, prunes at a key press and quits with `q`. Flipped data
/// bits make NaN and infinite weights, edited shapes make odd layers; none may trap the screen.
struct FuzzedCheckpointTests {
  /// Inputs of the corpus's first shard tried; about one in ten loads and fits data IDX can hold.
  static let caseCount = 5_000

  @Test func everyFuzzedCheckpointThatLoadsOpensDrawsAndQuits() throws {
    let folder = try TemporaryFolder()
    var corpus = FuzzCorpus(shard: 0, seeds: try FuzzSeed.all())
    var sources: [[Int]: DataSource] = [:]
    var opened = 0
    var nonFinite = 0
    for index in 0..<Self.caseCount {
      guard let bytes = corpus.next(),
        let model = try? Checkpoint.loadWithRewind(SafetensorsFile(decoding: bytes, subject: "case"), subject: "case")
          .model
      else { continue }
      let path = folder.path("case-\(index).safetensors")
      try Data(bytes).write(to: URL(fileURLWithPath: path))
      defer { try? FileManager.default.removeItem(atPath: path) }
      // Images of the model's input shape where IDX can hold them (one channel), with a label
      // for each output; other models are refused with a message, which must draw as well.
      let shape = model.inputShape.count == 3 && model.inputShape[0] == 1 ? Array(model.inputShape.dropFirst()) : [1, model.inputCount]
      let key = shape + [min(256, max(1, model.classCount))]
      let source = try sources[key] ?? Self.writeData(rows: key[0], columns: key[1], classes: key[2], into: folder)
      sources[key] = source

      let session = Session(Session.Setup(modelPath: path, data: source, cacheDirectory: folder.path("cache")))
      session.start()
      session.waitUntilIdle()
      var state = AppState(width: 100, height: 30)
      _ = Reducer.reduce(&state, .snapshot(session.snapshot))
      _ = Screen.render(state)
      if !session.snapshot.isError {
        opened += 1
        if session.snapshot.warning != nil { nonFinite += 1 }
        for effect in Reducer.reduce(&state, .key(.right)) {
          if case .send(let command) = effect { session.send(command) }
        }
        session.waitUntilIdle()
        _ = Reducer.reduce(&state, .snapshot(session.snapshot))
        _ = Screen.render(state)
      }
      _ = Reducer.reduce(&state, .key(.character("q")))
      if state.mode == .confirmQuit { _ = Reducer.reduce(&state, .key(.character("y"))) }
      #expect(state.shouldQuit, "case \(index) did not quit")
    }
    // The corpus reaches the screen, NaN and infinite weights included.
    #expect(opened >= Self.caseCount / 20, "only \(opened) cases opened")
    #expect(nonFinite > 0, "no case with NaN or infinite weights opened")
  }

  /// A `--data` folder of `rows` x `columns` images whose labels cycle through `classes`.
  private static func writeData(rows: Int, columns: Int, classes: Int, into folder: TemporaryFolder) throws -> DataSource {
    let directory = folder.path("data-\(rows)x\(columns)-\(classes)")
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
    func bigEndian(_ value: Int) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> (24 - 8 * $0)) } }
    for (prefix, count) in [("train", 24), ("t10k", 12)] {
      let pixels = (0..<(count * rows * columns)).map { UInt8(truncatingIfNeeded: $0 &* 37) }
      let labels = (0..<count).map { UInt8($0 % classes) }
      try Data(bigEndian(0x0803) + bigEndian(count) + bigEndian(rows) + bigEndian(columns) + pixels)
        .write(to: URL(fileURLWithPath: "\(directory)/\(prefix)-images-idx3-ubyte"))
      try Data(bigEndian(0x0801) + bigEndian(count) + labels)
        .write(to: URL(fileURLWithPath: "\(directory)/\(prefix)-labels-idx1-ubyte"))
    }
    return DataSource(directory: directory, origin: .option)
  }
}
