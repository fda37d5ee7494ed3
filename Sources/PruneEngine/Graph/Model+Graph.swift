/// A Sequential model as a module tree and a parameter store.
extension Model {
  /// The layers as an `nn.Sequential` whose children are named by position, so layer `i` owns
  /// `i.weight` and `i.bias` as in today's checkpoints.
  public var module: Module {
    .sequential(
      layers.enumerated().map { index, layer in
        let module: Module =
          switch layer {
          case .weighted(let weighted):
            switch weighted.kind {
            case .linear: .linear(inputs: weighted.inputCount, outputs: weighted.outputCount)
            case .conv(let stride, let padding):
              .conv2d(
                channels: weighted.inputChannels, filters: weighted.outputCount, kernel: weighted.weight.shape[2],
                stride: stride, padding: padding, bias: true)
            }
          case .relu: .relu
          case .maxPool(let size): .maxPool(size: size)
          case .flatten: .flatten
          }
        return Module.Child(String(index), module)
      })
  }

  /// Every weight (with its mask) and bias by path, in state-dict order.
  public var parameterStore: ParameterStore {
    ParameterStore(
      weightedLayers.flatMap { index, weighted in
        let path = ParameterPath.root.appending(String(index))
        return [
          Parameter(path: path.appending("weight"), role: .weight, tensor: weighted.weight, mask: weighted.mask),
          Parameter(path: path.appending("bias"), role: .bias, tensor: weighted.bias),
        ]
      })
  }

  /// The model with the weights, biases and masks of `store`, which has this model's layout.
  public func updating(from store: ParameterStore) -> Model {
    var model = self
    for (index, weighted) in weightedLayers {
      let path = ParameterPath.root.appending(String(index))
      guard let weight = store[path.appending("weight")], let bias = store[path.appending("bias")],
        let weights = weight.tensor, let biases = bias.tensor
      else { preconditionFailure("the store has no parameters for layer \(index)") }
      model.layers[index] = .weighted(WeightedLayer(kind: weighted.kind, weight: weights, bias: biases, mask: weight.mask))
    }
    return model
  }
}
