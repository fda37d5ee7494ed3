/// A language model's output layer tied to its token embedding (GPT-2's `lm_head`, whose weight
/// is `transformer.wte.weight`), without a bias.
///
/// Forward: `Logits[v, n] = Wte[v, width] · X[width, n]`.
/// Backward: `dWte = dLogits · Xᵀ` (overwritten: this step's backward runs before the
/// embedding's, which adds its share), `dX = Wteᵀ · dLogits`.
final class TiedOutputStep: PlanStep {
  let inputs: [Int]
  let output: Int
  let table: PlanParameter
  let width: Int
  var accumulatesInputGradients = [false]
  var hasTrainedParameters: Bool { true }

  init(input: Int, output: Int, table: PlanParameter, width: Int) {
    inputs = [input]
    self.output = output
    self.table = table
    self.width = width
  }

  private var vocabulary: Int { table.value.count / width }

  func forward(_ pass: PlanPass) {
    let n = pass.count
    gemm(
      m: vocabulary, n: n, k: width, a: .rowMajor(table.value.baseAddress!, leadingDimension: width),
      b: .matrix(.rowMajor(pass.value(inputs[0]), leadingDimension: n)),
      output: .matrix(pass.value(output), ldc: n, accumulate: false), threads: pass.threads)
  }

  func backward(_ pass: PlanPass) {
    let n = pass.count
    guard let outputGradient = pass.gradient(output) else { return }
    if let tableGradient = table.gradient {
      gemm(
        m: vocabulary, n: width, k: n, a: .rowMajor(outputGradient, leadingDimension: n),
        b: .transposed(pass.value(inputs[0]), leadingDimension: n), c: tableGradient.baseAddress!, ldc: width,
        accumulate: false, threads: pass.threads)
    }
    if let inputGradient = pass.gradient(inputs[0]) {
      gemm(
        m: width, n: n, k: vocabulary, a: .transposed(table.value.baseAddress!, leadingDimension: width),
        b: .matrix(.rowMajor(outputGradient, leadingDimension: n)),
        output: .matrix(inputGradient, ldc: n, accumulate: accumulatesInputGradients[0]), threads: pass.threads)
    }
  }
}
