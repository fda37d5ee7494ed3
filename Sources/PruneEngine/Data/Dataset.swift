/// Labelled greyscale images held in memory as bytes, as read from IDX files.
public struct Dataset: Sendable {
  /// `count * featureCount` pixels, sample-major, row-major within a sample.
  public let images: [UInt8]
  /// One class label per sample.
  public let labels: [UInt8]
  /// Number of samples.
  public let count: Int
  /// Image height in pixels.
  public let rows: Int
  /// Image width in pixels.
  public let columns: Int
  /// Number of classes: the largest label plus one (0 for an empty dataset).
  ///
  /// A prefix keeps the count of the dataset it was cut from, so a model's output size does not
  /// depend on how many samples an estimate uses.
  public let classCount: Int

  /// Pixels per sample.
  public var featureCount: Int { rows * columns }

  /// A dataset over existing pixels and labels.
  ///
  /// - Precondition: `images.count == labels.count * rows * columns`, with `rows` and `columns`
  ///   positive.
  public init(images: [UInt8], labels: [UInt8], rows: Int, columns: Int) {
    let classCount = labels.withUnsafeBufferPointer { $0.max().map { Int($0) + 1 } ?? 0 }
    self.init(images: images, labels: labels, rows: rows, columns: columns, classCount: classCount)
  }

  init(images: [UInt8], labels: [UInt8], rows: Int, columns: Int, classCount: Int) {
    precondition(rows > 0 && columns > 0, "image size \(rows)x\(columns) must be positive")
    precondition(
      images.count == labels.count * rows * columns,
      "\(images.count) pixels do not make \(labels.count) images of \(rows)x\(columns)")
    self.images = images
    self.labels = labels
    self.count = labels.count
    self.rows = rows
    self.columns = columns
    self.classCount = classCount
  }

  /// The first `n` samples, or all of them if there are fewer; used for quick estimates and
  /// calibration.
  ///
  /// - Complexity: O(1) when `n >= count`, otherwise a copy of `n` samples.
  public func prefix(_ n: Int) -> Dataset {
    precondition(n >= 0, "prefix length \(n) is negative")
    guard n < count else { return self }
    return Dataset(
      images: Array(images[..<(n * featureCount)]), labels: Array(labels[..<n]),
      rows: rows, columns: columns, classCount: classCount)
  }
}

/// The training and test sets of one data source.
public struct DataSplits: Sendable {
  public let train: Dataset
  public let test: Dataset
  /// Where the data was read from.
  public let source: DataSource

  /// Number of classes over both splits.
  public var classCount: Int { max(train.classCount, test.classCount) }

  /// Two splits of the same image size.
  ///
  /// - Precondition: both splits have the same `rows` and `columns`.
  public init(train: Dataset, test: Dataset, source: DataSource) {
    precondition(train.rows == test.rows && train.columns == test.columns, "train and test image sizes differ")
    self.train = train
    self.test = test
    self.source = source
  }
}
