import Foundation
import PruneEngine

/// Shows training progress on stderr: a bar redrawn in place on a terminal, a line per epoch
/// otherwise (logs, CI).
final class ProgressPrinter {
  private let inPlace: Bool
  private var lastDrawn = -Double.infinity
  private static let redrawInterval = 0.1

  init(inPlace: Bool = Console.stderrIsTerminal) {
    self.inPlace = inPlace
  }

  /// The listener to pass to training.
  func handle(_ event: TrainingEvent) {
    switch event {
    case .batchFinished(let progress):
      guard inPlace, progress.elapsedSeconds - lastDrawn >= Self.redrawInterval else { return }
      lastDrawn = progress.elapsedSeconds
      Console.noteInPlace("\r" + Self.line(progress) + "\u{1B}[K")
    case .epochFinished(let progress):
      if inPlace { Console.noteInPlace("\r\u{1B}[K") }
      Console.note(
        "epoch \(progress.epoch)/\(progress.epochs)  loss \(String(format: "%.4f", progress.loss))  "
          + "\(Self.rate(progress.samplesPerSecond)) samples/s  \(Self.duration(progress.elapsedSeconds)) elapsed")
    }
  }

  static func line(_ progress: TrainingProgress) -> String {
    let width = 24
    let filled = Int((progress.fraction * Double(width)).rounded(.down))
    let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
    return "epoch \(progress.epoch)/\(progress.epochs) [\(bar)] \(Int(progress.fraction * 100))%  "
      + "loss \(String(format: "%.4f", progress.loss))  \(rate(progress.samplesPerSecond)) samples/s  "
      + "ETA \(duration(progress.remainingSeconds))"
  }

  /// `48,120`
  static func rate(_ value: Double) -> String {
    let formatter = NumberFormatter()
    formatter.numberStyle = .decimal
    formatter.maximumFractionDigits = 0
    formatter.locale = Locale(identifier: "en_US_POSIX")
    formatter.usesGroupingSeparator = true
    formatter.groupingSeparator = ","
    return formatter.string(from: NSNumber(value: value.rounded())) ?? String(Int(value))
  }

  /// `1:05`
  static func duration(_ seconds: Double) -> String {
    let total = Int(seconds.rounded())
    return "\(total / 60):" + String(format: "%02d", total % 60)
  }
}
