import Foundation

/// `nn.BatchNorm2d` on images (statistics per channel over positions and samples) and
/// `nn.BatchNorm1d` on flat features (per feature over samples), with PyTorch's eps 1e-5 and
/// momentum 0.1.
///
/// Training forward, per channel over its `M = positions · n` values:
/// `μ = mean(x)`, `σ² = mean((x - μ)²)` (biased), `x̂ = (x - μ) / √(σ² + eps)`,
/// `y = γ · x̂ + β`; then `running_mean ← 0.9 · running_mean + 0.1 · μ`,
/// `running_var ← 0.9 · running_var + 0.1 · σ² · M / (M - 1)` (unbiased) and
/// `num_batches_tracked += 1`.
/// Training backward: `dβ = Σ dy`, `dγ = Σ dy · x̂`, `dx = γ / √(σ² + eps) · (dy - dβ / M - x̂ · dγ / M)`.
/// Inference uses the running statistics: `y = γ · (x - running_mean) / √(running_var + eps) + β`,
/// whose backward is `dx = dy · γ / √(running_var + eps)`.
///
/// A ReLU that follows is fused (`relu`): the forward pass clamps as it writes `y`, and the
/// backward pass zeroes `dy` where the output is zero, in place, in the pass that sums it.
/// Each channel is one thread's, and its sums are taken in a fixed order (sixteen float lanes
/// per run of 1024 values, double across runs), so results do not depend on the thread count.
final class BatchNormStep: PlanStep {
  static let epsilon = 1e-5
  static let momentum = 0.1

  let inputs: [Int]
  let output: Int
  let features: Int
  /// Values per channel and sample: `height · width`, 1 for flat features.
  let positions: Int
  let scale: PlanParameter
  let shift: PlanParameter
  let runningMean: PlanParameter
  let runningVariance: PlanParameter
  let batchesTracked: PlanParameter
  /// Whether the ReLU after the BatchNorm is applied here.
  let relu: Bool
  var accumulatesInputGradients = [false]
  var hasTrainedParameters: Bool { true }

  /// Per channel, the mean and 1 / standard deviation the last forward pass normalised with.
  private let means: UnsafeMutableBufferPointer<Float>
  private let inverseDeviations: UnsafeMutableBufferPointer<Float>

  init(
    input: Int, output: Int, features: Int, positions: Int, scale: PlanParameter, shift: PlanParameter,
    runningMean: PlanParameter, runningVariance: PlanParameter, batchesTracked: PlanParameter, relu: Bool = false
  ) {
    self.relu = relu
    inputs = [input]
    self.output = output
    self.features = features
    self.positions = positions
    self.scale = scale
    self.shift = shift
    self.runningMean = runningMean
    self.runningVariance = runningVariance
    self.batchesTracked = batchesTracked
    means = .zeros(features)
    inverseDeviations = .zeros(features)
  }

  deinit {
    means.deallocate()
    inverseDeviations.deallocate()
  }

  func forward(_ pass: PlanPass) {
    let n = pass.count
    let block = positions * n
    let x = pass.value(inputs[0])
    let y = pass.value(output)
    parallelFor(parts(n, pass.threads)) { part in
      for c in channels(part, n, pass.threads) {
        let row = x + c * block
        if pass.mode == .training {
          let mean = Self.sum(row, count: block) / Double(block)
          let variance = Self.squaredDeviations(row, count: block, mean: Float(mean)) / Double(block)
          means[c] = Float(mean)
          inverseDeviations[c] = Float(1 / (variance + Self.epsilon).squareRoot())
          // One value has no unbiased variance (PyTorch refuses such a batch); the running
          // statistics then stay as they are.
          if block > 1 {
            let unbiased = variance * Double(block) / Double(block - 1)
            runningMean.value[c] = Float((1 - Self.momentum) * Double(runningMean.value[c]) + Self.momentum * mean)
            runningVariance.value[c] = Float(
              (1 - Self.momentum) * Double(runningVariance.value[c]) + Self.momentum * unbiased)
          }
        } else {
          means[c] = runningMean.value[c]
          inverseDeviations[c] = Float(1 / (Double(runningVariance.value[c]) + Self.epsilon).squareRoot())
        }
        // y = x · a + b with a = γ / σ and b = β - μ · a.
        let a = scale.value[c] * inverseDeviations[c]
        let b = shift.value[c] - means[c] * a
        Self.affine(row, into: y + c * block, count: block, a: a, b: b, relu: relu)
      }
    }
    if pass.mode == .training { batchesTracked.counts[0] += 1 }
  }

  func backward(_ pass: PlanPass) {
    guard let outputGradient = pass.gradient(output) else { return }
    let n = pass.count
    let block = positions * n
    let x = pass.value(inputs[0])
    let inputGradient = pass.gradient(inputs[0])
    let accumulate = accumulatesInputGradients[0]
    let training = pass.mode == .training
    parallelFor(parts(n, pass.threads)) { part in
      for c in channels(part, n, pass.threads) {
        let row = x + c * block
        let dy = outputGradient + c * block
        let mean = means[c]
        let inverse = inverseDeviations[c]
        let (shiftGradient, scaleGradient) = Self.gradientSums(
          dy, row, output: relu ? UnsafePointer(pass.value(output) + c * block) : nil, count: block, mean: mean,
          inverse: inverse)
        scale.gradient?[c] = Float(scaleGradient)
        shift.gradient?[c] = Float(shiftGradient)
        guard let inputGradient else { continue }
        let dx = inputGradient + c * block
        let gain = scale.value[c] * inverse
        // In inference the statistics are constants: only the direct path remains.
        let meanGradient = training ? Float(shiftGradient / Double(block)) : 0
        let deviationGradient = training ? Float(scaleGradient / Double(block)) : 0
        Self.inputGradient(
          dy, row, into: dx, count: block, gain: gain, meanGradient: meanGradient, mean: mean, inverse: inverse,
          deviationGradient: deviationGradient, accumulate: accumulate)
      }
    }
  }

  /// Threads to share the channels among: one unless the layer is big enough to pay.
  private func parts(_ n: Int, _ threads: Int) -> Int {
    features * positions * n >= 1 << 16 ? min(max(1, threads), features) : 1
  }

  private func channels(_ part: Int, _ n: Int, _ threads: Int) -> Range<Int> {
    let parts = parts(n, threads)
    return (features * part / parts)..<(features * (part + 1) / parts)
  }

  typealias V = SIMD16<Float>

  /// `y[i] = x[i] · a + b`, clamped at zero when `relu`.
  private static func affine(
    _ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int, a: Float, b: Float, relu: Bool
  ) {
    let va = V(repeating: a)
    let vb = V(repeating: b)
    var i = 0
    while i + 16 <= count {
      var value = UnsafeRawPointer(x + i).loadUnaligned(as: V.self) * va + vb
      if relu { value.replace(with: V(), where: value .< V()) }
      UnsafeMutableRawPointer(y + i).storeBytes(of: value, as: V.self)
      i += 16
    }
    while i < count {
      let value = x[i] * a + b
      y[i] = relu ? max(0, value) : value
      i += 1
    }
  }

  /// `(Σ dy[i], Σ dy[i] · x̂[i])` with `x̂ = (x - mean) · inverse`, summed as `sum` sums. Given
  /// the fused ReLU's `output`, `dy` is first zeroed in place where the output is not positive.
  private static func gradientSums(
    _ dy: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, output: UnsafePointer<Float>?, count: Int,
    mean: Float, inverse: Float
  ) -> (Double, Double) {
    var shift = 0.0
    var scale = 0.0
    let center = V(repeating: mean)
    let spread = V(repeating: inverse)
    var start = 0
    while start < count {
      let end = min(count, start + 1024)
      var shiftLanes = V()
      var scaleLanes = V()
      var i = start
      while i + 16 <= end {
        var g = UnsafeRawPointer(dy + i).loadUnaligned(as: V.self)
        if let output {
          g.replace(with: V(), where: UnsafeRawPointer(output + i).loadUnaligned(as: V.self) .<= V())
          UnsafeMutableRawPointer(dy + i).storeBytes(of: g, as: V.self)
        }
        shiftLanes += g
        scaleLanes.addProduct(g, (UnsafeRawPointer(x + i).loadUnaligned(as: V.self) - center) * spread)
        i += 16
      }
      var shiftPartial = shiftLanes.sum()
      var scalePartial = scaleLanes.sum()
      while i < end {
        if let output, output[i] <= 0 { dy[i] = 0 }
        shiftPartial += dy[i]
        scalePartial += dy[i] * ((x[i] - mean) * inverse)
        i += 1
      }
      shift += Double(shiftPartial)
      scale += Double(scalePartial)
      start = end
    }
    return (shift, scale)
  }

  /// `dx[i] (+)= gain · (dy[i] - meanGradient - x̂[i] · deviationGradient)`.
  private static func inputGradient(
    _ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, into dx: UnsafeMutablePointer<Float>, count: Int,
    gain: Float, meanGradient: Float, mean: Float, inverse: Float, deviationGradient: Float, accumulate: Bool
  ) {
    let vGain = V(repeating: gain)
    let vMeanGradient = V(repeating: meanGradient)
    let center = V(repeating: mean)
    let spread = V(repeating: inverse)
    let vDeviationGradient = V(repeating: deviationGradient)
    var i = 0
    while i + 16 <= count {
      let normalized = (UnsafeRawPointer(x + i).loadUnaligned(as: V.self) - center) * spread
      var share = vGain * (UnsafeRawPointer(dy + i).loadUnaligned(as: V.self) - vMeanGradient - normalized * vDeviationGradient)
      if accumulate { share += UnsafeRawPointer(dx + i).loadUnaligned(as: V.self) }
      UnsafeMutableRawPointer(dx + i).storeBytes(of: share, as: V.self)
      i += 16
    }
    while i < count {
      let share = gain * (dy[i] - meanGradient - (x[i] - mean) * inverse * deviationGradient)
      dx[i] = accumulate ? dx[i] + share : share
      i += 1
    }
  }

  /// `Σ x[i]`, in sixteen float lanes per run of 1024 values and double across runs.
  private static func sum(_ x: UnsafePointer<Float>, count: Int) -> Double {
    var total = 0.0
    var start = 0
    while start < count {
      let end = min(count, start + 1024)
      var lanes = V()
      var i = start
      while i + 16 <= end {
        lanes += UnsafeRawPointer(x + i).loadUnaligned(as: V.self)
        i += 16
      }
      var partial = lanes.sum()
      while i < end {
        partial += x[i]
        i += 1
      }
      total += Double(partial)
      start = end
    }
    return total
  }

  /// `Σ (x[i] - mean)²`, summed as `sum` sums.
  private static func squaredDeviations(_ x: UnsafePointer<Float>, count: Int, mean: Float) -> Double {
    var total = 0.0
    var start = 0
    let center = V(repeating: mean)
    while start < count {
      let end = min(count, start + 1024)
      var lanes = V()
      var i = start
      while i + 16 <= end {
        let deviation = UnsafeRawPointer(x + i).loadUnaligned(as: V.self) - center
        lanes.addProduct(deviation, deviation)
        i += 16
      }
      var partial = lanes.sum()
      while i < end {
        partial += (x[i] - mean) * (x[i] - mean)
        i += 1
      }
      total += Double(partial)
      start = end
    }
    return total
  }
}
