/// A model's parameters in flat buffers, grouped into the stages the inference kernels run.
///
/// `Model` is the value the rest of the program passes around; `Network` is its working copy
/// while evaluating, so a pass never copies an array on write. Training runs on an
/// `ExecutionPlan`.
final class Network {
  /// One weighted layer with what follows it up to the next weighted layer: a ReLU and a max
  /// pooling when the model has them there (a Flatten costs nothing in feature-major layout).
  struct Stage {
    /// Position in `Model.layers`, which names the parameters (`\(index).weight`).
    let index: Int
    /// Weights per output row (`WeightedLayer.inputCount`).
    let inputCount: Int
    /// Rows: neurons or filters.
    let outputCount: Int
    /// `[outputCount, inputCount]` (a convolution's `[filters, channels, kh, kw]` is the same
    /// row-major matrix).
    let weight: UnsafeMutableBufferPointer<Float>
    /// `[outputCount]`.
    let bias: UnsafeMutableBufferPointer<Float>
    let appliesReLU: Bool
    /// The convolution's sizes; nil for a Linear layer.
    let convolution: ConvolutionKernels.Geometry?
    /// The max pooling after the layer (and its ReLU), if any.
    let pool: ConvolutionKernels.Pool?

    /// Input features per sample.
    var inputFeatures: Int { convolution.map { $0.channels * $0.height * $0.width } ?? inputCount }
    /// Output pixels per row: 1 for a Linear layer.
    var positions: Int { convolution?.positions ?? 1 }
    /// Features per sample after the layer and its ReLU, before pooling.
    var activationFeatures: Int { outputCount * positions }
    /// Features per sample the stage hands to the next one.
    var outputFeatures: Int { pool?.outputFeatures ?? activationFeatures }
  }

  let layers: [Stage]

  init(model: Model) {
    var shape = model.inputShape
    var stages: [Stage] = []
    var pending: (index: Int, layer: WeightedLayer, convolution: ConvolutionKernels.Geometry?)?
    var relu = false
    var pool: ConvolutionKernels.Pool?
    func finishStage() {
      guard let (index, layer, convolution) = pending else { return }
      stages.append(
        Stage(
          index: index, inputCount: layer.inputCount, outputCount: layer.outputCount,
          weight: .copy(layer.weight.scalars), bias: .copy(layer.bias.scalars),
          appliesReLU: relu, convolution: convolution, pool: pool))
      pending = nil
      relu = false
      pool = nil
    }
    for (index, layer) in model.layers.enumerated() {
      switch layer {
      case .weighted(let weighted):
        finishStage()
        var convolution: ConvolutionKernels.Geometry?
        if case .conv(let stride, let padding) = weighted.kind {
          precondition(shape.count == 3 && shape[0] == weighted.inputChannels, "layer \(index) does not fit its input \(shape)")
          let geometry = ConvolutionKernels.Geometry(
            channels: shape[0], height: shape[1], width: shape[2], kernelHeight: weighted.weight.shape[2],
            kernelWidth: weighted.weight.shape[3], stride: stride, padding: padding)
          convolution = geometry
          shape = [weighted.outputCount, geometry.outputHeight, geometry.outputWidth]
        } else {
          precondition(shape.reduce(1, *) == weighted.inputCount, "layer \(index) does not fit its input \(shape)")
          shape = [weighted.outputCount]
        }
        pending = (index, weighted, convolution)
      case .relu:
        relu = true
      case .maxPool(let size):
        precondition(pending != nil && pool == nil && shape.count == 3, "layer \(index): a pool follows one convolution")
        let geometry = ConvolutionKernels.Pool(channels: shape[0], height: shape[1], width: shape[2], size: size)
        pool = geometry
        shape = [shape[0], geometry.outputHeight, geometry.outputWidth]
      case .flatten:
        shape = [shape.reduce(1, *)]
      }
    }
    finishStage()
    layers = stages
  }

  deinit {
    for layer in layers {
      layer.weight.deallocate()
      layer.bias.deallocate()
    }
  }

  var inputCount: Int { layers.first?.inputFeatures ?? 0 }
  var classCount: Int { layers.last?.outputCount ?? 0 }
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
