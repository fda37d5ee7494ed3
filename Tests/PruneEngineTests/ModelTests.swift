import Testing
@testable import PruneEngine

struct ArchitectureTests {
  @Test func parsesMLPWidths() throws {
    #expect(try Architecture(parsing: "mlp:784-300-100-10") == .lenet300100)
    #expect(try Architecture(parsing: "mlp:4-2").description == "mlp:4-2")
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
