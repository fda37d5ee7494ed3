/// One step of a feed-forward network, numbered as in PyTorch's `nn.Sequential`.
public enum Layer: Sendable, Equatable {
  case dense(Dense)
  case relu
}

/// A feed-forward classifier: a sequence of layers ending in logits, trained with softmax
/// cross-entropy.
///
/// Layer `i` owns the parameters `i.weight` and `i.bias`, exactly as an `nn.Sequential` state
/// dict names them, so checkpoints, masks, reports and the UI share those names.
public struct Model: Sendable, Equatable {
  public var layers: [Layer]

  /// A model over given layers. The first layer is Dense and Dense widths chain.
  public init(layers: [Layer]) {
    self.layers = layers
  }

  /// A freshly initialised model of an architecture.
  public init(architecture: Architecture, generator: inout SeededGenerator) {
    switch architecture {
    case .mlp(let widths):
      var layers: [Layer] = []
      for index in 0..<(widths.count - 1) {
        if index > 0 { layers.append(.relu) }
        layers.append(.dense(Dense(inputCount: widths[index], outputCount: widths[index + 1], generator: &generator)))
      }
      self.init(layers: layers)
    }
  }

  /// The architecture these layers form.
  public var architecture: Architecture {
    let dense = denseLayers
    return .mlp(widths: [dense.first?.layer.inputCount ?? 0] + dense.map(\.layer.outputCount))
  }

  /// The Dense layers with their positions in `layers`.
  public var denseLayers: [(index: Int, layer: Dense)] {
    layers.enumerated().compactMap { index, layer in
      if case .dense(let dense) = layer { (index, dense) } else { nil }
    }
  }

  /// Number of input features.
  public var inputCount: Int { denseLayers.first?.layer.inputCount ?? 0 }
  /// Number of output classes.
  public var classCount: Int { denseLayers.last?.layer.outputCount ?? 0 }

  /// Every parameter tensor by its state-dict name (`0.weight`, `0.bias`, `2.weight`, ...).
  public var namedParameters: [(name: String, tensor: Tensor)] {
    denseLayers.flatMap { index, dense in
      [("\(index).weight", dense.weight), ("\(index).bias", dense.bias)]
    }
  }

  /// Total number of parameters, biases included.
  public var parameterCount: Int { namedParameters.reduce(0) { $0 + $1.tensor.count } }
}
