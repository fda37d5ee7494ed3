import CShearsZlib
import Foundation
import Testing

@testable import PruneEngine

// MARK: - Fixtures

/// A fresh empty folder, removed when the value is released.
private final class ScratchFolder {
  let path = NSTemporaryDirectory() + "shears-data-\(UUID().uuidString)"

  init() throws { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
  deinit { try? FileManager.default.removeItem(atPath: path) }

  /// Writes `bytes` to `name` in the folder, gzip-compressed through zlib when `gzip` is set.
  @discardableResult
  func write(_ name: String, _ bytes: [UInt8], gzip: Bool = false) throws -> String {
    let file = path + "/" + name
    try Data(gzip ? #require(gzipBytes(bytes)) : bytes).write(to: URL(fileURLWithPath: file))
    return file
  }

  /// Makes a subfolder and returns its path.
  func folder(_ name: String) throws -> String {
    let folder = path + "/" + name
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    return folder
  }
}

/// A gzip stream (one member) holding `bytes`, made with zlib's `deflate`.
private func gzipBytes(_ bytes: [UInt8]) -> [UInt8]? {
  var stream = z_stream()
  guard
    deflateInit2_(
      &stream, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK
  else { return nil }
  defer { deflateEnd(&stream) }
  var input = bytes
  var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, UInt(bytes.count))))
  let status = input.withUnsafeMutableBufferPointer { source in
    output.withUnsafeMutableBufferPointer { target in
      stream.next_in = source.baseAddress
      stream.avail_in = UInt32(source.count)
      stream.next_out = target.baseAddress
      stream.avail_out = UInt32(target.count)
      return deflate(&stream, Z_FINISH)
    }
  }
  guard status == Z_STREAM_END else { return nil }
  return Array(output[..<Int(stream.total_out)])
}

/// Big-endian bytes of a 32-bit value.
private func bigEndian(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> (24 - 8 * $0)) } }

/// An IDX image file: `count` images of `rows` x `columns`, pixel `i` of the file = `i % 251`.
private func imageFile(count: Int, rows: Int, columns: Int) -> [UInt8] {
  bigEndian(0x803) + [count, rows, columns].flatMap { bigEndian(UInt32($0)) }
    + (0..<count * rows * columns).map { UInt8($0 % 251) }
}

/// An IDX label file holding `labels`.
private func labelFile(_ labels: [UInt8]) -> [UInt8] { bigEndian(0x801) + bigEndian(UInt32(labels.count)) + labels }

/// The ShearsError `body` throws (or nil).
private func shearsError(_ body: () throws -> Any) -> ShearsError? {
  do {
    _ = try body()
    return nil
  } catch {
    return error as? ShearsError
  }
}

/// A complete data folder: `samples` training and `samples` test images of 2x3.
private func dataFolder(in scratch: ScratchFolder, name: String = "data", samples: Int = 4, gzip: Bool = false) throws
  -> String
{
  let folder = try scratch.folder(name)
  let suffix = gzip ? ".gz" : ""
  let labels = (0..<samples).map { UInt8($0 % 3) }
  for prefix in ["train", "t10k"] {
    try scratch.write(
      "\(name)/\(prefix)-images-idx3-ubyte\(suffix)", imageFile(count: samples, rows: 2, columns: 3), gzip: gzip)
    try scratch.write("\(name)/\(prefix)-labels-idx1-ubyte\(suffix)", labelFile(labels), gzip: gzip)
  }
  return folder
}

/// The error reading `bytes` as an image file (or a label file) gives, written plain or gzipped.
private func imageError(_ bytes: [UInt8], gzip: Bool = false, labels: Bool = false) throws -> (
  path: String, error: ShearsError?
) {
  let scratch = try ScratchFolder()
  let path = try scratch.write("file", bytes, gzip: gzip)
  return (path, shearsError { labels ? try IDXFile.readLabels(at: path) as Any : try IDXFile.readImages(at: path) })
}

// MARK: - IDX files

/// Reading single IDX files: round trips and every way a file can be bad.
@Suite struct IDXTests {
  @Test func plainRoundTrip() throws {
    let scratch = try ScratchFolder()
    let images = try IDXFile.readImages(at: scratch.write("images", imageFile(count: 3, rows: 2, columns: 5)))
    #expect(images.count == 3 && images.rows == 2 && images.columns == 5)
    #expect(images.pixels == (0..<30).map { UInt8($0) })
    #expect(try IDXFile.readLabels(at: scratch.write("labels", labelFile([7, 0, 9]))) == [7, 0, 9])
  }

  @Test func gzipIsDetectedByContentNotName() throws {
    let scratch = try ScratchFolder()
    let file = imageFile(count: 300, rows: 4, columns: 4)
    let unnamed = try IDXFile.readImages(at: scratch.write("gzip-without-suffix", file, gzip: true))
    #expect(unnamed.pixels == Array(file[16...]))
    let misnamed = try IDXFile.readLabels(at: scratch.write("plain.gz", labelFile([1, 2])))
    #expect(misnamed == [1, 2])
    // Two concatenated gzip members are one stream.
    let half = file.count / 2
    let members = try #require(gzipBytes(Array(file[..<half]))) + #require(gzipBytes(Array(file[half...])))
    #expect(try IDXFile.readImages(at: scratch.write("members", members)).pixels == Array(file[16...]))
  }

  @Test func rejectsTruncatedAndTrailingBytes() throws {
    let file = imageFile(count: 3, rows: 2, columns: 3)  // 16 + 18 bytes
    let declared = "header declares 3 images of 2x3 (34 bytes)"
    var (path, error) = try imageError(Array(file.dropLast(4)))
    #expect(error?.description == "\(path): truncated: \(declared) but the file holds 30")
    (path, error) = try imageError(file + [0, 0])
    #expect(error?.description == "\(path): trailing bytes: \(declared) but the file holds 36")
    (path, error) = try imageError(Array(file.dropLast(4)), gzip: true)
    #expect(error?.description == "\(path): truncated: \(declared) but the gzip data inflates to 30")
    (path, error) = try imageError(file + [0], gzip: true)
    #expect(error?.description == "\(path): trailing bytes: \(declared) but the gzip data inflates to more")
    (path, error) = try imageError(Array(labelFile([1, 2, 3]).dropLast()), labels: true)
    #expect(error?.description == "\(path): truncated: header declares 3 labels (11 bytes) but the file holds 10")
    (path, error) = try imageError(Array(file[..<10]))
    #expect(error?.description == "\(path): truncated: 10 bytes, shorter than the 16-byte header of IDX images")
  }

  @Test func rejectsWrongMagic() throws {
    var (path, error) = try imageError(labelFile([1, 2]))
    #expect(error?.description == "\(path): wrong magic 0x00000801 (IDX labels), expected 0x00000803 (IDX images)")
    (path, error) = try imageError(imageFile(count: 1, rows: 1, columns: 1), labels: true)
    #expect(error?.description == "\(path): wrong magic 0x00000803 (IDX images), expected 0x00000801 (IDX labels)")
    // Neither gzip nor IDX.
    (path, error) = try imageError(Array("hello, world\n".utf8))
    #expect(error?.description == "\(path): wrong magic 0x68656C6C (not an IDX file), expected 0x00000803 (IDX images)")
    (path, error) = try imageError(bigEndian(0x0D03) + [UInt8](repeating: 0, count: 12))
    #expect(error?.problem.hasPrefix("wrong magic 0x00000D03 (an IDX file of an unsupported element type)") == true)
  }

  @Test func rejectsImplausibleSizesBeforeAllocating() throws {
    var (path, error) = try imageError(bigEndian(0x803) + bigEndian(4_000_000_000) + bigEndian(28) + bigEndian(28))
    #expect(error?.description == "\(path): implausible size: the header declares 4000000000 images of 784 bytes each")
    (path, error) = try imageError(bigEndian(0x803) + bigEndian(1) + bigEndian(0) + bigEndian(28))
    #expect(error?.problem.hasPrefix("implausible image size 0x28") == true)
    (path, error) = try imageError(labelFile([]), labels: true)
    #expect(error?.description == "\(path): the header declares no labels")
  }

  @Test func rejectsCorruptGzip() throws {
    let valid = try #require(gzipBytes(imageFile(count: 20, rows: 8, columns: 8)))
    // A gzip header followed by a deflate block of the reserved type 3.
    let header: [UInt8] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]
    var (path, error) = try imageError(header + [0xff, 0xff, 0xff, 0xff])
    #expect(error?.description == "\(path): corrupt gzip data: invalid block type")
    // A wrong CRC in the trailer.
    var badCRC = valid
    badCRC[badCRC.count - 8] ^= 0xff
    (path, error) = try imageError(badCRC)
    #expect(error?.description == "\(path): corrupt gzip data: incorrect data check")
    // Compressed data cut short.
    (path, error) = try imageError(Array(valid.dropLast(12)))
    #expect(error?.description == "\(path): truncated gzip data: the compressed stream ends before its end marker")
    // Garbage after the last member.
    (path, error) = try imageError(valid + [0, 1, 2, 3])
    #expect(error?.problem.hasPrefix("corrupt gzip data") == true)
  }
}

// MARK: - Data folders

/// Choosing and loading a data folder.
@Suite struct DataSourceTests {
  @Test func loadsPlainAndGzipFolders() throws {
    let scratch = try ScratchFolder()
    for gzip in [false, true] {
      let splits = try DataSource(
        directory: dataFolder(in: scratch, name: "d\(gzip)", samples: 5, gzip: gzip), origin: .option
      ).load()
      #expect(splits.train.count == 5 && splits.test.count == 5)
      #expect(splits.train.featureCount == 6 && splits.classCount == 3)
      #expect(splits.test.labels == [0, 1, 2, 0, 1])
      #expect(splits.test.pixels == .bytes(Array(imageFile(count: 5, rows: 2, columns: 3)[16...])))
    }
  }

  @Test func errorsNameTheFile() throws {
    let scratch = try ScratchFolder()
    let missing = scratch.path + "/nope"
    #expect(
      shearsError { try DataSource(directory: missing, origin: .option).load() }
        == ShearsError(missing, "no such data folder"))

    let folder = try dataFolder(in: scratch)
    try FileManager.default.removeItem(atPath: folder + "/train-labels-idx1-ubyte")
    #expect(
      shearsError { try DataSource(directory: folder + "/", origin: .option).load() }
        == ShearsError(folder + "/train-labels-idx1-ubyte", "no such file (nor train-labels-idx1-ubyte.gz)"))
    // The test split alone does not need the training files.
    #expect(try DataSource(directory: folder, origin: .option).loadTest().count == 4)

    try scratch.write("data/train-labels-idx1-ubyte.gz", labelFile([0, 1, 2]), gzip: true)
    let images = folder + "/train-images-idx3-ubyte"
    #expect(
      shearsError { try DataSource(directory: folder, origin: .option).load() }
        == ShearsError(images, "holds 4 images but \(folder)/train-labels-idx1-ubyte.gz holds 3 labels"))

    try scratch.write("data/train-labels-idx1-ubyte.gz", labelFile([0, 1, 2, 3]), gzip: true)
    try scratch.write("data/train-images-idx3-ubyte", imageFile(count: 4, rows: 3, columns: 2))
    #expect(
      shearsError { try DataSource(directory: folder, origin: .option).load() }
        == ShearsError(folder + "/t10k-images-idx3-ubyte", "images are 2x3 but the training images (\(images)) are 3x2")
    )
  }

  @Test func resolveFollowsTheGuideOrder() throws {
    let scratch = try ScratchFolder()
    let (option, variable, system, embedded) = try (
      scratch.folder("option"), scratch.folder("env"), scratch.folder("system"), scratch.folder("embedded")
    )
    let absent = scratch.path + "/absent"
    func resolve(_ option: String?, _ environment: [String: String], system: String, embedded: [String]) throws
      -> DataSource
    {
      try DataSource.resolve(
        option: option, environment: environment, systemDirectory: system, embeddedCandidates: embedded)
    }
    let all = ["SHEARS_DATA": variable]
    #expect(
      try resolve(option, all, system: system, embedded: [embedded]) == DataSource(directory: option, origin: .option))
    #expect(
      try resolve(nil, all, system: system, embedded: [embedded])
        == DataSource(directory: variable, origin: .environment))
    #expect(
      try resolve(nil, [:], system: system, embedded: [embedded]) == DataSource(directory: system, origin: .system))
    #expect(
      try resolve(nil, ["SHEARS_DATA": ""], system: absent, embedded: [absent, embedded])
        == DataSource(directory: embedded, origin: .embedded))

    // A folder that was asked for but is missing is an error, never a fallback.
    #expect(
      shearsError { try resolve(absent, all, system: system, embedded: [embedded]) }
        == ShearsError(absent, "no such data folder"))
    #expect(
      shearsError { try resolve(nil, ["SHEARS_DATA": absent], system: system, embedded: [embedded]) }
        == ShearsError(absent, "no such data folder (from $SHEARS_DATA)"))
    #expect(shearsError { try resolve(nil, [:], system: absent, embedded: [absent]) }?.subject == "datasets/")

    #expect(DataSource(directory: system, origin: .system).description == "\(system) (system)")
    #expect(DataSource(directory: embedded, origin: .embedded).description == "datasets/ (embedded subset)")
  }

  @Test func embeddedSubsetLoads() throws {
    let source = try DataSource.resolve(
      option: nil, environment: [:], systemDirectory: "/nonexistent",
      embeddedCandidates: DataSource.embeddedCandidates())
    #expect(source.origin == .embedded)
    let splits = try source.load()
    #expect(splits.train.count == 10_000 && splits.test.count == 10_000)
    #expect(splits.train.rows == 28 && splits.train.columns == 28 && splits.classCount == 10)
  }
}

// MARK: - Dataset

/// Dataset values and the batch gather kernels.
@Suite struct DatasetTests {
  @Test func prefixKeepsTheClassCount() {
    let dataset = Dataset(images: Array(0..<12), labels: [0, 4, 1], rows: 2, columns: 2)
    let first = dataset.prefix(2)
    #expect(
      first.count == 2 && first.pixels == .bytes(Array(0..<8)) && first.labels == [0, 4] && first.classCount == 5)
    #expect(dataset.prefix(10).count == 3 && dataset.prefix(0).count == 0)
  }

  /// Checks both gathers against the naive loop, with sample and feature counts that are not
  /// multiples of the 16-wide tiles, and that columns past the batch stay untouched.
  @Test(arguments: [(5, 7), (28, 28), (1, 16)])
  func gatherMatchesTheNaiveLoop(rows: Int, columns: Int) {
    var generator = SeededGenerator(seed: 7)
    let count = 60
    let features = rows * columns
    let pixels = (0..<count * features).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
    let dataset = Dataset(images: pixels, labels: [UInt8](repeating: 0, count: count), rows: rows, columns: columns)
    let indices: [Int32] = (0..<37).map { _ in Int32(generator.next() % UInt64(count)) }
    let ld = 41
    let sentinel: Float = -1

    func naive(_ samples: [Int]) -> [Float] {
      var expected = [Float](repeating: sentinel, count: features * ld)
      for (j, sample) in samples.enumerated() {
        for f in 0..<features { expected[f * ld + j] = Float(pixels[sample * features + f]) / 255 }
      }
      return expected
    }
    // Each value is one correctly rounded division, so the kernels must match exactly.
    var gathered = [Float](repeating: sentinel, count: features * ld)
    indices.withUnsafeBufferPointer { indices in
      gathered.withUnsafeMutableBufferPointer {
        dataset.gatherFeatureMajor(indices, into: $0.baseAddress!, leadingDimension: ld)
      }
    }
    #expect(gathered == naive(indices.map(Int.init)))

    gathered = [Float](repeating: sentinel, count: features * ld)
    gathered.withUnsafeMutableBufferPointer {
      dataset.gatherFeatureMajor(range: 19..<57, into: $0.baseAddress!, leadingDimension: ld)
    }
    #expect(gathered == naive(Array(19..<57)))
  }

  /// Float images are gathered as stored, with no scaling, in both gathers and one sample at a
  /// time.
  @Test(arguments: [(3, 5, 7), (1, 16, 16)])
  func floatGatherCopiesValuesAsStored(channels: Int, rows: Int, columns: Int) {
    var generator = SeededGenerator(seed: 3)
    let count = 40
    let features = channels * rows * columns
    let values = (0..<count * features).map { _ in generator.nextUnitFloat() * 8 - 4 }
    let dataset = Dataset(
      pixels: .floats(values), labels: [UInt8](repeating: 1, count: count), channels: channels, rows: rows,
      columns: columns)
    #expect(dataset.featureCount == features && dataset.count == count)
    let indices: [Int32] = (0..<21).map { _ in Int32(generator.next() % UInt64(count)) }
    let ld = 23
    var gathered = [Float](repeating: .nan, count: features * ld)
    indices.withUnsafeBufferPointer { indices in
      gathered.withUnsafeMutableBufferPointer {
        dataset.gatherFeatureMajor(indices, into: $0.baseAddress!, leadingDimension: ld)
      }
    }
    let expected = (0..<features).allSatisfy { f in
      indices.indices.allSatisfy { j in gathered[f * ld + j] == values[Int(indices[j]) * features + f] }
    }
    #expect(expected)
    gathered = [Float](repeating: .nan, count: features * ld)
    gathered.withUnsafeMutableBufferPointer {
      dataset.gatherFeatureMajor(range: 17..<38, into: $0.baseAddress!, leadingDimension: ld)
    }
    #expect(
      (0..<features).allSatisfy { f in (0..<21).allSatisfy { gathered[f * ld + $0] == values[(17 + $0) * features + f] }
      })
    var single = [Float](repeating: .nan, count: features)
    single.withUnsafeMutableBufferPointer { dataset.writeSample(5, into: $0.baseAddress!) }
    #expect(single == Array(values[5 * features..<6 * features]))
  }

  @Test func colourImagesDescribeTheirChannels() {
    let colour = Dataset(
      pixels: .bytes([UInt8](repeating: 9, count: 2 * 3 * 4 * 5)), labels: [0, 2], channels: 3, rows: 4, columns: 5)
    #expect(colour.featureCount == 60 && colour.imageShape == "3x4x5" && colour.classCount == 3)
    #expect(colour.featureDescription == "60 values (3x4x5)")
    let first = colour.prefix(1)
    #expect(first.channels == 3 && first.pixels == .bytes([UInt8](repeating: 9, count: 60)) && first.classCount == 3)
    let grey = Dataset(images: [1, 2, 3, 4], labels: [0], rows: 2, columns: 2)
    #expect(grey.channels == 1 && grey.imageShape == "2x2" && grey.featureDescription == "4 pixels")
    #expect(!grey.hasSameImages(as: colour) && grey.hasSameImages(as: grey.prefix(0)))
    let floats = Dataset(pixels: .floats([1, 2, 3, 4]), labels: [0], channels: 1, rows: 2, columns: 2)
    #expect(!grey.hasSameImages(as: floats))
  }

  @Test func gatherScalesEveryByteValueExactly() {
    let dataset = Dataset(images: (0..<256).map(UInt8.init), labels: [0], rows: 16, columns: 16)
    let indices = [Int32](repeating: 0, count: 16)
    var gathered = [Float](repeating: 0, count: 256 * 16)
    indices.withUnsafeBufferPointer { indices in
      gathered.withUnsafeMutableBufferPointer {
        dataset.gatherFeatureMajor(indices, into: $0.baseAddress!, leadingDimension: 16)
      }
    }
    #expect((0..<256).allSatisfy { f in (0..<16).allSatisfy { gathered[f * 16 + $0] == Float(f) / 255 } })
  }
}
