import Foundation
import Testing
@testable import PruneEngine

struct OptimizerTests {
  /// Runs `steps` optimizer steps on one parameter tensor with a fixed gradient.
  private func run(_ kind: OptimizerKind, weights: [Float], gradient: [Float], steps: Int) -> [Float] {
    let parameter = UnsafeMutableBufferPointer<Float>.copy(weights)
    let gradientBuffer = UnsafeMutableBufferPointer<Float>.copy(gradient)
    defer { parameter.deallocate(); gradientBuffer.deallocate() }
    let optimizer = Optimizer(kind: kind, parameters: [parameter])
    for _ in 0..<steps { optimizer.step(parameters: [parameter], gradients: [gradientBuffer], threads: 1) }
    return Array(parameter)
  }

  // 19 elements so both the vector loop and the scalar tail run.
  let weights = (0..<19).map { Float($0) / 10 }
  let gradient = (0..<19).map { Float($0 % 5) - 2 }

  @Test func sgdWithMomentumMatchesTheHandComputedUpdate() {
    // v1 = g, w1 = w - lr·g; v2 = μ·g + g, w2 = w1 - lr·(1 + μ)·g.
    let result = run(.sgd(learningRate: 0.1, momentum: 0.9), weights: weights, gradient: gradient, steps: 2)
    for index in weights.indices {
      #expect(isClose(result[index], weights[index] - 0.1 * gradient[index] * (1 + 1.9)))
    }
  }

  @Test func adamFirstStepMovesEachWeightByTheLearningRateAgainstItsGradientSign() {
    // After bias correction the first step is lr · g / (|g| + ε).
    let result = run(.adam(learningRate: 0.01), weights: weights, gradient: gradient, steps: 1)
    for index in weights.indices {
      let expected = gradient[index] == 0 ? weights[index] : weights[index] - 0.01 * (gradient[index] > 0 ? 1 : -1)
      #expect(isClose(result[index], expected, absolute: 1e-6))
    }
  }

  @Test func adamMatchesTheReferenceRecurrenceOverSeveralSteps() {
    var w = 0.5, m = 0.0, v = 0.0
    let g = 0.3, lr = 0.01
    for t in 1...3 {
      m = 0.9 * m + 0.1 * g
      v = 0.999 * v + 0.001 * g * g
      let stepSize: Double = lr / (1 - pow(0.9, Double(t)))
      let correction: Double = (1 - pow(0.999, Double(t))).squareRoot()
      w -= stepSize * m / (v.squareRoot() / correction + 1e-8)
    }
    let result = run(.adam(learningRate: 0.01), weights: [0.5], gradient: [0.3], steps: 3)
    #expect(isClose(result[0], Float(w), absolute: 1e-6))
  }
}
