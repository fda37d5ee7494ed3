/// What to prune: the criterion, what it scores, the scope, how much and where.
public struct PruningRequest: Sendable, Equatable {
  public var criterion: Criterion
  public var granularity: Granularity
  public var scope: PruningScope
  public var rule: PruningRule
  /// The layers to prune: each path names a weighted layer's module, or a module whose weighted
  /// layers are all meant (`layer1`), or a weight (`0.weight`); `nil` means every prunable
  /// layer.
  public var layers: [ParameterPath]?

  public init(
    criterion: Criterion, granularity: Granularity? = nil, scope: PruningScope = .layer, rule: PruningRule,
    layers: [ParameterPath]? = nil
  ) {
    self.criterion = criterion
    self.granularity = granularity ?? criterion.defaultGranularity
    self.scope = scope
    self.rule = rule
    self.layers = layers
  }
}

/// What one pruning step did to a layer.
public struct LayerPruning: Sendable, Equatable {
  /// The path of the layer's module.
  public var layer: ParameterPath
  /// Weights or neurons (per the request's granularity) pruned by this step.
  public var prunedUnits: Int { prunedIndices.count }
  /// Their indices: flat weight indices, or neuron (row) indices.
  public var prunedIndices: [Int]
  /// Units still kept before this step.
  public var keptUnitsBefore: Int
  /// Units sharing the score at the cut when some of them were pruned and some kept: the
  /// choice among them was made by lowest index first. 0 when the cut is unambiguous.
  public var tiesAtCut: Int
}

/// Turns scores into masks with the semantics of `torch.nn.utils.prune`.
///
/// Pruning is cumulative: only entries still kept compete, and a fraction applies to their
/// number. Ties are broken by lowest flat index (in global scope, layers are concatenated in
/// order, as `parameters_to_vector` does). Linear and Conv2d layers are treated alike, as
/// matrices of one row per neuron or filter. Neuron pruning never touches the output layer, whose
/// neurons are the classes.
public enum Pruner {
  /// Applies one pruning step to `model` given scores for the layers to prune.
  ///
  /// - Returns: the pruned model (masks updated, pruned weights zeroed) and per-layer counts.
  /// - Throws: `ShearsError` when the request does not fit the model: an unknown layer, the
  ///   output layer in neuron pruning, a count larger than what is left, a global scope the
  ///   criterion cannot rank.
  public static func prune(
    _ model: Model, request: PruningRequest, scores: [LayerScores]
  ) throws -> (model: Model, layers: [LayerPruning]) {
    let targets = try targetLayers(of: model, request: request)
    let scoresByLayer = Dictionary(scores.map { ($0.layer, $0) }, uniquingKeysWith: { first, _ in first })
    var candidates: [Candidates] = []
    let groups = request.granularity == .neuron ? Dictionary(model.channelGroups.map { ($0.leader, $0) }, uniquingKeysWith: { a, _ in a }) : [:]
    for path in targets {
      guard let dense = model.weightedLayer(at: path), let layerScores = scoresByLayer[path],
        layerScores.granularity == request.granularity,
        layerScores.values.count == (request.granularity == .weight ? dense.weight.count : dense.outputCount)
      else {
        throw ShearsError("layer \(path)", "no \(request.granularity) scores for this layer")
      }
      candidates.append(
        Candidates(layer: path, dense: dense, scores: layerScores.values, granularity: request.granularity, model: model, group: groups[path]))
    }

    var selections: [[Int]] = []
    var ties: [Int] = []
    switch (request.rule, request.scope) {
    case (.fraction, .global), (.count, .global):
      let total = candidates.reduce(0) { $0 + $1.kept.count }
      let count = try unitCount(request.rule, kept: total, subject: "the selected layers")
      selections = selectLowest(count, across: candidates)
    case (.alpha(let alpha), .global):
      let maximum = candidates.map(\.maximumKeptScore).max() ?? 0
      selections = candidates.map { $0.kept(below: alpha * maximum) }
    case (.standardDeviations, .global):
      throw ShearsError("--std", "is a per-layer rule; use it with --scope layer")
    case (_, .row):
      for layer in candidates {
        let rows = try layer.rows.enumerated().map { index, row in
          (row, try select(request.rule, from: row, criterion: request.criterion, subject: "row \(index) of layer \(layer.layer)"))
        }
        selections.append(rows.flatMap(\.1))
        ties.append(rows.reduce(0) { $0 + $1.0.ties(atCutOf: $1.1) })
      }
    case (_, .layer), (.threshold, .global):
      selections = try candidates.map {
        try select(request.rule, from: $0, criterion: request.criterion, subject: "layer \($0.layer)")
      }
    }
    if ties.isEmpty { ties = zip(candidates, selections).map { $0.ties(atCutOf: $1) } }

    var pruned = model
    var report: [LayerPruning] = []
    for ((layer, selection), tiesAtCut) in zip(zip(candidates, selections), ties) {
      if let group = layer.group {
        pruned = pruned.pruningChannels(selection, of: group)
      } else {
        var dense = layer.dense
        var mask = dense.keptMask
        for unit in selection { mask[unit] = 0 }
        dense.setMask(mask)
        pruned.replaceWeightedLayer(at: layer.layer, with: dense)
      }
      report.append(
        LayerPruning(
          layer: layer.layer, prunedIndices: selection.sorted(), keptUnitsBefore: layer.kept.count, tiesAtCut: tiesAtCut))
    }
    return (pruned, report)
  }

  /// The layers a request prunes, in module order, checked against the model. Neurons and
  /// filters are pruned by `ChannelGroup`, each named by its leader: a layer named in
  /// `request.layers` stands for the group of its outputs.
  public static func targetLayers(of model: Model, request: PruningRequest) throws -> [ParameterPath] {
    let dense = model.weightedLayers.map(\.path)
    guard let outputLayer = dense.last else { throw ShearsError("model", "has no layers to prune") }
    guard request.criterion.supportedGranularities.contains(request.granularity) else {
      throw ShearsError("--criterion \(request.criterion.rawValue)", "cannot score single \(request.granularity)s")
    }
    if request.scope == .global && !request.criterion.supportsGlobalScope(request.granularity) {
      throw ShearsError(
        "--criterion \(request.criterion.rawValue)",
        "neuron scores are not comparable across layers; use --scope layer")
    }
    if request.scope == .row && request.granularity != .weight {
      throw ShearsError("--scope row", "ranks single weights within each row; structured pruning removes whole rows, use --scope layer")
    }
    guard request.granularity == .neuron else {
      guard let requested = request.layers else { return dense }
      let chosen = Set(try requested.flatMap { try layers(named: $0, in: model) })
      return dense.filter(chosen.contains)
    }
    let groups = model.channelGroups
    guard let requested = request.layers else { return groups.map(\.leader) }
    var chosen = Set<ParameterPath>()
    for path in requested {
      for layer in try layers(named: path, in: model) {
        guard let group = groups.first(where: { $0.producers.contains(layer) }) else {
          guard layer == outputLayer else { continue }
          throw ShearsError("--layers \(path)", "is the output layer; its neurons are the classes and cannot be pruned")
        }
        chosen.insert(group.leader)
      }
    }
    return groups.map(\.leader).filter(chosen.contains)
  }

  /// The weighted layers `path` names: the layer whose module or weight it is, or every
  /// weighted layer under the module it names.
  /// - Throws: `ShearsError` naming `--layers` when it names none.
  public static func layers(named path: ParameterPath, in model: Model) throws -> [ParameterPath] {
    let dense = model.weightedLayers.map(\.path)
    if let parent = path.parent, path.name == "weight", dense.contains(parent) { return [parent] }
    let within = dense.filter { $0.isWithin(path) }
    guard !within.isEmpty, path != .root else { throw ShearsError("--layers \(path)", noSuchLayer(in: model)) }
    return within
  }

  /// What is wrong with a layer name that names none of `model`'s weighted layers, listing
  /// them: "no such Linear layer (the model has 0, 2)", or "Linear or Conv2d layer" when the
  /// model has convolutions.
  static func noSuchLayer(in model: Model) -> String {
    let names = model.weightedLayers.map(\.path.description).joined(separator: ", ")
    return "no such \(model.hasConvolutions ? "Linear or Conv2d" : "Linear") layer (the model has \(names))"
  }

  /// How many units a fraction or count rule prunes among `kept`.
  static func unitCount(_ rule: PruningRule, kept: Int, subject: String) throws -> Int {
    switch rule {
    case .fraction(let fraction):
      return Int((fraction * Double(kept)).rounded(.toNearestOrEven))
    case .count(let count):
      guard count <= kept else {
        throw ShearsError("--amount \(count)", "is more than the \(kept) left to prune in \(subject)")
      }
      return count
    default:
      return 0
    }
  }

  /// The kept units of `units` (a layer, or a row of one) that `rule` prunes.
  static func select(_ rule: PruningRule, from units: Candidates, criterion: Criterion, subject: String) throws -> [Int] {
    switch rule {
    case .fraction, .count:
      return selectLowest(try unitCount(rule, kept: units.kept.count, subject: subject), across: [units])[0]
    case .threshold(let threshold):
      return units.kept(below: threshold)
    case .alpha(let alpha):
      return units.kept(below: alpha * units.maximumKeptScore)
    case .standardDeviations(let k):
      let spread = criterion.scorer.spreadsByWeights ? units.keptWeightDeviation : units.keptScoreDeviation
      return units.kept(below: k * spread)
    }
  }

  /// The `count` lowest-scoring kept units across layers, lowest flat index first among ties;
  /// one list of unit indices per layer.
  static func selectLowest(_ count: Int, across layers: [Candidates]) -> [[Int]] {
    var pool: [(score: Float, layer: Int, unit: Int)] = []
    pool.reserveCapacity(layers.reduce(0) { $0 + $1.kept.count })
    for (position, layer) in layers.enumerated() {
      for unit in layer.kept { pool.append((layer.scores[unit], position, unit)) }
    }
    pool.sort(by: ScoreOrder.precedes)
    var selections = [[Int]](repeating: [], count: layers.count)
    for entry in pool.prefix(count) { selections[entry.layer].append(entry.unit) }
    return selections
  }
}

/// The units of one layer that are still kept, with their scores.
struct Candidates {
  let layer: ParameterPath
  let dense: WeightedLayer
  let scores: [Float]
  let granularity: Granularity
  /// The channels pruned together when the units are neurons or filters.
  let group: ChannelGroup?
  /// Indices of the kept units: weights whose mask is 1, or channels with any kept weight.
  let kept: [Int]

  /// - Parameter group: for neuron granularity, the group the layer leads (its own rows when
  ///   nil).
  init(layer: ParameterPath, dense: WeightedLayer, scores: [Float], granularity: Granularity, model: Model, group: ChannelGroup?) {
    self.layer = layer
    self.dense = dense
    self.scores = scores
    self.granularity = granularity
    switch granularity {
    case .weight:
      self.group = nil
      let mask = dense.keptMask
      kept = mask.indices.filter { mask[$0] != 0 }
    case .neuron:
      let group = group ?? ChannelGroup(layer: layer, channels: dense.outputCount)
      self.group = group
      let keptChannels = model.keptChannels(of: group)
      kept = keptChannels.indices.filter { keptChannels[$0] }
    }
  }

  private init(row candidates: Candidates, kept: [Int]) {
    layer = candidates.layer
    dense = candidates.dense
    scores = candidates.scores
    granularity = candidates.granularity
    group = nil
    self.kept = kept
  }

  /// For weight granularity, the kept weights of each row on their own, every row in order
  /// (a row with no kept weight included).
  var rows: [Candidates] {
    let columns = dense.inputCount
    var rows = [[Int]](repeating: [], count: dense.outputCount)
    for unit in kept { rows[unit / columns].append(unit) }
    return rows.map { Candidates(row: self, kept: $0) }
  }

  var maximumKeptScore: Float { kept.map { scores[$0] }.max() ?? 0 }

  /// Kept units scoring strictly below `limit`.
  func kept(below limit: Float) -> [Int] { kept.filter { scores[$0] < limit } }

  /// Standard deviation of the kept weights (Han et al.'s spread): of the units, for weight
  /// granularity; of the layer's, for neurons.
  var keptWeightDeviation: Float {
    guard granularity == .neuron else { return Self.standardDeviation(kept.map { Double(dense.weight.scalars[$0]) }) }
    let mask = dense.keptMask
    let values = dense.weight.scalars.indices.filter { mask[$0] != 0 }.map { Double(dense.weight.scalars[$0]) }
    return Self.standardDeviation(values)
  }

  /// Standard deviation of the kept units' scores.
  var keptScoreDeviation: Float { Self.standardDeviation(kept.map { Double(scores[$0]) }) }

  /// Units tied with the highest pruned score, when the tie straddles the cut.
  func ties(atCutOf selection: [Int]) -> Int {
    guard let cut = selection.map({ scores[$0] }).max() else { return 0 }
    let tied = kept.filter { scores[$0] == cut }.count
    let tiedAndPruned = selection.filter { scores[$0] == cut }.count
    return tied > tiedAndPruned ? tied : 0
  }

  static func standardDeviation(_ values: [Double]) -> Float {
    guard !values.isEmpty else { return 0 }
    let mean = values.reduce(0, +) / Double(values.count)
    let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count)
    return Float(variance.squareRoot())
  }
}
