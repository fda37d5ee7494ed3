import ArgumentParser
import Foundation

/// The values a numeric option accepts.
///
/// An option's `--help` text and its `validate()` check read the same range, so the help says
/// exactly what the parser enforces. The bounds are those a real run needs, with room to spare:
/// they keep every count small enough that no product of counts overflows, no allocation sized
/// by a count is huge, and no accepted value makes a run last hours by accident. NaN is outside
/// every range (it compares false with both bounds), and so are the infinities (the bounds of a
/// floating-point range are finite).
struct OptionRange<Value: Comparable & Sendable>: Sendable {
  let lower: Value
  /// False when values must lie strictly above `lower` (a learning rate above 0).
  let includesLower: Bool
  let upper: Value
  /// The range in words, as help and errors say it: `1 to 10000`.
  let text: String

  func contains(_ value: Value) -> Bool {
    (includesLower ? value >= lower : value > lower) && value <= upper
  }

  /// Refuses a value outside the range with a usage error (exit 2) naming the option and the
  /// value: `--epochs must be 1 to 10000 (got 0)`. An option not given (nil) passes.
  func check(_ value: Value?, option: String) throws {
    guard let value, !contains(value) else { return }
    throw ValidationError("\(option) must be \(text) (got \(value))")
  }
}

extension OptionRange where Value: BinaryInteger {
  init(_ bounds: ClosedRange<Value>) {
    self.init(
      lower: bounds.lowerBound, includesLower: true, upper: bounds.upperBound,
      text: "\(bounds.lowerBound) to \(bounds.upperBound)")
  }
}

extension OptionRange where Value: BinaryFloatingPoint {
  init(_ bounds: ClosedRange<Value>) {
    self.init(
      lower: bounds.lowerBound, includesLower: true, upper: bounds.upperBound,
      text: "\(Self.spelled(bounds.lowerBound)) to \(Self.spelled(bounds.upperBound))")
  }

  /// Values above `lower` and at most `upper`.
  static func above(_ lower: Value, atMost upper: Value) -> Self {
    Self(
      lower: lower, includesLower: false, upper: upper, text: "above \(spelled(lower)) and at most \(spelled(upper))")
  }

  /// `lower` or more, any finite value.
  static func atLeast(_ lower: Value) -> Self {
    Self(lower: lower, includesLower: true, upper: .greatestFiniteMagnitude, text: "\(spelled(lower)) or more")
  }

  /// Any finite value.
  static var finite: Self {
    Self(
      lower: -.greatestFiniteMagnitude, includesLower: true, upper: .greatestFiniteMagnitude, text: "a finite number")
  }

  /// `0`, `1`, `10`: a bound as a user would type it.
  private static func spelled(_ value: Value) -> String { String(format: "%g", Double(value)) }
}

// MARK: - The ranges of Shears' options

extension OptionRange<Int> {
  /// `--epochs`: a long run on the full Fashion-MNIST is about a hundred epochs.
  static var epochs: Self { Self(1...10_000) }
  /// `sweep --finetune-epochs`: as `--epochs`, and 0 skips fine-tuning.
  static var finetuneEpochs: Self { Self(0...10_000) }
  /// `--batch`: samples per optimizer step.
  static var batch: Self { Self(1...65_536) }
  /// `--repetitions`: runs of a timing whose median is reported.
  static var repetitions: Self { Self(1...1_000) }
  /// `finetune --steps`: pruning steps of an iterative schedule (Han et al. use a handful).
  static var steps: Self { Self(1...100) }
  /// `finetune --interval`: training steps between the mask updates of a gradual schedule.
  static var interval: Self { Self(1...1_000_000) }
  /// The number of entries of `--amounts`: each one prunes and evaluates the model once.
  static var amountCount: Self { Self(1...100) }
}

extension OptionRange<Float> {
  /// `--lr`: well above the rates that train a network, below the ones that only overflow it.
  static var learningRate: Self { above(0, atMost: 10) }
  /// `--l1`: the penalty's coefficient; useful values are around 1e-5 to 1e-3.
  static var l1: Self { Self(0...1) }
}

extension OptionRange<Double> {
  /// `--target-sparsity` and the fractions of `--amount` and `--amounts`.
  static var fraction: Self { Self(0...1) }
  /// `--max-memory`, in GiB: at most 2^32 GiB, so that the limit in bytes (2^62) is an `Int`.
  static var memoryGiB: Self {
    Self(lower: 0, includesLower: false, upper: Double(1 << 32), text: "a positive number of GiB")
  }
}
