import Foundation

/// Number formats shared by the panels.
enum Format {
  /// `92.0%`
  static func percent(_ fraction: Double) -> String { String(format: "%.1f%%", fraction * 100) }

  /// `1.02 MiB`, `117 KiB`, `980 B`
  static func bytes(_ count: Int) -> String {
    if count >= 1 << 20 { return String(format: "%.2f MiB", Double(count) / Double(1 << 20)) }
    if count >= 1 << 10 { return String(format: "%.0f KiB", Double(count) / 1024) }
    return "\(count) B"
  }

  /// `533k`, `1.2M`, `980`
  static func count(_ value: Int) -> String {
    if value >= 10_000_000 { return String(format: "%.0fM", Double(value) / 1e6) }
    if value >= 1_000_000 { return String(format: "%.1fM", Double(value) / 1e6) }
    if value >= 10_000 { return String(format: "%.0fk", Double(value) / 1e3) }
    return "\(value)"
  }

  /// A score or weight in four significant digits: `0.03121`, `-1.204`, `1.2e-05`.
  static func score(_ value: Float) -> String {
    let magnitude = abs(value)
    if magnitude != 0 && (magnitude < 1e-3 || magnitude >= 1e4) { return String(format: "%.2g", value) }
    return String(format: "%.4g", value)
  }

  /// `1:05`
  static func duration(_ seconds: Double) -> String {
    let total = Int(seconds.rounded())
    return "\(total / 60):" + String(format: "%02d", total % 60)
  }

  /// `text` cut or padded to exactly `width` characters.
  static func fit(_ text: String, _ width: Int) -> String {
    guard width > 0 else { return "" }
    if text.count > width { return String(text.prefix(width)) }
    return text + String(repeating: " ", count: width - text.count)
  }

  /// `text` right-aligned in `width` characters.
  static func right(_ text: String, _ width: Int) -> String {
    text.count >= width ? String(text.prefix(width)) : String(repeating: " ", count: width - text.count) + text
  }

  /// `text` shortened to at most `width` characters by replacing its middle with `ellipsis`, so
  /// both the start (what happened) and the end (a file name) stay readable.
  static func elide(_ text: String, _ width: Int, ellipsis: String) -> String {
    guard text.count > width else { return text }
    guard width > ellipsis.count + 1 else { return String(text.prefix(max(0, width))) }
    let kept = width - ellipsis.count
    let head = kept / 3
    return String(text.prefix(head)) + ellipsis + String(text.suffix(kept - head))
  }
}
