import Dispatch
import Foundation
import PruneEngine
import Synchronization

/// What the UI asks the session to do. Results come back only as later snapshots.
public enum SessionCommand: Sendable, Equatable {
  /// Target sparsity (of the criterion's units) per layer position; in global scope every
  /// prunable layer has the same target, the share of all units to prune.
  case setTargets([ParameterPath: Double])
  case setCriterion(Criterion)
  /// Switches scope with the targets that keep what is pruned (computed by the UI).
  case setScope(PruningScope, targets: [ParameterPath: Double])
  case fineTune(epochs: Int)
  case cancel
  case save
  case undo
  case reset
  case exportCurve

  /// Whether the command changes the model, so that an evaluation still running for an older
  /// one is no longer wanted.
  var changesModel: Bool {
    switch self {
    case .setTargets, .setCriterion, .setScope, .fineTune, .undo, .reset: true
    case .cancel, .save, .exportCurve: false
    }
  }
}

/// Owns the model and does all engine work on its own serial queue; the UI thread reads the
/// latest `SessionSnapshot` and sends `SessionCommand`s.
///
/// Threshold changes are cheap to ask for and expensive to evaluate, so evaluation is done in
/// two steps (a quick estimate on a fixed subset, then the full test set) and abandoned as soon
/// as a newer command that changes the model has arrived: the latest command wins. Scores are
/// computed once per model and criterion; a threshold change only selects among them, exactly
/// as the UI draws the cut (`ScoreDistribution.newlyPruned(at:)`).
public final class Session: Sendable {
  /// Test images of the quick accuracy estimate.
  public static let estimateSamples = 1000

  let queue = DispatchQueue(label: "shears.session")
  /// Where accuracy is measured, behind the key presses: a newer command abandons it.
  let evaluations = DispatchQueue(label: "shears.session.evaluation")
  /// Confined to `evaluations`.
  nonisolated(unsafe) var resident = ResidentEvaluator()
  private let published = Mutex(SessionSnapshot())
  /// Commands queued so far (`.cancel` is not queued); the id of the newest.
  private let queued = Atomic<Int>(0)
  /// The id of the newest command that changes the model.
  private let latestModelCommand = Atomic<Int>(0)
  let cancellation = Mutex<CancellationToken?>(nil)
  let setup: Setup
  /// Confined to `queue`.
  nonisolated(unsafe) var state = State()

  /// Where the model and data come from.
  public struct Setup: Sendable {
    /// A checkpoint to open; `nil` opens the cached baseline, training it first if needed.
    public var modelPath: String?
    public var data: DataSource
    /// Where the baseline is cached and saved checkpoints go when no model path was given.
    public var cacheDirectory: String
    /// The baseline trained when there is no cached one.
    public var baselineArchitecture: Architecture = .lenet300100
    public var baselineEpochs = 10
    /// Evaluate on the first this many test images only (benchmarks of large models); all
    /// when `nil`.
    public var testLimit: Int?

    public init(modelPath: String?, data: DataSource, cacheDirectory: String) {
      self.modelPath = modelPath
      self.data = data
      self.cacheDirectory = cacheDirectory
    }
  }

  /// Everything the session works on; only touched on `queue`.
  struct State {
    var train: Dataset?
    var test: Dataset?
    /// The model as opened.
    var original: Model?
    /// The model the targets prune from: the opened one, or the last fine-tuned one.
    var base: Model?
    /// Which base `base` is: 0 for the opened model, a new number for every fine-tune.
    var baseRevision = 0
    var nextBaseRevision = 1
    /// What the last saved (or opened) model was made of, to tell unsaved changes without
    /// comparing weights.
    /// `base` pruned to the targets.
    var current: Model?
    var targets: [ParameterPath: Double] = [:]
    var initialTargets: [ParameterPath: Double] = [:]
    var criterion: Criterion = .magnitude
    var scope: PruningScope = .layer
    var tables = ScoreTables()
    var saved: Revision?
    var undo: [UndoEntry] = []
    var curve: [CurvePoint] = []
    var modelPath: String?
    var metadata = CheckpointMetadata()
    /// Early weights the opened file kept for rewinding; saved checkpoints keep them too.
    var rewind: Model?
    /// Seconds to evaluate the full test set with the dense model.
    var denseSeconds: Double?

    /// What the screen shows of `current` that takes a pass over its weights.
    var figures: ModelFigures?

    var revision: Revision { Revision(base: baseRevision, targets: targets, criterion: criterion, scope: scope) }
  }

  /// The evaluator of the current model, kept between key presses and changed in place.
  struct ResidentEvaluator {
    var evaluator: Evaluator?
    /// Set when a command replaced the model rather than changing some masks.
    var needsRebuild = true
  }

  /// What `u` goes back to.
  struct UndoEntry {
    var base: Model
    var baseRevision: Int
    var targets: [ParameterPath: Double]
    var criterion: Criterion
    var scope: PruningScope
  }

  /// What `current` is made of: the base it was pruned from and how. Two equal revisions are
  /// the same model.
  struct Revision: Equatable {
    var base: Int
    var targets: [ParameterPath: Double]
    var criterion: Criterion
    var scope: PruningScope
  }

  public init(_ setup: Setup) {
    self.setup = setup
  }

  /// The newest snapshot and its generation (which grows with every publication).
  public var snapshot: SessionSnapshot { published.withLock { $0 } }

  /// Loads (or trains) the model and data in the background.
  public func start() {
    queue.async { self.load() }
  }

  /// Queues a command; commands run in order, and a newer command that changes the model makes
  /// an older one's evaluation stale. `.cancel` acts at once: it stops a running fine-tune.
  public func send(_ command: SessionCommand) {
    if command == .cancel {
      cancellation.withLock { $0?.cancel() }
      return
    }
    let id = queued.add(1, ordering: .sequentiallyConsistent).newValue
    if command.changesModel { latestModelCommand.store(id, ordering: .sequentiallyConsistent) }
    queue.async { self.handle(command, id: id) }
  }

  /// Waits until every command sent so far has been handled and its evaluation has finished
  /// or been abandoned (tests and orderly shutdown).
  public func waitUntilIdle() {
    queue.sync {}
    evaluations.sync {}
    queue.sync {}
  }

  // MARK: - Work on the session queue

  func isStale(_ id: Int) -> Bool { latestModelCommand.load(ordering: .sequentiallyConsistent) != id }

  func publish(_ change: (inout SessionSnapshot) -> Void) {
    published.withLock { snapshot in
      change(&snapshot)
      snapshot.generation += 1
    }
  }

  func fail(_ error: Error) {
    publish {
      $0.message = "\(error)"
      $0.isError = true
      $0.phase = .idle
    }
  }

  /// Runs `work`; when it throws, the state goes back to what it was and the error is shown.
  private func attempt(_ work: () throws -> Void) {
    let before = state
    do {
      try work()
    } catch {
      state = before
      fail(error)
    }
  }

  private func handle(_ command: SessionCommand, id: Int) {
    defer { publish { $0.handledCommands = id } }
    guard let base = state.base else { return }
    switch command {
    case .setTargets(let targets):
      guard targets != state.targets else { return }
      attempt {
        pushUndo(base)
        state.targets = targets
        try prune(id: id)
      }
    case .setCriterion(let criterion):
      guard criterion != state.criterion else { return }
      attempt {
        pushUndo(base)
        state.criterion = criterion
        if state.scope == .global && !criterion.supportsGlobalScope(criterion.defaultGranularity) {
          state.scope = .layer
        }
        state.tables = try scoreTables(for: base)
        try prune(id: id)
      }
    case .setScope(let scope, let targets):
      guard scope != .row else {
        publish {
          $0.message = "the explorer prunes in layer or global scope; use shears prune --scope row"
          $0.isError = true
        }
        return
      }
      guard scope != .global || state.criterion.supportsGlobalScope(state.criterion.defaultGranularity) else {
        publish {
          $0.message = "\(state.criterion.rawValue) ranks within each layer; global scope needs a weight criterion or apoz"
          $0.isError = true
        }
        return
      }
      attempt {
        pushUndo(base)
        state.scope = scope
        state.targets = targets
        try prune(id: id)
      }
    case .fineTune(let epochs):
      attempt { try fineTune(epochs: epochs) }
    case .cancel:
      break
    case .save:
      attempt { try save() }
    case .undo:
      guard let last = state.undo.last else {
        publish { $0.message = "nothing to undo" }
        return
      }
      attempt {
        state.undo.removeLast()
        state.base = last.base
        state.baseRevision = last.baseRevision
        state.targets = last.targets
        state.criterion = last.criterion
        state.scope = last.scope
        state.tables = try scoreTables(for: last.base)
        try prune(id: id)
      }
    case .reset:
      guard let original = state.original else { return }
      attempt {
        pushUndo(base)
        state.base = original
        state.baseRevision = 0
        state.targets = state.initialTargets
        state.tables = try scoreTables(for: original)
        try prune(id: id)
      }
    case .exportCurve:
      attempt { try exportCurve() }
    }
  }

  func pushUndo(_ base: Model) {
    state.undo.append(
      UndoEntry(
        base: base, baseRevision: state.baseRevision, targets: state.targets, criterion: state.criterion,
        scope: state.scope))
  }
}
