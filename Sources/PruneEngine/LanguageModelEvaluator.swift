import Foundation

/// How well a language model predicts a text.
public struct TextEvaluation: Sendable, Equatable {
  /// Mean cross-entropy of each predicted token given the ones before it, in nats.
  public var loss: Double
  /// Tokens predicted: every token of the text but the first.
  public var tokens: Int

  /// `exp(loss)`.
  public var perplexity: Double { exp(loss) }
}

/// Evaluates a language model on texts in windows of its context, as the usual PyTorch loop
/// does: window `k` reads tokens `k · (C - 1) ..< k · (C - 1) + C` and is scored on its last
/// `C - 1`, so the last input token of one window is the first of the next and every token but
/// the text's first is predicted exactly once, each with up to `C - 1` tokens before it.
public final class LanguageModelEvaluator {
  private let plan: ExecutionPlan
  private let shape: GPT.Shape
  private let threads: Int
  /// Windows per forward pass.
  private let windowsPerPass: Int

  public init(model: Model, threads: Int = GEMM.defaultThreads, windowsPerPass: Int = 16) {
    guard let shape = model.languageModel else { preconditionFailure("not a language model") }
    self.shape = shape
    self.threads = threads
    self.windowsPerPass = max(1, windowsPerPass)
    plan = ExecutionPlan(model: model, capacity: self.windowsPerPass * shape.context, gradients: false)
  }

  /// The loss on `tokens`, every id below the model's vocabulary.
  /// - Complexity: O(tokens · (parameters + context · width)).
  public func evaluate(_ tokens: [Int32]) -> TextEvaluation {
    let context = shape.context
    let stride = context - 1
    let windows = tokens.count < 2 ? 0 : (tokens.count - 2) / stride + 1
    var loss = 0.0
    var predicted = 0
    tokens.withUnsafeBufferPointer { tokens in
      var window = 0
      while window < windows {
        let inPass = min(windowsPerPass, windows - window)
        let n = inPass * context
        for position in 0..<inPass {
          let start = (window + position) * stride
          for t in 0..<context {
            // Past the end of the text: padding, which a causal model's earlier positions never see.
            plan.input[position * context + t] = start + t < tokens.count ? Float(tokens[start + t]) : 0
          }
        }
        plan.forward(count: n, mode: .inference, threads: threads)
        for position in 0..<inPass {
          let start = (window + position) * stride
          let scored = min(stride, tokens.count - 1 - start)
          loss += Kernels.softmaxCrossEntropy(
            logits: plan.logits + position * context, classes: shape.vocabulary, batch: scored, leadingDimension: n,
            labels: tokens.baseAddress! + start + 1, gradient: nil, gradientScale: 0
          ).loss
          predicted += scored
        }
        window += inPass
      }
    }
    return TextEvaluation(loss: predicted > 0 ? loss / Double(predicted) : 0, tokens: predicted)
  }
}
