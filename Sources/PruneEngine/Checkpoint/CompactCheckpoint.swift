/// The compact form of a checkpoint (`shears export --format compact`): a safetensors file in
/// which each pruned Linear or Conv2d layer keeps only its kept weights, with their positions as
/// a packed bitmask or in CSR form, whichever is smaller. `Checkpoint.load` reads it back to the
/// same dense weights and masks.
///
/// A layer's weight is seen as the matrix pruning sees: `out` rows (neurons, or filters of a
/// convolution) of `in` weights (inputs, or `channels x kh x kw` in PyTorch's order), so a
/// Conv2d weight `[filters, channels, kh, kw]` is the row-major matrix
/// `[filters, channels x kh x kw]`. Tensors of layer `i` (`n = out x in` weights, `k` kept):
/// - `i.bias`: `F32 [out]`, as in the dense form.
/// - encoding `dense` (the layer has no pruned weight): `i.weight`, `F32`, in its own shape.
/// - encoding `bitmask`: `i.weight.values`, `F32 [k]`, the kept weights in row-major order, and
///   `i.weight.bitmask`, `U8 [(n + 7) / 8]`: weight `j` (row-major) is kept when bit `j % 8`
///   (least significant first) of byte `j / 8` is set; the bits after `n` are zero.
///   NumPy: `np.unpackbits(bitmask, bitorder="little")[:n].reshape(out, in)`.
/// - encoding `csr`: `i.weight.values` as above, `i.weight.indices` (`U8`, `U16` or `U32`,
///   the narrowest that holds `in - 1`) the column of each kept weight, and `i.weight.indptr`
///   (`U16` or `U32` `[out + 1]`) where row `r`'s kept weights start:
///   `scipy.sparse.csr_matrix((values, indices, indptr), shape=(out, in))`.
///
/// Metadata: the keys of `CheckpointMetadata`, `format` = `shears-compact-1`, and per layer
/// `i.weight.encoding` (`dense`, `bitmask` or `csr`) and `i.weight.shape`, the weight's true
/// shape (`out,in`, or `filters,channels,kh,kw`; `reshape` the dense matrix to it). Rewind
/// weights are not kept.
///
/// A kept weight that is exactly zero is stored as a value, so masks survive the round trip.
public enum CompactCheckpoint {
  /// The value written as `format`.
  public static let formatName = "shears-compact-1"

  public enum Encoding: String, Sendable, Codable {
    case dense, bitmask, csr
  }

  /// How one layer was stored.
  public struct LayerEncoding: Sendable, Equatable, Codable {
    /// `i.weight`.
    public var name: String
    public var encoding: Encoding
    /// Bytes of the weight's tensors (values plus bitmask or indices, or the dense weight).
    public var byteCount: Int
  }

  /// Largest ratio of a compact file's dense weights to its data bytes that a reader accepts
  /// (beyond `expansionAllowance`), so that a small hostile file cannot ask for a huge
  /// allocation. A bitmask layer expands 32 times at most; CSR with 16-bit columns reaches
  /// 1024 only past 99.93% sparsity, and the writer falls back to bitmasks beyond the bound.
  /// (The mutation test found a 1 KiB file that expanded to 16 MiB under an earlier bound of
  /// 4096 + 16 MiB.)
  static let maximumExpansion = 1024
  static let expansionAllowance = 1 << 20

  /// Whether a file's metadata says it is in the compact form.
  static func isCompact(_ metadata: [String: String]) -> Bool { metadata["format"] == formatName }

  // MARK: - Writing

  /// The compact file of a model, and how each layer was stored.
  /// - Throws: `ShearsError` naming `subject` if `metadata.architecture` disagrees with the model.
  public static func file(for model: Model, metadata: CheckpointMetadata, subject: String) throws -> (
    file: SafetensorsFile, layers: [LayerEncoding]
  ) {
    if let declared = metadata.architecture, (try? Architecture(parsing: declared)) != model.architecture {
      throw ShearsError(subject, "metadata arch \(declared) does not match the layers (\(model.architecture))")
    }
    let prefersCSR = !exceedsExpansion(model)
    var fields = metadata.fields(architecture: model.architecture.description)
    fields["format"] = formatName
    var entries: [SafetensorsFile.Entry] = []
    var layers: [LayerEncoding] = []
    for (path, dense) in model.weightedLayers {
      let name = path.appending("weight").description
      let (rows, columns) = (dense.outputCount, dense.inputCount)
      fields["\(name).shape"] = dense.weight.shape.map(String.init).joined(separator: ",")
      var weightEntries: [SafetensorsFile.Entry]
      let encoding: Encoding
      if let mask = dense.mask, mask.contains(0) {
        let values = zip(dense.weight.scalars, mask).compactMap { $1 != 0 ? $0 : nil }
        weightEntries = [
          SafetensorsFile.Entry(name: "\(name).values", tensor: Tensor(shape: [values.count], scalars: values))
        ]
        let widths = csrWidths(columns: columns, kept: values.count)
        if prefersCSR, csrByteCount(rows: rows, kept: values.count, widths: widths) < (mask.count + 7) / 8 {
          encoding = .csr
          weightEntries += csrEntries(name: name, mask: mask, rows: rows, columns: columns, widths: widths)
        } else {
          encoding = .bitmask
          weightEntries.append(
            .init(name: "\(name).bitmask", dtype: .u8, shape: [(mask.count + 7) / 8], bytes: packBits(mask)))
        }
      } else {
        encoding = .dense
        weightEntries = [SafetensorsFile.Entry(name: name, tensor: dense.weight)]
      }
      fields["\(name).encoding"] = encoding.rawValue
      layers.append(
        LayerEncoding(name: name, encoding: encoding, byteCount: weightEntries.reduce(0) { $0 + $1.bytes.count }))
      entries += weightEntries
      if let bias = model.parameters[path.appending("bias")]?.tensor {
        entries.append(SafetensorsFile.Entry(name: path.appending("bias").description, tensor: bias))
      }
    }
    // Everything else (BatchNorm's parameters and buffers) as it is.
    let written = Set(model.weightedLayers.flatMap { [$0.path.appending("weight"), $0.path.appending("bias")] })
    for parameter in model.parameters.parameters where !written.contains(parameter.path) {
      switch parameter.value {
      case .float32(let tensor): entries.append(SafetensorsFile.Entry(name: parameter.path.description, tensor: tensor))
      case .int64(let shape, let scalars):
        entries.append(SafetensorsFile.Entry(name: parameter.path.description, shape: shape, integers: scalars))
      }
    }
    return (SafetensorsFile(entries: entries, metadata: fields), layers)
  }

  /// Writes the compact file atomically (see `writeAtomically(_:to:)`).
  /// - Throws: `ShearsError` naming `path`; a previous file there is then left as it was.
  @discardableResult
  public static func save(_ model: Model, metadata: CheckpointMetadata, to path: String) throws -> [LayerEncoding] {
    let (file, layers) = try file(for: model, metadata: metadata, subject: path)
    try file.write(to: path)
    return layers
  }

  /// Index widths of the CSR form: columns then row offsets, in bytes.
  private static func csrWidths(columns: Int, kept: Int) -> (
    index: SafetensorsFile.DType, offset: SafetensorsFile.DType
  ) {
    (columns <= 1 << 8 ? .u8 : columns <= 1 << 16 ? .u16 : .u32, kept < 1 << 16 ? .u16 : .u32)
  }

  private static func csrByteCount(
    rows: Int, kept: Int, widths: (index: SafetensorsFile.DType, offset: SafetensorsFile.DType)
  ) -> Int {
    kept * widths.index.byteCount + (rows + 1) * widths.offset.byteCount
  }

  private static func csrEntries(
    name: String, mask: [UInt8], rows: Int, columns: Int,
    widths: (index: SafetensorsFile.DType, offset: SafetensorsFile.DType)
  ) -> [SafetensorsFile.Entry] {
    var indices: [UInt8] = []
    var offsets: [UInt8] = []
    var kept = 0
    appendLittleEndian(0, width: widths.offset.byteCount, to: &offsets)
    for row in 0..<rows {
      for column in 0..<columns where mask[row * columns + column] != 0 {
        appendLittleEndian(column, width: widths.index.byteCount, to: &indices)
        kept += 1
      }
      appendLittleEndian(kept, width: widths.offset.byteCount, to: &offsets)
    }
    return [
      .init(name: "\(name).indices", dtype: widths.index, shape: [kept], bytes: indices),
      .init(name: "\(name).indptr", dtype: widths.offset, shape: [rows + 1], bytes: offsets),
    ]
  }

  private static func appendLittleEndian(_ value: Int, width: Int, to bytes: inout [UInt8]) {
    for byte in 0..<width { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * byte))) }
  }

  /// Bit `j % 8` of byte `j / 8` is `mask[j] != 0`.
  static func packBits(_ mask: [UInt8]) -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: (mask.count + 7) / 8)
    for (index, kept) in mask.enumerated() where kept != 0 { bytes[index >> 3] |= 1 << UInt8(index & 7) }
    return bytes
  }

  /// Whether the compact file would expand beyond what a reader accepts (then every layer is
  /// stored as a bitmask, which always passes).
  private static func exceedsExpansion(_ model: Model) -> Bool {
    var stored = 0
    var expanded = 0
    for (_, dense) in model.weightedLayers {
      stored += 4 * dense.bias.count
      guard let mask = dense.mask, mask.contains(0) else {
        stored += 4 * dense.weight.count
        continue
      }
      let kept = dense.keptCount
      let widths = csrWidths(columns: dense.inputCount, kept: kept)
      stored += 4 * kept + min((mask.count + 7) / 8, csrByteCount(rows: dense.outputCount, kept: kept, widths: widths))
      expanded += 4 * dense.weight.count
    }
    return expanded > maximumExpansion * stored + expansionAllowance
  }

  // MARK: - Reading

  /// The file with its compact layers expanded into `i.weight` (`F32`) and `i.weight_mask`
  /// (`U8`) tensors; other tensors are kept as they are.
  /// - Throws: `ShearsError` naming `subject` when the compact form is inconsistent.
  static func expand(_ file: SafetensorsFile, subject: String) throws -> SafetensorsFile {
    let suffixes = [".values", ".bitmask", ".indices", ".indptr"]
    let entries = Dictionary(file.entries.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
    var layerNames = Set<String>()
    for key in file.metadata.keys where key.hasSuffix(".weight.encoding") {
      layerNames.insert(String(key.dropLast(".encoding".count)))
    }
    for entry in file.entries {
      for suffix in suffixes where entry.name.hasSuffix(".weight" + suffix) {
        let layer = String(entry.name.dropLast(suffix.count))
        guard layerNames.contains(layer) else {
          throw ShearsError(subject, "tensor '\(entry.name)' has no \(layer).encoding in the metadata")
        }
      }
    }
    // Check every size before allocating the dense weights.
    let storedBytes = file.entries.reduce(0) { $0 + $1.bytes.count }
    var expandedBytes = 0
    var layouts: [(name: String, encoding: Encoding, shape: [Int], rows: Int, columns: Int)] = []
    for name in layerNames.sorted() {
      let encodingText = file.metadata[name + ".encoding"] ?? ""
      guard let encoding = Encoding(rawValue: encodingText) else {
        throw ShearsError(subject, "metadata \(name).encoding '\(encodingText)' is not dense, bitmask or csr")
      }
      let text = file.metadata[name + ".shape"] ?? ""
      let shape = try shape(text, layer: name, subject: subject)
      var columns = 1
      for size in shape.dropFirst() {
        let (product, overflow) = columns.multipliedReportingOverflow(by: size)
        guard !overflow else { throw ShearsError(subject, "metadata \(name).shape \(text) is too large") }
        columns = product
      }
      let rows = shape[0]
      if encoding != .dense {
        let (elements, overflow) = rows.multipliedReportingOverflow(by: columns)
        guard !overflow, elements <= (Int.max - expandedBytes) / 4 else {
          throw ShearsError(subject, "metadata \(name).shape \(text) is too large")
        }
        expandedBytes += 4 * elements
      }
      layouts.append((name, encoding, shape, rows, columns))
    }
    guard expandedBytes <= maximumExpansion * storedBytes + expansionAllowance else {
      throw ShearsError(
        subject,
        "compact layers would expand to \(expandedBytes) bytes from \(storedBytes), more than the format allows")
    }
    var replaced = Set<String>()
    var added: [SafetensorsFile.Entry] = []
    for (name, encoding, shape, rows, columns) in layouts {
      func tensor(_ suffix: String) throws -> SafetensorsFile.Entry {
        guard let entry = entries[name + suffix] else { throw ShearsError(subject, "missing \(name + suffix)") }
        guard entry.shape.count == 1 else {
          throw ShearsError(subject, "\(entry.name) has shape \(entry.shape), expected one dimension")
        }
        return entry
      }
      switch encoding {
      case .dense:
        guard let weight = entries[name] else { throw ShearsError(subject, "missing \(name)") }
        guard weight.shape == shape else {
          throw ShearsError(
            subject,
            "\(name) has shape \(weight.shape) but metadata \(name).shape is \(shape.map(String.init).joined(separator: ","))"
          )
        }
        for suffix in suffixes where entries[name + suffix] != nil {
          throw ShearsError(subject, "\(name + suffix) is present but \(name) is stored dense")
        }
        continue
      case .bitmask, .csr:
        for extra in [name, maskName(of: name)] where entries[extra] != nil {
          throw ShearsError(subject, "\(extra) is present but \(name) is stored as \(encoding.rawValue)")
        }
      }
      let values = try tensor(".values")
      guard values.dtype.isFloatingPoint else {
        throw ShearsError(subject, "\(values.name) has dtype \(values.dtype.rawValue), expected F32")
      }
      let mask =
        encoding == .bitmask
        ? try unpackBits(try tensor(".bitmask"), rows: rows, columns: columns, kept: values.shape[0], subject: subject)
        : try csrMask(
          indices: try tensor(".indices"), offsets: try tensor(".indptr"), rows: rows, columns: columns,
          kept: values.shape[0], subject: subject)
      let kept = values.floats
      let weights = [Float](unsafeUninitializedCapacity: mask.count) { weights, initialized in
        mask.withUnsafeBufferPointer { mask in
          var next = 0
          for position in 0..<mask.count {
            if mask[position] != 0 {
              weights[position] = kept[next]
              next += 1
            } else {
              weights[position] = 0
            }
          }
        }
        initialized = mask.count
      }
      added.append(.init(name: name, tensor: Tensor(shape: shape, scalars: weights)))
      added.append(.init(name: maskName(of: name), dtype: .u8, shape: shape, bytes: mask))
      for suffix in suffixes { replaced.insert(name + suffix) }
    }
    return SafetensorsFile(
      entries: file.entries.filter { !replaced.contains($0.name) } + added, metadata: file.metadata)
  }

  /// `i.weight_mask` for `i.weight`.
  private static func maskName(of weight: String) -> String { String(weight.dropLast("weight".count)) + "weight_mask" }

  /// A weight's shape from metadata: `out,in` or `filters,channels,kh,kw`, positive integers.
  private static func shape(_ text: String, layer: String, subject: String) throws -> [Int] {
    let sizes = text.split(separator: ",", omittingEmptySubsequences: false).map { Int($0) ?? 0 }
    guard sizes.count == 2 || sizes.count == 4, sizes.allSatisfy({ $0 > 0 }) else {
      throw ShearsError(
        subject, "metadata \(layer).shape '\(text)' is not positive integers out,in or filters,channels,kh,kw")
    }
    return sizes
  }

  /// The mask of a bitmask tensor, checked: its size, zero padding bits, and `kept` bits set.
  private static func unpackBits(
    _ bitmask: SafetensorsFile.Entry, rows: Int, columns: Int, kept: Int, subject: String
  ) throws -> [UInt8] {
    let count = rows * columns
    guard bitmask.dtype == .u8, bitmask.shape == [(count + 7) / 8] else {
      throw ShearsError(
        subject, "\(bitmask.name) is \(bitmask.dtype.rawValue) \(bitmask.shape), expected U8 [\((count + 7) / 8)]")
    }
    var mask = [UInt8](repeating: 0, count: count)
    var set = 0
    for (byteIndex, byte) in bitmask.bytes.enumerated() where byte != 0 {
      for bit in 0..<8 where byte & (1 << UInt8(bit)) != 0 {
        let position = byteIndex * 8 + bit
        guard position < count else { throw ShearsError(subject, "\(bitmask.name) has bits set past weight \(count)") }
        mask[position] = 1
        set += 1
      }
    }
    guard set == kept else {
      throw ShearsError(subject, "\(bitmask.name) keeps \(set) weights but there are \(kept) values")
    }
    return mask
  }

  /// The mask of a CSR layout, checked: row offsets from 0 to `kept`, never decreasing, and
  /// strictly increasing columns below `columns` in each row.
  private static func csrMask(
    indices: SafetensorsFile.Entry, offsets: SafetensorsFile.Entry, rows: Int, columns: Int, kept: Int, subject: String
  ) throws -> [UInt8] {
    let integerTypes: [SafetensorsFile.DType] = [.u8, .u16, .u32]
    guard integerTypes.contains(indices.dtype), indices.shape == [kept] else {
      throw ShearsError(
        subject, "\(indices.name) is \(indices.dtype.rawValue) \(indices.shape), expected U8, U16 or U32 [\(kept)]")
    }
    guard integerTypes.contains(offsets.dtype), offsets.shape == [rows + 1] else {
      throw ShearsError(
        subject, "\(offsets.name) is \(offsets.dtype.rawValue) \(offsets.shape), expected U16 or U32 [\(rows + 1)]")
    }
    let columnIndices = integers(indices)
    let rowStarts = integers(offsets)
    guard rowStarts.first == 0, rowStarts.last == kept else {
      throw ShearsError(
        subject, "\(offsets.name) runs from \(rowStarts.first ?? 0) to \(rowStarts.last ?? 0), expected 0 to \(kept)")
    }
    if let row = (0..<rows).first(where: { rowStarts[$0] > rowStarts[$0 + 1] }) {
      throw ShearsError(subject, "\(offsets.name) decreases at row \(row)")
    }
    var mask = [UInt8](repeating: 0, count: rows * columns)
    for row in 0..<rows {
      var previous = -1
      for position in rowStarts[row]..<rowStarts[row + 1] {
        let column = columnIndices[position]
        guard column > previous, column < columns else {
          throw ShearsError(
            subject, "\(indices.name) has column \(column) out of order or not below \(columns) in row \(row)")
        }
        mask[row * columns + column] = 1
        previous = column
      }
    }
    return mask
  }

  /// The values of a `U8`, `U16` or `U32` tensor.
  private static func integers(_ entry: SafetensorsFile.Entry) -> [Int] {
    let width = entry.dtype.byteCount
    return entry.bytes.withUnsafeBytes { bytes in
      (0..<(bytes.count / width)).map { index in
        var value = 0
        for byte in 0..<width { value |= Int(bytes[index * width + byte]) << (8 * byte) }
        return value
      }
    }
  }
}
