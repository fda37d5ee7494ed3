// MARK: - Physical shrink

extension Model {
  /// The model with its dead hidden neurons removed: the smaller network that computes the same
  /// outputs.
  ///
  /// A hidden neuron is dead when its row of the `[out, in]` weight is fully pruned (its mask row
  /// is all zeros): it then outputs the constant `relu(bias)` whatever the input. It is removed
  /// from its layer (a row of the weight, an entry of the bias and of the mask) and from the next
  /// WeightedLayer layer's inputs (a column of its weight and mask), and its constant times that column
  /// is folded into the next layer's bias, so the shrunk model computes what the masked model
  /// computes, up to rounding. Layers are visited in order, so a neuron of the next layer whose
  /// only kept weights came from removed neurons is dead in turn and removed too.
  ///
  /// Output neurons (the classes) are never removed, and a hidden layer keeps at least one
  /// neuron (its lowest-numbered dead one) so that every layer has a width.
  ///
  /// - Returns: the shrunk model and, per WeightedLayer layer position that lost neurons, their numbers
  ///   in the original layer, ascending.
  /// - Complexity: O(parameters).
  public func shrunk() -> (model: Model, removed: [Int: [Int]]) {
    var layers = self.layers
    var removed: [Int: [Int]] = [:]
    let positions = weightedLayers.map(\.index)
    for (k, position) in positions.enumerated().dropLast() {
      let nextPosition = positions[k + 1]
      guard case .weighted(let layer) = layers[position], case .weighted(let next) = layers[nextPosition],
        let mask = layer.mask
      else { continue }
      let inputs = layer.inputCount
      var dead = (0..<layer.outputCount).filter { row in
        mask[(row * inputs)..<((row + 1) * inputs)].allSatisfy { $0 == 0 }
      }
      if dead.count == layer.outputCount { dead.removeFirst() }
      guard !dead.isEmpty else { continue }

      // What the layers between the two WeightedLayer layers do to a constant (only ReLU exists).
      let reluBetween = layers[(position + 1)..<nextPosition].contains(.relu)
      let nextBias = Self.foldedBias(
        of: next, constants: dead.map { reluBetween ? max(0, layer.bias.scalars[$0]) : layer.bias.scalars[$0] },
        columns: dead)
      layers[position] = .weighted(layer.removingOutputs(dead))
      layers[nextPosition] = .weighted(next.removingInputs(dead, bias: nextBias))
      removed[position] = dead
    }
    return (Model(layers: layers), removed)
  }

  /// `next.bias + Σ_j next.weight[:, columns[j]] · constants[j]`, summed in double precision.
  private static func foldedBias(of next: WeightedLayer, constants: [Float], columns: [Int]) -> [Float] {
    let inputs = next.inputCount
    return (0..<next.outputCount).map { row in
      var sum = Double(next.bias.scalars[row])
      for (column, constant) in zip(columns, constants) where constant != 0 {
        sum += Double(next.weight.scalars[row * inputs + column]) * Double(constant)
      }
      return Float(sum)
    }
  }
}

extension WeightedLayer {
  /// The layer without the output neurons `rows` (ascending): their weight rows, biases and mask
  /// rows are dropped.
  func removingOutputs(_ rows: [Int]) -> WeightedLayer {
    let gone = Set(rows)
    let kept = (0..<outputCount).filter { !gone.contains($0) }
    let inputs = inputCount
    let weights = kept.flatMap { weight.scalars[($0 * inputs)..<(($0 + 1) * inputs)] }
    let keptMask = mask.map { mask in kept.flatMap { mask[($0 * inputs)..<(($0 + 1) * inputs)] } }
    return WeightedLayer(
      weight: Tensor(shape: [kept.count, inputs], scalars: weights),
      bias: Tensor(shape: [kept.count], scalars: kept.map { bias.scalars[$0] }), mask: keptMask)
  }

  /// The layer without the inputs `columns` (ascending), with a new bias.
  func removingInputs(_ columns: [Int], bias newBias: [Float]) -> WeightedLayer {
    let gone = Set(columns)
    let kept = (0..<inputCount).filter { !gone.contains($0) }
    let inputs = inputCount
    let weights = (0..<outputCount).flatMap { row in kept.map { weight.scalars[row * inputs + $0] } }
    let keptMask = mask.map { mask in (0..<outputCount).flatMap { row in kept.map { mask[row * inputs + $0] } } }
    return WeightedLayer(
      weight: Tensor(shape: [outputCount, kept.count], scalars: weights),
      bias: Tensor(shape: [outputCount], scalars: newBias), mask: keptMask)
  }
}
