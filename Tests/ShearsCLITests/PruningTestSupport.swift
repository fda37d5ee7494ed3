import Foundation
import Testing

// MARK: - JSON figures

/// The keys GUIDE section 3 promises in `info`, `prune` and `finetune` JSON.
let modelReportKeys: Set = [
  "layers", "params", "nonzero", "sparsity", "dense_bytes", "sparse_bytes", "flops_dense", "flops_sparse",
]

/// One field of every entry of a JSON object's `layers` (or any other array of objects).
func column<Value>(_ json: [String: Any], _ field: String, of key: String = "layers", as: Value.Type = Value.self)
  -> [Value?]
{
  ((json[key] as? [[String: Any]]) ?? []).map { $0[field] as? Value }
}

/// `shears info --model path --json`, which must succeed.
func infoJSON(_ path: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: Any] {
  let run = try shears("info", "--model", path, "--json")
  try requireSuccess(run, sourceLocation: sourceLocation)
  return try jsonObject(run, sourceLocation: sourceLocation)
}

/// Checks the per-layer and total figures of a model report against expected nonzero counts for
/// `mlp:784-16-10` (12,544 and 160 weights).
func expectNonzeros(
  _ json: [String: Any], _ nonzeros: [Int], sourceLocation: SourceLocation = #_sourceLocation
) {
  let params = [12544, 160]
  #expect(column(json, "nonzero", as: Int.self) == nonzeros, sourceLocation: sourceLocation)
  #expect(column(json, "params", as: Int.self) == params, sourceLocation: sourceLocation)
  let sparsities = column(json, "sparsity", as: Double.self)
  let expected = zip(nonzeros, params).map { 1 - Double($0) / Double($1) }
  #expect(
    sparsities.count == expected.count && zip(sparsities, expected).allSatisfy { isClose($0 ?? -1, $1) },
    "layer sparsities \(sparsities), expected \(expected)", sourceLocation: sourceLocation)
  #expect(json["nonzero"] as? Int == nonzeros.reduce(0, +), sourceLocation: sourceLocation)
  #expect(json["params"] as? Int == 12704, sourceLocation: sourceLocation)
  let total = 1 - Double(nonzeros.reduce(0, +)) / 12704
  #expect(isClose(json["sparsity"] as? Double ?? -1, total), "total sparsity", sourceLocation: sourceLocation)
}

// MARK: - Weights and masks

/// One Linear layer of a checkpoint before and after a command: its weights and its mask.
struct LayerChange {
  var before: [Float]
  var after: [Float]
  /// The mask after (1 = kept); all ones when the file has none.
  var mask: [UInt8]
  var maskBefore: [UInt8]
  var rows: Int
  var columns: Int

  init(layer: Int, before: SafetensorsFile, after: SafetensorsFile) throws {
    let name = "\(layer).weight"
    self.before = try before.floats(name)
    self.after = try after.floats(name)
    let shape = try #require(after.tensors[name]?.shape)
    rows = shape[0]
    columns = shape[1]
    mask = after.mask(layer: layer) ?? [UInt8](repeating: 1, count: self.after.count)
    maskBefore = before.mask(layer: layer) ?? [UInt8](repeating: 1, count: self.before.count)
  }

  /// Flat indices the mask prunes.
  var prunedIndices: [Int] { mask.indices.filter { mask[$0] == 0 } }
  /// Flat indices newly pruned by the command.
  var newlyPruned: [Int] { mask.indices.filter { mask[$0] == 0 && maskBefore[$0] == 1 } }
  /// Rows whose weights are all pruned.
  var prunedRows: [Int] {
    (0..<rows).filter { row in mask[(row * columns)..<((row + 1) * columns)].allSatisfy { $0 == 0 } }
  }

  /// The contract of a mask in the file: pruned weights are exactly zero, and what was pruned
  /// before stays pruned.
  func expectMaskHolds(sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(mask.count == after.count, "mask and weight sizes differ", sourceLocation: sourceLocation)
    let nonzeroPruned = prunedIndices.filter { after[$0] != 0 }
    #expect(nonzeroPruned.isEmpty, "\(nonzeroPruned.count) pruned weights are not zero", sourceLocation: sourceLocation)
    let revived = mask.indices.filter { maskBefore[$0] == 0 && mask[$0] == 1 }
    #expect(revived.isEmpty, "\(revived.count) weights pruned before are kept again", sourceLocation: sourceLocation)
  }

  /// Magnitude pruning: kept weights are unchanged, and every newly pruned weight is no larger
  /// in magnitude than every kept one (the cut is a magnitude threshold).
  func expectMagnitudeCut(sourceLocation: SourceLocation = #_sourceLocation) {
    expectMaskHolds(sourceLocation: sourceLocation)
    let kept = mask.indices.filter { mask[$0] == 1 }
    #expect(kept.allSatisfy { after[$0] == before[$0] }, "kept weights changed", sourceLocation: sourceLocation)
    let largestPruned = newlyPruned.map { abs(before[$0]) }.max() ?? 0
    let smallestKept = kept.map { abs(before[$0]) }.min() ?? .infinity
    #expect(
      largestPruned <= smallestKept, "pruned |w| up to \(largestPruned) but kept |w| from \(smallestKept)",
      sourceLocation: sourceLocation)
  }
}

/// Reads the Linear layers 0 and 2 of two checkpoints of `mlp:784-16-10`.
func layerChanges(from before: String, to after: String) throws -> [LayerChange] {
  let old = try SafetensorsFile(path: before)
  let new = try SafetensorsFile(path: after)
  return try [0, 2].map { try LayerChange(layer: $0, before: old, after: new) }
}

// MARK: - Text with figures

/// Compares an output with an expected text built from another run's figures.
///
/// Two processes can evaluate the same pruned model with different kernels (the engine times
/// dense against sparse kernels in each process), so sums round differently and a printed loss
/// or accuracy can differ in its last digit. The texts must be equal with every number masked,
/// and each pair of numbers within `tolerance` (below one test image in 64 for accuracies;
/// integers such as counts must still be equal).
func expectSameText(
  _ actual: String, _ expected: String, tolerance: Double = 0.01, sourceLocation: SourceLocation = #_sourceLocation
) {
  let (actualShape, actualFigures) = maskingFigures(actual)
  let (expectedShape, expectedFigures) = maskingFigures(expected)
  #expect(actualShape == expectedShape, "\(actual)\n--- expected\n\(expected)", sourceLocation: sourceLocation)
  #expect(
    actualFigures.count == expectedFigures.count
      && zip(actualFigures, expectedFigures).allSatisfy { abs($0 - $1) <= tolerance },
    "figures \(actualFigures), expected \(expectedFigures)", sourceLocation: sourceLocation)
}

/// The text with each number replaced by `#`, and the numbers in order.
private func maskingFigures(_ text: String) -> (String, [Double]) {
  var shape = ""
  var figures: [Double] = []
  var number = ""
  for character in text + "\n" {
    if character.isASCII && (character.isNumber || (character == "." && !number.isEmpty)) {
      number.append(character)
      continue
    }
    if !number.isEmpty {
      // A trailing "." ends a sentence, not a number.
      let trailingDot = number.hasSuffix(".")
      if trailingDot { number.removeLast() }
      figures.append(Double(number) ?? .nan)
      shape += "#" + (trailingDot ? "." : "")
      number = ""
    }
    shape.append(character)
  }
  return (String(shape.dropLast()), figures)
}
