/// Statistics of a model's activations and gradients over calibration samples, gathered with the
/// engine's own forward and backward passes in feature-major mini-batches.
///
/// One pass serves what one criterion asks for (`CalibrationNeeds`): forward only for activation
/// statistics (batches of 256, as evaluation uses), forward and backward for gradients (batches
/// of 64, the training batch size, because the `gradient` score is defined per mini-batch).
enum Calibration {
  /// Samples per batch of a forward-only pass.
  static let forwardBatchSize = 256
  /// Samples per batch of a pass with gradients: the mini-batch over which `gradient` and
  /// weight `taylor` take the mean loss.
  static let gradientBatchSize = 64

  /// What one calibration pass measured for one weighted layer; arrays are empty when the
  /// criterion did not need them or the layer was not asked for.
  struct LayerStatistics {
    /// `[out · in]`: Σ over batches of (batch size / N) · |∂L_batch/∂w|, L_batch the batch's mean
    /// cross-entropy and N the number of calibration samples.
    var meanAbsoluteWeightGradient: [Float] = []
    /// `[out]`: mean post-ReLU output over the samples.
    var meanActivation: [Double] = []
    /// `[out]`: fraction of samples whose post-ReLU output is exactly 0 (APoZ).
    var zeroFraction: [Double] = []
    /// `[out]`: mean over samples of a · ∂ℓ/∂a (signed), ℓ the sample's own cross-entropy and a
    /// the post-ReLU output.
    var meanActivationTimesGradient: [Double] = []
  }

  /// Runs the passes that measure `needs` over the first `context.calibrationSamples` samples.
  /// `subject` names what asked for them in errors (`--criterion taylor`).
  ///
  /// - Parameters:
  ///   - layers: positions among the model's weighted layers (0 for the first weighted layer, ...) to
  ///     gather statistics for; neuron statistics are only gathered for hidden layers.
  /// - Returns: one entry per weighted layer of the model, by position.
  /// - Throws: `ShearsError` when there is no calibration data, or it does not fit the model.
  /// - Complexity: O(samples · parameters); no allocation inside the batch loop.
  static func measure(
    model: Model, context: ScoringContext, needs: CalibrationNeeds, subject: String, layers: Set<Int>
  ) throws -> [LayerStatistics] {
    guard let dataset = context.calibration else {
      throw ShearsError(subject, "needs data: it scores from passes over calibration images, and none were given")
    }
    let sampleCount = min(max(0, context.calibrationSamples), dataset.count)
    guard sampleCount > 0 else {
      throw ShearsError(subject, "needs data: the calibration set is empty")
    }
    if let mismatch = model.architecture.inputMismatch(with: dataset, in: "the calibration data") {
      throw ShearsError("calibration data", "the model " + mismatch)
    }
    guard dataset.classCount <= model.classCount else {
      throw ShearsError(
        "calibration data", "labels go up to \(dataset.classCount - 1) but the model has \(model.classCount) outputs")
    }

    // Layer `l` of the statistics is the model's `l`-th weighted layer; a hidden one is followed
    // by the ReLU whose output the neuron statistics read.
    let weighted = model.weightedLayers
    let paths = weighted.map(\.path)
    let wantsWeightGradients = needs.contains(.weightGradients)
    let wantsNeuronTaylor = needs.contains(.activationGradientProducts)
    let wantsActivations = needs.contains(.activations)
    let needsBackward = needs.needsBackward
    let batchSize = min(needsBackward ? gradientBatchSize : forwardBatchSize, sampleCount)
    // Calibration observes the model as `model.eval()` runs it.
    let plan = ExecutionPlan(
      model: model, capacity: batchSize,
      gradients: needsBackward)
    let hidden = Set(paths.indices.filter { plan.activation(of: paths[$0]) != nil })
    if wantsActivations || wantsNeuronTaylor, let unread = layers.sorted().first(where: { !hidden.contains($0) }) {
      throw ShearsError(
        "layer \(paths[unread])",
        "is not followed directly by a ReLU, whose outputs \(subject) reads (in a ResNet a BatchNorm comes first)")
    }

    // Sums over the samples, per weighted layer, sized once.
    let count = weighted.count
    var gradientSums = [[Float]](repeating: [], count: count)
    var activationSums = [[Double]](repeating: [], count: count)
    var zeroCounts = [[Double]](repeating: [], count: count)
    var productSums = [[Double]](repeating: [], count: count)
    for l in layers {
      let layer = weighted[l].layer
      if wantsWeightGradients { gradientSums[l] = [Float](repeating: 0, count: layer.weight.count) }
      guard hidden.contains(l) else { continue }
      if wantsActivations {
        activationSums[l] = [Double](repeating: 0, count: layer.outputCount)
        zeroCounts[l] = [Double](repeating: 0, count: layer.outputCount)
      }
      if wantsNeuronTaylor { productSums[l] = [Double](repeating: 0, count: layer.outputCount) }
    }
    let measured = layers.sorted()
    let weightGradients = paths.map { plan.parameter($0.appending("weight"))?.gradient }

    dataset.labels.withUnsafeBufferPointer { labels in
      var first = 0
      while first < sampleCount {
        let n = min(batchSize, sampleCount - first)
        dataset.gatherFeatureMajor(range: first..<(first + n), into: plan.input, leadingDimension: n)
        plan.forward(count: n, mode: .inference, threads: context.threads)
        if needsBackward {
          // Gradient scale 1: the loss is the batch's sum of per-sample cross-entropies, so
          // the activations' gradients hold each sample's own ∂ℓ/∂(pre-activation) and the
          // weight gradients hold n times the gradient of the batch's mean loss.
          _ = Kernels.softmaxCrossEntropy(
            logits: plan.logits, classes: plan.classCount, batch: n, leadingDimension: n,
            labels: labels.baseAddress! + first, gradient: plan.logitsGradient, gradientScale: 1)
          plan.backward(count: n, mode: .inference, threads: context.threads)
        }
        for l in measured {
          // A neuron's activations are one row of n samples; a filter's are its channel, a
          // block of positions × n, averaged over the positions as over the samples.
          let features = weighted[l].layer.outputCount
          if wantsWeightGradients, let gradient = weightGradients[l] {
            // n · |∂L_mean/∂w| = |∂L_sum/∂w|: summing these and dividing by N weights each
            // batch's mean-loss gradient by its share of the samples.
            gradientSums[l].withUnsafeMutableBufferPointer { sums in
              addAbsolute(UnsafeBufferPointer(gradient), into: sums)
            }
          }
          guard let activation = plan.activation(of: paths[l]) else { continue }
          let positions = activation.features / features
          let block = positions * n
          if wantsActivations {
            activationSums[l].withUnsafeMutableBufferPointer { sums in
              zeroCounts[l].withUnsafeMutableBufferPointer { zeros in
                for f in 0..<features {
                  let (sum, zeroCount) = rowSumAndZeros(activation.value + f * block, count: block)
                  sums[f] += Double(sum) / Double(positions)
                  zeros[f] += Double(zeroCount) / Double(positions)
                }
              }
            }
          }
          if wantsNeuronTaylor, let activationGradients = activation.gradient {
            // The backward pass writes ∂ℓ/∂a = Wᵀ_{l+1} · dOut_{l+1} into the activation's
            // gradient and then applies this layer's ReLU mask, zeroing it where a <= 0; what
            // is left is ∂ℓ/∂(pre-activation). The product a · g is the same either way: where
            // a > 0 the gradient is untouched, and where a = 0 the product is 0 with or without
            // the mask.
            productSums[l].withUnsafeMutableBufferPointer { sums in
              for f in 0..<features {
                sums[f] += Double(dot(activation.value + f * block, activationGradients + f * block, count: block))
                  / Double(positions)
              }
            }
          }
        }
        first += n
      }
    }

    // Sums to means.
    let scale = 1 / Double(sampleCount)
    return (0..<count).map { l in
      LayerStatistics(
        meanAbsoluteWeightGradient: gradientSums[l].map { $0 * Float(scale) },
        meanActivation: activationSums[l].map { $0 * scale },
        zeroFraction: zeroCounts[l].map { $0 * scale },
        meanActivationTimesGradient: productSums[l].map { $0 * scale })
    }
  }

  // MARK: - Kernels

  typealias V = SIMD16<Float>

  /// `sums[i] += |values[i]|`.
  static func addAbsolute(_ values: UnsafeBufferPointer<Float>, into sums: UnsafeMutableBufferPointer<Float>) {
    precondition(values.count == sums.count)
    let source = values.baseAddress!
    let target = sums.baseAddress!
    let count = values.count
    var i = 0
    while i + 16 <= count {
      let value = UnsafeRawPointer(source + i).loadUnaligned(as: V.self)
      let sum = UnsafeRawPointer(target + i).loadUnaligned(as: V.self)
      let absolute = value.replacing(with: -value, where: value .< V())
      UnsafeMutableRawPointer(target + i).storeBytes(of: sum + absolute, as: V.self)
      i += 16
    }
    while i < count {
      target[i] += abs(source[i])
      i += 1
    }
  }

  /// The sum of a row of activations and how many of them are exactly 0.
  static func rowSumAndZeros(_ row: UnsafePointer<Float>, count: Int) -> (sum: Float, zeros: Int) {
    var sums = V()
    var zeros = SIMD16<Int32>()
    var j = 0
    while j + 16 <= count {
      let value = UnsafeRawPointer(row + j).loadUnaligned(as: V.self)
      sums += value
      zeros.replace(with: zeros &+ 1, where: value .== V())
      j += 16
    }
    var sum = sums.sum()
    var zeroCount = Int(zeros.wrappedSum())
    while j < count {
      sum += row[j]
      if row[j] == 0 { zeroCount += 1 }
      j += 1
    }
    return (sum, zeroCount)
  }

  /// `Σ_j a[j] · b[j]`.
  static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
    var sums = V()
    var j = 0
    while j + 16 <= count {
      sums.addProduct(
        UnsafeRawPointer(a + j).loadUnaligned(as: V.self), UnsafeRawPointer(b + j).loadUnaligned(as: V.self))
      j += 16
    }
    var sum = sums.sum()
    while j < count {
      sum += a[j] * b[j]
      j += 1
    }
    return sum
  }
}
