/// Uniform in [0, 1) from `SeededGenerator`, one stream per layer derived from the context's seed
/// and the layer's path, so a layer's scores do not depend on which other layers are scored: the
/// baseline every criterion should beat (Blalock et al. 2020, "What is the State of Neural
/// Network Pruning?").
struct RandomScorer: CriterionScorer {
  var granularities: [Granularity] { [.weight] }

  func scores(_ layer: ScoredLayer) -> [Float] {
    var generator = SeededGenerator(seed: Self.streamSeed(layer.context.seed, layer: Self.streamKey(layer.path)))
    return (0..<layer.weights.weight.count).map { _ in generator.nextUnitFloat() }
  }

  /// A layer's key among the random streams: a Sequential layer's index (the key its stream has
  /// always had), else the 64-bit FNV-1a hash of its dotted path.
  static func streamKey(_ layer: ParameterPath) -> UInt64 {
    if let index = UInt64(layer.description) { return index }
    var hash: UInt64 = 0xCBF2_9CE4_8422_2325
    for byte in layer.description.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
    return hash
  }

  /// The seed of a layer's random stream: two rounds of the SplitMix64 finaliser (a bijection),
  /// so for a fixed layer different seeds give different streams and for a fixed seed different
  /// layers do.
  static func streamSeed(_ seed: UInt64, layer: UInt64) -> UInt64 {
    func mix(_ value: UInt64) -> UInt64 {
      var z = value &+ 0x9E37_79B9_7F4A_7C15
      z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
      z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
      return z ^ (z >> 31)
    }
    return mix(mix(seed) ^ layer)
  }
}
