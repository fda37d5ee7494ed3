import Foundation
import NPZFixture
import Testing

@testable import PruneEngine

// MARK: - Fixtures

/// A fresh empty folder, removed when the value is released.
private final class NPZScratch {
  let path = NSTemporaryDirectory() + "shears-npz-\(UUID().uuidString)"

  init() throws { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
  deinit { try? FileManager.default.removeItem(atPath: path) }

  /// Writes `arrays` as an archive named `name` and returns its path.
  func archive(
    _ arrays: [(name: String, array: NPYArray)], name: String = "data.npz", compressed: Bool = false
  ) throws -> String {
    let file = path + "/" + name
    try NPZWriter.write(arrays: arrays, to: file, compressed: compressed)
    return file
  }
}

/// The splits read from the archive at `path`.
private func load(_ path: String) throws -> DataSplits {
  try DataSource(path: path, format: .npz, origin: .option).load()
}

/// The ShearsError loading the archive at `path` gives (or nil).
private func loadError(_ path: String) -> ShearsError? {
  do {
    _ = try load(path)
    return nil
  } catch {
    return error as? ShearsError
  }
}

/// The bytes of `dataset`, which must store bytes.
private func bytes(_ dataset: Dataset) -> [UInt8] {
  guard case .bytes(let bytes) = dataset.pixels else { return [] }
  return bytes
}

/// `KerasData` with `name` replaced by `array`.
private func replacing(_ name: String, with array: NPYArray, in data: KerasData = KerasData()) -> [(
  name: String, array: NPYArray
)] {
  data.arrays.map { $0.name == name ? (name, array) : $0 }
}

/// The entries of `KerasData` with `name`'s `.npy` file replaced by `bytes` as they are.
private func replacing(_ name: String, withFile bytes: [UInt8]) -> [(name: String, bytes: [UInt8])] {
  KerasData().arrays.map { ("\($0.name).npy", $0.name == name ? bytes : $0.array.bytes) }
}

// MARK: - Reading

/// Reading datasets from `.npz` archives as NumPy and Keras write them.
@Suite struct NPZTests {
  /// Every value of a channels-last file lands at its channel-major place, stored or deflated.
  @Test(arguments: [false, true])
  func colourImagesBecomeChannelMajor(compressed: Bool) throws {
    let scratch = try NPZScratch()
    let data = KerasData()
    let splits = try load(scratch.archive(data.arrays, compressed: compressed))
    for (dataset, first) in [(splits.train, 0), (splits.test, data.trainCount)] {
      #expect(dataset.channels == 3 && dataset.rows == 8 && dataset.columns == 8 && dataset.featureCount == 192)
      #expect(dataset.labels == (first..<first + dataset.count).map { UInt8($0 % 3) })
      let pixels = bytes(dataset)
      var matches = pixels.count == dataset.count * 192
      for n in 0..<dataset.count where matches {
        for c in 0..<3 {
          for y in 0..<8 {
            for x in 0..<8 where pixels[n * 192 + c * 64 + y * 8 + x] != data.value(first + n, y, x, c) {
              matches = false
            }
          }
        }
      }
      #expect(matches, "a value is not at [c, y, x]")
    }
    #expect(splits.train.count == 96 && splits.test.count == 32 && splits.classCount == 3)
  }

  /// float32 images keep their values: the gather copies them, with no division by 255.
  @Test func floatImagesAreUsedAsStored() throws {
    let scratch = try NPZScratch()
    var data = KerasData()
    data.float = true
    let test = try load(scratch.archive(data.arrays, compressed: true)).test
    guard case .floats(let values) = test.pixels else {
      Issue.record("float32 images were not stored as floats")
      return
    }
    #expect(values[2 * 192 + 1 * 64 + 3 * 8 + 5] == Float(data.value(data.trainCount + 2, 3, 5, 1)) / 255)
    var gathered = [Float](repeating: 0, count: 192)
    gathered.withUnsafeMutableBufferPointer { test.writeSample(2, into: $0.baseAddress!) }
    #expect(gathered == Array(values[2 * 192..<3 * 192]))
  }

  /// `[N, H, W]` images are greyscale, row-major, as IDX files hold them.
  @Test func imagesWithoutChannelsAreGreyscale() throws {
    let scratch = try NPZScratch()
    var data = KerasData()
    data.channels = 1
    let train = try load(scratch.archive(data.arrays)).train
    #expect(train.channels == 1 && train.imageShape == "8x8")
    #expect(bytes(train) == data.images(data.trainCount, from: 0).data)
  }

  /// Labels of every integer type NumPy commonly writes, `[N]` or Keras' CIFAR `[N, 1]`.
  @Test(arguments: ["|u1", "|i1", "<u2", "<i2", "<u4", "<i4", "<u8", "<i8"])
  func labelsOfEveryIntegerType(descr: String) throws {
    let scratch = try NPZScratch()
    let data = KerasData()
    let labels = (0..<Int64(data.trainCount)).map { $0 % 3 }
    let flat = try load(scratch.archive(replacing("y_train", with: .integers(labels, descr: descr)))).train
    #expect(flat.labels == labels.map { UInt8($0) })
    let column = NPYArray.integers(labels, descr: descr, shape: [labels.count, 1])
    #expect(try load(scratch.archive(replacing("y_train", with: column))).train.labels == flat.labels)
  }

  /// Versions 2 and 3 have a 4-byte header length.
  @Test(arguments: [UInt8(1), 2, 3])
  func everyNPYVersionIsRead(version: UInt8) throws {
    let scratch = try NPZScratch()
    let arrays = KerasData().arrays.map { item in
      var array = item.array
      array.version = version
      return (item.name, array)
    }
    #expect(try load(scratch.archive(arrays)).test.count == 32)
  }

  /// `eval` reads only the test arrays: a broken training array does not stop it.
  @Test func theTestSplitAloneSkipsTheTrainingArrays() throws {
    let scratch = try NPZScratch()
    let path = try scratch.archive(replacing("x_train", with: NPYArray(descr: "<f8", shape: [96, 8, 8, 3], data: [])))
    let test = try DataSource(path: path, format: .npz, origin: .option).loadTest()
    #expect(test.count == 32 && test.channels == 3)
    #expect(loadError(path)?.problem.hasPrefix("x_train: dtype float64") == true)
  }

  @Test func aFileIsResolvedAsAnArchive() throws {
    let scratch = try NPZScratch()
    let path = try scratch.archive(KerasData().arrays)
    func resolve(_ option: String?, _ environment: [String: String]) throws -> DataSource {
      try DataSource.resolve(
        option: option, environment: environment, systemDirectory: "/absent", embeddedCandidates: [])
    }
    #expect(try resolve(path, [:]) == DataSource(path: path, format: .npz, origin: .option))
    #expect(try resolve(nil, ["SHEARS_DATA": path]) == DataSource(path: path, format: .npz, origin: .environment))
    #expect(try resolve(path, [:]).description == "\(path) (--data)")
    let missing = scratch.path + "/missing.npz"
    #expect(throws: ShearsError(missing, "no such .npz file")) { try resolve(missing, [:]) }
    #expect(throws: ShearsError(missing, "no such .npz file (from $SHEARS_DATA)")) {
      try resolve(nil, ["SHEARS_DATA": missing])
    }
  }
}

// MARK: - Malformed archives

/// Every way an archive can be bad gives one `ShearsError` naming the file, never a trap, a
/// hang or an allocation sized by a lie.
@Suite struct NPZErrorTests {
  /// Loads `arrays` written stored and deflated; both must fail with `problem`.
  private func expectProblem(
    _ arrays: [(name: String, array: NPYArray)], _ problem: String, sourceLocation: SourceLocation = #_sourceLocation
  ) throws {
    try expectProblem(
      entries: arrays.map { ("\($0.name).npy", $0.array.bytes) }, problem, sourceLocation: sourceLocation)
  }

  /// Loads archives of `entries` (file name, bytes), stored and deflated; both must fail with
  /// `problem`.
  private func expectProblem(
    entries: [(name: String, bytes: [UInt8])], _ problem: String, sourceLocation: SourceLocation = #_sourceLocation
  ) throws {
    let scratch = try NPZScratch()
    for compressed in [false, true] {
      let path = scratch.path + "/data.npz"
      try NPZWriter.write(entries, to: path, compressed: compressed)
      #expect(loadError(path) == ShearsError(path, problem), sourceLocation: sourceLocation)
    }
  }

  @Test func aMissingArrayIsNamed() throws {
    try expectProblem(
      KerasData().arrays.filter { $0.name != "y_test" },
      "no array y_test (y_test.npy) in the archive; a dataset .npz holds x_train, y_train, x_test and y_test")
  }

  @Test func labelsOutsideAByteAreRefused() throws {
    var labels = (0..<Int64(96)).map { $0 % 3 }
    labels[4] = 256
    try expectProblem(
      replacing("y_train", with: .integers(labels, descr: "<i8")),
      "y_train: label 256 at index 4 is outside 0 to 255 (labels are class numbers)")
    labels[4] = 1
    labels[7] = -3
    try expectProblem(
      replacing("y_train", with: .integers(labels, descr: "<i2")),
      "y_train: label -3 at index 7 is outside 0 to 255 (labels are class numbers)")
    labels[7] = -1
    try expectProblem(
      replacing("y_train", with: .integers(labels, descr: "<u8")),
      "y_train: label 18446744073709551615 at index 7 is outside 0 to 255 (labels are class numbers)")
  }

  @Test func shapesMustAgree() throws {
    let data = KerasData()
    try expectProblem(
      replacing("y_train", with: data.labels(95, from: 0)), "x_train holds 96 images but y_train holds 95 labels")
    var narrower = data
    narrower.side = 7
    try expectProblem(
      replacing("x_test", with: narrower.images(32, from: 0)),
      "x_test: images are 3x7x7 but the training images (x_train) are 3x8x8")
    var floats = data
    floats.float = true
    try expectProblem(
      replacing("x_test", with: floats.images(32, from: 0)),
      "x_test: images are float32 but the training images (x_train) are uint8; use one dtype")
    try expectProblem(
      replacing("x_train", with: .uint8([1, 2, 3, 4], shape: [4])),
      "x_train: shape (4,) is not images [N, H, W] or [N, H, W, C]")
    try expectProblem(
      replacing("y_train", with: .integers([0, 1, 2, 0], descr: "<i8", shape: [2, 2])),
      "y_train: shape (2, 2) is not one label per sample, [N] or [N, 1]")
    try expectProblem(
      replacing("x_test", with: .uint8([], shape: [0, 8, 8, 3])), "x_test: the array holds no images")
  }

  /// The declared shape is checked against the entry's size before anything is allocated.
  @Test func aShapeLargerThanItsDataIsRefusedBeforeAllocating() throws {
    let real = KerasData().images(96, from: 0)
    var claimed = real
    claimed.shape = [1000, 8, 8, 3]
    let header = NPYArray.file(dict: claimed.dict).count
    try expectProblem(
      replacing("x_train", with: claimed),
      "x_train: the .npy header declares (1000, 8, 8, 3) uint8 (\(header + 192_000) bytes) but its zip entry holds "
        + "\(header + real.data.count)")
    claimed.shape = [9_000_000, 4096, 4096, 3]
    try expectProblem(
      replacing("x_train", with: claimed), "x_train: implausible size: shape (9000000, 4096, 4096, 3) of uint8")
    claimed.shape = [96, 8, 8, 5000]
    try expectProblem(
      replacing("x_train", with: claimed),
      "x_train: implausible image shape (96, 8, 8, 5000) (sides 1 to 4096, channels 1 to 4096)")
  }

  /// An entry whose zip directory declares more bytes than its data can hold is refused from
  /// the directory alone, before its header is read.
  @Test func aZipEntryClaimingTooMuchIsRefused() throws {
    let scratch = try NPZScratch()
    let path = try scratch.archive(KerasData().arrays)
    var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
    // The first central directory record (signature 50 4B 01 02) is x_train's; its
    // uncompressed size is the 4 bytes at offset 24.
    let record = try #require((0..<bytes.count - 4).first { bytes[$0..<$0 + 4] == [0x50, 0x4B, 0x01, 0x02] })
    let compressed = Int(bytes[record + 20]) | Int(bytes[record + 21]) << 8 | Int(bytes[record + 22]) << 16
    bytes.replaceSubrange(record + 24..<record + 28, with: [0xff, 0xff, 0xff, 0x7f])
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    #expect(
      loadError(path)
        == ShearsError(
          path, "x_train: its zip entry declares 2147483647 bytes, more than its \(compressed) compressed bytes can hold"))
  }

  @Test func unsupportedDTypesAreNamed() throws {
    let shape = [96, 8, 8, 3]
    let cases: [(String, String, String)] = [
      ("x_train", "<f8", "x_train: dtype float64 ('<f8') is not supported; save x.astype('float32') (or uint8)"),
      ("x_train", ">f4", "x_train: big-endian float32 ('>f4') is not supported; save x.astype('<f4')"),
      ("x_train", "<i8", "x_train: images of int64 ('<i8') are not supported; use uint8 or float32"),
      ("x_train", "|b1", "x_train: boolean arrays ('|b1') are not supported"),
      ("x_train", "|O", "x_train: object arrays (dtype=object) are not supported"),
      ("x_train", "<c8", "x_train: dtype '<c8' is not supported (integers, uint8 or float32 are read)"),
      ("y_train", "<f4", "y_train: labels of float32 ('<f4') are not supported; labels are integers"),
      ("y_train", ">i8", "y_train: big-endian int64 ('>i8') is not supported; save x.astype('<i8')"),
    ]
    for (name, descr, problem) in cases {
      let array = NPYArray(
        descr: descr, shape: name == "y_train" ? [96] : shape, data: [UInt8](repeating: 0, count: 96))
      try expectProblem(replacing(name, with: array), problem)
    }
  }

  @Test func badHeadersAreNamed() throws {
    let good = KerasData().images(96, from: 0)
    var fortran = good
    fortran.fortranOrder = true
    try expectProblem(
      replacing("x_train", with: fortran),
      "x_train: Fortran-order arrays are not supported; save np.ascontiguousarray(x) instead")
    let dicts: [(String, String)] = [
      ("{'descr': '|u1', 'fortran_order': False, 'shape': (96, 8, 8, 3}", "bad .npy header: expected ')' at byte 62"),
      ("{'descr': '|u1', 'fortran_order': False}", "bad .npy header: 'shape' missing or not a tuple"),
      (
        "{'descr': '|u1', 'fortran_order': False, 'shape': (96, 8, 8, 3), 'extra': 1}",
        "bad .npy header: unexpected key 'extra'"
      ),
      (
        "{'descr': '|u1', 'descr': '|u1', 'fortran_order': False, 'shape': (96, 8, 8, 3)}",
        "bad .npy header: key 'descr' appears twice"
      ),
      (
        "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (96,)}",
        "structured arrays (a record dtype) are not supported"
      ),
      (
        "{'descr': '|u1', 'fortran_order': 0, 'shape': (96, 8, 8, 3)}",
        "bad .npy header: 'fortran_order' missing or not True/False"
      ),
      (
        "{'descr': '|u1', 'fortran_order': False, 'shape': (96, 8, 8, 3), } trailing",
        "bad .npy header: text after the dict"
      ),
    ]
    for (dict, problem) in dicts {
      try expectProblem(
        entries: replacing("x_train", withFile: NPYArray.file(dict: dict) + good.data), "x_train: " + problem)
    }
    var future = NPYArray.file(dict: good.dict) + good.data
    future[6] = 4
    try expectProblem(
      entries: replacing("x_train", withFile: future),
      "x_train: unsupported .npy format version 4.0 (1.0 to 3.0 are read)")
    try expectProblem(
      entries: replacing("x_train", withFile: Array("PK not an array at all".utf8)),
      "x_train: not a .npy array (no \\x93NUMPY magic)")
    var huge = Array(NPYArray.file(dict: good.dict).prefix(8)) + [0xff, 0xff, 0xff, 0x7f]
    huge[6] = 2
    try expectProblem(
      entries: replacing("x_train", withFile: huge + [UInt8](repeating: 0x20, count: 64)),
      "x_train: bad .npy header: it declares 2147483647 bytes, more than the 65536 allowed")
    try expectProblem(
      entries: replacing("x_train", withFile: Array(NPYArray.file(dict: good.dict).prefix(40))),
      "x_train: bad .npy header: the entry ends inside it")
  }

  @Test func floatImagesMustBeFinite() throws {
    var values = [Float](repeating: 0.5, count: 96 * 192)
    values[3 * 192 + 10] = .nan
    try expectProblem(
      replacing("x_train", with: .float32(values, shape: [96, 8, 8, 3])),
      "x_train: image 3 holds nan; float images must be finite")
  }

  @Test func notAnArchiveOrTruncated() throws {
    let scratch = try NPZScratch()
    let text = scratch.path + "/text.npz"
    try Data("hello, world\n".utf8).write(to: URL(fileURLWithPath: text))
    let problem = "not an .npz archive: no zip end-of-central-directory record (not a zip file, or truncated)"
    #expect(loadError(text) == ShearsError(text, problem))
    for compressed in [false, true] {
      let whole = try Data(
        contentsOf: URL(fileURLWithPath: scratch.archive(KerasData().arrays, compressed: compressed)))
      let cut = scratch.path + "/cut.npz"
      try whole.prefix(whole.count / 2).write(to: URL(fileURLWithPath: cut))
      #expect(loadError(cut) == ShearsError(cut, problem))
    }
  }

  /// A flipped byte inside an entry's data is caught: stored by the CRC-32, deflated by the
  /// CRC, the inflater or the declared size, and never by hanging.
  @Test func corruptDataIsCaught() throws {
    let scratch = try NPZScratch()
    let stored = try scratch.archive(KerasData().arrays)
    var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: stored)))
    bytes[1000] ^= 0x01
    try Data(bytes).write(to: URL(fileURLWithPath: stored))
    #expect(loadError(stored) == ShearsError(stored, "x_train: corrupt: the data does not match its CRC-32"))

    let deflated = try scratch.archive(KerasData().arrays, name: "z.npz", compressed: true)
    let original = try [UInt8](Data(contentsOf: URL(fileURLWithPath: deflated)))
    for offset in stride(from: 100, to: original.count / 2, by: 97) {
      var corrupt = original
      for i in offset..<offset + 8 { corrupt[i] ^= 0x5a }
      try Data(corrupt).write(to: URL(fileURLWithPath: deflated))
      let error = loadError(deflated)
      #expect(error == nil || error?.subject == deflated, "\(error.map(String.init(describing:)) ?? "")")
    }
  }

  @Test func aFIFOIsRefusedWithoutBlocking() throws {
    let scratch = try NPZScratch()
    let fifo = scratch.path + "/fifo.npz"
    try #require(mkfifo(fifo, 0o600) == 0)
    #expect(loadError(fifo) == ShearsError(fifo, "not a regular file"))
  }
}

// MARK: - Architectures against data

@Suite struct ArchitectureInputTests {
  @Test func theInputMustHaveTheImagesShape() throws {
    let colour = Dataset(
      pixels: .bytes([UInt8](repeating: 0, count: 2 * 3072)), labels: [0, 1], channels: 3, rows: 32, columns: 32)
    #expect(try Architecture(parsing: "mlp:3072-10").inputMismatch(with: colour, in: "c.npz") == nil)
    #expect(try Architecture(parsing: "cnn:3x32x32-conv4k5-fc10").inputMismatch(with: colour, in: "c.npz") == nil)
    #expect(
      try Architecture(parsing: "mlp:784-10").inputMismatch(with: colour, in: "c.npz")
        == "takes 784 inputs but the images in c.npz have 3072 values (3x32x32)")
    #expect(
      try Architecture(parsing: "cnn:1x32x96-conv4k5-fc10").inputMismatch(with: colour, in: "c.npz")
        == "takes 1x32x96 images but the images in c.npz are 3x32x32")
    let grey = Dataset(images: [UInt8](repeating: 0, count: 784), labels: [0], rows: 28, columns: 28)
    #expect(
      Architecture.lenet300100.inputMismatch(with: colour.prefix(1), in: "d") != nil
        && Architecture.lenet5.inputMismatch(with: grey, in: "d") == nil)
  }
}
