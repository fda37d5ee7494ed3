import Foundation
import Testing
@testable import PruneEngine

struct KernelsTests {
  @Test func addBiasWithAndWithoutReLU() {
    // 2 features x 3 samples, feature-major.
    var x: [Float] = [1, -2, 3, -4, 5, -6]
    let bias: [Float] = [0.5, 1]
    x.withUnsafeMutableBufferPointer { x in
      Kernels.addBias(x.baseAddress!, features: 2, batch: 3, leadingDimension: 3, bias: bias, relu: true)
    }
    #expect(x == [1.5, 0, 3.5, 0, 6, 0])
    var y: [Float] = [1, -2, 3, -4, 5, -6]
    y.withUnsafeMutableBufferPointer { y in
      Kernels.addBias(y.baseAddress!, features: 2, batch: 3, leadingDimension: 3, bias: bias, relu: false)
    }
    #expect(y == [1.5, -1.5, 3.5, -3, 6, -5])
  }

  @Test func reluBackwardZeroesWhereTheActivationWasNotPositive() {
    // 20 values, so both the vector loop and the tail run.
    let activation: [Float] = (0..<20).map { $0 % 3 == 0 ? 0 : Float($0) }
    var gradient = [Float](repeating: 2, count: 20)
    gradient.withUnsafeMutableBufferPointer { g in
      Kernels.reluBackward(g.baseAddress!, activation: activation, count: 20)
    }
    #expect(gradient == activation.map { $0 > 0 ? 2 : 0 })
  }

  @Test func rowSumsAddEachFeatureOverTheBatch() {
    let x: [Float] = (0..<40).map(Float.init)  // 2 features x 20 samples
    var sums: [Float] = [0, 0]
    sums.withUnsafeMutableBufferPointer { s in
      Kernels.rowSums(x, features: 2, batch: 20, leadingDimension: 20, into: s.baseAddress!)
    }
    #expect(sums == [190, 590])
  }

  @Test func softmaxCrossEntropyMatchesHandComputedValues() {
    // 3 classes x 2 samples, feature-major: sample 0 logits (1, 2, 3) label 2; sample 1 (0, 0, 0) label 0.
    let logits: [Float] = [1, 0, 2, 0, 3, 0]
    let labels: [UInt8] = [2, 0]
    var gradient = [Float](repeating: 0, count: 6)
    let (loss, correct) = gradient.withUnsafeMutableBufferPointer { g in
      Kernels.softmaxCrossEntropy(
        logits: logits, classes: 3, batch: 2, leadingDimension: 2, labels: labels,
        gradient: g.baseAddress!, gradientScale: 0.5)
    }
    let sum0 = exp(1.0) + exp(2.0) + exp(3.0)
    let expectedLoss = (log(sum0) - 3) + log(3.0)
    #expect(isClose(loss, expectedLoss, relative: 1e-5))
    // Sample 0 predicts class 2 (right); sample 1 ties, and the first maximum (class 0) is taken.
    #expect(correct == 2)
    let expectedGradient: [Double] = [
      exp(1) / sum0 * 0.5, (1.0 / 3 - 1) * 0.5,
      exp(2) / sum0 * 0.5, 1.0 / 3 * 0.5,
      (exp(3) / sum0 - 1) * 0.5, 1.0 / 3 * 0.5,
    ]
    for (got, want) in zip(gradient, expectedGradient) {
      #expect(isClose(got, Float(want), absolute: 1e-6))
    }
  }

  @Test func softmaxCrossEntropyIsStableForLargeLogits() {
    let logits: [Float] = [1000, 0]  // 2 classes x 1 sample
    let (loss, _) = Kernels.softmaxCrossEntropy(
      logits: logits, classes: 2, batch: 1, leadingDimension: 1, labels: [1], gradient: nil, gradientScale: 0)
    #expect(isClose(loss, 1000, relative: 1e-6))
  }
}
