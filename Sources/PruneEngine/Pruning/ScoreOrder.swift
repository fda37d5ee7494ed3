/// The order in which units are pruned: lowest score first, and NaN above every number
/// (`+infinity` included), as `torch.sort` and `torch.topk` rank it, so a unit whose weights
/// went NaN is the last to be pruned rather than an arbitrary one.
///
/// Comparisons with NaN are false both ways, so sorting on `<` alone is not a strict weak
/// ordering once a checkpoint holds a NaN: the result would depend on the sort's internals.
public enum ScoreOrder {
  /// Whether `a` is pruned before `b` (ranks strictly lower).
  @inline(__always)
  public static func ranksBelow(_ a: Float, _ b: Float) -> Bool {
    a < b || (b.isNaN && !a.isNaN)
  }

  /// Whether `a` and `b` rank alike, so that the lower index is pruned first.
  @inline(__always)
  public static func ranksAlike(_ a: Float, _ b: Float) -> Bool {
    a == b || (a.isNaN && b.isNaN)
  }

  /// Lowest score first, then lowest `(layer, unit)` among scores that rank alike.
  @inline(__always)
  static func precedes(_ a: (score: Float, layer: Int, unit: Int), _ b: (score: Float, layer: Int, unit: Int)) -> Bool {
    ranksBelow(a.score, b.score) || (ranksAlike(a.score, b.score) && (a.layer, a.unit) < (b.layer, b.unit))
  }
}
