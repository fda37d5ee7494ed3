/// Labelled images held in memory, each sample channel-major (`[channels, rows, columns]`, the
/// order PyTorch's `Conv2d` reads), as read from IDX files or an `.npz` archive.
public struct Dataset: Sendable {
  /// How the values of the images are stored, and so how they become network inputs.
  public enum Pixels: Sendable, Equatable {
    /// Bytes, scaled to [0, 1] (`x / 255`, as PyTorch's `ToTensor`) while a batch is gathered.
    case bytes([UInt8])
    /// Values used as they are: data the user has already scaled or normalised.
    case floats([Float])

    /// The number of stored values.
    public var count: Int {
      switch self {
      case .bytes(let bytes): bytes.count
      case .floats(let floats): floats.count
      }
    }

    /// Whether the values are bytes (scaled when gathered) rather than floats (used as they are).
    public var storesBytes: Bool {
      if case .bytes = self { return true }
      return false
    }

    /// The first `n` values.
    func prefix(_ n: Int) -> Pixels {
      switch self {
      case .bytes(let bytes): .bytes(Array(bytes[..<n]))
      case .floats(let floats): .floats(Array(floats[..<n]))
      }
    }
  }

  /// `count * featureCount` values, sample-major, channel-major within a sample.
  public let pixels: Pixels
  /// One class label per sample.
  public let labels: [UInt8]
  /// Number of samples.
  public let count: Int
  /// Colour channels per image (1 for greyscale).
  public let channels: Int
  /// Image height in pixels.
  public let rows: Int
  /// Image width in pixels.
  public let columns: Int
  /// Number of classes: the largest label plus one (0 for an empty dataset).
  ///
  /// A prefix keeps the count of the dataset it was cut from, so a model's output size does not
  /// depend on how many samples an estimate uses.
  public let classCount: Int

  /// Values per sample.
  public var featureCount: Int { channels * rows * columns }

  /// The shape of one image as an `--arch cnn:` input reads it: `3x32x32`, or `28x28` for
  /// greyscale (`1x28x28` in the grammar).
  public var imageShape: String { channels == 1 ? "\(rows)x\(columns)" : "\(channels)x\(rows)x\(columns)" }

  /// The values of one sample as a message counts them: `784 pixels` for greyscale,
  /// `3072 values (3x32x32)` for colour.
  public var featureDescription: String {
    channels == 1 ? "\(featureCount) pixels" : "\(featureCount) values (\(imageShape))"
  }

  /// A greyscale dataset over existing bytes and labels.
  ///
  /// - Precondition: `images.count == labels.count * rows * columns`, with `rows` and `columns`
  ///   positive.
  public init(images: [UInt8], labels: [UInt8], rows: Int, columns: Int) {
    self.init(pixels: .bytes(images), labels: labels, channels: 1, rows: rows, columns: columns)
  }

  /// A dataset over existing values and labels, channel-major within each sample.
  ///
  /// - Precondition: `pixels.count == labels.count * channels * rows * columns`, with every
  ///   dimension positive.
  public init(pixels: Pixels, labels: [UInt8], channels: Int, rows: Int, columns: Int) {
    let classCount = labels.withUnsafeBufferPointer { $0.max().map { Int($0) + 1 } ?? 0 }
    self.init(
      pixels: pixels, labels: labels, channels: channels, rows: rows, columns: columns, classCount: classCount)
  }

  init(pixels: Pixels, labels: [UInt8], channels: Int, rows: Int, columns: Int, classCount: Int) {
    precondition(
      channels > 0 && rows > 0 && columns > 0, "image size \(channels)x\(rows)x\(columns) must be positive")
    precondition(
      pixels.count == labels.count * channels * rows * columns,
      "\(pixels.count) values do not make \(labels.count) images of \(channels)x\(rows)x\(columns)")
    self.pixels = pixels
    self.labels = labels
    self.count = labels.count
    self.channels = channels
    self.rows = rows
    self.columns = columns
    self.classCount = classCount
  }

  /// Whether both datasets hold images of one shape and one storage (bytes or floats), so a
  /// network trained on one reads the other the same way.
  public func hasSameImages(as other: Dataset) -> Bool {
    channels == other.channels && rows == other.rows && columns == other.columns
      && pixels.storesBytes == other.pixels.storesBytes
  }

  /// The first `n` samples, or all of them if there are fewer; used for quick estimates and
  /// calibration.
  ///
  /// - Complexity: O(1) when `n >= count`, otherwise a copy of `n` samples.
  public func prefix(_ n: Int) -> Dataset {
    precondition(n >= 0, "prefix length \(n) is negative")
    guard n < count else { return self }
    return Dataset(
      pixels: pixels.prefix(n * featureCount), labels: Array(labels[..<n]),
      channels: channels, rows: rows, columns: columns, classCount: classCount)
  }
}

// MARK: - Limits

extension Dataset {
  /// Most samples a data file may declare.
  static let maxCount = 10_000_000
  /// Most rows or columns an image may declare.
  static let maxSide = 4096
  /// Most channels an image may declare.
  static let maxChannels = 4096
  /// Most element bytes one array of a data file may declare (2 GiB).
  static let maxPayload = 1 << 31
}

/// The training and test sets of one data source.
public struct DataSplits: Sendable {
  public let train: Dataset
  public let test: Dataset
  /// Where the data was read from.
  public let source: DataSource

  /// Number of classes over both splits.
  public var classCount: Int { max(train.classCount, test.classCount) }

  /// Two splits of the same image shape and storage.
  ///
  /// - Precondition: `train.hasSameImages(as: test)`.
  public init(train: Dataset, test: Dataset, source: DataSource) {
    precondition(train.hasSameImages(as: test), "train and test images differ in shape or storage")
    self.train = train
    self.test = test
    self.source = source
  }
}
