import Foundation

@testable import PruneEngine

/// Small convolutional models built by hand, and a plain Double forward pass written from the
/// layer definitions (direct convolution loops, no im2col, no GEMM) to check the engine against.
enum ConvolutionFixtures {
  /// A model of `architecture` with seeded weights and biases uniform in [-scale, scale).
  static func randomModel(_ architecture: String, seed: UInt64, biasScale: Float = 0.2) throws -> Model {
    var generator = SeededGenerator(seed: seed)
    var model = Model(architecture: try Architecture(parsing: architecture), generator: &generator)
    for (path, weighted) in model.weightedLayers {
      let index = model.position(of: path)!
      var layer = weighted
      layer.bias.scalars = randomFloats(layer.outputCount, seed: seed &+ UInt64(index) &+ 100).map { $0 * biasScale }
      model.replaceWeightedLayer(at: path, with: layer)
    }
    return model
  }

  /// The weighted layer at `index` of `model`.
  static func layer(_ model: Model, _ index: Int) -> WeightedLayer {
    guard case .weighted(let layer) = model.layers[index] else { preconditionFailure("layer \(index) has no weights") }
    return layer
  }

  /// `model` with rows `rows` of layer `index` fully masked and, where given, new biases.
  static func killing(_ rows: [Int], of index: Int, in model: Model, biases: [Int: Float] = [:]) -> Model {
    var layer = layer(model, index)
    var mask = layer.keptMask
    let columns = layer.inputCount
    for row in rows { for column in 0..<columns { mask[row * columns + column] = 0 } }
    layer.setMask(mask)
    for (row, bias) in biases { layer.bias.scalars[row] = bias }
    var result = model
    result.layers[index] = .weighted(layer)
    return result
  }

  /// The largest absolute difference between two models' logits on `data`, with the dense and
  /// with the sparse kernels.
  static func largestDifference(_ a: Model, _ b: Model, on data: Dataset) -> Float {
    var worst: Float = 0
    for kernels in [KernelPolicy.dense, .sparse] {
      let left = Evaluator(model: a, threads: 1, kernels: kernels).logits(data)
      let right = Evaluator(model: b, threads: 1, kernels: kernels).logits(data)
      precondition(left.count == right.count, "the models have different outputs")
      worst = max(worst, zip(left, right).map { abs($0 - $1) }.max() ?? 0)
    }
    return worst
  }
}

/// A Double forward pass of a `Model` from the definitions of its layers, with optional
/// replacement weights and an optional nudge to one post-ReLU activation, for finite
/// differences.
struct ReferenceForward {
  let model: Model

  /// A nudge of `delta` to feature `feature` (in `[C, H, W]` order) of the output of the
  /// weighted layer at `layer`, after its ReLU and before any pooling.
  struct Nudge {
    var layer: Int
    var feature: Int
    var delta: Double
  }

  /// The logits of one image (`pixels` already scaled to [0, 1]).
  /// - Parameter weights: replacement weights by layer index (same shapes).
  func logits(_ pixels: [Double], weights: [Int: [Double]] = [:], nudge: Nudge? = nil) -> [Double] {
    forward(pixels, weights: weights, nudge: nudge).logits
  }

  /// The output of the weighted layer at `layer` after its ReLU, before any pooling.
  func activations(_ pixels: [Double], layer: Int) -> [Double] {
    forward(pixels, capturing: layer).captured
  }

  private func forward(
    _ pixels: [Double], weights: [Int: [Double]] = [:], nudge: Nudge? = nil, capturing: Int? = nil
  ) -> (logits: [Double], captured: [Double]) {
    var captured: [Double] = []
    var shape = model.inputShape
    var values = pixels
    var lastWeighted = -1
    for (index, layer) in model.layers.enumerated() {
      switch layer {
      case .weighted(let weighted):
        let w = weights[index] ?? weighted.weight.scalars.map(Double.init)
        let b = weighted.bias.scalars.map(Double.init)
        switch weighted.kind {
        case .linear:
          values = (0..<weighted.outputCount).map { o in
            (0..<weighted.inputCount).reduce(b[o]) { $0 + w[o * weighted.inputCount + $1] * values[$1] }
          }
          shape = [weighted.outputCount]
        case .conv(let stride, let padding):
          let (channels, height, width) = (shape[0], shape[1], shape[2])
          let (kh, kw) = (weighted.weight.shape[2], weighted.weight.shape[3])
          let outHeight = (height + 2 * padding - kh) / stride + 1
          let outWidth = (width + 2 * padding - kw) / stride + 1
          var output = [Double](repeating: 0, count: weighted.outputCount * outHeight * outWidth)
          for f in 0..<weighted.outputCount {
            for oy in 0..<outHeight {
              for ox in 0..<outWidth {
                var sum = b[f]
                for c in 0..<channels {
                  for ky in 0..<kh {
                    for kx in 0..<kw {
                      let y = oy * stride + ky - padding
                      let x = ox * stride + kx - padding
                      guard y >= 0, y < height, x >= 0, x < width else { continue }
                      sum += w[((f * channels + c) * kh + ky) * kw + kx] * values[(c * height + y) * width + x]
                    }
                  }
                }
                output[(f * outHeight + oy) * outWidth + ox] = sum
              }
            }
          }
          values = output
          shape = [weighted.outputCount, outHeight, outWidth]
        }
        lastWeighted = index
      case .relu:
        values = values.map { max(0, $0) }
        if let nudge, nudge.layer == lastWeighted { values[nudge.feature] += nudge.delta }
        if capturing == lastWeighted { captured = values }
      case .maxPool(let size):
        let (channels, height, width) = (shape[0], shape[1] / size, shape[2] / size)
        var output = [Double](repeating: -.infinity, count: channels * height * width)
        for c in 0..<channels {
          for y in 0..<height {
            for x in 0..<width {
              for dy in 0..<size {
                for dx in 0..<size {
                  let value = values[(c * shape[1] + y * size + dy) * shape[2] + x * size + dx]
                  output[(c * height + y) * width + x] = max(output[(c * height + y) * width + x], value)
                }
              }
            }
          }
        }
        values = output
        shape = [channels, height, width]
      case .flatten:
        shape = [values.count]
      }
    }
    return (values, captured)
  }

  /// Softmax cross-entropy of `logits` for `label`.
  static func loss(_ logits: [Double], label: Int) -> Double {
    let largest = logits.max() ?? 0
    return log(logits.reduce(0) { $0 + exp($1 - largest) }) + largest - logits[label]
  }

  /// Pixels of sample `sample` of `data`, scaled to [0, 1] as the engine scales them.
  static func pixels(_ data: Dataset, _ sample: Int) -> [Double] {
    (0..<data.featureCount).map { data.input(sample, $0) }
  }

  /// Mean cross-entropy over the first `count` samples of `data`.
  func meanLoss(_ data: Dataset, count: Int, weights: [Int: [Double]] = [:]) -> Double {
    (0..<count).reduce(0) { sum, sample in
      sum + Self.loss(logits(Self.pixels(data, sample), weights: weights), label: Int(data.labels[sample]))
    } / Double(count)
  }

  /// ∂(mean loss)/∂w for every weight of layer `index`, by central differences.
  func weightGradient(layer index: Int, data: Dataset, count: Int, step: Double = 1e-5) -> [Double] {
    let base = ConvolutionFixtures.layer(model, index).weight.scalars.map(Double.init)
    return base.indices.map { i in
      var up = base
      var down = base
      up[i] += step
      down[i] -= step
      return (meanLoss(data, count: count, weights: [index: up]) - meanLoss(data, count: count, weights: [index: down]))
        / (2 * step)
    }
  }
}
