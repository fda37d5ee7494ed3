@testable import PruneEngine

/// Whether two floats agree within an absolute plus relative tolerance.
func isClose(_ a: Float, _ b: Float, absolute: Float = 1e-5, relative: Float = 1e-4) -> Bool {
  abs(a - b) <= absolute + relative * max(abs(a), abs(b))
}

func isClose(_ a: Double, _ b: Double, absolute: Double = 1e-9, relative: Double = 1e-6) -> Bool {
  abs(a - b) <= absolute + relative * max(abs(a), abs(b))
}

/// Uniform random floats in [-1, 1) from a seeded generator.
func randomFloats(_ count: Int, seed: UInt64) -> [Float] {
  var generator = SeededGenerator(seed: seed)
  return (0..<count).map { _ in generator.nextUnitFloat() * 2 - 1 }
}

/// A small labelled dataset of `classes` easy-to-separate classes: class `c` lights up its own
/// band of pixels, with seeded noise everywhere.
func bandDataset(samples: Int, classes: Int, side: Int = 4, seed: UInt64) -> Dataset {
  var generator = SeededGenerator(seed: seed)
  let features = side * side
  var images = [UInt8](repeating: 0, count: samples * features)
  var labels = [UInt8](repeating: 0, count: samples)
  for sample in 0..<samples {
    let label = sample % classes
    labels[sample] = UInt8(label)
    for f in 0..<features {
      let inBand = f * classes / features == label
      let noise = Int(generator.next() % 90)
      images[sample * features + f] = UInt8(inBand ? 160 + noise : noise)
    }
  }
  return Dataset(images: images, labels: labels, rows: side, columns: side)
}

extension Dataset {
  /// Input `feature` of `sample` as the engine feeds it (a byte over 255, a float as stored), in
  /// double precision for reference implementations.
  func input(_ sample: Int, _ feature: Int) -> Double {
    switch pixels {
    case .bytes(let bytes): Double(bytes[sample * featureCount + feature]) / 255
    case .floats(let floats): Double(floats[sample * featureCount + feature])
    }
  }
}
