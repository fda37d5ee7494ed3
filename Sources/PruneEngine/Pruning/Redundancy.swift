/// Redundant neurons and the function-preserving merge that removes them.
///
/// Two neurons of a hidden layer whose incoming weight rows `a` and `b` are parallel with a
/// positive factor compute the same feature up to scale: for `a = c·b` with `c > 0` and biases
/// with the same ratio, `relu(a·x + b_a) = c · relu(b·x + b_b)`. One of them can go, and its
/// outgoing weights, scaled by `c = ‖a‖/‖b‖`, added to the other's, leave the next layer's input
/// unchanged (the idea of Srinivas & Babu 2015, "Data-free Parameter Pruning for Deep Neural
/// Networks", and of the neuron merging of Kim et al. 2020).
///
/// Similarity is the cosine of the incoming weight rows, not of activations over data: it needs
/// no data, it is deterministic, and it is exactly the condition under which the merge is exact
/// (parallel rows), whereas equal activations on a calibration set say nothing about inputs
/// outside it. Biases are not part of the comparison, so the merge is exact for parallel rows
/// whose biases have the same ratio as their norms (zero biases included) and approximate
/// otherwise. The cosine with an all-zero row is taken as 0.
///
/// Filters of a convolution are rows too (`[filters, channels · k · k]`), and the merge is just
/// as exact for them: a positively scaled channel stays scaled through ReLU and max pooling
/// (`max(c·y) = c · max(y)` for `c > 0`), and through the next layer's zero padding. A filter's
/// outgoing weights are a block of the next layer's columns: its input channel's `k · k` kernel
/// weights in a next convolution, or its `H · W` flattened features in a next Linear layer.
public enum Redundancy {
  // MARK: - Scores

  /// `1 − max_j cos(w_i, w_j)` for each neuron `i`, `j` ranging over the other kept neurons of the
  /// layer (rows with any kept weight): 0 for a neuron with an exact positively scaled duplicate,
  /// 1 for one orthogonal to all others (or alone), up to 2 for one opposed to all others.
  ///
  /// The score is symmetric: both neurons of a duplicated pair score 0, so pruning more neurons
  /// than there are pairs can remove both; `merge` then picks each one's twin among survivors.
  ///
  /// - Complexity: O(out² · in), one matrix product `W · Wᵀ`.
  static func scores(_ dense: WeightedLayer, threads: Int) -> [Float] {
    let similarity = Similarity(dense, threads: threads)
    let kept = keptRows(dense)
    return (0..<dense.outputCount).map { i in
      var best = -Float.infinity
      for j in 0..<dense.outputCount where j != i && kept[j] { best = max(best, similarity.cosine(i, j)) }
      return best == -Float.infinity ? 1 : 1 - best
    }
  }

  // MARK: - Twins

  /// For each neuron of the hidden layer at `layer`, the kept neuron of the same layer whose
  /// incoming weights are most similar (cosine), or nil.
  ///
  /// A twin is never the neuron itself, never one of `removed`, never a neuron whose row is fully
  /// pruned or all zero (the merge divides by its norm), and only a neuron with a positive
  /// cosine similarity: merging into an orthogonal or opposed neuron would add a wrong feature
  /// rather than keep the removed one. Ties go to the lowest index.
  ///
  /// - Parameters:
  ///   - model: the model before the pruning step, whose rows still hold the weights of the
  ///     neurons about to be removed.
  ///   - layer: a weighted layer followed by ReLU and another weighted layer.
  ///   - removed: neurons this pruning step removes; twins are chosen among the others, so they
  ///     are still kept after the step.
  /// - Complexity: O(out² · in).
  public static func twins(in model: Model, layer: ParameterPath, excluding removed: [Int] = []) -> [Int?] {
    let dense = hiddenLayer(of: model, at: layer).layer
    let similarity = Similarity(dense, threads: GEMM.defaultThreads)
    let kept = keptRows(dense)
    let excluded = Set(removed)
    let candidates = (0..<dense.outputCount).filter { kept[$0] && !excluded.contains($0) && similarity.norms[$0] > 0 }
    return (0..<dense.outputCount).map { i in
      var twin: Int?
      var best: Float = 0
      for j in candidates where j != i {
        let cosine = similarity.cosine(i, j)
        if cosine > best {
          best = cosine
          twin = j
        }
      }
      return twin
    }
  }

  // MARK: - Merge

  /// Removes neurons `removed` of the hidden layer at `path` (masks their rows, as the
  /// `Pruner` does) and adds each one's outgoing weights, its columns in the next weighted layer
  /// (one column for a neuron, a channel's block of columns for a filter), to its twin's columns
  /// scaled by `‖w_removed‖ / ‖w_twin‖` (incoming-weight norms), then zeroes the removed columns.
  ///
  /// Exact when each removed row is a positive multiple of its twin's and the biases have the
  /// same ratio (zero biases included); approximate otherwise, as close as the rows are
  /// parallel. Pruned weights of the next layer stay pruned: where the twin's column is masked,
  /// nothing is added, and that part of the removed neuron's contribution is lost. The removed
  /// column is zeroed and masked: the twin now carries the removed neuron's whole output, so the
  /// removed neuron's constant ReLU of its bias must not reach the next layer, neither now nor
  /// after fine-tuning or a shrink.
  ///
  /// - Parameters:
  ///   - model: the model to merge in. Its rows of `removed` may already be masked (the output of
  ///     `Pruner.prune`) when `original` is given.
  ///   - removed: neurons to remove; each must be kept in `original ?? model`.
  ///   - twins: one entry per neuron of the layer, as `twins(in:layer:excluding:)` gives;
  ///     a removed neuron with no twin is removed without merging. A twin must be kept and not
  ///     removed.
  ///   - original: the model before the pruning step, whose rows give the norms; `nil` when
  ///     `model` still holds the removed rows.
  /// - Returns: the model with the rows masked and the next layer's columns merged.
  /// - Complexity: O(out · in + removed · next.out · span), span the columns per neuron.
  public static func merge(
    _ model: Model, layer path: ParameterPath, removed: [Int], twins: [Int?], original: Model? = nil
  ) -> Model {
    var (layer, nextPath) = hiddenLayer(of: model, at: path)
    guard var next = model.weightedLayer(at: nextPath) else { preconditionFailure("no layer \(nextPath)") }
    let source = hiddenLayer(of: original ?? model, at: path).layer
    precondition(
      source.outputCount == layer.outputCount && source.inputCount == layer.inputCount,
      "the original layer \(path) has another shape")
    precondition(twins.count == layer.outputCount, "\(twins.count) twins for \(layer.outputCount) neurons")
    let sourceKept = keptRows(source)
    let norms = Similarity.rowNorms(source)
    let removedSet = Set(removed)
    for neuron in removed {
      precondition(neuron >= 0 && neuron < layer.outputCount, "neuron \(neuron) is outside layer \(path)")
      precondition(sourceKept[neuron], "neuron \(neuron) of layer \(path) was already pruned before this step")
    }

    // Mask the removed rows.
    var mask = layer.keptMask
    let inputs = layer.inputCount
    for neuron in removed { for column in 0..<inputs { mask[neuron * inputs + column] = 0 } }
    layer.setMask(mask)
    let kept = keptRows(layer)

    // Move the removed columns of the next layer onto their twins'. Neuron `i` feeds columns
    // `i · span ..< (i + 1) · span` of every row of the next weight.
    var nextMask = next.keptMask
    let columns = next.inputCount
    let outputs = next.outputCount
    let span = columns / layer.outputCount
    next.weight.scalars.withUnsafeMutableBufferPointer { weights in
      for neuron in removed {
        if let twin = twins[neuron] {
          precondition(
            twin != neuron && !removedSet.contains(twin) && kept[twin] && norms[twin] > 0,
            "twin \(twin) of neuron \(neuron) is not a kept neuron with nonzero weights")
          let scale = Float(norms[neuron] / norms[twin])
          for row in 0..<outputs {
            for offset in 0..<span where nextMask[row * columns + twin * span + offset] != 0 {
              weights[row * columns + twin * span + offset] += scale * weights[row * columns + neuron * span + offset]
            }
          }
        }
        for row in 0..<outputs { for offset in 0..<span { weights[row * columns + neuron * span + offset] = 0 } }
      }
    }
    for neuron in removed {
      for row in 0..<outputs { for offset in 0..<span { nextMask[row * columns + neuron * span + offset] = 0 } }
    }
    next.setMask(nextMask)

    var merged = model
    merged.replaceWeightedLayer(at: path, with: layer)
    merged.replaceWeightedLayer(at: nextPath, with: next)
    return merged
  }

  /// Merges every neuron that a pruning step removed into its twin, layer by layer.
  ///
  /// For each hidden layer, the removed neurons are those kept in `original` and not in
  /// `pruned`; their twins are chosen in `original` among the neurons `pruned` still keeps.
  /// This is the step to run after `Pruner.prune` with the `redundancy` criterion.
  public static func mergeRemoved(original: Model, pruned: Model) -> Model {
    var merged = pruned
    for (path, dense) in pruned.weightedLayers.dropLast() where isHiddenLayer(pruned, at: path) {
      guard let before = original.weightedLayer(at: path) else { continue }
      let keptBefore = keptRows(before)
      let keptAfter = keptRows(dense)
      let removed = (0..<dense.outputCount).filter { keptBefore[$0] && !keptAfter[$0] }
      guard !removed.isEmpty else { continue }
      let twins = twins(in: original, layer: path, excluding: removed)
      merged = merge(merged, layer: path, removed: removed, twins: twins, original: original)
    }
    return merged
  }

  // MARK: - Helpers

  /// Whether each neuron (row) has any kept weight.
  static func keptRows(_ dense: WeightedLayer) -> [Bool] {
    guard let mask = dense.mask else { return [Bool](repeating: true, count: dense.outputCount) }
    let columns = dense.inputCount
    return (0..<dense.outputCount).map { row in mask[(row * columns)..<((row + 1) * columns)].contains(1) }
  }

  /// Whether the Sequential layer at `path` is followed by ReLU and, later, another weighted
  /// layer.
  private static func isHiddenLayer(_ model: Model, at path: ParameterPath) -> Bool {
    guard let index = model.position(of: path) else { return false }
    let layers = model.layers
    return index + 1 < layers.count && layers[index + 1] == .relu
      && layers[(index + 1)...].contains { if case .weighted = $0 { true } else { false } }
  }

  /// The weighted layer at `path`, which must be followed by ReLU and another weighted layer, and
  /// that next layer's path.
  private static func hiddenLayer(of model: Model, at path: ParameterPath) -> (layer: WeightedLayer, next: ParameterPath) {
    let layers = model.layers
    guard let index = model.position(of: path), case .weighted(let dense) = layers[index], isHiddenLayer(model, at: path),
      let nextIndex = layers[(index + 1)...].firstIndex(where: { if case .weighted = $0 { true } else { false } }),
      case .weighted(let next) = layers[nextIndex]
    else { preconditionFailure("layer \(path) is not a hidden weighted layer followed by ReLU") }
    // A next convolution reads k · k weights per channel, a next Linear layer H · W features per
    // flattened channel: a whole number of columns per row of this layer.
    precondition(
      next.inputCount % dense.outputCount == 0 && (!next.isConvolution || next.inputChannels == dense.outputCount),
      "layer \(nextIndex) does not take layer \(path)'s outputs")
    return (dense, model.sequentialPath(nextIndex))
  }
}

/// Cosine similarities between the rows of a weight.
struct Similarity {
  let count: Int
  /// `[out]`: L2 norm of each row.
  let norms: [Double]
  /// `[out, out]`: `W · Wᵀ`.
  let gram: [Float]

  init(_ dense: WeightedLayer, threads: Int) {
    let rows = dense.outputCount
    let columns = dense.inputCount
    count = rows
    norms = Self.rowNorms(dense)
    var gram = [Float](repeating: 0, count: rows * rows)
    dense.weight.scalars.withUnsafeBufferPointer { weights in
      gram.withUnsafeMutableBufferPointer { product in
        // [out, out] = W[out, in] · Wᵀ[in, out]
        gemm(
          m: rows, n: rows, k: columns,
          a: .rowMajor(weights.baseAddress!, leadingDimension: columns),
          b: .transposed(weights.baseAddress!, leadingDimension: columns),
          c: product.baseAddress!, ldc: rows, accumulate: false, threads: threads)
      }
    }
    self.gram = gram
  }

  /// Cosine of rows `i` and `j`, in [-1, 1]; 0 when either row is all zero.
  func cosine(_ i: Int, _ j: Int) -> Float {
    let denominator = norms[i] * norms[j]
    guard denominator > 0 else { return 0 }
    return Float(min(1, max(-1, Double(gram[i * count + j]) / denominator)))
  }

  /// L2 norm of each row, summed in Double.
  static func rowNorms(_ dense: WeightedLayer) -> [Double] {
    let columns = dense.inputCount
    return dense.weight.scalars.withUnsafeBufferPointer { weights in
      (0..<dense.outputCount).map { row in
        var sum = 0.0
        for value in weights[(row * columns)..<((row + 1) * columns)] { sum += Double(value) * Double(value) }
        return sum.squareRoot()
      }
    }
  }
}
