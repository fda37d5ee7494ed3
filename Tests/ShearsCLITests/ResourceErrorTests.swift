import Foundation
import Testing

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Inputs that could block, abort on a failed allocation or replace something that is not a
/// file: FIFOs and devices where files are expected, work larger than the memory allowed, and
/// data of another shape than a fixed architecture takes. Each exits 1 with one line (a FIFO that
/// blocked would hit the test's time limit instead).
@Suite(.trainedModel) struct ResourceErrorTests {
  let trained: TrainedModel
  let folder: TemporaryFolder

  init() throws {
    trained = try TrainedModel.shared()
    folder = try TemporaryFolder()
  }

  /// A FIFO at `name` in the test's folder, with no writer.
  private func fifo(_ name: String) throws -> String {
    let path = folder.path(name)
    try #require(mkfifo(path, 0o600) == 0, "mkfifo \(path): \(String(cString: strerror(errno)))")
    return path
  }

  /// A data folder whose four IDX files are FIFOs, `.gz` named or not.
  private func fifoDataFolder(suffix: String) throws -> String {
    try FileManager.default.createDirectory(atPath: folder.path("data"), withIntermediateDirectories: false)
    for file in [IDXFixture.trainImages, IDXFixture.trainLabels, IDXFixture.testImages, IDXFixture.testLabels] {
      _ = try fifo("data/\(file)\(suffix)")
    }
    return folder.path("data")
  }

  // MARK: - FIFOs and devices

  @Test(arguments: ["", ".gz"])
  func evalRefusesFIFODataFiles(suffix: String) throws {
    let data = try fifoDataFolder(suffix: suffix)
    let run = try shears("eval", "--model", trained.model, "--data", data)
    let message = expectInputError(
      run, subject: "\(data)/\(IDXFixture.testImages)\(suffix)", notes: ["data: \(data) (--data)"])
    #expect(message == "not a regular file")
  }

  @Test func trainRefusesFIFODataFiles() throws {
    let data = try fifoDataFolder(suffix: "")
    let run = try shears("train", "--arch", "mlp:784-16-10", "--data", data, "--out", folder.path("m.safetensors"))
    let message = expectInputError(run, subject: "\(data)/\(IDXFixture.trainImages)", notes: ["data: \(data) (--data)"])
    #expect(message == "not a regular file")
    #expect(!FileManager.default.fileExists(atPath: folder.path("m.safetensors")))
  }

  /// A FIFO named as --data is taken for an .npz archive and refused without blocking.
  @Test func dataThatIsAFIFOIsRefused() throws {
    let data = try fifo("data")
    let run = try shears("eval", "--model", trained.model, "--data", data)
    #expect(expectInputError(run, subject: data, notes: ["data: \(data) (--data)"]) == "not a regular file")
  }

  @Test(arguments: ["eval", "info"])
  func modelThatIsAFIFOIsRefused(command: String) throws {
    let model = try fifo("model.safetensors")
    let run = try shears([command, "--model", model] + (command == "eval" ? ["--data", trained.data.path] : []))
    #expect(expectInputError(run, subject: model) == "not a regular file")
  }

  @Test func outThatIsAFIFOIsLeftAlone() throws {
    let out = try fifo("out.safetensors")
    let run = try shears(
      "prune", "--model", trained.model, "--criterion", "magnitude", "--amount", "0.5", "--data", trained.data.path,
      "--out", out)
    #expect(expectInputError(run, subject: out) == "is a FIFO, not a regular file")
    var status = stat()
    #expect(lstat(out, &status) == 0 && status.st_mode & S_IFMT == S_IFIFO, "the FIFO was replaced")
  }

  @Test func outThatIsADeviceIsLeftAlone() throws {
    let run = try shears("export", "--model", trained.pruned, "--format", "compact", "--out", "/dev/null")
    #expect(expectInputError(run, subject: "/dev/null") == "is a device, not a regular file")
    var status = stat()
    #expect(lstat("/dev/null", &status) == 0 && status.st_mode & S_IFMT == S_IFCHR)
  }

  @Test func csvThatIsAFIFOIsLeftAlone() throws {
    let csv = try fifo("rows.csv")
    let run = try shears(
      "sweep", "--model", trained.model, "--criterion", "magnitude", "--amounts", "0.5", "--data", trained.data.path,
      "--csv", csv)
    #expect(expectInputError(run, subject: csv) == "is a FIFO, not a regular file")
  }

  // MARK: - Memory

  /// 0.01 GiB is less than the process itself holds, so any work is refused before it starts.
  @Test func trainRefusesWorkAboveMaxMemory() throws {
    let out = folder.path("m.safetensors")
    let run = try shears(
      "train", "--arch", "mlp:784-16-10", "--data", trained.data.path, "--out", out, "--max-memory", "0.01")
    let message = expectInputError(run, subject: "--arch mlp:784-16-10", notes: [trained.dataNote])
    #expect(message?.hasPrefix("needs ") == true && message?.contains(", --max-memory is 10.2 MiB") == true)
    #expect(!FileManager.default.fileExists(atPath: out))
  }

  @Test(arguments: ["eval", "prune", "finetune", "sweep", "sensitivity", "export"])
  func loadingRefusesACheckpointAboveMaxMemory(command: String) throws {
    let arguments: [String] =
      switch command {
      case "prune": ["--criterion", "magnitude", "--amount", "0.5", "--out", folder.path("o.safetensors")]
      case "finetune": ["--epochs", "1", "--out", folder.path("o.safetensors")]
      case "sweep": ["--criterion", "magnitude", "--amounts", "0.5"]
      case "sensitivity": ["--amounts", "0.5"]
      case "export": ["--format", "compact", "--out", folder.path("o.safetensors")]
      default: []
      }
    let data = command == "export" ? [] : ["--data", trained.data.path]
    let run = try shears([command, "--model", trained.model, "--max-memory", "0.01"] + data + arguments)
    let message = expectInputError(run, subject: trained.model)
    #expect(message?.hasPrefix("needs ") == true && message?.contains(", --max-memory is 10.2 MiB") == true)
  }

  /// The address-space limit (`ulimit -v`) applies whatever `--max-memory` allows: 300,000 KiB
  /// start the process but leave too little for 20 million parameters and their training state.
  @Test func trainRefusesWorkAboveTheAddressSpaceLimit() throws {
    let run = try runProcess(
      "/bin/sh",
      ["-c", "ulimit -v 300000 && exec \"$0\" \"$@\"", ShearsBinary.path, "train", "--arch",
        "mlp:784-4096-4096-10", "--data", trained.data.path, "--out", folder.path("m.safetensors"),
        "--max-memory", "1000"])
    let message = expectInputError(run, subject: "--arch mlp:784-4096-4096-10", notes: [trained.dataNote])
    #expect(message?.hasPrefix("needs ") == true && message?.contains(", this process may use 293.0 MiB") == true)
  }

  /// `info` describes a model too large to load tensor by tensor instead.
  @Test func infoStreamsAModelAboveMaxMemory() throws {
    let run = try shears("info", "--model", trained.model, "--json", "--max-memory", "0.01")
    let object = try jsonObject(run)
    #expect(object["kind"] as? String == "tensors")
    #expect((object["reason"] as? String)?.hasPrefix("loading it needs ") == true)
  }

  @Test func maxMemoryMustBePositive() throws {
    let lines = expectUsageError(try shears("eval", "--model", trained.model, "--max-memory", "0"))
    #expect(lines.contains { $0.contains("--max-memory must be a positive number of GiB (got 0.0)") })
  }

  // MARK: - Data shapes of fixed architectures

  @Test(arguments: [("mlp", 14, 10), ("mlp", 28, 200), ("lenet5", 14, 10), ("lenet5", 28, 200)])
  func benchRefusesDataItsNetworksCannotTake(suite: String, side: Int, classes: Int) throws {
    let data = try IDXFixture(side: side, classCount: classes).folder()
    let run = try shears("bench", "--suite", suite, "--repetitions", "1", "--data", data.path)
    let architecture = suite == "mlp" ? "mlp:784-300-100-10" : "cnn:1x28x28-conv20k5-pool2-conv50k5-pool2-fc500-fc10"
    let message = expectInputError(run, subject: "bench: \(architecture)", notes: ["data: \(data.path) (--data)"])
    let expected =
      side == 28
      ? "model has 10 outputs but the labels in \(data.path) go up to" : "model takes 784 inputs but the images in \(data.path) have 196 pixels"
    #expect(message?.hasPrefix(expected) == true, "\(message ?? "")")
  }
}
