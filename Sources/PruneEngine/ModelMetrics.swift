/// Size and cost figures of one prunable layer.
public struct LayerMetrics: Sendable, Equatable {
  /// State-dict name of the weight, e.g. `0.weight`.
  public var name: String
  public var shape: [Int]
  /// Number of weights (the bias is not prunable and not counted here).
  public var parameters: Int
  /// Weights that are not exactly zero.
  public var nonzero: Int
  public var biasCount: Int

  /// Fraction of weights that are zero, 0 to 1.
  public var sparsity: Double { parameters == 0 ? 0 : 1 - Double(nonzero) / Double(parameters) }

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

  /// Floating-point operations of a forward pass for one sample (a multiply-add counts as two),
  /// for the dense layer and counting only nonzero weights.
  public var denseFLOPs: Int { 2 * parameters + biasCount }
  public var sparseFLOPs: Int { 2 * nonzero + biasCount }
}

/// Size and cost figures of a whole model.
public struct ModelMetrics: Sendable, Equatable {
  public var layers: [LayerMetrics]

  public init(_ model: Model) {
    layers = model.denseLayers.map { index, dense in
      LayerMetrics(
        name: "\(index).weight", shape: dense.weight.shape, parameters: dense.weight.count,
        nonzero: dense.weight.nonzeroCount, biasCount: dense.bias.count)
    }
  }

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
