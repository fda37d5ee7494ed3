// MARK: - Physical shrink

extension Model {
  /// The model with its dead channels removed: the smaller network that computes the same
  /// outputs.
  ///
  /// Channels are removed by `ChannelGroup`, so a ResNet loses a channel from every layer coupled
  /// to it at once. A channel is dead when its row is fully pruned in every producer (its masks'
  /// rows are all zeros) and what it then outputs is known:
  /// - behind BatchNorm, exactly zero when its scale and shift are pruned too (as
  ///   `pruningChannels` prunes them), in training and in inference;
  /// - without BatchNorm, the constant `relu(bias)` whatever the input (max pooling of a
  ///   constant is that constant), which is folded into the consumers' biases: constant × the
  ///   weights that read it.
  ///
  /// A dead channel is removed from its producers (a row of the weight, an entry of the bias and
  /// mask), from its BatchNorms (scale, shift and running statistics) and from every consumer's
  /// inputs. What reads it:
  /// - a Linear layer: its column of the weight and mask, or `H · W` columns after Flatten
  ///   (channel `c` is features `c·H·W ..< (c+1)·H·W` of the `[C, H, W]` output);
  /// - a convolution: its input channel, the `k · k` kernel weights of that channel in every
  ///   filter (the fold adds constant × their sum).
  ///
  /// Folding into a convolution is exact only when it has no padding: with zero padding, the
  /// windows at the border see zeros instead of the constant. A dead channel whose constant is not
  /// zero and that a padded or bias-free layer reads is therefore kept, with its rows still fully
  /// pruned; one whose constant is zero is removed.
  ///
  /// Groups are visited in module order, so a neuron of a later layer whose only kept weights came
  /// from removed channels is dead in turn and removed too. Output neurons (the classes) are never
  /// removed, and every group keeps at least one channel (its lowest-numbered dead one) so that
  /// every layer has a width.
  ///
  /// - Returns: the shrunk model and, per group that lost channels (by its leader, the first
  ///   producer), their numbers in the original model, ascending.
  /// - Complexity: O(parameters).
  public func shrunk() -> (model: Model, removed: [ParameterPath: [Int]]) {
    var store = ShrinkingStore(self)
    var removed: [ParameterPath: [Int]] = [:]
    let leaves = (try? module.leaves(input: inputShape).leaves) ?? []
    for group in channelGroups {
      guard let constants = store.deadConstants(of: group, leaves: leaves) else { continue }
      let padded = group.consumers.contains { consumer in
        if case .conv(_, let padding) = store.kinds[consumer.layer], padding > 0 { true } else { false }
      }
      let biasFree = group.consumers.contains { store.parameters[$0.layer.appending("bias")] == nil }
      var dead = (0..<group.channels).filter { channel in
        guard let constant = constants[channel] else { return false }
        return constant == 0 || (!padded && !biasFree)
      }
      if dead.count == group.channels { dead.removeFirst() }
      guard !dead.isEmpty else { continue }
      store.remove(dead, of: group, constants: dead.map { constants[$0] ?? 0 })
      removed[group.leader] = dead
    }
    return (store.model(of: module, inputShape: inputShape), removed)
  }
}

/// A model's parameters while channels are removed from them, by path.
private struct ShrinkingStore {
  var parameters: [ParameterPath: Parameter]
  var kinds: [ParameterPath: WeightedLayer.Kind]

  init(_ model: Model) {
    parameters = Dictionary(uniqueKeysWithValues: model.parameters.parameters.map { ($0.path, $0) })
    kinds = Dictionary(uniqueKeysWithValues: model.weightedLayers.map { ($0.path, $0.layer.kind) })
  }

  func layer(_ path: ParameterPath) -> WeightedLayer? {
    guard let kind = kinds[path], let weight = parameters[path.appending("weight")], let weights = weight.tensor else {
      return nil
    }
    let bias = parameters[path.appending("bias")]?.tensor ?? Tensor(shape: [weights.shape[0]])
    return WeightedLayer(kind: kind, weight: weights, bias: bias, zeroedMask: weight.mask)
  }

  mutating func setLayer(_ path: ParameterPath, _ layer: WeightedLayer) {
    parameters[path.appending("weight")] = Parameter(
      path: path.appending("weight"), role: .weight, tensor: layer.weight, mask: layer.mask)
    if parameters[path.appending("bias")] != nil {
      parameters[path.appending("bias")] = Parameter(path: path.appending("bias"), role: .bias, tensor: layer.bias)
    }
  }

  /// Per channel of `group`, the constant it outputs when it is dead (every producer's row
  /// fully pruned, and behind BatchNorm its scale and shift zero); nil for a live channel or
  /// one whose output is not a known constant.
  func deadConstants(of group: ChannelGroup, leaves: [Module.Leaf]) -> [Float?]? {
    let producers = group.producers.compactMap(layer)
    guard producers.count == group.producers.count else { return nil }
    var constants = [Float?](repeating: nil, count: group.channels)
    for channel in 0..<group.channels {
      let pruned = producers.allSatisfy { dense in
        let columns = dense.inputCount
        return dense.mask.map { !$0[(channel * columns)..<((channel + 1) * columns)].contains(1) } ?? false
      }
      guard pruned else { continue }
      if !group.norms.isEmpty {
        let silenced = group.norms.allSatisfy { norm in
          ["weight", "bias"].allSatisfy { parameters[norm.appending($0)]?.tensor?.scalars[channel] == 0 }
        }
        constants[channel] = silenced ? 0 : nil
      } else if producers.count == 1 {
        let bias = producers[0].bias.scalars[channel]
        constants[channel] = Self.reluFollows(group.leader, in: leaves) ? max(0, bias) : bias
      }
    }
    return constants
  }

  /// Whether a ReLU comes after the layer at `path` before the next weighted layer.
  static func reluFollows(_ path: ParameterPath, in leaves: [Module.Leaf]) -> Bool {
    guard let position = leaves.firstIndex(where: { $0.path == path }) else { return false }
    for leaf in leaves[(position + 1)...] {
      switch leaf.module {
      case .relu: return true
      case .linear, .conv2d: return false
      default: continue
      }
    }
    return false
  }

  /// Removes `dead` channels (ascending) of `group`, whose outputs are `constants`.
  mutating func remove(_ dead: [Int], of group: ChannelGroup, constants: [Float]) {
    for path in group.producers {
      if let dense = layer(path) { setLayer(path, dense.removingOutputs(dead)) }
    }
    let gone = Set(dead)
    for norm in group.norms {
      for name in ["weight", "bias", "running_mean", "running_var"] {
        guard var parameter = parameters[norm.appending(name)], let tensor = parameter.tensor else { continue }
        let kept = tensor.scalars.indices.filter { !gone.contains($0) }
        parameter.value = .float32(Tensor(shape: [kept.count], scalars: kept.map { tensor.scalars[$0] }))
        parameter.mask = parameter.mask.map { mask in kept.map { mask[$0] } }
        if parameter.mask?.contains(0) != true { parameter.mask = nil }
        parameters[norm.appending(name)] = parameter
      }
    }
    for consumer in group.consumers {
      guard let next = layer(consumer.layer) else { continue }
      let span = consumer.span
      let columns = dead.flatMap { channel in (channel * span)..<((channel + 1) * span) }
      let bias = Self.foldedBias(of: next, constants: constants, units: dead, span: span)
      setLayer(consumer.layer, next.removingInputs(columns, bias: bias))
    }
  }

  /// `next.bias + Σ_j constants[j] · Σ next.weight[:, units[j]·span ..< (units[j]+1)·span]`,
  /// summed in double precision.
  static func foldedBias(of next: WeightedLayer, constants: [Float], units: [Int], span: Int) -> [Float] {
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

  /// The model over `module` resized to the parameters' new shapes.
  func model(of module: Module, inputShape: [Int]) -> Model {
    let resized = module.resized(at: .root) { parameters[$0]?.value.shape }
    let ordered = resized.parameterShapes().compactMap { parameters[$0.path] }
    return Model(module: resized, parameters: ParameterStore(ordered), inputShape: inputShape)
  }
}

extension Module {
  /// The tree with every Linear, Conv2d and BatchNorm sized as `shape(path)` says its
  /// parameters now are (channels removed by `Model.shrunk()`); modules without a new shape stay.
  func resized(at path: ParameterPath, shape: (ParameterPath) -> [Int]?) -> Module {
    func children(_ list: [Child]) -> [Child] {
      list.map { Child($0.name, $0.module.resized(at: path.appending($0.name), shape: shape)) }
    }
    switch self {
    case .linear:
      guard let weight = shape(path.appending("weight")), weight.count == 2 else { return self }
      return .linear(inputs: weight[1], outputs: weight[0])
    case .conv2d(_, _, let kernel, let stride, let padding, let bias):
      guard let weight = shape(path.appending("weight")), weight.count == 4 else { return self }
      return .conv2d(channels: weight[1], filters: weight[0], kernel: kernel, stride: stride, padding: padding, bias: bias)
    case .batchNorm:
      guard let weight = shape(path.appending("weight")), weight.count == 1 else { return self }
      return .batchNorm(features: weight[0])
    case .sequential(let list):
      return .sequential(children(list))
    case .residual(let body, let shortcut, let relu):
      return .residual(
        body: children(body),
        shortcut: shortcut.map { Child($0.name, $0.module.resized(at: path.appending($0.name), shape: shape)) }, relu: relu)
    case .relu, .maxPool, .averagePool, .globalAveragePool, .flatten, .dropout, .embedding, .layerNorm, .gelu,
      .causalSelfAttention, .transformerBlock, .container, .gpt:
      return self
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
