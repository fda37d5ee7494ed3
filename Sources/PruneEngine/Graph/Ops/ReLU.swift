/// `nn.ReLU` where no layer before it can apply it (after a BatchNorm or a residual sum).
///
/// Forward: `out = max(0, x)`. Backward: `dx (+)= dOut` where `out > 0`, else nothing.
final class ReLUStep: PlanStep {
  typealias V = SIMD16<Float>
  let inputs: [Int]
  let output: Int
  /// Features per sample.
  let features: Int
  var accumulatesInputGradients = [false]
  var hasTrainedParameters: Bool { false }

  init(input: Int, output: Int, features: Int) {
    inputs = [input]
    self.output = output
    self.features = features
  }

  func forward(_ pass: PlanPass) {
    let x = pass.value(inputs[0])
    let out = pass.value(output)
    let count = features * pass.count
    var i = 0
    while i + 16 <= count {
      let value = UnsafeRawPointer(x + i).loadUnaligned(as: V.self)
      UnsafeMutableRawPointer(out + i).storeBytes(of: value.replacing(with: V(), where: value .< V()), as: V.self)
      i += 16
    }
    while i < count {
      out[i] = max(0, x[i])
      i += 1
    }
  }

  func backward(_ pass: PlanPass) {
    guard let inputGradient = pass.gradient(inputs[0]), let outputGradient = pass.gradient(output) else { return }
    let out = pass.value(output)
    let count = features * pass.count
    let accumulate = accumulatesInputGradients[0]
    var i = 0
    while i + 16 <= count {
      let kept = UnsafeRawPointer(out + i).loadUnaligned(as: V.self) .> V()
      let share = V().replacing(with: UnsafeRawPointer(outputGradient + i).loadUnaligned(as: V.self), where: kept)
      let target = inputGradient + i
      let result = accumulate ? UnsafeRawPointer(target).loadUnaligned(as: V.self) + share : share
      UnsafeMutableRawPointer(target).storeBytes(of: result, as: V.self)
      i += 16
    }
    while i < count {
      let share: Float = out[i] > 0 ? outputGradient[i] : 0
      inputGradient[i] = accumulate ? inputGradient[i] + share : share
      i += 1
    }
  }
}
