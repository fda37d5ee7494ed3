import PruneEngine

/// Mutations of a safetensors file.
struct Mutator {
  let seed: FuzzSeed
  /// Whether the bytes are still the seed's (its token positions are then still right).
  private var pristine = true

  init(seed: FuzzSeed) { self.seed = seed }

  static let boundaryBytes: [UInt8] =
    [0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF, 0xC0, 0xED, 0x20, 0x09] + Array("\"\\{}[],:-0189e.".utf8)

  static let numbers: [String] = [
    "-1", "0", "1", "2", "3", "4", "5", "7", "8", "16", "-0", "1.5", "1e3", "1e999", "255", "256", "65535",
    "65536", "2147483647", "2147483648", "4294967296", "4611686018427387904", "9223372036854775807",
    "9223372036854775808", "-9223372036854775808", "18446744073709551616", "99999999999999999999999",
  ]

  static let strings: [String] = [
    "\"F32\"", "\"F16\"", "\"BF16\"", "\"F64\"", "\"U8\"", "\"U16\"", "\"U32\"", "\"I64\"", "\"BOOL\"", "\"F8_E4M3\"",
    "\"\"", "\"0.weight\"", "\"0.bias\"", "\"0.weight_orig\"", "\"0.weight_mask\"", "\"2.weight\"", "\"4.weight\"",
    "\"1.weight\"", "\"rewind.0.weight\"", "\"0.weight.values\"", "\"0.weight.bitmask\"", "\"0.weight.indices\"",
    "\"0.weight.indptr\"", "\"2.weight.encoding\"", "\"0.weight.shape\"", "\"__metadata__\"", "\"dtype\"", "\"shape\"",
    "\"data_offsets\"", "\"format\"", "\"arch\"", "\"accuracy\"", "\"history\"", "\"rewind_epoch\"",
    "\"shears-1\"", "\"shears-compact-1\"", "\"dense\"", "\"bitmask\"", "\"csr\"", "\"64,4\"", "\"4,64\"", "\"1,1\"",
    "\"0,5\"", "\"-1,4\"", "\"99999999,4\"", "\"4,1048576\"", "\"mlp:6-5-4-3\"", "\"mlp:6-4\"", "\"mlp:0\"", "\"nan\"",
    "\"[]\"", "\"[1]\"", "\"3.weight\"", "\"6.weight\"", "\"3.weight_mask\"", "\"lenet5\"",
    "\"cnn:1x8x8-conv2k3-pool2-conv3k3-fc4-fc2\"", "\"cnn:1x8x8-conv2k3s2p1-fc4\"", "\"2,1,3,3\"", "\"8,4,5,5\"",
    "\"8,100\"", "\"[\\\"x\\\"]\"", "\"\\u0000\"", "\"\\ud800\"", "\"é\"", "\"0.5\"", "\"-1\"", "\"3\"",
  ]

  static let structures: [String] = [
    "[]", "{}", "[0]", "[0,0]", "[1,2]", "[-1]", "[[]]", "{\"a\":1}", "null", "true", "false", "\"x\"", "0",
  ]
  mutating func mutate(_ bytes: inout [UInt8], using generator: inout SeededGenerator) {
    switch generator.next() % 100 {
    case 0..<12: flipBit(&bytes, using: &generator)
    case 12..<20: replaceByte(&bytes, using: &generator)
    case 20..<25: truncate(&bytes, using: &generator)
    case 25..<32: changeHeaderLength(&bytes, using: &generator)
    case 32..<42: flipDataBit(&bytes, using: &generator)
    case 42..<47: writeNonFinite(&bytes, using: &generator)
    default: editToken(&bytes, using: &generator)
    }
    pristine = false
  }

  /// A position, in the header three times out of four (most checks are about the header).
  private func position(in bytes: [UInt8], using generator: inout SeededGenerator) -> Int? {
    guard !bytes.isEmpty else { return nil }
    let header = min(bytes.count, 8 + Self.headerLength(bytes))
    if generator.next() % 4 != 0, header > 0 { return Int(generator.next() % UInt64(header)) }
    return Int(generator.next() % UInt64(bytes.count))
  }

  private func flipBit(_ bytes: inout [UInt8], using generator: inout SeededGenerator) {
    guard let index = position(in: bytes, using: &generator) else { return }
    bytes[index] ^= 1 << UInt8(generator.next() % 8)
  }

  /// A bit flip in the tensor bytes: weights, masks, bitmasks, indices.
  private func flipDataBit(_ bytes: inout [UInt8], using generator: inout SeededGenerator) {
    let start = 8 + Self.headerLength(bytes)
    guard bytes.count > start else { return }
    bytes[start + Int(generator.next() % UInt64(bytes.count - start))] ^= 1 << UInt8(generator.next() % 8)
  }

  /// NaN, an infinity or the largest float written over four tensor bytes at a multiple of 4
  /// from the data's start: a weight gone bad in training, which loading must keep as it is.
  private func writeNonFinite(_ bytes: inout [UInt8], using generator: inout SeededGenerator) {
    let start = 8 + Self.headerLength(bytes)
    let words = (bytes.count - start) / 4
    guard words > 0 else { return }
    let values: [Float] = [.nan, .infinity, -.infinity, .greatestFiniteMagnitude]
    let bits = values[Int(generator.next() % UInt64(values.count))].bitPattern
    let offset = start + 4 * Int(generator.next() % UInt64(words))
    for byte in 0..<4 { bytes[offset + byte] = UInt8(truncatingIfNeeded: bits >> UInt32(8 * byte)) }
  }

  private func replaceByte(_ bytes: inout [UInt8], using generator: inout SeededGenerator) {
    guard let index = position(in: bytes, using: &generator) else { return }
    bytes[index] = Self.boundaryBytes[Int(generator.next() % UInt64(Self.boundaryBytes.count))]
  }

  private func truncate(_ bytes: inout [UInt8], using generator: inout SeededGenerator) {
    guard !bytes.isEmpty else { return }
    let keep =
      generator.next() % 2 == 0
      ? bytes.count - 1 - Int(generator.next() % UInt64(min(bytes.count, 16)))
      : Int(generator.next() % UInt64(bytes.count))
    bytes.removeLast(bytes.count - keep)
  }

  private func changeHeaderLength(_ bytes: inout [UInt8], using generator: inout SeededGenerator) {
    guard bytes.count >= 8 else { return }
    let length = UInt64(Self.headerLength(bytes))
    let size = UInt64(bytes.count)
    let candidates: [UInt64] = [
      0, 1, 2, 7, 8, length &- 1, length + 1, length &- 8, length + 8, size &- 8, size &- 7, size, 100_000_000,
      100_000_001, UInt64(Int.max), 1 << 63, .max, generator.next() % (size + 16),
    ]
    setHeaderLength(&bytes, candidates[Int(generator.next() % UInt64(candidates.count))])
  }

  /// Replaces, deletes, duplicates or swaps tokens of the header's JSON, then usually sets the
  /// length prefix to the new header's length.
  private mutating func editToken(_ bytes: inout [UInt8], using generator: inout SeededGenerator) {
    let tokens = pristine ? seed.tokens : Self.tokens(in: bytes)
    guard !tokens.isEmpty else { return flipBit(&bytes, using: &generator) }
    let oldLength = Self.headerLength(bytes)
    var token = tokens[Int(generator.next() % UInt64(tokens.count))]
    let kind = generator.next() % 10
    if kind >= 3 {
      // Replacements go to values (strings, numbers, literals), not to punctuation.
      for _ in 0..<8 where Self.isPunctuation(bytes[token.lowerBound]) {
        token = tokens[Int(generator.next() % UInt64(tokens.count))]
      }
    }
    var edited = bytes
    func pick(_ list: [String]) -> [UInt8] { Array(list[Int(generator.next() % UInt64(list.count))].utf8) }
    switch kind {
    case 0:
      edited.removeSubrange(token)
    case 1:
      edited.insert(contentsOf: Array(bytes[token]) + Array(",".utf8), at: token.lowerBound)
    case 2:
      let other = tokens[Int(generator.next() % UInt64(tokens.count))]
      let (first, second) = token.lowerBound < other.lowerBound ? (token, other) : (other, token)
      guard first.upperBound <= second.lowerBound else { return }
      edited.replaceSubrange(second, with: Array(bytes[first]))
      edited.replaceSubrange(first, with: Array(bytes[second]))
    case 3:
      edited.replaceSubrange(token, with: pick(Self.structures))
    default:
      // A token of the same kind, so the JSON stays valid and the edit reaches later checks.
      switch bytes[token.lowerBound] {
      case UInt8(ascii: "\""): edited.replaceSubrange(token, with: pick(Self.strings))
      case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
        edited.replaceSubrange(token, with: pick(Self.numbers))
      default: edited.replaceSubrange(token, with: pick(Self.structures))
      }
    }
    if generator.next() % 8 != 0, oldLength <= bytes.count - 8 {
      setHeaderLength(&edited, UInt64(oldLength + edited.count - bytes.count))
    }
    bytes = edited
  }

  /// The declared header length, or 0 when the file is shorter than 8 bytes; clamped to the file.
  static func headerLength(_ bytes: [UInt8]) -> Int {
    guard bytes.count >= 8 else { return 0 }
    var length: UInt64 = 0
    for index in 0..<8 { length |= UInt64(bytes[index]) << UInt64(8 * index) }
    return Int(min(length, UInt64(bytes.count - 8)))
  }

  private func setHeaderLength(_ bytes: inout [UInt8], _ length: UInt64) {
    guard bytes.count >= 8 else { return }
    for index in 0..<8 { bytes[index] = UInt8(truncatingIfNeeded: length >> UInt64(8 * index)) }
  }

  private static func isPunctuation(_ byte: UInt8) -> Bool {
    switch byte {
    case UInt8(ascii: "{"), UInt8(ascii: "}"), UInt8(ascii: "["), UInt8(ascii: "]"), UInt8(ascii: ":"),
      UInt8(ascii: ","):
      true
    default: false
    }
  }

  private static func isNumberByte(_ byte: UInt8) -> Bool {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "+"), UInt8(ascii: "."),
      UInt8(ascii: "e"), UInt8(ascii: "E"):
      true
    default: false
    }
  }

  /// The JSON tokens of the header (strings, numbers, literals, punctuation), by position.
  static func tokens(in bytes: [UInt8]) -> [Range<Int>] {
    let end = 8 + headerLength(bytes)
    var tokens: [Range<Int>] = []
    var index = 8
    while index < end {
      let byte = bytes[index]
      let start = index
      switch byte {
      case UInt8(ascii: "\""):
        index += 1
        while index < end, bytes[index] != UInt8(ascii: "\"") { index += bytes[index] == UInt8(ascii: "\\") ? 2 : 1 }
        index = min(end, index + 1)
      case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
        while index < end, Self.isNumberByte(bytes[index]) { index += 1 }
      case UInt8(ascii: "a")...UInt8(ascii: "z"):
        while index < end, bytes[index] &- UInt8(ascii: "a") < 26 { index += 1 }
      case 0x20, 0x09, 0x0A, 0x0D:
        index += 1
        continue
      default:
        index += 1
      }
      tokens.append(start..<index)
    }
    return tokens
  }
}

