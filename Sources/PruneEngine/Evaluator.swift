/// Loss and accuracy of a model on a labelled dataset.
public struct Evaluation: Sendable, Equatable, Codable {
  /// Fraction classified correctly, 0 to 1.
  public var accuracy: Double
  /// Mean softmax cross-entropy.
  public var loss: Double
  public var samples: Int
  public var correct: Int
}

/// Evaluates a fixed model repeatedly (the explorer, sweeps and benchmarks evaluate the same
/// weights many times), keeping its parameters and per-thread scratch memory between calls.
public final class Evaluator {
  /// Samples per chunk: each chunk goes through the whole network while its activations are
  /// still in cache.
  static let chunkSize = 256

  private let network: Network
  private let workspaces: [BatchWorkspace]

  /// - Parameter threads: chunks are shared out among this many threads.
  public init(model: Model, threads: Int = GEMM.defaultThreads) {
    let network = Network(model: model)
    self.network = network
    workspaces = (0..<max(1, threads)).map { _ in
      BatchWorkspace(network: network, capacity: Evaluator.chunkSize, forTraining: false)
    }
  }

  /// The logits of the first `limit` samples (all when `nil`), sample-major `[samples, classes]`:
  /// for comparing what two models compute.
  public func logits(_ dataset: Dataset, limit: Int? = nil) -> [Float] {
    let count = min(limit ?? dataset.count, dataset.count)
    let classes = network.classCount
    var result = [Float](repeating: 0, count: count * classes)
    let workspace = workspaces[0]
    var first = 0
    while first < count {
      let n = min(Self.chunkSize, count - first)
      dataset.gatherFeatureMajor(range: first..<(first + n), into: workspace.input.baseAddress!, leadingDimension: n)
      network.forward(workspace, count: n, threads: workspaces.count)
      let logits = workspace.outputs[network.layers.count - 1]
      for j in 0..<n {
        for c in 0..<classes { result[(first + j) * classes + c] = logits[c * n + j] }
      }
      first += n
    }
    return result
  }

  /// Evaluates on the first `limit` samples of `dataset` (all when `nil`).
  /// - Complexity: O(samples · parameters), split over the threads.
  public func evaluate(_ dataset: Dataset, limit: Int? = nil) -> Evaluation {
    precondition(dataset.classCount <= network.classCount, "labels go up to \(dataset.classCount - 1) but the model has \(network.classCount) outputs")
    let count = min(limit ?? dataset.count, dataset.count)
    let chunks = (count + Self.chunkSize - 1) / Self.chunkSize
    guard chunks > 0 else { return Evaluation(accuracy: 0, loss: 0, samples: 0, correct: 0) }
    let results = UnsafeMutableBufferPointer<(loss: Double, correct: Int)>.allocate(capacity: chunks)
    defer { results.deallocate() }
    let workers = min(workspaces.count, chunks)
    dataset.labels.withUnsafeBufferPointer { labels in
      parallelFor(workers) { worker in
        let workspace = workspaces[worker]
        // Chunks are dealt out in a fixed pattern, so the sums below do not depend on timing.
        for chunk in stride(from: worker, to: chunks, by: workers) {
          let first = chunk * Self.chunkSize
          let n = min(Self.chunkSize, count - first)
          dataset.gatherFeatureMajor(
            range: first..<(first + n), into: workspace.input.baseAddress!, leadingDimension: n)
          network.forward(workspace, count: n, threads: 1)
          results[chunk] = Kernels.softmaxCrossEntropy(
            logits: workspace.outputs[network.layers.count - 1].baseAddress!, classes: network.classCount,
            batch: n, leadingDimension: n, labels: labels.baseAddress! + first,
            gradient: nil, gradientScale: 0)
        }
      }
    }
    let loss = results.reduce(0) { $0 + $1.loss }
    let correct = results.reduce(0) { $0 + $1.correct }
    return Evaluation(
      accuracy: Double(correct) / Double(count), loss: loss / Double(count), samples: count, correct: correct)
  }
}
