import PruneEngine

/// Latencies of the explorer, for `shears bench`: from a key press to a redrawn screen, from a
/// threshold change to the full-test-set accuracy, and a fine-tune epoch in the session against
/// the same epoch run directly.
public enum ExplorerBenchmark {
  public struct Figures: Sendable, Equatable {
    /// Reducer plus rendering of the whole screen at 80x24 for one threshold key.
    public var keyToFrameMilliseconds: Double
    /// A threshold step on the dense model until the full test set's accuracy is published.
    public var thresholdToAccuracyDenseMilliseconds: Double
    /// The same around 90% sparsity.
    public var thresholdToAccuracySparseMilliseconds: Double
    /// One fine-tune epoch through the session (with its evaluations) and run directly (with a
    /// final evaluation, as `shears finetune` does).
    public var fineTuneEpochSessionSeconds: Double
    public var fineTuneEpochDirectSeconds: Double
  }

  /// Measures a started session on an open model (it is pruned and fine-tuned in the process).
  public static func measure(
    _ session: Session, model: Model, train: Dataset, test: Dataset, clock: MonotonicClock, repetitions: Int
  ) -> Figures {
    session.waitUntilIdle()
    let layers = model.weightedLayers.map(\.path)
    func targets(_ value: Double) -> [ParameterPath: Double] { Dictionary(uniqueKeysWithValues: layers.map { ($0, value) }) }

    var state = AppState(width: 80, height: 24)
    _ = Reducer.reduce(&state, .snapshot(session.snapshot))
    let frames = (0..<max(20, repetitions)).map { step in
      let start = clock.nanoseconds()
      _ = Reducer.reduce(&state, .key(step % 2 == 0 ? .right : .left))
      _ = Screen.render(state)
      return clock.seconds(since: start)
    }

    func thresholdLatency(around value: Double) -> Double {
      session.send(.setTargets(targets(value)))
      session.waitUntilIdle()
      let samples = (0..<repetitions).map { step in
        let start = clock.nanoseconds()
        session.send(.setTargets(targets(value + (step % 2 == 0 ? 0.01 : 0))))
        session.waitUntilIdle()
        return clock.seconds(since: start)
      }
      return median(samples)
    }
    let dense = thresholdLatency(around: 0.0)
    let sparse = thresholdLatency(around: 0.9)

    let start = clock.nanoseconds()
    session.send(.fineTune(epochs: 1))
    session.waitUntilIdle()
    let sessionEpoch = clock.seconds(since: start)
    let directStart = clock.nanoseconds()
    let pruned = KernelBenchmark.magnitudePruned(model, sparsity: 0.9)
    if let report = try? Trainer.train(
      pruned, on: train, options: TrainingOptions(epochs: 1, optimizer: .adam(learningRate: 8e-3)), clock: clock)
    {
      _ = Evaluator(model: report.model).evaluate(test)
    }
    let directEpoch = clock.seconds(since: directStart)
    return Figures(
      keyToFrameMilliseconds: median(frames) * 1000, thresholdToAccuracyDenseMilliseconds: dense * 1000,
      thresholdToAccuracySparseMilliseconds: sparse * 1000, fineTuneEpochSessionSeconds: sessionEpoch,
      fineTuneEpochDirectSeconds: directEpoch)
  }
}
