import Foundation

/// A seeded pseudo-random generator (xoshiro256**), so that a run with the same seed repeats.
///
/// The state is expanded from the seed with SplitMix64, as the xoshiro authors recommend.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
  private var state: (UInt64, UInt64, UInt64, UInt64)

  public init(seed: UInt64) {
    var mixer = seed
    func splitMix() -> UInt64 {
      mixer &+= 0x9E37_79B9_7F4A_7C15
      var z = mixer
      z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
      z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
      return z ^ (z >> 31)
    }
    state = (splitMix(), splitMix(), splitMix(), splitMix())
  }

  public mutating func next() -> UInt64 {
    let result = rotate(state.1 &* 5, 7) &* 9
    let shifted = state.1 << 17
    state.2 ^= state.0
    state.3 ^= state.1
    state.1 ^= state.2
    state.0 ^= state.3
    state.2 ^= shifted
    state.3 = rotate(state.3, 45)
    return result
  }

  /// A uniform float in [0, 1) with 24 random bits.
  public mutating func nextUnitFloat() -> Float {
    Float(next() >> 40) * 0x1p-24
  }

  /// A standard normal sample (Box-Muller; the second value of each pair is dropped for simplicity).
  public mutating func nextNormal() -> Float {
    let u1 = max(Double(next() >> 11) * 0x1p-53, .leastNonzeroMagnitude)
    let u2 = Double(next() >> 11) * 0x1p-53
    return Float((-2 * log(u1)).squareRoot() * cos(2 * .pi * u2))
  }

  private func rotate(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }
}
