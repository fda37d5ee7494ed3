/// Structured pruning of coupled channels (`ChannelGroup`): what is kept, and pruning whole
/// channels of a group at once.
extension Model {
  /// Whether each channel of `group` is still kept: some producer still has a kept weight in
  /// the channel's row.
  public func keptChannels(of group: ChannelGroup) -> [Bool] {
    var kept = [Bool](repeating: false, count: group.channels)
    for path in group.producers {
      guard let dense = weightedLayer(at: path) else { continue }
      guard let mask = dense.mask else { return [Bool](repeating: true, count: group.channels) }
      let columns = dense.inputCount
      for row in 0..<group.channels where !kept[row] {
        kept[row] = mask[(row * columns)..<((row + 1) * columns)].contains(1)
      }
    }
    return kept
  }

  /// The model with `channels` of `group` pruned: the channels' rows of every producer, and the
  /// channels' scale and shift (γ, β) of every BatchNorm in the group, masked and zeroed.
  ///
  /// A producer's bias stays, as `torch.nn.utils.prune.ln_structured` leaves it: a pruned neuron
  /// of a Linear layer outputs the constant `relu(bias)`. Behind a BatchNorm the channel becomes
  /// exactly zero, in training and in inference, whatever the running statistics: what removing
  /// it (`shrunk()`) computes. The layers reading the channels keep their weights; they read
  /// zeros.
  public func pruningChannels(_ channels: [Int], of group: ChannelGroup) -> Model {
    guard !channels.isEmpty else { return self }
    var model = self
    for path in group.producers {
      guard var dense = weightedLayer(at: path) else { continue }
      var mask = dense.keptMask
      let columns = dense.inputCount
      for channel in channels { mask.replaceSubrange((channel * columns)..<((channel + 1) * columns), with: repeatElement(0, count: columns)) }
      dense.setMask(mask)
      model.replaceWeightedLayer(at: path, with: dense)
    }
    for norm in group.norms {
      for name in ["weight", "bias"] {
        guard var parameter = model.parameters[norm.appending(name)] else { continue }
        var mask = parameter.mask ?? [UInt8](repeating: 1, count: parameter.value.count)
        for channel in channels { mask[channel] = 0 }
        parameter.mask = mask
        model.updateParameter(parameter)
      }
    }
    return model
  }

  /// The model with the producers and BatchNorm parameters of `group` as they are in `base`.
  func restoring(_ group: ChannelGroup, from base: Model) -> Model {
    var model = self
    for path in group.producers {
      if let layer = base.weightedLayer(at: path) { model.replaceWeightedLayer(at: path, with: layer) }
    }
    for norm in group.norms {
      for name in ["weight", "bias"] {
        if let parameter = base.parameters[norm.appending(name)] { model.updateParameter(parameter) }
      }
    }
    return model
  }
}
