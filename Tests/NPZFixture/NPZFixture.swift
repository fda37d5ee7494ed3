import Foundation
import ZIPFoundation

/// One array as `np.save` writes it, built in code so tests need no Python.
public struct NPYArray: Sendable {
  public var descr: String
  public var shape: [Int]
  /// The elements' bytes, as they follow the header.
  public var data: [UInt8]
  public var fortranOrder = false
  /// The format's major version: 1 has a 2-byte header length, 2 and 3 a 4-byte one.
  public var version: UInt8 = 1

  public init(descr: String, shape: [Int], data: [UInt8]) {
    self.descr = descr
    self.shape = shape
    self.data = data
  }

  /// `|u1` elements.
  public static func uint8(_ values: [UInt8], shape: [Int]) -> NPYArray {
    NPYArray(descr: "|u1", shape: shape, data: values)
  }

  /// `<f4` elements.
  public static func float32(_ values: [Float], shape: [Int]) -> NPYArray {
    NPYArray(descr: "<f4", shape: shape, data: values.flatMap { littleEndian($0.bitPattern, bytes: 4) })
  }

  /// Little-endian integers of `descr` (`<i8`, `<u2`, `|i1`, ...), truncated to its size.
  public static func integers(_ values: [Int64], descr: String, shape: [Int]? = nil) -> NPYArray {
    let size = Int(descr.dropFirst(2)) ?? 8
    return NPYArray(
      descr: descr, shape: shape ?? [values.count],
      data: values.flatMap { littleEndian(UInt64(bitPattern: $0), bytes: size) })
  }

  /// The dict NumPy writes: `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`.
  public var dict: String {
    let sizes = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
    return "{'descr': '\(descr)', 'fortran_order': \(fortranOrder ? "True" : "False"), 'shape': \(sizes), }"
  }

  /// The whole `.npy` file: magic, version, the dict padded with spaces and a newline so the
  /// data starts at a multiple of 64 bytes, then the data.
  public var bytes: [UInt8] { NPYArray.file(dict: dict, version: version) + data }

  /// A header around any dict text (for malformed headers): magic, version, length, the text
  /// padded as NumPy pads it.
  public static func file(dict: String, version: UInt8 = 1) -> [UInt8] {
    let prefix = version == 1 ? 10 : 12
    var text = Array(dict.utf8)
    let padding = (64 - (prefix + text.count + 1) % 64) % 64
    text += [UInt8](repeating: 0x20, count: padding) + [0x0A]
    let length = littleEndian(UInt64(text.count), bytes: version == 1 ? 2 : 4)
    return [0x93] + Array("NUMPY".utf8) + [version, 0] + length + text
  }

  private static func littleEndian<T: FixedWidthInteger>(_ value: T, bytes: Int) -> [UInt8] {
    (0..<bytes).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
  }
}

/// Writes `.npz` archives with ZIPFoundation, entries stored (`np.savez`) or deflated
/// (`np.savez_compressed`).
public enum NPZWriter {
  /// Writes `entries` (file name in the archive, bytes) to `path`, replacing it.
  public static func write(_ entries: [(name: String, bytes: [UInt8])], to path: String, compressed: Bool) throws {
    try? FileManager.default.removeItem(atPath: path)
    let archive = try Archive(url: URL(fileURLWithPath: path), accessMode: .create)
    for (name, bytes) in entries {
      try archive.addEntry(
        with: name, type: .file, uncompressedSize: Int64(bytes.count),
        compressionMethod: compressed ? .deflate : .none,
        provider: { position, size in Data(bytes[Int(position)..<Int(position) + size]) })
    }
  }

  /// Writes arrays named as `np.savez(path, x_train=...)` names them (`x_train.npy`).
  public static func write(arrays: [(name: String, array: NPYArray)], to path: String, compressed: Bool) throws {
    try write(arrays.map { ("\($0.name).npy", $0.array.bytes) }, to: path, compressed: compressed)
  }
}

/// A small Keras-style dataset of `classes` easy classes: class `c` lights up channel
/// `c % channels` in its own band of rows, with seeded noise everywhere.
public struct KerasData: Sendable {
  public var trainCount = 96
  public var testCount = 32
  public var side = 8
  public var channels = 3
  public var classes = 3
  /// `float32` images hold the bytes divided by 255; otherwise `uint8`.
  public var float = false

  public init() {}

  /// Image `n`'s value at row `y`, column `x`, channel `c` (NHWC in the file).
  public func value(_ n: Int, _ y: Int, _ x: Int, _ c: Int) -> UInt8 {
    let label = n % classes
    let noise = UInt8((n &* 7 &+ y &* 13 &+ x &* 29 &+ c &* 41) % 60)
    let inBand = c == label % channels && y * classes / side == label
    return inBand ? 180 + noise : noise
  }

  /// `[count, side, side, channels]` channels last, or `[count, side, side]` for one channel.
  public func images(_ count: Int, from first: Int) -> NPYArray {
    var values: [UInt8] = []
    for n in first..<first + count {
      for y in 0..<side { for x in 0..<side { for c in 0..<channels { values.append(value(n, y, x, c)) } } }
    }
    let shape = channels == 1 ? [count, side, side] : [count, side, side, channels]
    return float ? .float32(values.map { Float($0) / 255 }, shape: shape) : .uint8(values, shape: shape)
  }

  /// `<i8` labels, as NumPy writes a Python int list.
  public func labels(_ count: Int, from first: Int) -> NPYArray {
    .integers((first..<first + count).map { Int64($0 % classes) }, descr: "<i8")
  }

  /// The four arrays, test samples numbered after the training ones.
  public var arrays: [(name: String, array: NPYArray)] {
    [
      ("x_train", images(trainCount, from: 0)), ("y_train", labels(trainCount, from: 0)),
      ("x_test", images(testCount, from: trainCount)), ("y_test", labels(testCount, from: trainCount)),
    ]
  }

  public func write(to path: String, compressed: Bool = false) throws {
    try NPZWriter.write(arrays: arrays, to: path, compressed: compressed)
  }
}
