/// Size and cost figures of one prunable layer: a Linear layer, or a convolution whose weights
/// are applied at every output position.
public struct LayerMetrics: Sendable, Equatable {
  /// State-dict name of the weight, e.g. `0.weight`.
  public var name: String
  public var shape: [Int]
  /// Number of weights (the bias is not prunable and not counted here).
  public var parameters: Int
  /// Weights that are not exactly zero.
  public var nonzero: Int
  public var biasCount: Int
  /// For a pruned layer, how many kept weights share the smallest kept magnitude when more than
  /// one does: the next magnitude cut has to choose among them (lowest index first). 0 otherwise.
  public var tiesAtCut: Int
  /// Output positions each weight is applied at per sample: the output pixels of a convolution,
  /// 1 for a Linear layer.
  public var positions: Int
  /// Rows (neurons, or filters of a convolution) with at least one nonzero weight; the others
  /// output a constant and are what `Model.shrunk()` removes once their rows are pruned.
  public var liveRows: Int
  /// A Conv2d layer, whose rows are filters; else a Linear layer.
  public var isConvolution: Bool

  /// - Parameters:
  ///   - liveRows: rows with a nonzero weight; every row (`shape[0]`) when nil.
  public init(
    name: String, shape: [Int], parameters: Int, nonzero: Int, biasCount: Int, tiesAtCut: Int = 0,
    positions: Int = 1, liveRows: Int? = nil, isConvolution: Bool = false
  ) {
    self.name = name
    self.shape = shape
    self.parameters = parameters
    self.nonzero = nonzero
    self.biasCount = biasCount
    self.tiesAtCut = tiesAtCut
    self.positions = positions
    self.liveRows = liveRows ?? shape.first ?? 0
    self.isConvolution = isConvolution
  }

  /// Neurons of a Linear layer, filters of a convolution.
  public var rows: Int { shape.first ?? 0 }

  /// Fraction of weights that are zero, 0 to 1.
  public var sparsity: Double { parameters == 0 ? 0 : 1 - Double(nonzero) / Double(parameters) }

  /// Weights per nonzero weight (1 when dense).
  public var compressionRatio: Double { Double(parameters) / Double(max(1, nonzero)) }

  /// Multiply-adds per nonzero multiply-add: the speed-up a perfect sparse kernel would give.
  public var theoreticalSpeedup: Double { compressionRatio }

  /// Bytes of the weight and bias stored densely in fp32.
  public var denseBytes: Int { 4 * (parameters + biasCount) }

  /// Bytes of the weight in the smaller of two sparse encodings, plus the dense bias:
  /// CSR (values, column indices of the narrowest width that fits, row offsets) or a bitmask of
  /// one bit per weight plus the nonzero values.
  public var sparseBytes: Int {
    let rows = shape.first ?? 0
    let columns = parameters / max(1, rows)
    let indexBytes = columns <= 1 << 8 ? 1 : columns <= 1 << 16 ? 2 : 4
    let offsetBytes = nonzero < 1 << 16 ? 2 : 4
    let csr = 4 * nonzero + indexBytes * nonzero + offsetBytes * (rows + 1)
    let bitmask = (parameters + 7) / 8 + 4 * nonzero
    return min(csr, bitmask) + 4 * biasCount
  }

  /// Floating-point operations of a forward pass for one sample (a multiply-add counts as two,
  /// a bias addition as one), at every output position of a convolution: for the dense layer,
  /// and counting only nonzero weights. ReLU and pooling are not counted.
  public var denseFLOPs: Int { (2 * parameters + biasCount) * positions }
  public var sparseFLOPs: Int { (2 * nonzero + biasCount) * positions }
}

/// Size and cost figures of a whole model.
public struct ModelMetrics: Sendable, Equatable {
  public var layers: [LayerMetrics]

  public init(layers: [LayerMetrics]) {
    self.layers = layers
  }

  /// The figures of `model`; a convolution's output positions come from the shapes its
  /// modules give each layer on the model's input.
  public init(_ model: Model) {
    let leaves = (try? model.module.leaves(input: model.inputShape).leaves) ?? []
    let outputs = Dictionary(leaves.map { ($0.path, $0.output) }, uniquingKeysWith: { first, _ in first })
    layers = model.weightedLayers.map { path, dense in
      let output = outputs[path] ?? []
      return Self.metrics(of: dense, at: path, positions: dense.isConvolution && output.count == 3 ? output[1] * output[2] : 1)
    }
  }

  /// These figures after the weighted layers at `paths` of `model` changed (their weights and
  /// masks, not their shapes): equal to `ModelMetrics(model)` when the other layers are as
  /// these figures counted them.
  /// - Complexity: O(weights of the changed layers).
  public func updating(_ model: Model, layers paths: [ParameterPath]) -> ModelMetrics {
    var result = self
    for path in paths {
      let name = path.appending("weight").description
      guard let index = result.layers.firstIndex(where: { $0.name == name }), let dense = model.weightedLayer(at: path)
      else { continue }
      result.layers[index] = Self.metrics(of: dense, at: path, positions: layers[index].positions)
    }
    return result
  }

  private static func metrics(of dense: WeightedLayer, at path: ParameterPath, positions: Int) -> LayerMetrics {
    LayerMetrics(
      name: path.appending("weight").description, shape: dense.weight.shape, parameters: dense.weight.count,
      nonzero: dense.weight.nonzeroCount, biasCount: dense.bias.count, tiesAtCut: tiesAtCut(dense),
      positions: positions, liveRows: liveRows(dense), isConvolution: dense.isConvolution)
  }

  private static func liveRows(_ dense: WeightedLayer) -> Int {
    let columns = dense.inputCount
    return dense.weight.scalars.withUnsafeBufferPointer { weights in
      (0..<dense.outputCount).filter { row in weights[(row * columns)..<((row + 1) * columns)].contains { $0 != 0 } }
        .count
    }
  }

  private static func tiesAtCut(_ dense: WeightedLayer) -> Int {
    guard let mask = dense.mask, mask.contains(0) else { return 0 }
    var smallest = Float.infinity
    var ties = 0
    for (weight, kept) in zip(dense.weight.scalars, mask) where kept != 0 {
      let magnitude = abs(weight)
      if magnitude < smallest {
        smallest = magnitude
        ties = 1
      } else if magnitude == smallest {
        ties += 1
      }
    }
    return ties > 1 ? ties : 0
  }

  /// Prunable weights per nonzero weight.
  public var compressionRatio: Double { Double(parameters) / Double(max(1, nonzero)) }
  /// Dense FLOPs per sparse FLOP over the whole model.
  public var theoreticalSpeedup: Double { Double(denseFLOPs) / Double(max(1, sparseFLOPs)) }

  /// Prunable weights (biases excluded).
  public var parameters: Int { layers.reduce(0) { $0 + $1.parameters } }
  public var nonzero: Int { layers.reduce(0) { $0 + $1.nonzero } }
  /// Fraction of prunable weights that are zero.
  public var sparsity: Double { parameters == 0 ? 0 : 1 - Double(nonzero) / Double(parameters) }
  /// All parameters, biases included.
  public var totalParameters: Int { layers.reduce(0) { $0 + $1.parameters + $1.biasCount } }
  public var denseBytes: Int { layers.reduce(0) { $0 + $1.denseBytes } }
  public var sparseBytes: Int { layers.reduce(0) { $0 + $1.sparseBytes } }
  public var denseFLOPs: Int { layers.reduce(0) { $0 + $1.denseFLOPs } }
  public var sparseFLOPs: Int { layers.reduce(0) { $0 + $1.sparseFLOPs } }
}
