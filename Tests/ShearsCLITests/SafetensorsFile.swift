import Foundation
import Testing

/// A checkpoint read the way another tool would read it (GUIDE section 4), independently of the
/// engine: the 8-byte header length, the JSON header, then the tensors' bytes.
///
/// Only what the CLI tests look at is decoded: `F32` weights and `U8` masks.
struct SafetensorsFile {
  struct Tensor {
    var dtype: String
    var shape: [Int]
    var bytes: Data

    /// The values of an `F32` tensor.
    var floats: [Float] {
      precondition(dtype == "F32", "not F32: \(dtype)")
      return stride(from: bytes.startIndex, to: bytes.endIndex, by: 4).map { start in
        var bits: UInt32 = 0
        for offset in 0..<4 { bits |= UInt32(bytes[start + offset]) << (8 * offset) }
        return Float(bitPattern: bits)
      }
    }

    /// The values of a `U8` tensor.
    var uint8s: [UInt8] {
      precondition(dtype == "U8", "not U8: \(dtype)")
      return [UInt8](bytes)
    }
  }

  struct Malformed: Error, CustomStringConvertible {
    var description: String
  }

  var tensors: [String: Tensor] = [:]
  var metadata: [String: String] = [:]

  init(path: String) throws {
    let data = try Data(contentsOf: URL(fileURLWithPath: path))
    guard data.count >= 8 else { throw Malformed(description: "\(path): shorter than 8 bytes") }
    var headerLength = 0
    for offset in 0..<8 { headerLength |= Int(data[data.startIndex + offset]) << (8 * offset) }
    guard headerLength <= data.count - 8 else { throw Malformed(description: "\(path): header runs past the end") }
    let header = data.subdata(in: 8..<(8 + headerLength))
    guard let entries = try JSONSerialization.jsonObject(with: header) as? [String: Any] else {
      throw Malformed(description: "\(path): header is not a JSON object")
    }
    let body = 8 + headerLength
    for (name, value) in entries {
      if name == "__metadata__" {
        metadata = value as? [String: String] ?? [:]
        continue
      }
      guard let entry = value as? [String: Any], let dtype = entry["dtype"] as? String,
        let shape = entry["shape"] as? [Int], let offsets = entry["data_offsets"] as? [Int], offsets.count == 2,
        offsets[0] <= offsets[1], body + offsets[1] <= data.count
      else { throw Malformed(description: "\(path): bad entry for tensor '\(name)'") }
      tensors[name] = Tensor(
        dtype: dtype, shape: shape, bytes: data.subdata(in: (body + offsets[0])..<(body + offsets[1])))
    }
  }

  /// The `F32` values of tensor `name`, or a failed expectation and nil.
  func floats(_ name: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> [Float] {
    try #require(tensors[name], "no tensor '\(name)' in \(tensors.keys.sorted())", sourceLocation: sourceLocation)
      .floats
  }

  /// The `i.weight_mask` of a Linear layer, or nil when the layer has no pruned entries.
  func mask(layer: Int) -> [UInt8]? {
    tensors["\(layer).weight_mask"]?.uint8s
  }

  /// The operations recorded in `__metadata__.history`.
  var history: [String] {
    guard let text = metadata["history"],
      let list = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String]
    else { return [] }
    return list
  }
}
