import Foundation
import PruneEngine

/// The JSON shape of a model's size and cost figures (GUIDE section 3), shared by `info`,
/// `train`, `prune` and `finetune`.
struct ModelReport: Encodable {
  struct Layer: Encodable {
    var name: String
    /// `linear` or `conv`.
    var kind: String
    var shape: [Int]
    var params: Int
    var nonzero: Int
    var sparsity: Double
    var compressionRatio: Double
    var sparseBytes: Int
    var tiesAtCut: Int
    /// Neurons or filters, and how many of them have a nonzero weight.
    var rows: Int
    var liveRows: Int
    /// Per sample, at every output position of a convolution.
    var flopsDense: Int
    var flopsSparse: Int
  }

  var arch: String
  var layers: [Layer]
  var params: Int
  var totalParams: Int
  var nonzero: Int
  var sparsity: Double
  var denseBytes: Int
  var sparseBytes: Int
  var flopsDense: Int
  var flopsSparse: Int
  var compressionRatio: Double
  var theoreticalSpeedup: Double

  init(_ model: Model) {
    let metrics = ModelMetrics(model)
    arch = model.architecture.description
    layers = metrics.layers.map {
      Layer(
        name: $0.name, kind: $0.isConvolution ? "conv" : "linear", shape: $0.shape, params: $0.parameters,
        nonzero: $0.nonzero, sparsity: $0.sparsity, compressionRatio: $0.compressionRatio,
        sparseBytes: $0.sparseBytes, tiesAtCut: $0.tiesAtCut, rows: $0.rows, liveRows: $0.liveRows,
        flopsDense: $0.denseFLOPs, flopsSparse: $0.sparseFLOPs)
    }
    params = metrics.parameters
    totalParams = metrics.totalParameters
    nonzero = metrics.nonzero
    sparsity = metrics.sparsity
    denseBytes = metrics.denseBytes
    sparseBytes = metrics.sparseBytes
    flopsDense = metrics.denseFLOPs
    flopsSparse = metrics.sparseFLOPs
    compressionRatio = metrics.compressionRatio
    theoreticalSpeedup = metrics.theoreticalSpeedup
  }

  /// The per-layer table printed without `--json`; a model with convolutions gets a last
  /// column of filters kept (with a nonzero weight) out of the layer's filters. The name column
  /// is as wide as the longest name (10 at least, the width Sequential names always had).
  var table: String {
    let showsFilters = layers.contains { $0.kind == "conv" }
    let nameWidth = max(10, layers.map(\.name.count).max() ?? 0)
    let header = "layer".padding(toLength: nameWidth + 1, withPad: " ", startingAt: 0)
      + "shape         params   nonzero  sparsity  compression  ties at cut"
    var lines = [header + (showsFilters ? "  filters" : "")]
    for layer in layers {
      let filters = layer.kind == "conv" ? "  " + "\(layer.liveRows)/\(layer.rows)".leftPadded(to: 7) : ""
      lines.append(
        layer.name.padding(toLength: nameWidth, withPad: " ", startingAt: 0) + " "
          + layer.shape.map(String.init).joined(separator: "x").padding(toLength: 12, withPad: " ", startingAt: 0)
          + String(
            format: "%8d  %8d  %7.2f%%  %10.1fx  %11d", layer.params, layer.nonzero, layer.sparsity * 100,
            layer.compressionRatio, layer.tiesAtCut) + filters)
    }
    lines.append(
      "total".padding(toLength: nameWidth + 1, withPad: " ", startingAt: 0) + String(repeating: " ", count: 12)
        + String(format: "%8d  %8d  %7.2f%%  %10.1fx", params, nonzero, sparsity * 100, compressionRatio))
    lines.append(
      "size  \(Self.bytes(denseBytes)) dense, \(Self.bytes(sparseBytes)) sparse    "
        + "FLOPs/sample  \(flopsDense) dense, \(flopsSparse) sparse "
        + String(format: "(%.1fx fewer)", theoreticalSpeedup))
    return lines.joined(separator: "\n")
  }

  static func bytes(_ count: Int) -> String {
    count >= 1 << 20
      ? String(format: "%.2f MiB", Double(count) / Double(1 << 20))
      : String(format: "%.1f KiB", Double(count) / 1024)
  }
}

extension String {
  /// The string with spaces in front up to `width` characters.
  func leftPadded(to width: Int) -> String {
    String(repeating: " ", count: max(0, width - count)) + self
  }
}

/// Writes one JSON object on stdout with snake_case keys.
enum JSONOutput {
  static func print<Value: Encodable>(_ value: Value) throws {
    let encoder = JSONEncoder()
    encoder.keyEncodingStrategy = .convertToSnakeCase
    encoder.outputFormatting = [.sortedKeys]
    try Console.output(String(decoding: try encoder.encode(value), as: UTF8.self))
  }
}

/// A layer's name in JSON: its module path, and for a Sequential layer (whose path is its
/// index) the number it has always been, so scripts reading `"layer": 0` keep working.
struct LayerName: Encodable, Equatable {
  let path: ParameterPath

  init(_ path: ParameterPath) {
    self.path = path
  }

  func encode(to encoder: Encoder) throws {
    var container = encoder.singleValueContainer()
    if let index = Int(path.description) {
      try container.encode(index)
    } else {
      try container.encode(path.description)
    }
  }
}
