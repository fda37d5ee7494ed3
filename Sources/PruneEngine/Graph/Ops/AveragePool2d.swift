/// `nn.AvgPool2d(size)` (stride `size`, a last partial window dropped) and, with a window as
/// large as the image, `nn.AdaptiveAvgPool2d(1)`.
///
/// Forward: `out[(c, oy, ox), j] = (1 / area) · Σ_window in[(c, y, x), j]`.
/// Backward: every input of a window gets `dOut / area` of its output (windows do not overlap).
final class AveragePool2dStep: PlanStep {
  typealias V = SIMD16<Float>
  let inputs: [Int]
  let output: Int
  let channels: Int
  let height: Int
  let width: Int
  let windowHeight: Int
  let windowWidth: Int
  var accumulatesInputGradients = [false]
  var hasTrainedParameters: Bool { false }

  private var outputHeight: Int { height / windowHeight }
  private var outputWidth: Int { width / windowWidth }

  init(input: Int, output: Int, channels: Int, height: Int, width: Int, windowHeight: Int, windowWidth: Int) {
    precondition(windowHeight <= height && windowWidth <= width, "a \(windowHeight)x\(windowWidth) window on \(height)x\(width)")
    inputs = [input]
    self.output = output
    self.channels = channels
    self.height = height
    self.width = width
    self.windowHeight = windowHeight
    self.windowWidth = windowWidth
  }

  /// Calls `body(outputRow, inputRow)` for every input row inside a window.
  @inline(__always)
  private func forEachPair(_ body: (Int, Int) -> Void) {
    for c in 0..<channels {
      for oy in 0..<outputHeight {
        for ox in 0..<outputWidth {
          let out = (c * outputHeight + oy) * outputWidth + ox
          for ky in 0..<windowHeight {
            for kx in 0..<windowWidth {
              body(out, (c * height + oy * windowHeight + ky) * width + ox * windowWidth + kx)
            }
          }
        }
      }
    }
  }

  func forward(_ pass: PlanPass) {
    let n = pass.count
    let x = pass.value(inputs[0])
    let out = pass.value(output)
    out.update(repeating: 0, count: channels * outputHeight * outputWidth * n)
    forEachPair { o, i in ConvolutionKernels.add(x + i * n, into: out + o * n, count: n) }
    scale(out, count: channels * outputHeight * outputWidth * n, by: 1 / Float(windowHeight * windowWidth))
  }

  func backward(_ pass: PlanPass) {
    guard let inputGradient = pass.gradient(inputs[0]), let outputGradient = pass.gradient(output) else { return }
    let n = pass.count
    if !accumulatesInputGradients[0] { inputGradient.update(repeating: 0, count: channels * height * width * n) }
    let area = Float(windowHeight * windowWidth)
    forEachPair { o, i in
      let source = outputGradient + o * n
      let target = inputGradient + i * n
      for j in 0..<n { target[j] += source[j] / area }
    }
  }

  private func scale(_ x: UnsafeMutablePointer<Float>, count: Int, by factor: Float) {
    for i in 0..<count { x[i] *= factor }
  }
}
