// MARK: - Physical shrink

extension Model {
  /// The model with its dead hidden neurons and filters removed: the smaller network that
  /// computes the same outputs.
  ///
  /// A hidden neuron or filter is dead when its row of the weight is fully pruned (its mask row
  /// is all zeros): it then outputs the constant `relu(bias)` whatever the input, and max pooling
  /// of a constant is that constant. It is removed from its layer (a row of the weight, an entry
  /// of the bias and of the mask) and from the next weighted layer's inputs, with its constant
  /// times the weights that read it folded into the next layer's bias, so the shrunk model
  /// computes what the masked model computes, up to rounding. What reads it:
  /// - a neuron: its column of the next Linear layer's weight and mask;
  /// - a filter followed by a convolution: its input channel, the `k · k` kernel weights of that
  ///   channel in every filter of the next layer (the fold adds constant × their sum);
  /// - a filter followed by Flatten and a Linear layer: its `H · W` flattened features, channel
  ///   `c` being features `c·H·W ..< (c+1)·H·W` of the (pooled) `[C, H, W]` output.
  ///
  /// Folding into a convolution is exact only when it has no padding: with zero padding, the
  /// windows at the border see zeros instead of the constant. A dead filter whose constant is not
  /// zero and whose next layer is a padded convolution is therefore kept, with its row still fully
  /// pruned; one whose constant is zero (a bias of zero or below, under ReLU) is removed.
  ///
  /// Layers are visited in order, so a neuron of the next layer whose only kept weights came from
  /// removed neurons is dead in turn and removed too. Output neurons (the classes) are never
  /// removed, and a hidden layer keeps at least one neuron (its lowest-numbered dead one) so that
  /// every layer has a width.
  ///
  /// A model that is not an `nn.Sequential` (`isSequential`) comes back as it is: removing a
  /// ResNet's filters means removing the channels coupled to them through BatchNorm and the
  /// residual sums, which this does not do.
  ///
  /// - Returns: the shrunk model and, per weighted layer that lost neurons or filters, their
  ///   numbers in the original layer, ascending.
  /// - Complexity: O(parameters).
  public func shrunk() -> (model: Model, removed: [ParameterPath: [Int]]) {
    guard isSequential else { return (self, [:]) }
    var layers = self.layers
    var removed: [ParameterPath: [Int]] = [:]
    let positions = layers.indices.filter { if case .weighted = layers[$0] { true } else { false } }
    for (k, position) in positions.enumerated().dropLast() {
      let nextPosition = positions[k + 1]
      guard case .weighted(let layer) = layers[position], case .weighted(let next) = layers[nextPosition],
        let mask = layer.mask
      else { continue }
      // What the layers between the two weighted layers do to a constant: ReLU clips it; max
      // pooling and Flatten keep it.
      let reluBetween = layers[(position + 1)..<nextPosition].contains(.relu)
      let constants = layer.bias.scalars.map { reluBetween ? max(0, $0) : $0 }
      let padded = if case .conv(_, let padding) = next.kind { padding > 0 } else { false }
      let inputs = layer.inputCount
      var dead = (0..<layer.outputCount).filter { row in
        (!padded || constants[row] == 0) && mask[(row * inputs)..<((row + 1) * inputs)].allSatisfy { $0 == 0 }
      }
      if dead.count == layer.outputCount { dead.removeFirst() }
      guard !dead.isEmpty else { continue }

      // Each row of this layer feeds `span` consecutive columns of the next weight: 1 for a
      // Linear layer, k · k for a convolution, H · W for a Linear layer after Flatten.
      let span = next.inputCount / layer.outputCount
      let columns = dead.flatMap { row in (row * span)..<((row + 1) * span) }
      let nextBias = Self.foldedBias(of: next, constants: dead.map { constants[$0] }, units: dead, span: span)
      layers[position] = .weighted(layer.removingOutputs(dead))
      layers[nextPosition] = .weighted(next.removingInputs(columns, bias: nextBias))
      removed[sequentialPath(position)] = dead
    }
    return (Model(layers: layers, inputShape: inputShape), removed)
  }

  /// `next.bias + Σ_j constants[j] · Σ next.weight[:, units[j]·span ..< (units[j]+1)·span]`,
  /// summed in double precision.
  private static func foldedBias(of next: WeightedLayer, constants: [Float], units: [Int], span: Int) -> [Float] {
    let inputs = next.inputCount
    return (0..<next.outputCount).map { row in
      var sum = Double(next.bias.scalars[row])
      for (unit, constant) in zip(units, constants) where constant != 0 {
        for column in (unit * span)..<((unit + 1) * span) {
          sum += Double(next.weight.scalars[row * inputs + column]) * Double(constant)
        }
      }
      return Float(sum)
    }
  }
}

extension WeightedLayer {
  /// The layer without the output neurons or filters `rows` (ascending): their weight rows,
  /// biases and mask rows are dropped.
  func removingOutputs(_ rows: [Int]) -> WeightedLayer {
    let gone = Set(rows)
    let kept = (0..<outputCount).filter { !gone.contains($0) }
    let inputs = inputCount
    let weights = kept.flatMap { weight.scalars[($0 * inputs)..<(($0 + 1) * inputs)] }
    let keptMask = mask.map { mask in kept.flatMap { mask[($0 * inputs)..<(($0 + 1) * inputs)] } }
    return WeightedLayer(
      kind: kind, weight: Tensor(shape: [kept.count] + weight.shape.dropFirst(), scalars: weights),
      bias: Tensor(shape: [kept.count], scalars: kept.map { bias.scalars[$0] }), mask: keptMask)
  }

  /// The layer without the input columns `columns` (ascending), with a new bias. For a
  /// convolution the columns must be whole input channels (`kernelArea` columns each).
  func removingInputs(_ columns: [Int], bias newBias: [Float]) -> WeightedLayer {
    let gone = Set(columns)
    let kept = (0..<inputCount).filter { !gone.contains($0) }
    let inputs = inputCount
    let weights = (0..<outputCount).flatMap { row in kept.map { weight.scalars[row * inputs + $0] } }
    let keptMask = mask.map { mask in (0..<outputCount).flatMap { row in kept.map { mask[row * inputs + $0] } } }
    precondition(kept.count % kernelArea == 0, "removing part of an input channel of a convolution")
    let shape =
      isConvolution ? [outputCount, kept.count / kernelArea] + weight.shape.suffix(2) : [outputCount, kept.count]
    return WeightedLayer(
      kind: kind, weight: Tensor(shape: shape, scalars: weights), bias: Tensor(shape: [outputCount], scalars: newBias),
      mask: keptMask)
  }
}
