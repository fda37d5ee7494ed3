import Foundation

/// Where Shears keeps what it can recompute: the explorer's trained baselines and the measured
/// kernel crossovers (`CrossoverCache`).
enum CacheFolder {
  /// `$XDG_CACHE_HOME/shears`, else `~/.cache/shears`.
  static func path(_ environment: [String: String]) -> String {
    if let cache = environment["XDG_CACHE_HOME"], !cache.isEmpty { return cache + "/shears" }
    return (environment["HOME"] ?? NSHomeDirectory()) + "/.cache/shears"
  }
}
