/// Random transformations of training images, drawn afresh for every sample of every batch:
/// torchvision's `RandomCrop(size, padding: shift)` followed by `RandomHorizontalFlip()`.
///
/// The crop pads the image with `shift` zero pixels on every side and cuts a window of the
/// original size at a random offset, so each image moves by up to `shift` pixels along each axis
/// and the uncovered border reads zero (black, as the padding of `ToTensor` inputs does).
public struct ImageAugmentation: Sendable, Equatable {
  /// The largest shift in pixels along each axis, at least 0.
  public var shift: Int
  /// Whether to mirror each image left to right with probability 1/2.
  public var flips: Bool

  public init(shift: Int, flips: Bool) {
    self.shift = max(0, shift)
    self.flips = flips
  }

  /// The transformations `train --augment` applies: shifts of up to 4 pixels and flips (the
  /// usual augmentation of CIFAR ResNets, He et al. 2016, which suits Fashion-MNIST's
  /// left-right symmetric garments too).
  public static let standard = ImageAugmentation(shift: 4, flips: true)

  /// Transforms samples `0..<count` of a feature-major batch in place:
  /// `batch[f * ld + j]` is feature `f` (channel-major `[channels, rows, columns]`) of sample `j`.
  ///
  /// - Parameters:
  ///   - scratch: room for one sample, `channels * rows * columns` floats.
  ///   - generator: draws each sample's offset and flip, so a seeded run repeats.
  /// - Complexity: O(count · channels · rows · columns), no allocation.
  func apply(
    to batch: UnsafeMutablePointer<Float>, leadingDimension ld: Int, count: Int,
    channels: Int, rows: Int, columns: Int, scratch: UnsafeMutablePointer<Float>,
    generator: inout SeededGenerator
  ) {
    let plane = rows * columns
    let features = channels * plane
    for j in 0..<count {
      let dy = shift > 0 ? Int.random(in: -shift...shift, using: &generator) : 0
      let dx = shift > 0 ? Int.random(in: -shift...shift, using: &generator) : 0
      let flip = flips && Bool.random(using: &generator)
      if dy == 0 && dx == 0 && !flip { continue }
      for f in 0..<features { scratch[f] = batch[f * ld + j] }
      for channel in 0..<channels {
        let source = scratch + channel * plane
        let destination = batch + (channel * plane) * ld + j
        for r in 0..<rows {
          let sourceRow = r + dy
          let rowInside = sourceRow >= 0 && sourceRow < rows
          for c in 0..<columns {
            // Crop, then flip: output column c reads the cropped column columns-1-c.
            let sourceColumn = (flip ? columns - 1 - c : c) + dx
            let inside = rowInside && sourceColumn >= 0 && sourceColumn < columns
            destination[(r * columns + c) * ld] = inside ? source[sourceRow * columns + sourceColumn] : 0
          }
        }
      }
    }
  }
}
