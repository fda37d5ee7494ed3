/// One step of a feed-forward network, numbered as in PyTorch's `nn.Sequential`.
public enum Layer: Sendable, Equatable {
  /// `nn.Linear` or `nn.Conv2d`.
  case weighted(WeightedLayer)
  case relu
  /// `nn.MaxPool2d(size)`: the maximum of each `size`x`size` window, stride `size`.
  case maxPool(size: Int)
  /// `nn.Flatten()`: `[channels, height, width]` to `[channels · height · width]`, channel-major.
  case flatten
}

/// A feed-forward classifier: a sequence of layers ending in logits, trained with softmax
/// cross-entropy.
///
/// Layer `i` owns the parameters `i.weight` and `i.bias`, exactly as an `nn.Sequential` state
/// dict names them, so checkpoints, masks, reports and the UI share those names.
public struct Model: Sendable, Equatable {
  public var layers: [Layer]
  /// `[features]` for a flat input, `[channels, height, width]` for images.
  public var inputShape: [Int]

  /// A model over given layers, which must fit `inputShape` (by default the first layer's
  /// inputs, for a model that starts with a Linear layer).
  public init(layers: [Layer], inputShape: [Int]? = nil) {
    self.layers = layers
    let first = layers.lazy.compactMap { layer -> WeightedLayer? in
      if case .weighted(let weighted) = layer { weighted } else { nil }
    }.first
    self.inputShape = inputShape ?? [first?.inputCount ?? 0]
  }

  /// A freshly initialised model of an architecture, which must be valid (`shapes()` succeeds).
  public init(architecture: Architecture, generator: inout SeededGenerator) {
    guard let shapes = try? architecture.shapes() else { preconditionFailure("invalid architecture \(architecture)") }
    let inputShapes = [architecture.inputShape] + shapes.dropLast()
    var layers: [Layer] = []
    for (step, input) in zip(architecture.steps, inputShapes) {
      switch step {
      case .linear(let outputs):
        layers.append(.weighted(WeightedLayer(inputCount: input[0], outputCount: outputs, generator: &generator)))
      case .conv(let filters, let kernel, let stride, let padding):
        let shape = [filters, input[0], kernel, kernel]
        layers.append(.weighted(WeightedLayer(kind: .conv(stride: stride, padding: padding), shape: shape, generator: &generator)))
      case .relu: layers.append(.relu)
      case .maxPool(let size): layers.append(.maxPool(size: size))
      case .flatten: layers.append(.flatten)
      }
    }
    self.init(layers: layers, inputShape: architecture.inputShape)
  }

  /// The architecture these layers form.
  public var architecture: Architecture {
    Architecture(
      inputShape: inputShape,
      steps: layers.map { layer in
        switch layer {
        case .weighted(let weighted):
          switch weighted.kind {
          case .linear: .linear(outputs: weighted.outputCount)
          case .conv(let stride, let padding):
            .conv(filters: weighted.outputCount, kernel: weighted.weight.shape[2], stride: stride, padding: padding)
          }
        case .relu: .relu
        case .maxPool(let size): .maxPool(size: size)
        case .flatten: .flatten
        }
      })
  }

  /// The weighted (Linear and Conv2d) layers with their positions in `layers`.
  public var weightedLayers: [(index: Int, layer: WeightedLayer)] {
    layers.enumerated().compactMap { index, layer in
      if case .weighted(let weighted) = layer { (index, weighted) } else { nil }
    }
  }

  /// Number of input features.
  public var inputCount: Int { inputShape.reduce(1, *) }
  /// Number of output classes.
  public var classCount: Int { weightedLayers.last?.layer.outputCount ?? 0 }

  /// Whether any layer is a convolution.
  public var hasConvolutions: Bool { weightedLayers.contains { $0.layer.isConvolution } }

  /// Every parameter tensor by its state-dict name (`0.weight`, `0.bias`, `2.weight`, ...).
  public var namedParameters: [(name: String, tensor: Tensor)] {
    weightedLayers.flatMap { index, weighted in
      [("\(index).weight", weighted.weight), ("\(index).bias", weighted.bias)]
    }
  }

  /// Total number of parameters, biases included.
  public var parameterCount: Int { namedParameters.reduce(0) { $0 + $1.tensor.count } }
}
