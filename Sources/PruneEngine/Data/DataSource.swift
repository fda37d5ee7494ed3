import Foundation

/// Where the data comes from and how it was chosen: a folder of MNIST-format IDX files or a
/// NumPy `.npz` archive.
///
/// The folder holds `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`,
/// `t10k-images-idx3-ubyte` and `t10k-labels-idx1-ubyte`, each optionally gzip-compressed
/// with a `.gz` suffix (GUIDE section 3). The archive holds `x_train`, `y_train`, `x_test` and
/// `y_test` as Keras writes them (`NPZFile`).
public struct DataSource: Sendable, Equatable, CustomStringConvertible {
  /// What chose the source, in resolution order.
  public enum Origin: String, Sendable {
    case option = "--data"
    case environment = "SHEARS_DATA"
    case system = "system"
    case embedded = "embedded"
  }

  /// How the data is stored.
  public enum Format: Sendable {
    /// A folder of IDX files.
    case idxFolder
    /// A `.npz` archive.
    case npz
  }

  /// The folder or file, as given (not made absolute).
  public let path: String
  public let format: Format
  public let origin: Origin

  /// Where the Debian package `dataset-fashion-mnist` installs the full dataset.
  public static let systemDirectory = "/usr/share/datasets/fashion-mnist"

  public init(path: String, format: Format, origin: Origin) {
    self.path = path
    self.format = format
    self.origin = origin
  }

  /// A folder of IDX files.
  public init(directory: String, origin: Origin) {
    self.init(path: directory, format: .idxFolder, origin: origin)
  }

  /// The source and its origin, for example `/usr/share/datasets/fashion-mnist (system)`,
  /// `cifar10.npz (--data)` or `datasets/ (embedded subset)`.
  public var description: String {
    switch origin {
    case .option: "\(path) (--data)"
    case .environment: "\(path) ($SHEARS_DATA)"
    case .system: "\(path) (system)"
    case .embedded: "datasets/ (embedded subset)"
    }
  }

  // MARK: - Resolution

  /// Chooses the data in the order of GUIDE section 3: an explicit `--data`, then
  /// `$SHEARS_DATA`, then `/usr/share/datasets/fashion-mnist` if present, then the embedded
  /// subset in the repository's `datasets/` folder. A folder named by `--data` or
  /// `$SHEARS_DATA` holds IDX files; any other file is read as an `.npz` archive.
  ///
  /// - Throws: `ShearsError` when the folder or file named by `--data` or `$SHEARS_DATA` does
  ///   not exist (never a silent fallback), or when no embedded folder can be found.
  public static func resolve(
    option: String?, environment: [String: String] = ProcessInfo.processInfo.environment
  ) throws -> DataSource {
    try resolve(
      option: option, environment: environment,
      systemDirectory: systemDirectory, embeddedCandidates: embeddedCandidates())
  }

  /// `resolve(option:environment:)` with the system folder and embedded candidates injected.
  static func resolve(
    option: String?, environment: [String: String], systemDirectory: String, embeddedCandidates: [String]
  ) throws -> DataSource {
    if let option {
      return try named(option, origin: .option)
    }
    if let variable = environment["SHEARS_DATA"], !variable.isEmpty {
      return try named(variable, origin: .environment)
    }
    if isDirectory(systemDirectory) {
      return DataSource(directory: systemDirectory, origin: .system)
    }
    guard let embedded = embeddedCandidates.first(where: isDirectory) else {
      throw ShearsError(
        "datasets/",
        "embedded data folder not found (looked in \(embeddedCandidates.joined(separator: ", "))); "
          + "pass --data DIR or set SHEARS_DATA")
    }
    return DataSource(directory: embedded, origin: .embedded)
  }

  /// The folder or archive the user named: a folder is IDX files, anything else that exists
  /// an `.npz` archive (whose reader says so when it is not one).
  private static func named(_ path: String, origin: Origin) throws -> DataSource {
    var isFolder: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
      let missing = path.hasSuffix(".npz") ? "no such .npz file" : "no such data folder"
      throw ShearsError(path, origin == .environment ? missing + " (from $SHEARS_DATA)" : missing)
    }
    return DataSource(path: path, format: isFolder.boolValue ? .idxFolder : .npz, origin: origin)
  }

  /// Where the repository's `datasets/` folder may be: next to the sources this file was compiled
  /// from, else relative to the executable (`.build/release/shears` or
  /// `.build/<triple>/release/shears`).
  static func embeddedCandidates() -> [String] {
    // Sources/PruneEngine/Data/DataSource.swift -> the repository root.
    var candidates = [URL(fileURLWithPath: #filePath).deletingLastPathComponent(levels: 4)]
    if let executable = CommandLine.arguments.first, executable.contains("/") {
      let folder = URL(fileURLWithPath: executable).deletingLastPathComponent()
      candidates += [folder.deletingLastPathComponent(levels: 2), folder.deletingLastPathComponent(levels: 3)]
    }
    return candidates.map { $0.appendingPathComponent("datasets").path }
  }

  // MARK: - Loading

  /// Loads the training and test splits.
  ///
  /// Every file (or array) is located before any is read, so a missing one is reported at once.
  ///
  /// - Throws: `ShearsError` naming the folder or file: a missing folder, a missing file, a bad
  ///   file, images and labels of different counts, or splits of different image sizes.
  public func load() throws -> DataSplits {
    if format == .npz {
      let (train, test) = try NPZFile.load(at: path)
      return DataSplits(train: train, test: test, source: self)
    }
    let paths = try DataFile.allCases.map(path(of:))
    let train = try Self.loadSplit(images: paths[0], labels: paths[1])
    let test = try Self.loadSplit(images: paths[2], labels: paths[3])
    guard train.rows == test.rows, train.columns == test.columns else {
      let sizes = "images are \(test.rows)x\(test.columns)"
      throw ShearsError(paths[2], "\(sizes) but the training images (\(paths[0])) are \(train.rows)x\(train.columns)")
    }
    return DataSplits(train: train, test: test, source: self)
  }

  /// Loads only the test split, without reading the training files.
  ///
  /// - Throws: `ShearsError` as `load()` does, for the two test files.
  public func loadTest() throws -> Dataset {
    if format == .npz { return try NPZFile.loadTest(at: path) }
    return try Self.loadSplit(images: path(of: .testImages), labels: path(of: .testLabels))
  }

  /// The four files of a data folder, in the order `load()` locates them.
  enum DataFile: String, CaseIterable {
    case trainImages = "train-images-idx3-ubyte"
    case trainLabels = "train-labels-idx1-ubyte"
    case testImages = "t10k-images-idx3-ubyte"
    case testLabels = "t10k-labels-idx1-ubyte"
  }

  /// The path of `file` in the folder, plain or `.gz` (plain preferred when both exist).
  func path(of file: DataFile) throws -> String {
    guard Self.isDirectory(path) else { throw ShearsError(path, "no such data folder") }
    let plain = path.hasSuffix("/") ? path + file.rawValue : path + "/" + file.rawValue
    guard let found = [plain, plain + ".gz"].first(where: { Self.exists($0, directory: false) }) else {
      throw ShearsError(plain, "no such file (nor \(file.rawValue).gz)")
    }
    return found
  }

  /// Reads an image file and its label file and checks that they hold the same number of samples.
  static func loadSplit(images imagesPath: String, labels labelsPath: String) throws -> Dataset {
    let images = try IDXFile.readImages(at: imagesPath)
    let labels = try IDXFile.readLabels(at: labelsPath)
    guard images.count == labels.count else {
      throw ShearsError(imagesPath, "holds \(images.count) images but \(labelsPath) holds \(labels.count) labels")
    }
    return Dataset(images: images.pixels, labels: labels, rows: images.rows, columns: images.columns)
  }

  private static func isDirectory(_ path: String) -> Bool { exists(path, directory: true) }

  /// Whether `path` exists and is (or is not) a folder.
  private static func exists(_ path: String, directory: Bool) -> Bool {
    var isFolder: ObjCBool = false
    return FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) && isFolder.boolValue == directory
  }
}

extension URL {
  /// The URL with its last `levels` path components removed (lexically, symlinks untouched).
  fileprivate func deletingLastPathComponent(levels: Int) -> URL {
    (0..<levels).reduce(self) { url, _ in url.deletingLastPathComponent() }
  }
}
