import PruneEngine

/// The mutated checkpoints of one shard, in order: the seeds in turn, each mutated one to three
/// times (bit flips, boundary bytes, truncations, changed header lengths, edited JSON tokens).
/// The same shard always gives the same files.
public struct FuzzCorpus: Sequence, IteratorProtocol {
  private let seeds: [FuzzSeed]
  private var generator: SeededGenerator
  private var index = 0

  public init(shard: Int, seeds: [FuzzSeed]) {
    precondition(!seeds.isEmpty, "a corpus needs seeds")
    self.seeds = seeds
    generator = SeededGenerator(seed: 0x5EED_0000 + UInt64(shard))
  }

  /// The next mutated file; the corpus never ends (take a prefix).
  public mutating func next() -> [UInt8]? {
    let seed = seeds[index % seeds.count]
    index += 1
    var bytes = seed.bytes
    var mutator = Mutator(seed: seed)
    let roll = generator.next() % 10
    for _ in 0..<(roll < 6 ? 1 : roll < 9 ? 2 : 3) { mutator.mutate(&bytes, using: &generator) }
    return bytes
  }
}
