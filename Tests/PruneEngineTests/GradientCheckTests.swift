import Testing
@testable import PruneEngine

/// Finite-difference checks of every layer's backward pass and of the loss gradient.
struct GradientCheckTests {
  /// Mean loss of the network on the whole (tiny) batch, and optionally its gradients.
  private func loss(
    _ network: Network, _ dataset: Dataset, _ workspace: BatchWorkspace,
    gradients: [UnsafeMutableBufferPointer<Float>]? = nil
  ) -> Double {
    let n = dataset.count
    dataset.gatherFeatureMajor(range: 0..<n, into: workspace.input.baseAddress!, leadingDimension: n)
    for j in 0..<n { workspace.labels[j] = dataset.labels[j] }
    network.forward(workspace, count: n, threads: 1)
    let last = network.layers.count - 1
    let (sum, _) = Kernels.softmaxCrossEntropy(
      logits: workspace.outputs[last].baseAddress!, classes: network.classCount, batch: n, leadingDimension: n,
      labels: workspace.labels.baseAddress!, gradient: workspace.outputGradients[last].baseAddress!,
      gradientScale: 1 / Float(n))
    if let gradients { network.backward(workspace, count: n, gradients: gradients, threads: 1) }
    return sum / Double(n)
  }

  @Test(arguments: [[9, 7, 5, 4], [9, 3]])
  func analyticGradientsMatchFiniteDifferences(widths: [Int]) {
    var generator = SeededGenerator(seed: 3)
    var model = Model(architecture: .mlp(widths: widths), generator: &generator)
    // Non-zero biases, so the bias gradients are exercised away from the initial state.
    for (index, dense) in model.weightedLayers {
      var layer = dense
      layer.bias.scalars = randomFloats(layer.outputCount, seed: UInt64(index)).map { $0 * 0.1 }
      model.layers[index] = .weighted(layer)
    }
    let dataset = bandDataset(samples: 6, classes: widths.last!, side: 3, seed: 4)
    let network = Network(model: model)
    let workspace = BatchWorkspace(network: network, capacity: dataset.count, forTraining: true)
    let parameters = network.parameterBuffers
    let gradients = parameters.map { UnsafeMutableBufferPointer<Float>.zeros($0.count) }
    defer { for buffer in gradients { buffer.deallocate() } }
    _ = loss(network, dataset, workspace, gradients: gradients)

    let step: Float = 1e-3
    var checked = 0
    for (tensor, parameter) in parameters.enumerated() {
      for index in parameter.indices {
        let original = parameter[index]
        parameter[index] = original + step
        let above = loss(network, dataset, workspace)
        parameter[index] = original - step
        let below = loss(network, dataset, workspace)
        parameter[index] = original
        let numeric = (above - below) / Double(2 * step)
        let analytic = Double(gradients[tensor][index])
        #expect(
          abs(numeric - analytic) <= 2e-3 + 2e-2 * abs(numeric),
          "parameter tensor \(tensor) element \(index): analytic \(analytic), numeric \(numeric)")
        checked += 1
      }
    }
    #expect(checked == model.parameterCount)
  }
}
