import Testing
@testable import PruneEngine

/// Finite-difference checks of every op's backward pass through an execution plan: Linear,
/// Conv2d with stride and padding, max and average pooling, ReLU (fused and on its own),
/// BatchNorm in training and inference, residual sums with identity and projection shortcuts
/// (a value read by two steps), and the loss gradient.
struct GradientCheckTests {
  /// Mean loss of the plan on the whole (tiny) batch, after a backward pass when `backward`.
  private func loss(_ plan: ExecutionPlan, _ dataset: Dataset, mode: ExecutionPlan.Mode, backward: Bool) -> Double {
    let n = dataset.count
    dataset.gatherFeatureMajor(range: 0..<n, into: plan.input, leadingDimension: n)
    plan.forward(count: n, mode: mode, threads: 1)
    let (sum, _) = dataset.labels.withUnsafeBufferPointer { labels in
      Kernels.softmaxCrossEntropy(
        logits: plan.logits, classes: plan.classCount, batch: n, leadingDimension: n, labels: labels.baseAddress!,
        gradient: plan.logitsGradient, gradientScale: 1 / Float(n))
    }
    if backward { plan.backward(count: n, mode: mode, threads: 1) }
    return sum / Double(n)
  }

  /// Compares every trained parameter's analytic gradient with central differences.
  private func check(
    _ module: Module, inputShape: [Int], store: ParameterStore, dataset: Dataset, mode: ExecutionPlan.Mode
  ) {
    let plan = ExecutionPlan(
      module: module, inputShape: inputShape, store: store, capacity: dataset.count, gradients: true)
    _ = loss(plan, dataset, mode: mode, backward: true)
    let checked = Self.expectGradientsMatchDifferences(plan, step: 1e-3, absolute: 2e-3) {
      loss(plan, dataset, mode: mode, backward: false)
    }
    let trainedCount = store.parameters.filter { $0.role != .buffer }.reduce(0) { $0 + $1.value.count }
    #expect(checked == trainedCount)
  }

  /// Compares the gradient every trained parameter of `plan` holds with central differences of
  /// `loss` (which must not run a backward pass); returns the number of scalars compared.
  static func expectGradientsMatchDifferences(
    _ plan: ExecutionPlan, step: Float, absolute: Double, loss: () -> Double
  ) -> Int {
    let trained = plan.parameters.filter { $0.gradient != nil }
    let analytic = trained.map { Array($0.gradient!) }
    var checked = 0
    for (position, parameter) in trained.enumerated() {
      for index in parameter.value.indices {
        let original = parameter.value[index]
        parameter.value[index] = original + step
        let above = loss()
        parameter.value[index] = original - step
        let below = loss()
        parameter.value[index] = original
        let numeric = (above - below) / Double(2 * step)
        let gradient = Double(analytic[position][index])
        #expect(
          abs(numeric - gradient) <= absolute + 2e-2 * abs(numeric),
          "\(parameter.path)[\(index)]: analytic \(gradient), numeric \(numeric)")
        checked += 1
      }
    }
    return checked
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
  func sequentialModelsMatchFiniteDifferences(arch: String) throws {
    let architecture = try Architecture(parsing: arch)
    var generator = SeededGenerator(seed: 3)
    var model = Model(architecture: architecture, generator: &generator)
    // Non-zero biases, so the bias gradients are exercised away from the initial state.
    for (path, dense) in model.weightedLayers {
      var layer = dense
      layer.bias.scalars = randomFloats(layer.outputCount, seed: UInt64(model.position(of: path)!)).map { $0 * 0.1 }
      model.replaceWeightedLayer(at: path, with: layer)
    }
    let side = Int(Double(architecture.inputCount).squareRoot())
    let dataset = bandDataset(samples: 6, classes: architecture.classCount, side: side, seed: 4)
    #expect(dataset.featureCount == architecture.inputCount)
    check(model.module, inputShape: model.inputShape, store: model.parameters, dataset: dataset, mode: .training)
  }

  /// A residual block as torchvision's `BasicBlock`: conv-BN-ReLU-conv-BN plus a shortcut, then
  /// ReLU; with `projection`, the shortcut is a strided 1x1 convolution and BatchNorm.
  static func block(channels: Int, filters: Int, stride: Int, projection: Bool) -> Module {
    .sequential([
      .init(
        "0",
        .residual(
          body: [
            .init("conv1", .conv2d(channels: channels, filters: filters, kernel: 3, stride: stride, padding: 1, bias: false)),
            .init("bn1", .batchNorm(features: filters)), .init("relu", .relu),
            .init("conv2", .conv2d(channels: filters, filters: filters, kernel: 3, stride: 1, padding: 1, bias: false)),
            .init("bn2", .batchNorm(features: filters)),
          ],
          shortcut: projection
            ? .init(
              "downsample",
              .sequential([
                .init("0", .conv2d(channels: channels, filters: filters, kernel: 1, stride: stride, padding: 0, bias: false)),
                .init("1", .batchNorm(features: filters)),
              ])) : nil,
          relu: true))
    ])
  }

  /// A small residual network: a convolution whose output two steps read, a block, pooling and
  /// a classifier, in each BatchNorm mode.
  static let residualNetworks: [(name: String, module: Module)] = [
    (
      "identity shortcut",
      .sequential([
        .init("conv1", .conv2d(channels: 1, filters: 2, kernel: 3, stride: 1, padding: 1, bias: true)),
        .init("relu", .relu), .init("layer1", block(channels: 2, filters: 2, stride: 1, projection: false)),
        .init("pool", .globalAveragePool), .init("flatten", .flatten), .init("fc", .linear(inputs: 2, outputs: 3)),
      ])
    ),
    (
      "projection shortcut, average pooling, BatchNorm1d",
      .sequential([
        .init("conv1", .conv2d(channels: 1, filters: 2, kernel: 3, stride: 1, padding: 0, bias: false)),
        .init("bn1", .batchNorm(features: 2)), .init("relu", .relu),
        .init("layer1", block(channels: 2, filters: 3, stride: 2, projection: true)),
        .init("pool", .averagePool(size: 2)), .init("flatten", .flatten), .init("fc1", .linear(inputs: 3, outputs: 4)),
        .init("bn2", .batchNorm(features: 4)), .init("fc2", .linear(inputs: 4, outputs: 3)),
      ])
    ),
  ]

  /// Seeded parameters for `module`: weights and biases small and random, BatchNorm scales
  /// near 1 and running statistics away from the identity.
  static func randomStore(_ module: Module, seed: UInt64) -> ParameterStore {
    var generator = SeededGenerator(seed: seed)
    return ParameterStore(
      module.parameterShapes().map { path, role, shape in
        let count = shape.reduce(1, *)
        let name = path.name
        if name == "num_batches_tracked" { return Parameter(path: path, role: role, value: .int64(shape: shape, scalars: [0])) }
        let scalars = (0..<count).map { _ -> Float in
          let r = generator.nextUnitFloat() * 2 - 1
          switch name {
          case "running_var": return 1 + 0.5 * abs(r)
          case "running_mean": return 0.2 * r
          case "weight" where shape.count == 1: return 1 + 0.3 * r
          case "weight": return r * (3 / Float(shape.dropFirst().reduce(1, *))).squareRoot()
          default: return 0.1 * r
          }
        }
        return Parameter(path: path, role: role, tensor: Tensor(shape: shape, scalars: scalars))
      })
  }

  @Test(arguments: [ExecutionPlan.Mode.training, .inference])
  func residualNetworksMatchFiniteDifferences(mode: ExecutionPlan.Mode) {
    let dataset = bandDataset(samples: 6, classes: 3, side: 6, seed: 4)
    for (index, network) in Self.residualNetworks.enumerated() {
      check(
        network.module, inputShape: [1, 6, 6], store: Self.randomStore(network.module, seed: UInt64(index)),
        dataset: dataset, mode: mode)
    }
  }
}
