import PruneEngine

/// Scores of one layer under the current criterion, summarised for drawing and for finding the
/// cut of a target sparsity without the engine.
public struct ScoreDistribution: Sendable, Equatable {
  /// Every score of the layer's units (weights or neurons), ascending.
  public var sorted: [Float]
  /// For magnitude, the signed weights (the histogram can show them); otherwise the scores.
  public var values: [Float]

  public init(sorted: [Float], values: [Float]) {
    self.sorted = sorted
    self.values = values
  }

  /// The score at the cut that prunes `fraction` of the units: the largest pruned score, or
  /// `nil` when nothing is pruned.
  public func cut(at fraction: Double) -> Float? {
    let count = Int((fraction * Double(sorted.count)).rounded(.toNearestOrEven))
    return count > 0 ? sorted[min(count, sorted.count) - 1] : nil
  }

  /// How many units share the cut's score when some of them are pruned and some kept.
  public func ties(at fraction: Double) -> Int {
    let count = Int((fraction * Double(sorted.count)).rounded(.toNearestOrEven))
    guard count > 0, count < sorted.count, sorted[count - 1] == sorted[count] else { return 0 }
    let cut = sorted[count - 1]
    var low = count - 1
    while low > 0 && sorted[low - 1] == cut { low -= 1 }
    var high = count
    while high < sorted.count && sorted[high] == cut { high += 1 }
    return high - low
  }
}

/// One prunable layer as the explorer shows it.
public struct LayerView: Sendable, Equatable {
  /// Position in the model (`0`, `2`, ...); the weight is `\(index).weight`.
  public var index: Int
  public var shape: [Int]
  public var parameters: Int
  /// Nonzero weights of the model as last pruned by the session.
  public var nonzero: Int
  /// The sparsity the user asked for; shown at once, before the session has pruned.
  public var target: Double
  /// Units the criterion scores in this layer (weights or neurons).
  public var granularity: Granularity
  public var scores: ScoreDistribution

  public var name: String { "\(index).weight" }
  public var sparsity: Double { parameters == 0 ? 0 : 1 - Double(nonzero) / Double(parameters) }
}

/// An accuracy measurement and how many test images it is based on.
public struct AccuracyReading: Sendable, Equatable {
  public var accuracy: Double
  public var loss: Double
  public var samples: Int
  /// False for the quick estimate on a subset, true for the full test set.
  public var isFull: Bool
}

/// A point of the accuracy-sparsity curve visited in this session.
public struct CurvePoint: Sendable, Equatable {
  public var sparsity: Double
  public var accuracy: Double
}

/// What the session is doing.
public enum SessionPhase: Sendable, Equatable {
  case idle
  /// Loading or training the baseline model.
  case starting(String)
  case evaluating
  case fineTuning(TrainingProgress)
}

/// Everything the screen shows about the session, published after each change. Immutable and
/// cheap to copy (arrays share storage).
public struct SessionSnapshot: Sendable, Equatable {
  public var generation: Int = 0
  public var phase: SessionPhase = .starting("starting")
  public var modelDescription: String = ""
  public var dataDescription: String = ""
  public var criterion: Criterion = .magnitude
  public var scope: PruningScope = .layer
  public var layers: [LayerView] = []
  /// The accuracy of the model as pruned now, when measured.
  public var accuracy: AccuracyReading?
  /// The accuracy of the dense model the session started from.
  public var baseline: AccuracyReading?
  public var metrics: ModelMetrics?
  /// Measured forward time of the test set, dense model over pruned model.
  public var measuredSpeedup: Double?
  public var curve: [CurvePoint] = []
  public var message: String?
  public var isError = false
  public var hasUnsavedChanges = false
  public var canUndo = false

  public init() {}
}
