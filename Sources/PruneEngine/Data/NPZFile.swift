import Foundation
import ZIPFoundation

/// Reader for a dataset in a NumPy `.npz` archive, in the convention of Keras' `load_data()`.
///
/// The archive (`np.savez` or `np.savez_compressed`: a zip of `.npy` files, stored or deflated)
/// holds `x_train`, `y_train`, `x_test` and `y_test`. Images are `[N, H, W]` or `[N, H, W, C]`
/// (channels last, as Keras and NumPy write them) of `uint8` or `float32`; they are stored
/// channel-major per sample (`[C, H, W]`, as PyTorch's `Conv2d` reads them) as they arrive.
/// Labels are `[N]` (or Keras' CIFAR shape `[N, 1]`) of any integer type, each 0 to 255.
///
/// Archives are untrusted: every declared shape is checked against the size of its zip entry,
/// and both against fixed limits, before anything is allocated from it.
enum NPZFile {
  /// Reads both splits.
  /// - Throws: `ShearsError` naming `path` and the first problem found.
  static func load(at path: String) throws -> (train: Dataset, test: Dataset) {
    let archive = try NPZArchive(path: path)
    try archive.requireArrays(["x_train", "y_train", "x_test", "y_test"])
    let train = try archive.split(images: "x_train", labels: "y_train")
    let test = try archive.split(images: "x_test", labels: "y_test")
    guard test.imageShape == train.imageShape else {
      throw ShearsError(
        path, "x_test: images are \(test.imageShape) but the training images (x_train) are \(train.imageShape)")
    }
    guard test.hasSameImages(as: train) else {
      throw ShearsError(
        path, "x_test: images are \(dtype(test)) but the training images (x_train) are \(dtype(train)); use one dtype")
    }
    return (train, test)
  }

  /// Reads the test split alone, without reading the training arrays.
  /// - Throws: `ShearsError` naming `path` and the first problem found.
  static func loadTest(at path: String) throws -> Dataset {
    let archive = try NPZArchive(path: path)
    try archive.requireArrays(["x_test", "y_test"])
    return try archive.split(images: "x_test", labels: "y_test")
  }

  private static func dtype(_ dataset: Dataset) -> String { dataset.pixels.storesBytes ? "uint8" : "float32" }
}

// MARK: - The archive

/// An `.npz` file opened for reading its arrays through ZIPFoundation.
final class NPZArchive {
  let path: String
  private let descriptor: Int32
  private let fileSize: Int
  private let archive: Archive

  /// Chunks handed to and from ZIPFoundation.
  static let chunkSize = 1 << 16
  /// Deflate cannot expand data by more than 1032 to 1 (a run of 258 bytes in under two bits).
  static let maxDeflateRatio = 1032

  /// - Throws: `ShearsError` naming `path`: it cannot be opened, is not a regular file
  ///   (`openRegularFile(at:)`), or is not a zip archive.
  init(path: String) throws {
    self.path = path
    (descriptor, fileSize) = try openRegularFile(at: path)
    // ZIPFoundation opens archives by path. `/dev/fd/N` names the file already opened and
    // checked, so it cannot be swapped for a FIFO between the check and ZIPFoundation's open.
    do {
      archive = try Archive(url: URL(fileURLWithPath: "/dev/fd/\(descriptor)"), accessMode: .read)
    } catch {
      close(descriptor)
      if case Archive.ArchiveError.missingEndOfCentralDirectoryRecord = error {
        throw ShearsError(
          path, "not an .npz archive: no zip end-of-central-directory record (not a zip file, or truncated)")
      }
      throw ShearsError(path, "cannot open as a zip archive (\(error))")
    }
  }

  deinit { close(descriptor) }

  /// Throws unless every array of `names` is in the archive, so a missing one is reported
  /// before any is read.
  func requireArrays(_ names: [String]) throws {
    for name in names where npyEntry(name) == nil {
      throw ShearsError(
        path,
        "no array \(name) (\(name).npy) in the archive; a dataset .npz holds x_train, y_train, x_test and y_test")
    }
  }

  /// Reads an image array and its labels and checks that they hold the same number of samples.
  func split(images imageName: String, labels labelName: String) throws -> Dataset {
    let images = ImageSink()
    try read(imageName, into: images)
    let labels = LabelSink()
    try read(labelName, into: labels)
    guard images.recordCount == labels.recordCount else {
      throw ShearsError(
        path, "\(imageName) holds \(images.recordCount) images but \(labelName) holds \(labels.recordCount) labels")
    }
    return Dataset(
      pixels: images.pixels, labels: labels.labels, channels: images.channels, rows: images.rows,
      columns: images.columns)
  }

  private func npyEntry(_ name: String) -> Entry? {
    archive["\(name).npy"].flatMap { $0.type == .file ? $0 : nil }
  }

  // MARK: - Reading one array

  /// Streams the array `name` into `sink`: its header is parsed as soon as it has arrived, the
  /// sink checks it, the declared size is compared with the entry's, and only then does the
  /// sink allocate and receive the elements, one whole record (image or label) at a time.
  private func read(_ name: String, into sink: some NPYRecordSink) throws {
    guard let entry = npyEntry(name) else { throw ShearsError(path, "no array \(name) (\(name).npy) in the archive") }
    let reader = try NPZEntryReader(entry: entry, name: name, archive: path, fileSize: fileSize, sink: sink)
    do {
      _ = try archive.extract(entry, bufferSize: Self.chunkSize, skipCRC32: true, consumer: reader.consume)
    } catch is NPZEntryReader.Complete {
      // Every declared byte has arrived; see `NPZEntryReader.consume`.
    } catch let error as ShearsError {
      throw error
    } catch {
      throw ShearsError(path, "\(name): cannot read its zip entry (\(error))")
    }
    try reader.finish()
  }
}
