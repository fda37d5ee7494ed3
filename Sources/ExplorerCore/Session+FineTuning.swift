import Foundation
import PruneEngine

extension Session {
  /// Fine-tunes the current model with its masks held (pruned weights stay zero) with the
  /// settings of `shears finetune`; the model after it becomes the base the targets prune from.
  ///
  /// Progress is published every 0.1 s; after each epoch the accuracy estimate (and, for
  /// criteria that need no data, the histograms) refresh. A cancelled fine-tune keeps the model
  /// as of its last finished batch; `u` goes back to the model before it.
  func fineTune(epochs: Int) throws {
    guard let current = state.current, let base = state.base, let train = state.train else { return }
    let token = CancellationToken()
    cancellation.withLock { $0 = token }
    defer { cancellation.withLock { $0 = nil } }
    var lastPublished = -1.0
    let options = TrainingOptions(epochs: epochs, optimizer: .adam(learningRate: 8e-3), schedule: .cosine)
    // The weights change from the first epoch on, and the result becomes the new base.
    pushUndo(base)
    state.baseRevision = state.nextBaseRevision
    state.nextBaseRevision += 1
    let report = try Trainer.train(
      current, on: train, options: options, cancellation: token,
      events: { event in
        guard case .batchFinished(let progress) = event, progress.elapsedSeconds - lastPublished > 0.1 else { return }
        lastPublished = progress.elapsedSeconds
        self.publish { $0.phase = .fineTuning(progress) }
      },
      epochModels: { model in
        self.state.current = model
        if !self.state.criterion.needsData, let tables = try? self.scoreTables(for: model) {
          self.state.tables = tables
        }
        self.publishModel(accuracy: self.evaluate(model, limit: Self.estimateSamples))
      })
    state.base = report.model
    state.current = report.model
    state.tables = try scoreTables(for: report.model)
    let full = evaluate(report.model, limit: nil)
    state.curve.append(CurvePoint(sparsity: ModelMetrics(report.model).sparsity, accuracy: full.accuracy))
    publishModel(accuracy: full)
    publish {
      $0.phase = .idle
      $0.curve = state.curve
      $0.message =
        report.wasCancelled
        ? "fine-tune cancelled after \(report.epochsCompleted) of \(epochs) epochs; the model keeps the batches done"
        : String(format: "fine-tuned %d epochs: accuracy %.4f", report.epochsCompleted, full.accuracy)
    }
  }
}
