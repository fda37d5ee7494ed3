import Foundation

/// Element-wise and reduction kernels over feature-major activations.
///
/// Activations are stored feature-major: a `[features, batch]` row-major matrix whose row `f`
/// holds feature `f` of every sample in the batch. See DECISIONS.md for why.
enum Kernels {
  typealias V = SIMD16<Float>

  /// `x[f, j] = x[f, j] + bias[f]`, then ReLU when asked.
  /// - Complexity: O(features · batch).
  static func addBias(
    _ x: UnsafeMutablePointer<Float>, features: Int, batch: Int, leadingDimension ld: Int,
    bias: UnsafePointer<Float>, relu: Bool
  ) {
    for f in 0..<features {
      let row = x + f * ld
      let b = bias[f]
      let bv = V(repeating: b)
      var j = 0
      while j + 16 <= batch {
        var value = UnsafeRawPointer(row + j).loadUnaligned(as: V.self) + bv
        if relu { value.replace(with: V(), where: value .< V()) }
        UnsafeMutableRawPointer(row + j).storeBytes(of: value, as: V.self)
        j += 16
      }
      while j < batch {
        let value = row[j] + b
        row[j] = relu ? max(0, value) : value
        j += 1
      }
    }
  }

  /// ReLU backward in place: `gradient[i] = 0` where `activation[i] <= 0`.
  static func reluBackward(_ gradient: UnsafeMutablePointer<Float>, activation: UnsafePointer<Float>, count: Int) {
    var i = 0
    while i + 16 <= count {
      var g = UnsafeRawPointer(gradient + i).loadUnaligned(as: V.self)
      let a = UnsafeRawPointer(activation + i).loadUnaligned(as: V.self)
      g.replace(with: V(), where: a .<= V())
      UnsafeMutableRawPointer(gradient + i).storeBytes(of: g, as: V.self)
      i += 16
    }
    while i < count {
      if activation[i] <= 0 { gradient[i] = 0 }
      i += 1
    }
  }

  /// `sums[f] = Σ_j x[f, j]`: the bias gradient from a feature-major output gradient. Features
  /// are shared out among up to `threads` threads when there is enough work; each sum is taken
  /// by one thread in a fixed order.
  static func rowSums(
    _ x: UnsafePointer<Float>, features: Int, batch: Int, leadingDimension ld: Int,
    into sums: UnsafeMutablePointer<Float>, threads: Int = 1
  ) {
    let parts = features * batch >= 1 << 16 ? min(max(1, threads), features) : 1
    parallelFor(parts) { part in
      for f in (features * part / parts)..<(features * (part + 1) / parts) {
        let row = x + f * ld
        var accumulator = V()
        var j = 0
        while j + 16 <= batch {
          accumulator += UnsafeRawPointer(row + j).loadUnaligned(as: V.self)
          j += 16
        }
        var total = accumulator.sum()
        while j < batch {
          total += row[j]
          j += 1
        }
        sums[f] = total
      }
    }
  }

  /// Softmax cross-entropy over feature-major logits `[classes, batch]`, fused with its gradient.
  ///
  /// Uses the max-shifted log-sum-exp for stability. When `gradient` is given it receives
  /// `(softmax - onehot) · gradientScale`, the gradient of the loss scaled for a mean over the batch.
  ///
  /// - Returns: the summed loss over the batch and how many samples were classified correctly
  ///   (the first maximal logit is the prediction).
  static func softmaxCrossEntropy<Label: FixedWidthInteger>(
    logits: UnsafePointer<Float>, classes: Int, batch: Int, leadingDimension ld: Int,
    labels: UnsafePointer<Label>,
    gradient: UnsafeMutablePointer<Float>?, gradientScale: Float
  ) -> (loss: Double, correct: Int) {
    var loss = 0.0
    var correct = 0
    for j in 0..<batch {
      var maximum = logits[j]
      var predicted = 0
      for c in 1..<classes where logits[c * ld + j] > maximum {
        maximum = logits[c * ld + j]
        predicted = c
      }
      var sum: Float = 0
      let label = Int(labels[j])
      if let gradient {
        // Each exponential once, kept in the gradient until the sum is known.
        for c in 0..<classes {
          let exponential = expf(logits[c * ld + j] - maximum)
          gradient[c * ld + j] = exponential
          sum += exponential
        }
        let inverseSum = 1 / sum
        for c in 0..<classes {
          gradient[c * ld + j] = (gradient[c * ld + j] * inverseSum - (c == label ? 1 : 0)) * gradientScale
        }
      } else {
        for c in 0..<classes { sum += expf(logits[c * ld + j] - maximum) }
      }
      loss += Double(logf(sum) - (logits[label * ld + j] - maximum))
      if predicted == label { correct += 1 }
    }
    return (loss, correct)
  }
}
