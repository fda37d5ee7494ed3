import Foundation

/// The attention itself inside `causalSelfAttention`, between `c_attn` and `c_proj`: each head
/// of each sequence attends from every token to itself and the tokens before it.
///
/// Input `QKV: [3 · width, n]` (queries, keys, values; head `h` is rows `h·d ..< (h+1)·d` of
/// each, `d = width / heads`), output `Y: [width, n]`, sequences of `context` columns.
/// Forward, per sequence and head, tokens `t` and `s ≤ t`: `S[t, s] = q_t · k_s / √d`,
/// `P[t, ·] = softmax(S[t, ·])`, `y_t = Σ_s P[t, s] v_s`.
/// Backward: `dP = dY · Vᵀ`, `dV = Pᵀ · dY`, `dS = P ⊙ (dP - rowsum(P ⊙ dP))`,
/// `dQ = dS · K / √d`, `dK = dSᵀ · Q / √d`. `P` is recomputed in the backward pass rather than
/// kept. Every product is a GEMM that reads the feature-major values in place through strides
/// (a head's `Q` is `[context, d]` with rows 1 apart and columns `n` apart).
final class CausalAttentionStep: PlanStep {
  let inputs: [Int]
  let output: Int
  let width: Int
  let heads: Int
  let context: Int
  var accumulatesInputGradients = [false]
  var hasTrainedParameters: Bool { false }

  private var headWidth: Int { width / heads }

  init(input: Int, output: Int, width: Int, heads: Int, context: Int) {
    precondition(width % heads == 0, "\(width) features in \(heads) heads")
    inputs = [input]
    self.output = output
    self.width = width
    self.heads = heads
    self.context = context
  }

  /// Where head `head` of sequence `sequence` lives in a `[rows, n]` value: the first of its
  /// `d` rows, at the sequence's first column; `part` 0, 1, 2 picks queries, keys or values.
  private func head(_ base: UnsafePointer<Float>, part: Int, head: Int, sequence: Int, n: Int) -> UnsafePointer<Float> {
    base + (part * width + head * headWidth) * n + sequence * context
  }

  /// The probabilities `P` of one head into `p` (`[context, context]`, zero above the diagonal).
  private func probabilities(
    into p: UnsafeMutablePointer<Float>, qkv: UnsafePointer<Float>, head index: Int, sequence: Int, n: Int
  ) {
    let t = context
    let d = headWidth
    // S = Q · Kᵀ: Q is [t, d] (rows 1 apart, columns n apart), Kᵀ is [d, t] row-major with ld n.
    let q = head(qkv, part: 0, head: index, sequence: sequence, n: n)
    let k = head(qkv, part: 1, head: index, sequence: sequence, n: n)
    gemm(
      m: t, n: t, k: d, a: MatrixOperand(base: q, rowStride: 1, columnStride: n), b: .rowMajor(k, leadingDimension: n),
      c: p, ldc: t, accumulate: false, threads: 1)
    let scale = 1 / Float(d).squareRoot()
    for row in 0..<t {
      let scores = p + row * t
      var maximum = -Float.infinity
      for s in 0...row { maximum = max(maximum, scores[s]) }
      var sum: Float = 0
      for s in 0...row {
        scores[s] = expf((scores[s] - maximum) * scale)
        sum += scores[s]
      }
      let inverse = 1 / sum
      for s in 0...row { scores[s] *= inverse }
      for s in (row + 1)..<t { scores[s] = 0 }
    }
  }

  /// Runs `body` on every (sequence, head) pair, with `[context, context]` scratch of its own
  /// (`count` matrices).
  private func forEachHead(
    _ pass: PlanPass, matrices count: Int, _ body: (UnsafeMutablePointer<Float>, _ sequence: Int, _ head: Int) -> Void
  ) {
    let tasks = pass.count / context * heads
    let workers = max(1, min(pass.threads, tasks))
    let perWorker = (tasks + workers - 1) / workers
    func run(_ worker: Int) {
      let scratch = UnsafeMutableBufferPointer<Float>.allocate(capacity: count * context * context)
      defer { scratch.deallocate() }
      for task in (worker * perWorker)..<min(tasks, (worker + 1) * perWorker) {
        body(scratch.baseAddress!, task / heads, task % heads)
      }
    }
    if workers == 1 { run(0) } else { parallelFor(workers, run) }
  }

  func forward(_ pass: PlanPass) {
    let n = pass.count
    precondition(n % context == 0, "\(n) tokens are not whole sequences of \(context)")
    let qkv = UnsafePointer(pass.value(inputs[0]))
    let out = pass.value(output)
    let (t, d) = (context, headWidth)
    forEachHead(pass, matrices: 1) { p, sequence, index in
      probabilities(into: p, qkv: qkv, head: index, sequence: sequence, n: n)
      // Yᵀ = Vᵀ · Pᵀ, [d, t], written in place with ld n.
      let v = head(qkv, part: 2, head: index, sequence: sequence, n: n)
      gemm(
        m: d, n: t, k: t, a: .rowMajor(v, leadingDimension: n), b: .transposed(p, leadingDimension: t),
        c: out + index * d * n + sequence * t, ldc: n, accumulate: false, threads: 1)
    }
  }

  func backward(_ pass: PlanPass) {
    guard let inputGradient = pass.gradient(inputs[0]), let outputGradient = pass.gradient(output) else { return }
    let n = pass.count
    let qkv = UnsafePointer(pass.value(inputs[0]))
    let dy = UnsafePointer(outputGradient)
    let (t, d) = (context, headWidth)
    let scale = 1 / Float(d).squareRoot()
    let accumulate = accumulatesInputGradients[0]
    forEachHead(pass, matrices: 2) { scratch, sequence, index in
      let p = scratch
      let dp = scratch + t * t
      probabilities(into: p, qkv: qkv, head: index, sequence: sequence, n: n)
      let q = head(qkv, part: 0, head: index, sequence: sequence, n: n)
      let k = head(qkv, part: 1, head: index, sequence: sequence, n: n)
      let v = head(qkv, part: 2, head: index, sequence: sequence, n: n)
      let dyHead = dy + index * d * n + sequence * t
      func gradient(_ part: Int) -> UnsafeMutablePointer<Float> {
        inputGradient + (part * width + index * d) * n + sequence * t
      }
      // dP = dY · Vᵀ: dY is [t, d] (rows 1 apart, columns n apart).
      gemm(
        m: t, n: t, k: d, a: MatrixOperand(base: dyHead, rowStride: 1, columnStride: n),
        b: .rowMajor(v, leadingDimension: n), c: dp, ldc: t, accumulate: false, threads: 1)
      // dVᵀ = dYᵀ · P.
      gemm(
        m: d, n: t, k: t, a: .rowMajor(dyHead, leadingDimension: n), b: .rowMajor(p, leadingDimension: t),
        c: gradient(2), ldc: n, accumulate: accumulate, threads: 1)
      // dS = P ⊙ (dP - rowsum(P ⊙ dP)), scaled by 1/√d for both products below.
      for row in 0..<t {
        let probabilities = p + row * t
        let scores = dp + row * t
        var weighted: Float = 0
        for s in 0...row { weighted += probabilities[s] * scores[s] }
        for s in 0...row { scores[s] = probabilities[s] * (scores[s] - weighted) * scale }
        for s in (row + 1)..<t { scores[s] = 0 }
      }
      // dQᵀ = Kᵀ · dSᵀ and dKᵀ = Qᵀ · dS, [d, t] each.
      gemm(
        m: d, n: t, k: t, a: .rowMajor(k, leadingDimension: n), b: .transposed(dp, leadingDimension: t),
        c: gradient(0), ldc: n, accumulate: accumulate, threads: 1)
      gemm(
        m: d, n: t, k: t, a: .rowMajor(q, leadingDimension: n), b: .rowMajor(dp, leadingDimension: t),
        c: gradient(1), ldc: n, accumulate: accumulate, threads: 1)
    }
  }
}
