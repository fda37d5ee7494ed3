import Foundation
import Testing

@testable import PruneEngine

// MARK: - Helpers

/// Runs `body` with a fresh empty folder that is removed afterwards.
func withTemporaryFolder(_ body: (String) throws -> Void) throws {
  let path = NSTemporaryDirectory() + "shears-checkpoint-\(UUID().uuidString)"
  try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
  defer { try? FileManager.default.removeItem(atPath: path) }
  try body(path)
}

/// The bytes of a hand-made safetensors file: `header` padded with spaces to a multiple of 8,
/// its length in front (or `declaredLength`), then `data`.
private func safetensorsBytes(_ header: String, data: [UInt8] = [], declaredLength: UInt64? = nil) -> [UInt8] {
  safetensorsBytes(Array(header.utf8), data: data, declaredLength: declaredLength)
}

private func safetensorsBytes(_ header: [UInt8], data: [UInt8] = [], declaredLength: UInt64? = nil) -> [UInt8] {
  var headerBytes = header
  headerBytes += [UInt8](repeating: 0x20, count: (8 - headerBytes.count % 8) % 8)
  let length = declaredLength ?? UInt64(headerBytes.count)
  return (0..<8).map { UInt8(truncatingIfNeeded: length >> (8 * $0)) } + headerBytes + data
}

/// Little-endian bytes of floats.
private func f32Bytes(_ values: [Float]) -> [UInt8] {
  values.flatMap { value in (0..<4).map { UInt8(truncatingIfNeeded: value.bitPattern >> (8 * $0)) } }
}

/// Names in a folder that look like leftover temporary files.
private func temporaryFiles(in folder: String) throws -> [String] {
  try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.contains(".tmp-") }
}

/// Expects `body` to throw a one-line `ShearsError` that names `path` and contains `fragment`.
func expectError(naming path: String, containing fragment: String, _ body: () throws -> Void) {
  let error = #expect(throws: ShearsError.self) { try body() }
  guard let description = error?.description else { return }
  #expect(description.contains(path), "\(description)")
  #expect(description.contains(fragment), "\(description)")
  #expect(!description.contains("\n"), "\(description)")
}

private func sampleModel() -> Model {
  var generator = SeededGenerator(seed: 1)
  return Model(architecture: .mlp(widths: [6, 5, 4, 3]), generator: &generator)
}

// MARK: - Round trips and exact bytes

/// Weights are stored as their exact bits, so the reloaded model is compared with `==` on purpose.
@Test func checkpointRoundTripKeepsModelAndMetadata() throws {
  try withTemporaryFolder { folder in
    let path = folder + "/model.safetensors"
    let model = sampleModel()
    let metadata = CheckpointMetadata(
      architecture: "mlp:6-5-4-3", dataset: "fashion-mnist (embedded subset)", accuracy: 0.8125,
      created: "2025-01-02T03:04:05Z",
      history: ["train epochs=10 optimizer=adam lr=0.001 seed=1", "note \"quoted\" \\ tab\t newline\n é ✂ \u{1}"])
    try Checkpoint.save(model, metadata: metadata, to: path)
    let loaded = try Checkpoint.load(from: path)
    #expect(loaded.model == model)
    #expect(loaded.metadata == metadata)
    #expect(try FileManager.default.contentsOfDirectory(atPath: folder) == ["model.safetensors"])

    let file = try SafetensorsFile(contentsOf: path)
    #expect(file.entries.map(\.name) == ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"])
    #expect(file.entry(named: "0.weight")?.shape == [5, 6])
    #expect(file.metadata["format"] == "shears-1")
  }
}

@Test func checkpointWithoutOptionalMetadataRecordsArchitecture() throws {
  try withTemporaryFolder { folder in
    let path = folder + "/model.safetensors"
    try Checkpoint.save(sampleModel(), metadata: CheckpointMetadata(), to: path)
    let loaded = try Checkpoint.load(from: path)
    #expect(loaded.metadata == CheckpointMetadata(architecture: "mlp:6-5-4-3"))
    #expect(try SafetensorsFile(contentsOf: path).metadata["history"] == "[]")
  }
}

@Test func savingOverAnExistingFileReplacesIt() throws {
  try withTemporaryFolder { folder in
    let path = folder + "/model.safetensors"
    try Data("old".utf8).write(to: URL(fileURLWithPath: path))
    try Checkpoint.save(sampleModel(), metadata: CheckpointMetadata(), to: path)
    #expect(try Checkpoint.load(from: path).model == sampleModel())
    #expect(try temporaryFiles(in: folder).isEmpty)
  }
}

/// The same bytes as `safetensors.torch.save_file({"a": torch.tensor([1.0, -2.0])}, p, metadata={"k": "v"})`.
@Test func encodingMatchesTheReferenceLayout() throws {
  let file = SafetensorsFile(
    entries: [.init(name: "a", tensor: Tensor(shape: [2], scalars: [1, -2]))], metadata: ["k": "v"])
  let header = #"{"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}} "#
  let expected: [UInt8] = [80, 0, 0, 0, 0, 0, 0, 0] + Array(header.utf8) + [0, 0, 0x80, 0x3F, 0, 0, 0, 0xC0]
  #expect(file.encoded == expected)
}

@Test func encodedHeaderIsPaddedJSONWithContiguousOffsets() throws {
  let file = SafetensorsFile(entries: [
    .init(name: "w", tensor: Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])),
    .init(name: "m", dtype: .u8, shape: [3], bytes: [1, 0, 1]),
  ])
  let bytes = file.encoded
  let length = (0..<8).reduce(0) { $0 | Int(bytes[$1]) << (8 * $1) }
  #expect(length % 8 == 0)
  #expect(bytes.count == 8 + length + 27)
  let json = try #require(try JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + length)])) as? [String: Any])
  #expect(json["__metadata__"] == nil)
  #expect((json["w"] as? [String: Any])?["data_offsets"] as? [Int] == [0, 24])
  #expect((json["m"] as? [String: Any])?["data_offsets"] as? [Int] == [24, 27])
  #expect((json["m"] as? [String: Any])?["dtype"] as? String == "U8")
  #expect(try SafetensorsFile(decoding: bytes, subject: "memory") == file)
}

// MARK: - Element types

@Test func halfBFloatAndDoubleConvertToFloat() throws {
  let header = """
    {"h":{"dtype":"F16","shape":[2,2],"data_offsets":[0,8]},\
    "b":{"dtype":"BF16","shape":[2],"data_offsets":[8,12]},\
    "d":{"dtype":"F64","shape":[2],"data_offsets":[12,28]}}
    """
  let half: [UInt8] = [0x00, 0x3C, 0x00, 0xC0, 0x01, 0x00, 0xFF, 0x7B]  // 1, -2, 2^-24, 65504
  let bfloat: [UInt8] = [0x80, 0x3F, 0x49, 0xC0]  // 1, -3.140625
  let double = [1.5, -0.1].flatMap { value in (0..<8).map { UInt8(truncatingIfNeeded: value.bitPattern >> (8 * $0)) } }
  let file = try SafetensorsFile(decoding: safetensorsBytes(header, data: half + bfloat + double), subject: "memory")
  #expect(file.entry(named: "h")?.floats == [1, -2, 0x1p-24, 65504])
  #expect(file.entry(named: "h")?.shape == [2, 2])
  #expect(file.entry(named: "b")?.floats == [1, -3.140625])
  #expect(file.entry(named: "d")?.floats == [1.5, Float(-0.1)])
}

#if !(os(macOS) && arch(x86_64))
  @Test func halfConversionAgreesWithFloat16ForEveryBitPattern() {
    for bits in UInt16.min...UInt16.max {
      let expected = Float(Float16(bitPattern: bits))
      let actual = floatFromHalf(bits)
      #expect(actual.bitPattern == expected.bitPattern || (actual.isNaN && expected.isNaN), "bits \(bits)")
    }
  }
#endif

@Test func pytorchPrunedWeightsAreMaskedAndExtraTensorsIgnored() throws {
  try withTemporaryFolder { folder in
    let path = folder + "/pruned.safetensors"
    try SafetensorsFile(entries: [
      .init(name: "0.weight_orig", tensor: Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])),
      .init(name: "0.weight_mask", dtype: .u8, shape: [2, 3], bytes: [1, 0, 1, 0, 1, 1]),
      .init(name: "0.bias", tensor: Tensor(shape: [2], scalars: [0.5, -0.5])),
      .init(name: "2.weight", tensor: Tensor(shape: [1, 2], scalars: [7, 8])),
      .init(name: "2.weight_mask", tensor: Tensor(shape: [1, 2], scalars: [0, 1])),
      .init(name: "2.bias", tensor: Tensor(shape: [1], scalars: [9])),
      .init(name: "1.running_mean", tensor: Tensor(shape: [2], scalars: [0, 0])),
      .init(name: "extra", dtype: .u8, shape: [1], bytes: [42]),
    ]).write(to: path)
    let model = try Checkpoint.load(from: path).model
    #expect(model.architecture == .mlp(widths: [3, 2, 1]))
    #expect(model.layers.count == 3 && model.layers[1] == .relu)
    let dense = model.weightedLayers.map(\.layer)
    #expect(dense[0].weight.scalars == [1, 0, 3, 0, 5, 6])
    #expect(dense[0].bias.scalars == [0.5, -0.5])
    #expect(dense[1].weight.scalars == [0, 8])
    #expect(dense[1].bias.scalars == [9])
  }
}

// MARK: - Invalid files

/// The header member of one tensor, `"name":{"dtype":...,"shape":...,"data_offsets":...}`.
private func member(_ name: String = "a", dtype: String = "F32", shape: String = "[2]", offsets: String = "[0,8]")
  -> String
{
  #""\#(name)":{"dtype":"\#(dtype)","shape":\#(shape),"data_offsets":\#(offsets)}"#
}

/// A JSON object of header members.
private func header(_ members: String...) -> String { "{" + members.joined(separator: ",") + "}" }

func zeros(_ count: Int) -> [UInt8] { [UInt8](repeating: 0, count: count) }

/// A malformed file and a fragment of the error it must give.
struct InvalidFile: Sendable, CustomTestStringConvertible {
  var name: String
  var bytes: [UInt8]
  var problem: String
  var testDescription: String { name }

  init(_ name: String, _ bytes: [UInt8], _ problem: String) {
    self.name = name
    self.bytes = bytes
    self.problem = problem
  }

  static let cases: [InvalidFile] = [
    .init("text file", Array("hello, this is not a model\n".utf8), "not a safetensors file"),
    .init("too short", [1, 2, 3], "only 3 bytes"),
    .init("header beyond file", safetensorsBytes("{}", declaredLength: 1000), "runs past the end of the file"),
    .init("absurd header length", safetensorsBytes("{}", declaredLength: 1 << 40), "exceeds the limit"),
    .init("JSON not an object", safetensorsBytes("[1, 2]"), "not a JSON object"),
    .init("invalid JSON", safetensorsBytes(#"{"a": "#), "not valid JSON"),
    .init("invalid UTF-8", safetensorsBytes(Array(#"{"a"#.utf8) + [0xFF] + Array(#"":null}"#.utf8)), "not valid UTF-8"),
    .init(
      "unknown dtype", safetensorsBytes(header(member(dtype: "I32", shape: "[1]")), data: zeros(4)),
      "unsupported dtype 'I32'"),
    .init("offsets out of bounds", safetensorsBytes(header(member()), data: zeros(4)), "outside the data area"),
    .init("size mismatch", safetensorsBytes(header(member(offsets: "[0,4]")), data: zeros(4)), "span 4 bytes"),
    .init(
      "overlapping offsets", safetensorsBytes(header(member(), member("b", offsets: "[4,12]")), data: zeros(12)),
      "overlap"),
    .init(
      "gap between tensors", safetensorsBytes(header(member(offsets: "[4,12]")), data: zeros(12)), "belong to no tensor"
    ),
    .init("bytes after the last tensor", safetensorsBytes(header(member()), data: zeros(9)), "1 stray bytes"),
    .init(
      "negative dimension", safetensorsBytes(header(member(shape: "[-1,2]")), data: zeros(8)), "negative dimension -1"),
    .init(
      "shape overflows", safetensorsBytes(header(member(shape: "[4611686018427387904,4]")), data: zeros(8)), "too large"
    ),
    .init(
      "fractional dimension", safetensorsBytes(header(member(shape: "[2.0]")), data: zeros(8)), "not a list of integers"
    ),
    .init("missing offsets", safetensorsBytes(#"{"a":{"dtype":"F32","shape":[2]}}"#), "has no data_offsets"),
    .init("duplicate names", safetensorsBytes(header(member(), member()), data: zeros(8)), "duplicate key 'a'"),
    .init(
      "metadata not strings", safetensorsBytes(#"{"__metadata__":{"k":1}}"#), "metadata value for 'k' is not a string"),
    .init(
      "deep nesting",
      safetensorsBytes(#"{"x":"# + String(repeating: "[", count: 100) + String(repeating: "]", count: 100) + "}"),
      "nested deeper"),
  ]
}

@Test(arguments: InvalidFile.cases)
func invalidSafetensorsFilesAreRejected(_ invalid: InvalidFile) throws {
  try withTemporaryFolder { folder in
    let path = folder + "/input.safetensors"
    try Data(invalid.bytes).write(to: URL(fileURLWithPath: path))
    expectError(naming: path, containing: invalid.problem) { _ = try SafetensorsFile(contentsOf: path) }
    expectError(naming: path, containing: invalid.problem) { _ = try Checkpoint.load(from: path) }
  }
}

/// A layer's tensors for hand-made model files: weight `[outputs, inputs]` and bias `[outputs]`.
private func layerEntries(_ index: Int, outputs: Int, inputs: Int, bias: Bool = true) -> [SafetensorsFile.Entry] {
  let weight = SafetensorsFile.Entry(name: "\(index).weight", tensor: Tensor(shape: [outputs, inputs], repeating: 1))
  return bias ? [weight, .init(name: "\(index).bias", tensor: Tensor(shape: [outputs]))] : [weight]
}

/// A file that is valid safetensors but not a valid model, and a fragment of the error it must give.
struct InvalidModel: Sendable, CustomTestStringConvertible {
  var name: String
  var file: SafetensorsFile
  var problem: String
  var testDescription: String { name }

  init(_ name: String, _ entries: [SafetensorsFile.Entry], metadata: [String: String] = [:], _ problem: String) {
    self.name = name
    self.file = SafetensorsFile(entries: entries, metadata: metadata)
    self.problem = problem
  }

  static let first = layerEntries(0, outputs: 5, inputs: 6)

  static let cases: [InvalidModel] = [
    .init("gap in layer indices", first + layerEntries(4, outputs: 3, inputs: 5), "missing 2.weight"),
    .init("first layer not at 0", layerEntries(2, outputs: 5, inputs: 6), "missing 0.weight"),
    .init(
      "shapes do not chain", first + layerEntries(2, outputs: 3, inputs: 4),
      "2.weight takes 4 inputs but layer 0 has 5 outputs"),
    .init("missing bias", layerEntries(0, outputs: 5, inputs: 6, bias: false), "missing 0.bias"),
    .init("missing weight", [.init(name: "0.bias", tensor: Tensor(shape: [5]))], "missing 0.weight"),
    .init(
      "bias of wrong shape", [first[0], .init(name: "0.bias", tensor: Tensor(shape: [4]))],
      "0.bias has shape [4], expected [5]"),
    .init(
      "weight not a matrix", [.init(name: "0.weight", tensor: Tensor(shape: [30])), first[1]], "0.weight has shape [30]"
    ),
    .init(
      "mask of wrong shape", first + [.init(name: "0.weight_mask", dtype: .u8, shape: [5], bytes: zeros(5))],
      "0.weight_mask has shape [5]"),
    .init("no layers", [.init(name: "embedding", tensor: Tensor(shape: [2]))], "no Linear or Conv2d layer"),
    .init(
      "arch disagrees", first, metadata: ["arch": "mlp:6-4"],
      "metadata arch mlp:6-4 does not match the tensors: 0.weight has shape [5, 6], expected [4, 6]"),
    .init("arch unparsable", first, metadata: ["arch": "resnet"], "metadata arch 'resnet' is not a valid architecture"),
    .init("accuracy not a number", first, metadata: ["accuracy": "high"], "metadata accuracy 'high' is not a number"),
    .init("history not an array", first, metadata: ["history": "train"], "metadata history is not a JSON array"),
    .init(
      "history not strings", first, metadata: ["history": "[1]"], "metadata history holds a value that is not a string"),
  ]
}

@Test(arguments: InvalidModel.cases)
func invalidModelFilesAreRejected(_ invalid: InvalidModel) throws {
  try withTemporaryFolder { folder in
    let path = folder + "/model.safetensors"
    try invalid.file.write(to: path)
    expectError(naming: path, containing: invalid.problem) { _ = try Checkpoint.load(from: path) }
  }
}

@Test func unreadablePathsAreRejected() throws {
  try withTemporaryFolder { folder in
    expectError(naming: folder + "/absent", containing: "cannot open: No such file or directory") {
      _ = try Checkpoint.load(from: folder + "/absent")
    }
    expectError(naming: folder, containing: "not a regular file") { _ = try Checkpoint.load(from: folder) }
  }
}

// MARK: - Failed saves

@Test func saveWithDisagreeingArchitectureThrowsAndWritesNothing() throws {
  try withTemporaryFolder { folder in
    let path = folder + "/model.safetensors"
    expectError(naming: path, containing: "does not match the layers (mlp:6-5-4-3)") {
      try Checkpoint.save(sampleModel(), metadata: CheckpointMetadata(architecture: "mlp:6-5-3"), to: path)
    }
    let contents = try FileManager.default.contentsOfDirectory(atPath: folder)
    #expect(contents.isEmpty)
  }
}

@Test func saveIntoAMissingFolderThrows() throws {
  try withTemporaryFolder { folder in
    let path = folder + "/missing/model.safetensors"
    expectError(naming: path, containing: "No such file or directory") {
      try Checkpoint.save(sampleModel(), metadata: CheckpointMetadata(), to: path)
    }
    let contents = try FileManager.default.contentsOfDirectory(atPath: folder)
    #expect(contents.isEmpty)
  }
}

@Test func saveUnderARegularFileThrows() throws {
  try withTemporaryFolder { folder in
    let parent = folder + "/plain"
    try Data("text".utf8).write(to: URL(fileURLWithPath: parent))
    let path = parent + "/model.safetensors"
    expectError(naming: path, containing: "Not a directory") {
      try Checkpoint.save(sampleModel(), metadata: CheckpointMetadata(), to: path)
    }
    #expect(try FileManager.default.contentsOfDirectory(atPath: folder) == ["plain"])
    #expect(try Data(contentsOf: URL(fileURLWithPath: parent)) == Data("text".utf8))
  }
}

/// The rename fails after the temporary file was written: it must be removed, the target kept.
@Test func saveOverANonEmptyFolderThrowsAndCleansUp() throws {
  try withTemporaryFolder { folder in
    let path = folder + "/model.safetensors"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
    try Data("keep".utf8).write(to: URL(fileURLWithPath: path + "/inside"))
    expectError(naming: path, containing: "is a folder, not a file") {
      try Checkpoint.save(sampleModel(), metadata: CheckpointMetadata(), to: path)
    }
    #expect(try FileManager.default.contentsOfDirectory(atPath: folder) == ["model.safetensors"])
    #expect(try Data(contentsOf: URL(fileURLWithPath: path + "/inside")) == Data("keep".utf8))
  }
}

/// Permissions do not stop root, so this runs only for other users.
@Test(.enabled(if: geteuid() != 0)) func saveIntoAReadOnlyFolderKeepsThePreviousFile() throws {
  try withTemporaryFolder { folder in
    let path = folder + "/model.safetensors"
    try Checkpoint.save(sampleModel(), metadata: CheckpointMetadata(dataset: "before"), to: path)
    let before = try Data(contentsOf: URL(fileURLWithPath: path))
    try FileManager.default.setAttributes([.posixPermissions: 0o555], ofItemAtPath: folder)
    defer { try? FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: folder) }
    expectError(naming: path, containing: "Permission denied") {
      try Checkpoint.save(sampleModel(), metadata: CheckpointMetadata(dataset: "after"), to: path)
    }
    #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
    #expect(try temporaryFiles(in: folder).isEmpty)
  }
}
