/// One way of scoring the units of a weighted layer: the value behind each `Criterion`.
///
/// A scorer says what it can score, what the calibration passes must measure for it, and turns
/// a layer (with those measurements) into one score per unit; the `Pruner` prunes the lowest.
/// Each criterion is one file under `Criteria/`, listed in `Criterion.scorer`.
protocol CriterionScorer: Sendable {
  /// What it can score; the first is what it scores unless asked for structured pruning.
  var granularities: [Granularity] { get }
  /// What the calibration passes must measure to score `granularity`; empty for criteria that
  /// score from the weights alone.
  func calibration(for granularity: Granularity) -> CalibrationNeeds
  /// Whether scores of different layers can be ranked together (`--scope global`).
  func ranksAcrossLayers(_ granularity: Granularity) -> Bool
  /// Whether the `--std` rule measures the spread of the layer's kept weights (Han et al.'s
  /// rule) rather than of its scores.
  var spreadsByWeights: Bool { get }
  /// What rewrites the kept weights after the lowest-scoring units are pruned; nil when the
  /// mask is the whole change.
  var rewriting: (any WeightRewriting)? { get }
  /// One score per unit of `layer`: per weight (row-major, as the weight) or per row.
  func scores(_ layer: ScoredLayer) -> [Float]
  /// Why the criterion cannot prune `model`, or nil when it can.
  func problem(with model: Model) -> String?
}

extension CriterionScorer {
  func problem(with model: Model) -> String? { nil }
  func calibration(for granularity: Granularity) -> CalibrationNeeds { [] }
  func ranksAcrossLayers(_ granularity: Granularity) -> Bool { granularity == .weight }
  var spreadsByWeights: Bool { false }
  var rewriting: (any WeightRewriting)? { nil }
}

/// What a scorer sees of one layer.
struct ScoredLayer {
  let path: ParameterPath
  let weights: WeightedLayer
  let granularity: Granularity
  /// The calibration passes' measurements for this layer, as `calibration(for:)` asked.
  let statistics: Calibration.LayerStatistics
  /// The scales (γ) of the BatchNorms normalising the layer's outputs and every output coupled
  /// to them (`ChannelGroup.norms`), when scoring neurons or filters; empty otherwise.
  let normScales: [[Float]]
  let context: ScoringContext
}

/// Statistics a criterion asks the calibration passes for (see `Calibration.LayerStatistics`).
struct CalibrationNeeds: OptionSet, Sendable {
  let rawValue: Int
  /// Mean |∂L/∂w| per weight over mini-batches (a backward pass).
  static let weightGradients = CalibrationNeeds(rawValue: 1 << 0)
  /// Mean post-ReLU output and fraction of zeros per neuron (a forward pass).
  static let activations = CalibrationNeeds(rawValue: 1 << 1)
  /// Mean a · ∂ℓ/∂a per neuron (a backward pass).
  static let activationGradientProducts = CalibrationNeeds(rawValue: 1 << 2)

  var needsBackward: Bool { !isDisjoint(with: [.weightGradients, .activationGradientProducts]) }
}

/// A method that changes the weights a pruning step keeps, given the model before the step and
/// the masked model after it: the redundancy merge now, SparseGPT's weight update later.
protocol WeightRewriting: Sendable {
  func rewrite(original: Model, pruned: Model) -> Model
}
