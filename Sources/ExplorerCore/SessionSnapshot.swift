import PruneEngine

/// Scores of one layer (or of every layer, for global scope) under the current criterion,
/// summarised for drawing and for finding the cut of a target sparsity without the engine.
///
/// Only units the model still keeps are candidates: pruning is cumulative, so units pruned
/// before (by a fine-tuned or an opened pruned model) stay pruned and set the lowest target.
/// The session prunes exactly `newlyPruned(at:)` units, so the cut drawn on screen is the cut
/// the engine makes.
public struct ScoreDistribution: Sendable, Equatable {
  /// Scores of the kept units (weights or neurons), ascending in `ScoreOrder` (NaN last).
  public var sorted: [Float]
  /// What the histogram counts: for magnitude the kept signed weights (it can show their
  /// sign), otherwise the kept scores; the finite ones, ascending, sorted once per score set so
  /// that a frame counts each column of any width with binary searches
  /// (`HistogramPanel.columnCounts`) instead of a pass over every value. Empty in the global
  /// distribution, which is never drawn.
  public private(set) var values: [Float]
  /// Values that are NaN or infinite: counted apart, since they have no place on an axis.
  public private(set) var nonFiniteCount: Int
  /// Units pruned already.
  public var prunedCount: Int

  /// - Parameter values: the histogram's values in any order.
  public init(sorted: [Float], values: [Float], prunedCount: Int = 0) {
    self.sorted = sorted
    var finite = values.filter(\.isFinite)
    finite.sort()
    self.values = finite
    nonFiniteCount = values.count - finite.count
    self.prunedCount = prunedCount
  }

  /// Every unit, kept or pruned.
  public var unitCount: Int { sorted.count + prunedCount }

  /// False when the criterion does not score the layer (the output layer for neuron criteria).
  public var isEmpty: Bool { unitCount == 0 }

  /// The lowest sparsity a target can reach: the share of units pruned already.
  public var floor: Double { unitCount == 0 ? 0 : Double(prunedCount) / Double(unitCount) }

  /// Kept units that a target sparsity prunes, as the engine counts them (`RankedPruning`,
  /// `FineTuning.prune`): the fraction `(target - floor) / (1 - floor)` of the kept units,
  /// rounded half to even; none when the target is at or below the floor.
  public func newlyPruned(at target: Double) -> Int {
    let kept = sorted.count
    guard unitCount > 0, kept > 0, target > floor else { return 0 }
    let fraction = (target - floor) / (1 - floor)
    return min(kept, Int((fraction * Double(kept)).rounded(.toNearestOrEven)))
  }

  /// The score at the cut of a target: the largest newly pruned score, or `nil` when the target
  /// prunes nothing new.
  public func cut(at target: Double) -> Float? {
    let count = newlyPruned(at: target)
    return count > 0 ? sorted[count - 1] : nil
  }

  /// How many kept units share the cut's score when some of them are pruned and some kept (the
  /// engine then prunes the lowest indices first); 0 when the cut is unambiguous.
  public func ties(at target: Double) -> Int {
    let count = newlyPruned(at: target)
    guard count > 0, count < sorted.count, ScoreOrder.ranksAlike(sorted[count - 1], sorted[count]) else { return 0 }
    return equalCount(sorted[count - 1])
  }

  /// Kept units whose score ranks at or below `score` (NaN ranks above every number).
  /// - Complexity: O(log n).
  public func countAtMost(_ score: Float) -> Int {
    firstIndex { ScoreOrder.ranksBelow(score, $0) }
  }

  /// Kept units whose score ranks strictly below `score`.
  /// - Complexity: O(log n).
  public func countBelow(_ score: Float) -> Int {
    firstIndex { !ScoreOrder.ranksBelow($0, score) }
  }

  /// Kept units whose score ranks alike with `score`.
  public func equalCount(_ score: Float) -> Int {
    countAtMost(score) - countBelow(score)
  }

  /// The first index of `sorted` where `isPast` holds (it holds for a suffix), or `sorted.count`.
  private func firstIndex(where isPast: (Float) -> Bool) -> Int {
    var low = 0
    var high = sorted.count
    while low < high {
      let middle = (low + high) / 2
      if isPast(sorted[middle]) { high = middle } else { low = middle + 1 }
    }
    return low
  }

}

/// One prunable layer as the explorer shows it.
public struct LayerView: Sendable, Equatable {
  /// The path of the layer's module (`0`, `2`, ... in a Sequential model); the weight is
  /// `\(path).weight`.
  public var path: ParameterPath
  public var shape: [Int]
  public var parameters: Int
  /// Nonzero weights of the model as last pruned by the session.
  public var nonzero: Int
  /// Rows (neurons, or filters of a convolution) that keep at least one weight, in the model as
  /// last pruned by the session: what the table shows for criteria that prune whole rows.
  public var keptRows: Int
  /// The sparsity (of units: weights, or rows: neurons or filters) the session pruned this layer to.
  public var target: Double
  /// Units the criterion scores in this layer (weights, or rows: neurons or filters).
  public var granularity: Granularity
  /// Empty when the criterion does not prune this layer.
  public var scores: ScoreDistribution

  public init(
    path: ParameterPath, shape: [Int], parameters: Int, nonzero: Int, keptRows: Int, target: Double,
    granularity: Granularity, scores: ScoreDistribution
  ) {
    self.path = path
    self.shape = shape
    self.parameters = parameters
    self.nonzero = nonzero
    self.keptRows = keptRows
    self.target = target
    self.granularity = granularity
    self.scores = scores
  }

  public var name: String { path.appending("weight").description }
  /// Whether the layer is a convolution: its weight is `[filters, channels, kh, kw]`, where a
  /// Linear layer's is `[out, in]`.
  public var isConvolution: Bool { shape.count == 4 }
  /// Rows of the weight: the neurons of a Linear layer, the filters of a convolution.
  public var rows: Int { shape.first ?? 0 }
  /// What one row is: `filter` or `neuron`.
  public var rowNoun: String { isConvolution ? "filter" : "neuron" }
  /// Share of the weights that are zero.
  public var sparsity: Double { parameters == 0 ? 0 : 1 - Double(nonzero) / Double(parameters) }
  /// Whether the current criterion prunes this layer.
  public var isPrunable: Bool { !scores.isEmpty }
}

/// An accuracy measurement and how many test images it is based on.
public struct AccuracyReading: Sendable, Equatable {
  public var accuracy: Double
  public var loss: Double
  public var samples: Int
  /// False for the quick estimate on a subset, true for the full test set.
  public var isFull: Bool

  public init(accuracy: Double, loss: Double, samples: Int, isFull: Bool) {
    self.accuracy = accuracy
    self.loss = loss
    self.samples = samples
    self.isFull = isFull
  }
}

/// A point of the accuracy-sparsity curve visited in this session.
public struct CurvePoint: Sendable, Equatable {
  public var sparsity: Double
  public var accuracy: Double

  public init(sparsity: Double, accuracy: Double) {
    self.sparsity = sparsity
    self.accuracy = accuracy
  }
}

/// What the session is doing.
public enum SessionPhase: Sendable, Equatable {
  case idle
  /// Loading the data or the model.
  case starting(String)
  /// Training the baseline model before there is anything to prune.
  case trainingBaseline(TrainingProgress)
  case evaluating
  case fineTuning(TrainingProgress)
}

/// Everything the screen shows about the session, published after each change. Immutable and
/// cheap to copy (arrays share storage).
public struct SessionSnapshot: Sendable, Equatable {
  public var generation: Int = 0
  /// Commands the session has finished handling (`.cancel` is not counted): the UI keeps its
  /// own targets, criterion and scope until this reaches the number it sent.
  public var handledCommands: Int = 0
  public var phase: SessionPhase = .starting("starting")
  public var modelDescription: String = ""
  public var dataDescription: String = ""
  public var criterion: Criterion = .magnitude
  public var scope: PruningScope = .layer
  public var layers: [LayerView] = []
  /// Every layer's kept scores together, when the criterion can rank them globally.
  public var globalScores: ScoreDistribution?
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
  /// What is wrong with the model as it stands (NaN or infinite weights), shown while there is
  /// no message.
  public var warning: String?
  public var hasUnsavedChanges = false
  public var canUndo = false

  public init() {}
}
