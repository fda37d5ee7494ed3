/// Pruning the same model to many sparsities quickly: the kept units are ranked once, and each
/// target then costs one pass over the masks instead of a sort (the explorer re-prunes on every
/// key press, sweeps at every level).
///
/// Selection matches `Pruner`: lowest score first, ties by lowest index (layers concatenated in
/// order for global scope), only units kept in the base model compete, and a target counts the
/// units already pruned, as `FineTuning.prune(_:to:request:context:)` does.
public struct RankedPruning: Sendable {
  private struct LayerRanking: Sendable {
    let layer: ParameterPath
    /// The channels pruned together, for neuron granularity.
    let group: ChannelGroup?
    let units: Int
    let alreadyPruned: Int
    /// Kept units, lowest score first.
    let order: [Int32]
  }

  public let granularity: Granularity
  public let scope: PruningScope
  private let layers: [LayerRanking]
  /// Global scope: every kept unit of every layer, lowest score first, as (layer position, unit).
  private let globalOrder: [(layer: Int32, unit: Int32)]

  /// Ranks the kept units of `model` by `scores` (one entry per layer to prune).
  public init(model: Model, scores: [LayerScores], scope: PruningScope) {
    let granularity = scores.first?.granularity ?? .weight
    self.granularity = granularity
    let groups = granularity == .neuron ? Dictionary(model.channelGroups.map { ($0.leader, $0) }, uniquingKeysWith: { a, _ in a }) : [:]
    self.scope = scope
    var layers: [LayerRanking] = []
    var pool: [(score: Float, layer: Int32, unit: Int32)] = []
    for layerScores in scores {
      guard let dense = model.weightedLayer(at: layerScores.layer) else { continue }
      let candidates = Candidates(
        layer: layerScores.layer, dense: dense, scores: layerScores.values, granularity: granularity, model: model,
        group: groups[layerScores.layer])
      let values = layerScores.values
      let order = candidates.kept.sorted { ScoreOrder.precedes((values[$0], 0, $0), (values[$1], 0, $1)) }.map(Int32.init)
      let units = granularity == .weight ? dense.weight.count : dense.outputCount
      let position = Int32(layers.count)
      layers.append(
        LayerRanking(
          layer: layerScores.layer, group: candidates.group, units: units, alreadyPruned: units - order.count, order: order))
      if scope == .global {
        for unit in order { pool.append((values[Int(unit)], position, unit)) }
      }
    }
    pool.sort { ScoreOrder.precedes(($0.score, Int($0.layer), Int($0.unit)), ($1.score, Int($1.layer), Int($1.unit))) }
    self.layers = layers
    globalOrder = pool.map { ($0.layer, $0.unit) }
  }

  /// `base` (the model ranked) pruned to `targets`: per layer with layer scope; with global
  /// scope the largest target applies to all ranked layers together.
  public func pruned(_ base: Model, targets: [ParameterPath: Double]) -> Model {
    var selections = [[Int32]](repeating: [], count: layers.count)
    switch scope {
    case .layer:
      for (position, layer) in layers.enumerated() {
        let target = targets[layer.layer] ?? 0
        let count = Self.count(target: target, units: layer.units, alreadyPruned: layer.alreadyPruned)
        selections[position] = Array(layer.order.prefix(count))
      }
    case .global:
      let target = layers.compactMap { targets[$0.layer] }.max() ?? 0
      let units = layers.reduce(0) { $0 + $1.units }
      let pruned = layers.reduce(0) { $0 + $1.alreadyPruned }
      for entry in globalOrder.prefix(Self.count(target: target, units: units, alreadyPruned: pruned)) {
        selections[Int(entry.layer)].append(entry.unit)
      }
    }
    var model = base
    for (layer, selection) in zip(layers, selections) where !selection.isEmpty {
      if let group = layer.group {
        model = model.pruningChannels(selection.map(Int.init), of: group)
        continue
      }
      guard var dense = base.weightedLayer(at: layer.layer) else { continue }
      var mask = dense.keptMask
      for unit in selection { mask[Int(unit)] = 0 }
      dense.setMask(mask)
      model.replaceWeightedLayer(at: layer.layer, with: dense)
    }
    return model
  }

  /// Units to prune among the kept ones so that `target` of `units` end up pruned: the cumulative
  /// fraction `(target - s) / (1 - s)` of the kept, rounded half to even as `Pruner` rounds it.
  static func count(target: Double, units: Int, alreadyPruned: Int) -> Int {
    let kept = units - alreadyPruned
    guard units > 0, kept > 0 else { return 0 }
    let current = Double(alreadyPruned) / Double(units)
    guard target > current else { return 0 }
    let fraction = (target - current) / (1 - current)
    return min(kept, Int((fraction * Double(kept)).rounded(.toNearestOrEven)))
  }
}
