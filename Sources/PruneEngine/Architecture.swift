/// The shape of a network, written as in `--arch`.
///
/// Grammar: `mlp:W0-W1-...-Wn` — Linear layers `W0 -> W1 -> ... -> Wn` with ReLU between, and
/// softmax cross-entropy on the last layer's outputs. `W0` is the input width (784 for 28x28
/// images) and `Wn` the number of classes.
public enum Architecture: Sendable, Equatable, CustomStringConvertible {
  case mlp(widths: [Int])

  /// The LeNet-300-100 baseline of Han et al. 2015 for 28x28 inputs and 10 classes.
  public static let lenet300100 = Architecture.mlp(widths: [784, 300, 100, 10])

  /// Parses an `--arch` value.
  /// - Throws: `ShearsError` naming the value and what is wrong with it.
  public init(parsing text: String) throws {
    let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
    guard parts.count == 2, parts[0] == "mlp" else {
      throw ShearsError("--arch \(text)", "unknown architecture (expected mlp:784-300-100-10)")
    }
    let fields = parts[1].split(separator: "-", omittingEmptySubsequences: false)
    var widths: [Int] = []
    for field in fields {
      guard let width = Int(field), width > 0, width <= 1 << 20 else {
        throw ShearsError("--arch \(text)", "layer width '\(field)' is not a positive integer")
      }
      widths.append(width)
    }
    guard widths.count >= 2 else {
      throw ShearsError("--arch \(text)", "an MLP needs at least an input and an output width")
    }
    self = .mlp(widths: widths)
  }

  public var description: String {
    switch self {
    case .mlp(let widths): "mlp:" + widths.map(String.init).joined(separator: "-")
    }
  }

  /// Number of input features.
  public var inputCount: Int {
    switch self {
    case .mlp(let widths): widths[0]
    }
  }

  /// Number of output classes.
  public var classCount: Int {
    switch self {
    case .mlp(let widths): widths[widths.count - 1]
    }
  }
}
