import Testing
@testable import PruneEngine

struct ArchitectureTests {
  @Test func parsesMLPWidths() throws {
    #expect(try Architecture(parsing: "mlp:784-300-100-10") == .lenet300100)
    #expect(try Architecture(parsing: "mlp:4-2").description == "mlp:4-2")
  }

  @Test func parsesConvolutionalNetworks() throws {
    let lenet5 = try Architecture(parsing: "cnn:1x28x28-conv20k5-pool2-conv50k5-pool2-fc500-fc10")
    #expect(lenet5 == .lenet5)
    #expect(try Architecture(parsing: "lenet5") == .lenet5)
    #expect(
      try Architecture(parsing: "cnn:3x32x32-conv16k3s2p1-conv8k1-fc10").steps == [
        .conv(filters: 16, kernel: 3, stride: 2, padding: 1), .relu, .conv(filters: 8, kernel: 1, stride: 1, padding: 0),
        .relu, .flatten, .linear(outputs: 10),
      ])
    for text in ["cnn:1x28x28-conv20k5-pool2-conv50k5-pool2-fc500-fc10", "cnn:3x32x32-conv16k3s2p1-conv8k1-fc10", "cnn:2x5x7-fc3"] {
      #expect(try Architecture(parsing: text).description == text)
    }
  }

  @Test func shapesFollowPyTorchsOutputSizes() throws {
    // (28 - 5) / 1 + 1 = 24, pooled to 12; (12 - 5) + 1 = 8, pooled to 4; 50 x 4 x 4 = 800.
    #expect(
      try Architecture.lenet5.shapes() == [
        [20, 24, 24], [20, 24, 24], [20, 12, 12], [50, 8, 8], [50, 8, 8], [50, 4, 4], [800], [500], [500], [10],
      ])
    // floor((7 + 2 - 3) / 2) + 1 = 4; a 2x2 pool of a 5x5 map drops the last row and column.
    #expect(try Architecture(parsing: "cnn:1x7x7-conv2k3s2p1-fc2").shapes()[0] == [2, 4, 4])
    #expect(try Architecture(parsing: "cnn:1x7x7-conv2k3-pool2-fc2").shapes()[2] == [2, 2, 2])
  }

  @Test(arguments: [
    ("cnn:1x28x28-pool2-fc10", "a pool must follow a convolution"),
    ("cnn:1x28x28-conv4k3-pool2-pool2-fc10", "a pool must follow a convolution"),
    ("cnn:1x28x28-conv4k29-fc10", "a 29x29 kernel does not fit a 28x28 input"),
    ("cnn:1x28x28-conv4k3s0-fc10", "'conv4k3s0' is not conv<N>k<K>[s<S>][p<P>], pool<K> or fc<N>"),
    ("cnn:1x28x28-conv4k3k3-fc10", "'conv4k3k3' is not conv<N>k<K>[s<S>][p<P>], pool<K> or fc<N>"),
    ("cnn:1x28-fc10", "input '1x28' is not CxHxW (as 1x28x28)"),
    ("cnn:1x28x28-conv4k3", "the last layer must be fc<classes>"),
  ])
  func rejectsImpossibleConvolutionalNetworks(text: String, problem: String) {
    #expect(throws: ShearsError("--arch \(text)", problem)) { try Architecture(parsing: text) }
  }

  @Test(arguments: ["cnn:1-2", "mlp", "mlp:", "mlp:784", "mlp:784--10", "mlp:784-0-10", "mlp:784-x-10", "mlp:-5-3"])
  func rejectsMalformedSpecifications(text: String) {
    #expect(throws: ShearsError.self) { try Architecture(parsing: text) }
    do {
      _ = try Architecture(parsing: text)
    } catch let error as ShearsError {
      #expect(error.description.contains(text))
    } catch {
      Issue.record("unexpected error \(error)")
    }
  }
}

struct ModelTests {
  @Test func layersAreNumberedLikeASequential() {
    var generator = SeededGenerator(seed: 1)
    let model = Model(architecture: .mlp(widths: [5, 4, 3, 2]), generator: &generator)
    #expect(model.namedParameters.map(\.name) == ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"])
    #expect(model.namedParameters.map(\.tensor.shape) == [[4, 5], [4], [3, 4], [3], [2, 3], [2]])
    #expect(model.layers[1] == .relu && model.layers[3] == .relu)
    #expect(model.architecture == .mlp(widths: [5, 4, 3, 2]))
    #expect(model.parameterCount == 20 + 4 + 12 + 3 + 6 + 2)
  }

  @Test func lenet5ParametersAreNamedAndShapedAsPyTorchsStateDict() {
    var generator = SeededGenerator(seed: 1)
    let model = Model(architecture: .lenet5, generator: &generator)
    #expect(
      model.namedParameters.map(\.name) == [
        "0.weight", "0.bias", "3.weight", "3.bias", "7.weight", "7.bias", "9.weight", "9.bias",
      ])
    #expect(
      model.namedParameters.map(\.tensor.shape) == [[20, 1, 5, 5], [20], [50, 20, 5, 5], [50], [500, 800], [500], [10, 500], [10]])
    #expect(model.layers[2] == .maxPool(size: 2) && model.layers[6] == .flatten && model.layers[8] == .relu)
    #expect(model.architecture == .lenet5)
    #expect(model.inputShape == [1, 28, 28])
    // A filter is a row of channels x kernel area weights.
    guard case .weighted(let conv2) = model.layers[3] else { return }
    #expect(conv2.outputCount == 50 && conv2.inputCount == 500 && conv2.inputChannels == 20 && conv2.kernelArea == 25)
  }

  @Test func heInitialisationHasTheExpectedSpread() {
    var generator = SeededGenerator(seed: 1)
    let dense = WeightedLayer(inputCount: 800, outputCount: 100, generator: &generator)
    let values = dense.weight.scalars.map(Double.init)
    let mean = values.reduce(0, +) / Double(values.count)
    let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count)
    #expect(abs(mean) < 0.005)
    #expect(isClose(variance, 2.0 / 800, relative: 0.05))
    #expect(dense.bias.scalars.allSatisfy { $0 == 0 })
  }

  @Test func metricsCountWeightsBytesAndFLOPs() {
    // One 2x3 layer with two zero weights.
    let dense = WeightedLayer(weight: Tensor(shape: [2, 3], scalars: [1, 0, 2, 0, 3, 4]), bias: Tensor(shape: [2]))
    let metrics = ModelMetrics(Model(layers: [.weighted(dense)]))
    #expect(metrics.parameters == 6)
    #expect(metrics.nonzero == 4)
    #expect(isClose(metrics.sparsity, 1.0 / 3))
    #expect(metrics.denseBytes == 4 * 8)
    // CSR: 4 values x 4 B + 4 one-byte column indices + 3 two-byte row offsets = 26;
    // bitmask: 1 byte + 16 B of values = 17; plus 8 B of bias.
    #expect(metrics.sparseBytes == 17 + 8)
    #expect(metrics.denseFLOPs == 2 * 6 + 2)
    #expect(metrics.sparseFLOPs == 2 * 4 + 2)
  }
}
