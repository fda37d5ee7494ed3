/// The sum of a residual block's body and shortcut, `out = a + b`, with the ReLU after it when
/// the block has one (`relu`: `out = max(0, a + b)`).
///
/// Backward: both inputs get `dOut` (zero where the fused ReLU's output is), added to what they
/// hold when another step reads them too; one pass writes both.
final class AddStep: PlanStep {
  typealias V = SIMD16<Float>
  let inputs: [Int]
  let output: Int
  let features: Int
  let relu: Bool
  var accumulatesInputGradients = [false, false]
  var hasTrainedParameters: Bool { false }

  init(inputs: [Int], output: Int, features: Int, relu: Bool = false) {
    precondition(inputs.count == 2, "a sum of two values")
    self.inputs = inputs
    self.output = output
    self.features = features
    self.relu = relu
  }

  func forward(_ pass: PlanPass) {
    let count = features * pass.count
    let a = pass.value(inputs[0])
    let b = pass.value(inputs[1])
    let out = pass.value(output)
    var i = 0
    while i + 16 <= count {
      var sum = UnsafeRawPointer(a + i).loadUnaligned(as: V.self) + UnsafeRawPointer(b + i).loadUnaligned(as: V.self)
      if relu { sum.replace(with: V(), where: sum .< V()) }
      UnsafeMutableRawPointer(out + i).storeBytes(of: sum, as: V.self)
      i += 16
    }
    while i < count {
      let sum = a[i] + b[i]
      out[i] = relu ? max(0, sum) : sum
      i += 1
    }
  }

  func backward(_ pass: PlanPass) {
    guard let outputGradient = pass.gradient(output) else { return }
    let count = features * pass.count
    let out = pass.value(output)
    let first = pass.gradient(inputs[0])
    let second = pass.gradient(inputs[1])
    let (addFirst, addSecond) = (accumulatesInputGradients[0], accumulatesInputGradients[1])
    @inline(__always) func put(_ share: V, _ target: UnsafeMutablePointer<Float>?, _ accumulate: Bool) {
      guard let target else { return }
      let value = accumulate ? UnsafeRawPointer(target).loadUnaligned(as: V.self) + share : share
      UnsafeMutableRawPointer(target).storeBytes(of: value, as: V.self)
    }
    var i = 0
    while i + 16 <= count {
      var share = UnsafeRawPointer(outputGradient + i).loadUnaligned(as: V.self)
      if relu { share.replace(with: V(), where: UnsafeRawPointer(out + i).loadUnaligned(as: V.self) .<= V()) }
      put(share, first.map { $0 + i }, addFirst)
      put(share, second.map { $0 + i }, addSecond)
      i += 16
    }
    while i < count {
      let share: Float = !relu || out[i] > 0 ? outputGradient[i] : 0
      if let first { first[i] = addFirst ? first[i] + share : share }
      if let second { second[i] = addSecond ? second[i] + share : share }
      i += 1
    }
  }
}
