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
    /// 1 where a weight is kept and 0 where it is pruned, as floats so updates can multiply by
    /// it; `nil` for a layer that was never pruned.
    let mask: UnsafeMutableBufferPointer<Float>?
    let appliesReLU: Bool
  }

  let layers: [DenseLayer]
  private let template: Model

  /// - Parameter maskAll: give every layer a mask buffer even if it was never pruned, so that
  ///   masks can be adopted later (`adoptMasks(of:)`).
  init(model: Model, maskAll: Bool = false) {
    template = model
    layers = model.layers.indices.compactMap { index in
      guard case .dense(let dense) = model.layers[index] else { return nil }
      let followedByReLU = index + 1 < model.layers.count && model.layers[index + 1] == .relu
      return DenseLayer(
        index: index, inputCount: dense.inputCount, outputCount: dense.outputCount,
        weight: .copy(dense.weight.scalars), bias: .copy(dense.bias.scalars),
        mask: (dense.mask ?? (maskAll ? dense.keptMask : nil)).map { mask in .copy(mask.map(Float.init)) },
        appliesReLU: followedByReLU)
    }
  }

  deinit {
    for layer in layers {
      layer.weight.deallocate()
      layer.bias.deallocate()
      layer.mask?.deallocate()
    }
  }

  var inputCount: Int { layers.first?.inputCount ?? 0 }
  var classCount: Int { layers.last?.outputCount ?? 0 }

  /// The parameters as a `Model` value.
  func model() -> Model {
    var model = template
    for layer in layers {
      guard case .dense(let original) = template.layers[layer.index] else { continue }
      let mask: [UInt8]? = layer.mask.map { buffer in buffer.map { $0 != 0 ? 1 : 0 } }
      // A layer that was never pruned stays mask-free unless a schedule pruned it meanwhile.
      let keptMask = original.mask == nil && mask?.contains(0) != true ? nil : mask
      model.layers[layer.index] = .dense(
        Dense(
          weight: Tensor(shape: [layer.outputCount, layer.inputCount], scalars: Array(layer.weight)),
          bias: Tensor(shape: [layer.outputCount], scalars: Array(layer.bias)), mask: keptMask))
    }
    return model
  }

  /// Every parameter buffer in state-dict order (`0.weight`, `0.bias`, `2.weight`, ...).
  var parameterBuffers: [UnsafeMutableBufferPointer<Float>] {
    layers.flatMap { [$0.weight, $0.bias] }
  }

  /// How the optimizer treats each buffer of `parameterBuffers`: weights carry their layer's
  /// mask and the L1 penalty; biases are never masked or penalised.
  func parameterRoles(l1: Float) -> [ParameterRole] {
    layers.flatMap { [ParameterRole(mask: $0.mask, l1: l1), ParameterRole(mask: nil, l1: 0)] }
  }

  /// Adopts the masks of `model` (same architecture), zeroing the weights they prune: used when
  /// a schedule prunes during training.
  func adoptMasks(of model: Model) {
    for layer in layers {
      guard case .dense(let dense) = model.layers[layer.index], let mask = dense.mask, let target = layer.mask else {
        continue
      }
      for index in mask.indices {
        target[index] = Float(mask[index])
        if mask[index] == 0 { layer.weight[index] = 0 }
      }
    }
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
