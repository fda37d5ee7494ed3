import Testing
@testable import PruneEngine

/// Finite-difference checks of every layer's backward pass (Linear, Conv2d with stride and
/// padding, max pooling, ReLU) and of the loss gradient.
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
      logits: workspace.activations[last].baseAddress!, classes: network.classCount, batch: n, leadingDimension: n,
      labels: workspace.labels.baseAddress!, gradient: workspace.outputGradients[last].baseAddress!,
      gradientScale: 1 / Float(n))
    if let gradients { network.backward(workspace, count: n, gradients: gradients, threads: 1) }
    return sum / Double(n)
  }

  @Test(arguments: [
    "mlp:9-7-5-4", "mlp:9-3",
    // Convolution, ReLU, a pool that drops the last row and column of a 5x5 map, Flatten.
    "cnn:1x7x7-conv3k3-pool2-fc4",
    // Stride 2 with padding, two convolutions in a row, no pooling.
    "cnn:1x7x7-conv4k3s2p1-conv3k2-fc5-fc3",
    // A pooled convolution feeding another convolution.
    "cnn:1x9x9-conv2k2-pool2-conv3k3p1-pool2-fc3",
  ])
  func analyticGradientsMatchFiniteDifferences(arch: String) throws {
    let architecture = try Architecture(parsing: arch)
    var generator = SeededGenerator(seed: 3)
    var model = Model(architecture: architecture, generator: &generator)
    // Non-zero biases, so the bias gradients are exercised away from the initial state.
    for (index, dense) in model.weightedLayers {
      var layer = dense
      layer.bias.scalars = randomFloats(layer.outputCount, seed: UInt64(index)).map { $0 * 0.1 }
      model.layers[index] = .weighted(layer)
    }
    let side = Int(Double(architecture.inputCount).squareRoot())
    let dataset = bandDataset(samples: 6, classes: architecture.classCount, side: side, seed: 4)
    #expect(dataset.featureCount == architecture.inputCount)
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
