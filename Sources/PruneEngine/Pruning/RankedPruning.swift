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

  /// Ranks the kept units of `model` by `scores` (one entry per layer to prune), in layer or
  /// global scope: row scope prunes each row by its own count, which no per-layer count of one
  /// ranking gives (the explorer offers layer and global scope).
  public init(model: Model, scores: [LayerScores], scope: PruningScope) {
    precondition(scope != .row, "row scope is pruned by Pruner")
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
          layer: layerScores.layer, group: candidates.group, units: units, alreadyPruned: units - order.count,
          order: order))
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
    pruned(base, counts: counts(targets: targets), from: nil).model
  }

  /// How many of each ranked layer's kept units `targets` prune: the length of the prefix of
  /// the layer's ranking that is pruned. In global scope too a layer's pruned units are a
  /// prefix of its own ranking (the global ranking orders each layer's units as its own does).
  /// - Complexity: O(layers) in layer scope; O(units pruned) in global scope.
  public func counts(targets: [ParameterPath: Double]) -> [ParameterPath: Int] {
    var counts = [Int](repeating: 0, count: layers.count)
    switch scope {
    case .layer, .row:
      for (position, layer) in layers.enumerated() {
        counts[position] = Self.count(target: targets[layer.layer] ?? 0, units: layer.units, alreadyPruned: layer.alreadyPruned)
      }
    case .global:
      let target = layers.compactMap { targets[$0.layer] }.max() ?? 0
      let units = layers.reduce(0) { $0 + $1.units }
      let pruned = layers.reduce(0) { $0 + $1.alreadyPruned }
      for entry in globalOrder.prefix(Self.count(target: target, units: units, alreadyPruned: pruned)) {
        counts[Int(entry.layer)] += 1
      }
    }
    return Dictionary(uniqueKeysWithValues: zip(layers.map(\.layer), counts))
  }

  /// `base` with each ranked layer's `counts` lowest-ranked kept units pruned, made from
  /// `previous` (this ranking's pruning of `base` to other counts) by changing only the masks
  /// of the layers whose count differs and only at the units between the two counts: the
  /// model equals `pruned(base, targets:)` for targets with these counts.
  /// - Returns: the model and the layers whose weights differ from `previous`'s (every layer
  ///   with a count when there is no previous pruning).
  /// - Complexity: O(weights of the changed layers), which are copied once each.
  public func pruned(
    _ base: Model, counts: [ParameterPath: Int], from previous: (model: Model, counts: [ParameterPath: Int])?
  ) -> (model: Model, changed: [ParameterPath]) {
    var model = previous?.model ?? base
    var changed: [ParameterPath] = []
    for layer in layers {
      let count = counts[layer.layer] ?? 0
      let before = previous.map { $0.counts[layer.layer] ?? 0 } ?? 0
      guard previous == nil ? count > 0 : count != before else { continue }
      guard let original = base.weightedLayer(at: layer.layer) else { continue }
      // Channels coupled to other layers or to BatchNorms are pruned as their whole group,
      // from the base.
      if let group = layer.group, group.producers.count > 1 || !group.norms.isEmpty {
        model = model.restoring(group, from: base).pruningChannels(layer.order.prefix(count).map(Int.init), of: group)
        changed += group.producers
        continue
      }
      changed.append(layer.layer)
      // A layer left unpruned is the base's own, mask and all.
      guard count > 0 else {
        model.replaceWeightedLayer(at: layer.layer, with: original)
        continue
      }
      let from = before > 0 ? previous?.model.weightedLayer(at: layer.layer) : nil
      var dense = from ?? original
      var mask = dense.keptMask
      let originalMask = original.mask
      let columns = granularity == .weight ? 1 : dense.inputCount
      let start = from == nil ? 0 : before
      dense.weight.scalars.withUnsafeMutableBufferPointer { weights in
        original.weight.scalars.withUnsafeBufferPointer { originals in
          if count > start {
            for unit in layer.order[start..<count] {
              for index in (Int(unit) * columns)..<((Int(unit) + 1) * columns) {
                mask[index] = 0
                weights[index] = 0
              }
            }
          } else {
            for unit in layer.order[count..<start] {
              for index in (Int(unit) * columns)..<((Int(unit) + 1) * columns) {
                mask[index] = originalMask?[index] ?? 1
                weights[index] = originals[index]
              }
            }
          }
        }
      }
      dense.setMask(mask)
      model.replaceWeightedLayer(at: layer.layer, with: dense)
    }
    return (model, changed)
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
