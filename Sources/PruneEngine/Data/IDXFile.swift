/// Reader for the IDX format of MNIST and Fashion-MNIST (plain or gzip-compressed).
///
/// An IDX file is a big-endian header, magic `0x0000TTDD` (`TT` the element type, `08` for
/// unsigned bytes; `DD` the number of dimensions) followed by one 32-bit size per dimension,
/// then the elements. Images are `0x00000803` `[count, rows, columns]`; labels are `0x00000801`
/// `[count]`. See http://yann.lecun.com/exdb/mnist/.
///
/// Files are untrusted: the magic and every size are checked, sizes are bounded before anything
/// is allocated from them, and the data must hold exactly the bytes the header declares.
enum IDXFile {
  /// Magic number of an image file: unsigned bytes, three dimensions.
  static let imageMagic: UInt32 = 0x0000_0803
  /// Magic number of a label file: unsigned bytes, one dimension.
  static let labelMagic: UInt32 = 0x0000_0801

  /// Reads an image file.
  ///
  /// - Returns: the pixels, `count * rows * columns` bytes, sample-major and row-major within a
  ///   sample.
  /// - Throws: `ShearsError` naming `path` and the first problem found.
  static func readImages(at path: String) throws -> (pixels: [UInt8], count: Int, rows: Int, columns: Int) {
    let stream = try openByteStream(path)
    let sizes = try readHeader(stream, magic: imageMagic)
    let (count, rows, columns) = (sizes[0], sizes[1], sizes[2])
    guard rows > 0, columns > 0, rows <= Dataset.maxSide, columns <= Dataset.maxSide else {
      throw ShearsError(path, "implausible image size \(rows)x\(columns) (each side must be 1 to \(Dataset.maxSide))")
    }
    let payload = try checkedPayload(count: count, bytesPerSample: rows * columns, noun: "images", path: path)
    let declared = "\(count) images of \(rows)x\(columns) (\(16 + payload) bytes)"
    let pixels = try readPayload(stream, byteCount: payload, headerCount: 16, declared: declared)
    return (pixels, count, rows, columns)
  }

  /// Reads a label file.
  ///
  /// - Returns: one byte per sample.
  /// - Throws: `ShearsError` naming `path` and the first problem found.
  static func readLabels(at path: String) throws -> [UInt8] {
    let stream = try openByteStream(path)
    let count = try readHeader(stream, magic: labelMagic)[0]
    let payload = try checkedPayload(count: count, bytesPerSample: 1, noun: "labels", path: path)
    return try readPayload(
      stream, byteCount: payload, headerCount: 8, declared: "\(count) labels (\(8 + payload) bytes)")
  }

  // MARK: - Parts

  /// Reads and checks the magic number, then reads the dimension sizes it announces.
  private static func readHeader(_ stream: any ByteStream, magic expected: UInt32) throws -> [Int] {
    let dimensions = Int(expected & 0xff)
    let headerCount = 4 + 4 * dimensions
    var header = [UInt8](repeating: 0, count: headerCount)
    let got = try header.withUnsafeMutableBytes { try stream.read(into: $0) }
    let kind = describe(magic: expected)
    guard got >= 4 else {
      throw ShearsError(stream.path, "truncated: \(got) bytes, shorter than the \(headerCount)-byte header of \(kind)")
    }
    let magic = bigEndian(header, at: 0)
    guard magic == expected else {
      throw ShearsError(
        stream.path, "wrong magic \(hex(magic)) (\(describe(magic: magic))), expected \(hex(expected)) (\(kind))")
    }
    guard got == headerCount else {
      throw ShearsError(stream.path, "truncated: \(got) bytes, shorter than the \(headerCount)-byte header of \(kind)")
    }
    return (0..<dimensions).map { Int(bigEndian(header, at: 4 + 4 * $0)) }
  }

  /// Checks a declared sample count and returns the element bytes it implies.
  private static func checkedPayload(count: Int, bytesPerSample: Int, noun: String, path: String) throws -> Int {
    guard count > 0 else { throw ShearsError(path, "the header declares no \(noun)") }
    guard count <= Dataset.maxCount, count * bytesPerSample <= Dataset.maxPayload else {
      throw ShearsError(path, "implausible size: the header declares \(count) \(noun) of \(bytesPerSample) bytes each")
    }
    return count * bytesPerSample
  }

  /// Reads exactly `byteCount` element bytes, then checks that the stream ends there.
  ///
  /// A plain file's size is known, so it is compared with the header before anything is read.
  private static func readPayload(
    _ stream: any ByteStream, byteCount: Int, headerCount: Int, declared: String
  ) throws -> [UInt8] {
    let expected = headerCount + byteCount
    if let size = stream.knownSize, size != expected {
      let problem = size < expected ? "truncated" : "trailing bytes"
      throw ShearsError(stream.path, "\(problem): header declares \(declared) but \(stream.sizePhrase) \(size)")
    }
    var got = 0
    let bytes = try [UInt8](unsafeUninitializedCapacity: byteCount) { buffer, initialized in
      got = try stream.read(into: UnsafeMutableRawBufferPointer(buffer))
      initialized = got
    }
    guard got == byteCount else {
      throw ShearsError(
        stream.path, "truncated: header declares \(declared) but \(stream.sizePhrase) \(headerCount + got)")
    }
    var probe: UInt8 = 0
    guard try withUnsafeMutableBytes(of: &probe, { try stream.read(into: $0) }) == 0 else {
      throw ShearsError(
        stream.path, "trailing bytes: header declares \(declared) but \(stream.sizePhrase) more")
    }
    return bytes
  }

  /// The big-endian 32-bit value at `offset`.
  private static func bigEndian(_ bytes: [UInt8], at offset: Int) -> UInt32 {
    bytes[offset..<offset + 4].reduce(0) { $0 << 8 | UInt32($1) }
  }

  /// A magic number as eight hexadecimal digits, `0x00000803`.
  private static func hex(_ magic: UInt32) -> String {
    let digits = String(magic, radix: 16, uppercase: true)
    return "0x" + String(repeating: "0", count: 8 - digits.count) + digits
  }

  /// Names what a magic number stands for.
  private static func describe(magic: UInt32) -> String {
    switch magic {
    case imageMagic: "IDX images"
    case labelMagic: "IDX labels"
    case _ where magic >> 16 == 0 && (magic >> 8) & 0xff == 0x08:
      "IDX unsigned bytes with \(magic & 0xff) dimensions"
    case _ where magic >> 16 == 0: "an IDX file of an unsupported element type"
    default: "not an IDX file"
    }
  }
}
