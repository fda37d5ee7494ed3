import Testing

@testable import PruneEngine

/// A seeded `[rows, columns]` weight matrix keeping about `density` of its entries, with rows
/// `emptyRows` entirely zero.
private func maskedWeights(rows: Int, columns: Int, density: Double, emptyRows: Set<Int> = [], seed: UInt64) -> [Float]
{
  var generator = SeededGenerator(seed: seed)
  return (0..<(rows * columns)).map { index in
    let value = generator.nextUnitFloat() * 2 - 1
    let kept = Double(generator.nextUnitFloat()) < density && !emptyRows.contains(index / columns)
    return kept ? value : 0
  }
}

/// Feature-major `[features, stride]` activations, about half zeros (as after a ReLU).
private func activations(features: Int, stride: Int, seed: UInt64) -> [Float] {
  var generator = SeededGenerator(seed: seed)
  return (0..<(features * stride)).map { _ in
    generator.nextUnitFloat() < 0.5 ? 0 : generator.nextUnitFloat() * 2
  }
}

/// The dense path of a layer: GEMM then bias and ReLU, as `Evaluator` runs it.
private func denseForward(
  weights: [Float], rows: Int, columns: Int, input: [Float], stride: Int, n: Int, bias: [Float], relu: Bool
) -> [Float] {
  var output = [Float](repeating: -7, count: rows * stride)
  weights.withUnsafeBufferPointer { w in
    input.withUnsafeBufferPointer { x in
      output.withUnsafeMutableBufferPointer { y in
        gemm(
          m: rows, n: n, k: columns, a: .rowMajor(w.baseAddress!, leadingDimension: columns),
          b: .rowMajor(x.baseAddress!, leadingDimension: stride), c: y.baseAddress!, ldc: stride,
          accumulate: false, threads: 1)
        Kernels.addBias(y.baseAddress!, features: rows, batch: n, leadingDimension: stride, bias: bias, relu: relu)
      }
    }
  }
  return output
}

private func sparseForward(
  _ matrix: SparseMatrix, input: [Float], stride: Int, n: Int, bias: [Float], relu: Bool
) -> [Float] {
  var output = [Float](repeating: -7, count: matrix.rows * stride)
  input.withUnsafeBufferPointer { x in
    output.withUnsafeMutableBufferPointer { y in
      matrix.forward(
        input: x.baseAddress!, inputStride: stride, count: n, output: y.baseAddress!, outputStride: stride,
        bias: bias, relu: relu)
    }
  }
  return output
}

struct SparseMatrixTests {
  @Test func roundTripsTheNonzeroEntries() {
    let weights = maskedWeights(rows: 7, columns: 400, density: 0.2, emptyRows: [3], seed: 1)
    let matrix = weights.withUnsafeBufferPointer { SparseMatrix(weights: $0, rows: 7, columns: 400) }
    #expect(matrix.nonzeroCount == weights.filter { $0 != 0 }.count)
    #expect(matrix.segmentCount == 3)  // 192 + 192 + 16 columns
    #expect(matrix.usesNarrowIndices)
    #expect(zip(matrix.dense(), weights).allSatisfy { $0.bitPattern == $1.bitPattern })
  }

  @Test func usesWideIndicesBeyondSixteenBits() {
    let columns = 70_000
    var weights = [Float](repeating: 0, count: columns)
    weights[5] = 1.5
    weights[69_999] = -2
    let matrix = weights.withUnsafeBufferPointer { SparseMatrix(weights: $0, rows: 1, columns: columns) }
    #expect(!matrix.usesNarrowIndices)
    #expect(matrix.nonzeroCount == 2)
    // One sample: 1.5 · 2 + (-2) · 3 + 0.25 = -2.75.
    var input = [Float](repeating: 0, count: columns)
    input[5] = 2
    input[69_999] = 3
    let batch = sparseForward(matrix, input: input, stride: 1, n: 1, bias: [0.25], relu: false)
    #expect(isClose(batch[0], -2.75))
    var single: Float = 0
    var scratch = [Int32](repeating: 0, count: columns)
    matrix.forwardVector(x: input, bias: [0.25], relu: false, into: &single, scratch: &scratch)
    #expect(isClose(single, -2.75))
  }
}

struct SparseKernelTests {
  /// The batch kernel gives the dense path's bits (see `SparseKernels`), so within any
  /// tolerance; checked bit for bit, which is the property the evaluator relies on.
  @Test(arguments: [0.0, 0.03, 0.3, 0.9, 1.0])
  func batchKernelEqualsTheDensePath(density: Double) {
    let (rows, columns) = (37, 400)
    let weights = maskedWeights(rows: rows, columns: columns, density: density, emptyRows: [0, 17], seed: 2)
    let matrix = weights.withUnsafeBufferPointer { SparseMatrix(weights: $0, rows: rows, columns: columns) }
    let bias = randomFloats(rows, seed: 3)
    // Batch sizes on and off the 64/32/16 tile edges; strides wider than the batch.
    for (n, stride) in [(1, 1), (5, 8), (16, 16), (17, 20), (33, 48), (64, 64), (70, 80), (130, 130)] {
      let input = activations(features: columns, stride: stride, seed: UInt64(n))
      for relu in [false, true] {
        let expected = denseForward(
          weights: weights, rows: rows, columns: columns, input: input, stride: stride, n: n, bias: bias, relu: relu)
        let actual = sparseForward(matrix, input: input, stride: stride, n: n, bias: bias, relu: relu)
        var mismatches = 0
        for row in 0..<rows {
          for j in 0..<n where expected[row * stride + j].bitPattern != actual[row * stride + j].bitPattern {
            mismatches += 1
          }
          // Columns beyond the batch are left alone.
          for j in n..<stride where actual[row * stride + j] != -7 { mismatches += 1 }
        }
        #expect(mismatches == 0, "n \(n), stride \(stride), relu \(relu)")
      }
    }
  }

  @Test func allZeroLayerOutputsItsBias() {
    let matrix = [Float](repeating: 0, count: 12).withUnsafeBufferPointer {
      SparseMatrix(weights: $0, rows: 3, columns: 4)
    }
    #expect(matrix.nonzeroCount == 0)
    let output = sparseForward(
      matrix, input: activations(features: 4, stride: 3, seed: 1), stride: 3, n: 3, bias: [1, -2, 0.5], relu: true)
    #expect(zip(output, [1, 1, 1, 0, 0, 0, 0.5, 0.5, 0.5] as [Float]).allSatisfy { isClose($0, $1) })
    var single = [Float](repeating: 9, count: 3)
    var scratch = [Int32](repeating: 0, count: 4)
    matrix.forwardVector(x: [1, 2, 3, 4], bias: [1, -2, 0.5], relu: true, into: &single, scratch: &scratch)
    #expect(zip(single, [1, 0, 0.5] as [Float]).allSatisfy { isClose($0, $1) })
  }

  /// The single-sample kernels agree with the batch path within rounding.
  @Test(arguments: [0.0, 0.05, 0.5, 1.0])
  func singleSampleKernelsEqualTheBatchPath(density: Double) {
    let (rows, columns) = (21, 211)
    let weights = maskedWeights(rows: rows, columns: columns, density: density, emptyRows: [4], seed: 4)
    let matrix = weights.withUnsafeBufferPointer { SparseMatrix(weights: $0, rows: rows, columns: columns) }
    let bias = randomFloats(rows, seed: 5)
    let x = activations(features: columns, stride: 1, seed: 6)
    let batch = denseForward(
      weights: weights, rows: rows, columns: columns, input: x, stride: 1, n: 1, bias: bias, relu: true)
    var sparse = [Float](repeating: 0, count: rows)
    var dense = [Float](repeating: 0, count: rows)
    var scratch = [Int32](repeating: 0, count: columns)
    matrix.forwardVector(x: x, bias: bias, relu: true, into: &sparse, scratch: &scratch)
    VectorKernels.denseForward(
      weight: weights, rows: rows, columns: columns, x: x, bias: bias, relu: true, into: &dense)
    for row in 0..<rows {
      #expect(isClose(sparse[row], batch[row]), "sparse row \(row)")
      #expect(isClose(dense[row], batch[row]), "dense row \(row)")
    }
  }

  @Test func scalesPixelsLikeTheGather() {
    let pixels: [UInt8] = (0..<37).map { UInt8(($0 * 7) % 256) }
    var x = [Float](repeating: 0, count: 37)
    VectorKernels.scalePixels(pixels, count: 37, into: &x)
    #expect(zip(pixels, x).allSatisfy { (Float($0) / 255).bitPattern == $1.bitPattern })
  }
}

struct SparseEvaluatorTests {
  /// LeNet-like but small: 16 inputs, pruned to `sparsity` per layer by magnitude.
  private func prunedModel(sparsity: Double) -> Model {
    var generator = SeededGenerator(seed: 9)
    var model = Model(architecture: .mlp(widths: [16, 40, 24, 4]), generator: &generator)
    // Nonzero biases, so that empty rows still matter.
    for (path, dense) in model.weightedLayers {
      let index = model.position(of: path)!
      var layer = dense
      layer.bias = Tensor(shape: [layer.outputCount], scalars: randomFloats(layer.outputCount, seed: UInt64(index)))
      model.replaceWeightedLayer(at: path, with: layer)
    }
    return KernelBenchmark.magnitudePruned(model, sparsity: sparsity)
  }

  @Test(arguments: [0.0, 0.5, 0.9, 1.0])
  func sparseLayersGiveTheDenseResults(sparsity: Double) {
    let model = prunedModel(sparsity: sparsity)
    let data = bandDataset(samples: 203, classes: 4, seed: 3)
    let dense = Evaluator(model: model, threads: 2, kernels: .dense)
    let sparse = Evaluator(model: model, threads: 2, kernels: .sparse)
    let automatic = Evaluator(model: model, threads: 2)
    #expect(dense.batchKernels == [.dense, .dense, .dense])
    #expect(sparse.batchKernels == [.sparse, .sparse, .sparse])
    let expected = dense.evaluate(data)
    for evaluator in [sparse, automatic] {
      let actual = evaluator.evaluate(data)
      #expect(actual.correct == expected.correct)
      #expect(abs(actual.accuracy - expected.accuracy) <= 1e-6)
      #expect(abs(actual.loss - expected.loss) <= 1e-6)
      let logits = evaluator.logits(data, limit: 150)
      let reference = dense.logits(data, limit: 150)
      #expect(zip(logits, reference).allSatisfy { $0.bitPattern == $1.bitPattern })
    }
  }

  @Test func singleSamplesMatchTheBatch() {
    let model = prunedModel(sparsity: 0.8)
    let data = bandDataset(samples: 40, classes: 4, seed: 4)
    for kernels in [KernelPolicy.dense, .sparse] {
      let evaluator = Evaluator(model: model, threads: 1, kernels: kernels)
      let logits = evaluator.logits(data)
      for sample in 0..<data.count {
        let single = evaluator.singleSampleLogits(data, sample: sample)
        let row = Array(logits[(sample * 4)..<((sample + 1) * 4)])
        #expect(zip(single, row).allSatisfy { isClose($0, $1) }, "sample \(sample)")
        let best = row.indices.max { row[$0] < row[$1] || (row[$0] == row[$1] && $0 > $1) }!
        #expect(evaluator.predict(data, sample: sample) == best)
      }
    }
  }

  @Test func unprunedModelsRunDense() {
    var generator = SeededGenerator(seed: 1)
    let model = Model(architecture: .mlp(widths: [16, 8, 4]), generator: &generator)
    let evaluator = Evaluator(model: model)
    #expect(evaluator.batchKernels == [.dense, .dense])
    #expect(evaluator.singleSampleKernels == [.dense, .dense])
  }

  @Test func layerTimingsCoverEveryLayer() {
    let model = prunedModel(sparsity: 0.9)
    let timings = KernelBenchmark.layerTimings(
      model: model, batch: 20, dataset: bandDataset(samples: 8, classes: 4, seed: 1), clock: .system, repetitions: 1)
    #expect(timings.map(\.layer) == [0, 2, 4])
    #expect(timings.allSatisfy { $0.batch == 20 && $0.denseSeconds > 0 && $0.sparseSeconds > 0 })
    #expect(timings.allSatisfy { $0.singleDenseSeconds > 0 && $0.singleSparseSeconds > 0 })
  }

  /// Convolutions are timed on their im2col products, fed the pooled maps of the layers before.
  @Test func layerTimingsCoverConvolutions() throws {
    var generator = SeededGenerator(seed: 12)
    let architecture = try Architecture(parsing: "cnn:1x8x8-conv3k3p1-pool2-conv4k3-fc5")
    let model = KernelBenchmark.magnitudePruned(Model(architecture: architecture, generator: &generator), sparsity: 0.5)
    let timings = KernelBenchmark.layerTimings(
      model: model, batch: 20, dataset: bandDataset(samples: 8, classes: 5, side: 8, seed: 2), clock: .system,
      repetitions: 1)
    #expect(timings.map(\.layer) == model.weightedLayers.map(\.path))
    #expect(timings.allSatisfy { $0.denseSeconds > 0 && $0.sparseSeconds > 0 })
    #expect(timings.allSatisfy { $0.singleDenseSeconds > 0 && $0.singleSparseSeconds > 0 })
  }

  /// Rows of smallest L2 norm go first, every layer but the output layer on its own, and the
  /// shrunk model drops them.
  @Test func rowPruningRemovesTheWeakestRowsAndShrinks() {
    let hidden = WeightedLayer(
      weight: Tensor(shape: [4, 2], scalars: [3, 0, 0.5, 0.5, -2, 2, 0.1, 0]), bias: Tensor(shape: [4]))
    let output = WeightedLayer(
      weight: Tensor(shape: [2, 4], scalars: [1, 2, 3, 4, 5, 6, 7, 8]), bias: Tensor(shape: [2]))
    let model = Model(layers: [.weighted(hidden), .relu, .weighted(output)])
    // Norms 3, 0.71, 2.83, 0.1: half of four rows is two, rows 3 and 1.
    let pruned = KernelBenchmark.rowPruned(model, fraction: 0.5)
    guard case .weighted(let first) = pruned.layers[0], case .weighted(let last) = pruned.layers[2] else {
      Issue.record("layers moved")
      return
    }
    #expect(first.mask == [1, 1, 0, 0, 1, 1, 0, 0])
    #expect(last.mask == nil)
    let shrunk = KernelBenchmark.shrunkModel(pruned)
    #expect(shrunk?.weightedLayers.map(\.layer.weight.shape) == [[2, 2], [2, 2]])
    #expect(KernelBenchmark.shrunkModel(model) == nil)
  }
}

struct KernelSelectionTests {
  @Test func crossoverIsInterpolatedBetweenTheDensitiesTried() {
    // WeightedLayer takes 10; sparse 4 at 0.2 and 16 at 0.5: they cross at 0.2 + 0.3 · 6 / 12 = 0.35.
    let times: [(density: Double, seconds: Double)] = [(0.1, 2), (0.2, 4), (0.5, 16)]
    #expect(isClose(KernelSelector.crossing(times, dense: 10), 0.35))
    // Sparse faster at every density: always sparse.
    #expect(KernelSelector.crossing([(0.5, 1), (1.0, 2)], dense: 10) == 1)
    // Slower already at the first density: interpolated from (0, 0).
    #expect(isClose(KernelSelector.crossing([(0.02, 20)], dense: 10), 0.01))
  }

  @Test func denseLayersNeverRunSparse() {
    let kinds = KernelSelector.shared.kinds(rows: 3, columns: 5, density: 1)
    #expect(kinds.batch == .dense && kinds.single == .dense)
  }

  @Test func magnitudePruningKeepsTheLargestWeights() {
    let dense = WeightedLayer(
      weight: Tensor(shape: [2, 3], scalars: [0.5, -3, 0.1, 2, -0.2, 1]), bias: Tensor(shape: [2]))
    let pruned = KernelBenchmark.magnitudePruned(Model(layers: [.weighted(dense)]), sparsity: 0.5)
    guard case .weighted(let layer) = pruned.layers[0] else { Issue.record("not dense"); return }
    #expect(layer.mask == [0, 1, 0, 1, 0, 1])
    #expect(zip(layer.weight.scalars, [0, -3, 0, 2, 0, 1] as [Float]).allSatisfy { isClose($0, $1) })
  }
}
