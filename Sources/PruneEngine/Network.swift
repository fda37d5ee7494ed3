/// A model's parameters in flat buffers that the kernels and optimizers read and update in place.
///
/// `Model` is the value the rest of the program passes around; `Network` is its working copy
/// while training or evaluating, so a step never copies an array on write.
final class Network {
  /// One Dense layer's parameters, with whether a ReLU follows it.
  struct DenseLayer {
    /// Position in `Model.layers`, which names the parameters (`\(index).weight`).
    let index: Int
    let inputCount: Int
    let outputCount: Int
    /// `[outputCount, inputCount]`.
    let weight: UnsafeMutableBufferPointer<Float>
    /// `[outputCount]`.
    let bias: UnsafeMutableBufferPointer<Float>
    let appliesReLU: Bool
  }

  let layers: [DenseLayer]
  private let template: Model

  init(model: Model) {
    template = model
    layers = model.layers.indices.compactMap { index in
      guard case .dense(let dense) = model.layers[index] else { return nil }
      let followedByReLU = index + 1 < model.layers.count && model.layers[index + 1] == .relu
      return DenseLayer(
        index: index, inputCount: dense.inputCount, outputCount: dense.outputCount,
        weight: .copy(dense.weight.scalars), bias: .copy(dense.bias.scalars),
        appliesReLU: followedByReLU)
    }
  }

  deinit {
    for layer in layers {
      layer.weight.deallocate()
      layer.bias.deallocate()
    }
  }

  var inputCount: Int { layers.first?.inputCount ?? 0 }
  var classCount: Int { layers.last?.outputCount ?? 0 }

  /// The parameters as a `Model` value.
  func model() -> Model {
    var model = template
    for layer in layers {
      model.layers[layer.index] = .dense(
        Dense(
          weight: Tensor(shape: [layer.outputCount, layer.inputCount], scalars: Array(layer.weight)),
          bias: Tensor(shape: [layer.outputCount], scalars: Array(layer.bias))))
    }
    return model
  }

  /// Every parameter buffer in state-dict order (`0.weight`, `0.bias`, `2.weight`, ...).
  var parameterBuffers: [UnsafeMutableBufferPointer<Float>] {
    layers.flatMap { [$0.weight, $0.bias] }
  }
}

extension UnsafeMutableBufferPointer where Element == Float {
  /// A new buffer holding a copy of `scalars`; the caller deallocates it.
  static func copy(_ scalars: [Float]) -> UnsafeMutableBufferPointer<Float> {
    let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: scalars.count)
    _ = buffer.initialize(from: scalars)
    return buffer
  }

  /// A new zero-filled buffer; the caller deallocates it.
  static func zeros(_ count: Int) -> UnsafeMutableBufferPointer<Float> {
    let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: count)
    buffer.initialize(repeating: 0)
    return buffer
  }
}
