import Testing

@testable import PruneEngine

struct ShrinkTests {
  /// Logits of two models on the same data agree within 1e-5.
  private func expectSameOutputs(
    _ a: Model, _ b: Model, on data: Dataset, sourceLocation: SourceLocation = #_sourceLocation
  ) {
    let left = Evaluator(model: a, threads: 1, kernels: .dense).logits(data)
    let right = Evaluator(model: b, threads: 1, kernels: .dense).logits(data)
    #expect(left.count == right.count, sourceLocation: sourceLocation)
    let worst = zip(left, right).map { abs($0 - $1) }.max() ?? 0
    #expect(worst <= 1e-5, "largest difference \(worst)", sourceLocation: sourceLocation)
  }

  /// 4 inputs -> 3 -> 2 -> 2, written out so every folded value can be checked by hand.
  private func handModel() -> Model {
    let first = WeightedLayer(
      weight: Tensor(shape: [3, 4], scalars: [0.5, -0.25, 1, 0.75, 9, 9, 9, 9, -0.5, 0.25, 0.5, 1]),
      bias: Tensor(shape: [3], scalars: [0.1, 0.7, -0.2]),
      mask: [1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1])
    let second = WeightedLayer(
      weight: Tensor(shape: [2, 3], scalars: [1, 2, 3, -1, 0.5, 0.25]),
      bias: Tensor(shape: [2], scalars: [0.05, -0.05]),
      mask: [1, 1, 0, 1, 1, 1])
    let output = WeightedLayer(
      weight: Tensor(shape: [2, 2], scalars: [1, -1, 0.5, 2]), bias: Tensor(shape: [2], scalars: [0, 0.1]))
    return Model(layers: [.weighted(first), .relu, .weighted(second), .relu, .weighted(output)])
  }

  @Test func removesADeadNeuronAndFoldsItsConstantOutput() throws {
    let model = handModel()
    let (shrunk, removed) = model.shrunk()
    #expect(removed == [0: [1]])
    guard case .weighted(let first) = shrunk.layers[0], case .weighted(let second) = shrunk.layers[2] else {
      Issue.record("layers moved")
      return
    }
    #expect(first.weight.shape == [2, 4])
    #expect(first.mask == [1, 1, 1, 1, 1, 1, 1, 1])
    #expect(zip(first.bias.scalars, [0.1, -0.2] as [Float]).allSatisfy { isClose($0, $1) })
    #expect(second.weight.shape == [2, 2])
    // Column 1 is gone from the weight and the mask; the pruned (1, 2) entry stays pruned.
    #expect(zip(second.weight.scalars, [1, 0, -1, 0.25] as [Float]).allSatisfy { isClose($0, $1) })
    #expect(second.mask == [1, 0, 1, 1])
    // The dead neuron outputs relu(0.7) = 0.7: bias += column 1 · 0.7 = (2, 0.5) · 0.7.
    #expect(isClose(second.bias.scalars[0], 0.05 + 1.4))
    #expect(isClose(second.bias.scalars[1], -0.05 + 0.35))
    expectSameOutputs(model, shrunk, on: bandDataset(samples: 64, classes: 2, side: 2, seed: 1))
  }

  @Test func negativeBiasFoldsNothingAndDeadNeuronsCascade() {
    // Layer 0 row 0 is dead with a negative bias (ReLU makes it 0); layer 2 row 1's only kept
    // weight reads that neuron, so once it is gone row 1 is dead too, with constant
    // relu(0.3 + 0) = 0.3 folded into the output layer.
    let first = WeightedLayer(
      weight: Tensor(shape: [2, 3], scalars: [5, 5, 5, 1, -1, 0.5]), bias: Tensor(shape: [2], scalars: [-0.4, 0.2]),
      mask: [0, 0, 0, 1, 1, 1])
    let second = WeightedLayer(
      weight: Tensor(shape: [2, 2], scalars: [0.5, 1, 2, 7]), bias: Tensor(shape: [2], scalars: [0.1, 0.3]),
      mask: [1, 1, 1, 0])
    let output = WeightedLayer(weight: Tensor(shape: [1, 2], scalars: [1.5, -2]), bias: Tensor(shape: [1], scalars: [0.25]))
    let model = Model(layers: [.weighted(first), .relu, .weighted(second), .relu, .weighted(output)])
    let (shrunk, removed) = model.shrunk()
    #expect(removed == [0: [0], 2: [1]])
    #expect(shrunk.architecture == .mlp(widths: [3, 1, 1, 1]))
    guard case .weighted(let last) = shrunk.layers[4] else { Issue.record("layers moved"); return }
    #expect(isClose(last.bias.scalars[0], 0.25 + -2 * 0.3))
    expectSameOutputs(
      model, shrunk,
      on: Dataset(images: (0..<60).map { UInt8($0 * 4) }, labels: [UInt8](repeating: 0, count: 20), rows: 1, columns: 3)
    )
  }

  @Test func neverRemovesOutputNeuronsAndKeepsOneNeuronPerLayer() {
    let hidden = WeightedLayer(
      weight: Tensor(shape: [2, 2], scalars: [1, 2, 3, 4]), bias: Tensor(shape: [2], scalars: [0.5, 0.25]),
      mask: [0, 0, 0, 0])
    let output = WeightedLayer(
      weight: Tensor(shape: [2, 2], scalars: [1, 1, 1, 1]), bias: Tensor(shape: [2], scalars: [0, 0]),
      mask: [0, 0, 1, 1])
    let model = Model(layers: [.weighted(hidden), .relu, .weighted(output)])
    let (shrunk, removed) = model.shrunk()
    #expect(removed == [0: [1]])
    #expect(shrunk.architecture == .mlp(widths: [2, 1, 2]))
    let data = Dataset(
      images: (0..<32).map { UInt8($0 * 8) }, labels: (0..<16).map { UInt8($0 % 2) }, rows: 1, columns: 2)
    expectSameOutputs(model, shrunk, on: data)
  }

  @Test func unprunedModelsAreUnchanged() {
    var generator = SeededGenerator(seed: 3)
    let model = Model(architecture: .mlp(widths: [6, 5, 3]), generator: &generator)
    let (shrunk, removed) = model.shrunk()
    #expect(removed.isEmpty)
    #expect(shrunk == model)
  }

  /// A LeNet-shaped model pruned by magnitude with whole rows pruned on top, some with positive
  /// biases, and pruned weights in the next layers: same outputs within 1e-5.
  @Test func shrunkModelComputesTheMaskedModelsOutputs() {
    var generator = SeededGenerator(seed: 5)
    var model = Model(architecture: .mlp(widths: [16, 24, 12, 4]), generator: &generator)
    model = KernelBenchmark.magnitudePruned(model, sparsity: 0.6)
    for (path, dense) in model.weightedLayers.dropLast() {
      let index = model.position(of: path)!
      var layer = dense
      var mask = layer.keptMask
      let dead = stride(from: index % 3, to: layer.outputCount, by: 3)
      for row in dead { for column in 0..<layer.inputCount { mask[row * layer.inputCount + column] = 0 } }
      layer.setMask(mask)
      layer.bias = Tensor(shape: [layer.outputCount], scalars: randomFloats(layer.outputCount, seed: UInt64(index + 7)))
      model.replaceWeightedLayer(at: path, with: layer)
    }
    let (shrunk, removed) = model.shrunk()
    #expect(removed[0] == Array(stride(from: 0, to: 24, by: 3)))
    #expect(shrunk.inputCount == 16 && shrunk.classCount == 4)
    // Only weights of removed neurons went: pruned rows, and the columns reading them.
    #expect(ModelMetrics(shrunk).nonzero <= ModelMetrics(model).nonzero)
    #expect(ModelMetrics(shrunk).parameters < ModelMetrics(model).parameters)
    expectSameOutputs(model, shrunk, on: bandDataset(samples: 300, classes: 4, seed: 6))
    // The sparse kernels run the shrunk model too.
    let dense = Evaluator(model: shrunk, threads: 1, kernels: .dense).evaluate(
      bandDataset(samples: 300, classes: 4, seed: 6))
    let sparse = Evaluator(model: shrunk, threads: 1, kernels: .sparse).evaluate(
      bandDataset(samples: 300, classes: 4, seed: 6))
    #expect(dense.correct == sparse.correct && abs(dense.loss - sparse.loss) <= 1e-6)
  }
}
