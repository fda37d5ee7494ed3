import Foundation
import ArgumentParser
import PruneEngine

extension Criterion: ExpressibleByArgument {}
extension PruningScope: ExpressibleByArgument {}

/// `--criterion`, `--scope`, `--structured`, `--layers` and `--seed`: what to score and where.
struct CriterionOptions: ParsableArguments {
  @Option(
    name: .long,
    help: ArgumentHelp(
      "magnitude, random, gradient, taylor, neuron-l2, filter-l1, activation, apoz, redundancy or bn-scale.",
      valueName: "C"))
  var criterion: Criterion

  @Option(
    name: .long,
    help: "layer: each layer pruned on its own; global: one ranking over all layers; row: each row (neuron, filter) of each layer on its own, as Wanda compares weights.")
  var scope: PruningScope = .layer

  @Flag(name: .long, help: "Score whole neurons or filters with taylor (the neuron criteria always do).")
  var structured = false

  @Option(
    name: .long,
    help: ArgumentHelp(
      "Prune only these Linear or Conv2d layers, e.g. 0,2 (default: all); a module path names every layer under it.",
      valueName: "LIST"))
  var layers: String?

  @Option(name: .long, help: "Seed for the random criterion, 0 to 2^64-1.")
  var seed: UInt64 = 1

  var granularity: Granularity { structured ? .neuron : criterion.defaultGranularity }

  /// The `--layers` paths, checked as names (the model checks they exist).
  func layerPaths() throws -> [ParameterPath]? {
    guard let layers else { return nil }
    return try layers.split(separator: ",", omittingEmptySubsequences: false).map { field in
      guard let path = ParameterPath(field.trimmingCharacters(in: .whitespaces)), path != .root else {
        throw ShearsError(
          "--layers \(layers)",
          "'\(field)' is not a layer name (a module path as the state dict names it: 0,2 in an MLP)")
      }
      return path
    }
  }

  func request(rule: PruningRule) throws -> PruningRequest {
    PruningRequest(criterion: criterion, granularity: granularity, scope: scope, rule: rule, layers: try layerPaths())
  }

  /// A short description for histories and reports: `magnitude scope=layer`.
  var summary: String {
    "\(criterion.rawValue)\(structured ? " structured" : "") scope=\(scope.rawValue)"
      + (layers.map { " layers=\($0)" } ?? "")
  }
}

/// `--amount | --threshold | --alpha | --std`: how much to prune (exactly one).
struct AmountOptions: ParsableArguments {
  // `.unconditional`: the word after the option is its value even when it starts with a dash,
  // so `--amount -0.1` reaches the range check (an error naming the value) instead of the
  // parser reporting a missing value.
  @Option(
    name: .long, parsing: .unconditional,
    help: ArgumentHelp(
      "Fraction of the remaining weights to prune, \(OptionRange<Double>.fraction.text); "
        + "an integer above 1 is a count.",
      valueName: "F"))
  var amount: String?

  @Option(
    name: .long, parsing: .unconditional,
    help: ArgumentHelp("Prune scores below T, \(OptionRange<Float>.finite.text).", valueName: "T"))
  var threshold: Float?

  @Option(
    name: .long, parsing: .unconditional,
    help: ArgumentHelp("Prune scores below A x the largest score, A \(Self.scaleRange.text).", valueName: "A"))
  var alpha: Float?

  @Option(
    name: .long, parsing: .unconditional,
    help: ArgumentHelp(
      "Prune below K x the layer's weight standard deviation, K \(Self.scaleRange.text).", valueName: "K"))
  var std: Float?

  /// `--alpha` and `--std` scale a score; a negative scale would prune nothing.
  static var scaleRange: OptionRange<Float> { .atLeast(0) }

  func validate() throws {
    let given = [amount != nil, threshold != nil, alpha != nil, std != nil].filter { $0 }.count
    guard given == 1 else { throw ValidationError("give exactly one of --amount, --threshold, --alpha or --std") }
    if let amount { _ = try Self.parseAmount(amount, option: "--amount") }
    try OptionRange<Float>.finite.check(threshold, option: "--threshold")
    try Self.scaleRange.check(alpha, option: "--alpha")
    try Self.scaleRange.check(std, option: "--std")
  }

  /// The rule; `validate()` has checked its value.
  func rule() throws -> PruningRule {
    if let amount { return try Self.parseAmount(amount, option: "--amount") }
    if let threshold { return .threshold(threshold) }
    if let alpha { return .alpha(alpha) }
    return .standardDeviations(std ?? 0)
  }

  /// `0.9` is a fraction, `1` prunes everything, `300` (no decimal point) is a count; whether a
  /// count fits a layer is the model's to say.
  /// - Throws: `ValidationError` (bad usage) naming `option` when the text is neither.
  static func parseAmount(_ text: String, option: String) throws -> PruningRule {
    let trimmed = text.trimmingCharacters(in: .whitespaces)
    if let count = Int(trimmed), count > 1 { return .count(count) }
    guard let fraction = Double(trimmed), OptionRange<Double>.fraction.contains(fraction) else {
      throw ValidationError(
        "\(option) must be a fraction \(OptionRange<Double>.fraction.text) or a whole count above 1 (got '\(text)')")
    }
    return .fraction(fraction)
  }

  /// For histories: `amount=0.9`.
  var summary: String {
    if let amount { return "amount=\(amount)" }
    if let threshold { return "threshold=\(threshold)" }
    if let alpha { return "alpha=\(alpha)" }
    return "std=\(std ?? 0)"
  }
}
