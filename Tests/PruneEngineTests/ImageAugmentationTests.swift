import Testing
@testable import PruneEngine

struct ImageAugmentationTests {
  /// An image shifted by `(dy, dx)` (output pixel `(r, c)` reads `(r + dy, c + dx)`, zero
  /// outside), then mirrored when `flip`: the reference of one transformation, written as
  /// torchvision defines it (crop of the zero-padded image, then a flip of the crop).
  private func reference(
    _ image: [Float], channels: Int, rows: Int, columns: Int, dy: Int, dx: Int, flip: Bool
  ) -> [Float] {
    var cropped = [Float](repeating: 0, count: image.count)
    for channel in 0..<channels {
      for r in 0..<rows {
        for c in 0..<columns where (0..<rows).contains(r + dy) && (0..<columns).contains(c + dx) {
          cropped[(channel * rows + r) * columns + c] = image[(channel * rows + r + dy) * columns + c + dx]
        }
      }
    }
    guard flip else { return cropped }
    var flipped = cropped
    for channel in 0..<channels {
      for r in 0..<rows {
        for c in 0..<columns {
          flipped[(channel * rows + r) * columns + c] = cropped[(channel * rows + r) * columns + columns - 1 - c]
        }
      }
    }
    return flipped
  }

  /// Every sample of a feature-major batch becomes one of the allowed transformations of
  /// itself, found by trying them all (the pixel values are distinct, so only one can match);
  /// over enough samples every shift and both flips occur, and the columns past the batch are
  /// left alone.
  @Test func eachSampleIsAShiftedAndPossiblyMirroredCopyOfItself() {
    let (channels, rows, columns, shift) = (2, 5, 6, 2)
    let features = channels * rows * columns
    let count = 300
    let ld = count + 3
    var batch = [Float](repeating: -1, count: features * ld)
    for f in 0..<features {
      for j in 0..<count { batch[f * ld + j] = Float(1 + f + j * features) }
    }
    let original = batch
    var generator = SeededGenerator(seed: 7)
    var scratch = [Float](repeating: 0, count: features)
    batch.withUnsafeMutableBufferPointer { batch in
      scratch.withUnsafeMutableBufferPointer { scratch in
        ImageAugmentation(shift: shift, flips: true).apply(
          to: batch.baseAddress!, leadingDimension: ld, count: count, channels: channels, rows: rows,
          columns: columns, scratch: scratch.baseAddress!, generator: &generator)
      }
    }
    var seen = Set<[Int]>()
    for j in 0..<count {
      let before = (0..<features).map { original[$0 * ld + j] }
      let after = (0..<features).map { batch[$0 * ld + j] }
      var matches: [[Int]] = []
      for dy in -shift...shift {
        for dx in -shift...shift {
          for flip in [false, true]
          where reference(before, channels: channels, rows: rows, columns: columns, dy: dy, dx: dx, flip: flip) == after {
            matches.append([dy, dx, flip ? 1 : 0])
          }
        }
      }
      #expect(matches.count == 1, "sample \(j) is no single allowed transformation of itself")
      seen.formUnion(matches)
    }
    #expect(seen.count == (2 * shift + 1) * (2 * shift + 1) * 2)
    for f in 0..<features {
      for j in count..<ld { #expect(batch[f * ld + j] == -1) }
    }
  }

  @Test func noShiftAndNoFlipLeaveTheBatchAsItIs() {
    let features = 12
    var batch = (0..<(features * 4)).map(Float.init)
    let original = batch
    var generator = SeededGenerator(seed: 1)
    var scratch = [Float](repeating: 0, count: features)
    batch.withUnsafeMutableBufferPointer { batch in
      scratch.withUnsafeMutableBufferPointer { scratch in
        ImageAugmentation(shift: 0, flips: false).apply(
          to: batch.baseAddress!, leadingDimension: 4, count: 4, channels: 1, rows: 3, columns: 4,
          scratch: scratch.baseAddress!, generator: &generator)
      }
    }
    #expect(batch == original)
  }

  /// Augmented training repeats under its seed and trains on other images than plain training.
  @Test func augmentedTrainingIsSeededAndDiffersFromPlainTraining() throws {
    let dataset = bandDataset(samples: 96, classes: 4, side: 6, seed: 1)
    var generator = SeededGenerator(seed: 2)
    let model = Model(architecture: .mlp(widths: [36, 12, 4]), generator: &generator)
    func run(_ augmentation: ImageAugmentation?) throws -> Model {
      try Trainer.train(
        model, on: dataset,
        options: TrainingOptions(epochs: 2, batchSize: 16, augmentation: augmentation, seed: 3, threads: 1)
      ).model
    }
    #expect(try run(.standard) == run(.standard))
    #expect(try run(.standard) != run(nil))
  }
}
