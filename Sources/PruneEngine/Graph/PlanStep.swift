/// One parameter's buffers in a plan.
final class PlanParameter {
  let path: ParameterPath
  let role: Parameter.Role
  /// The fp32 scalars; an I64 buffer's are in `counts`, and this is empty.
  let value: UnsafeMutableBufferPointer<Float>
  /// An I64 buffer's scalars (BatchNorm's batch count).
  let counts: UnsafeMutableBufferPointer<Int64>
  /// The loss gradient after `backward`; nil for buffers and in plans without gradients.
  let gradient: UnsafeMutableBufferPointer<Float>?
  /// 1 where a weight is kept and 0 where it is pruned, as floats so updates can multiply by it.
  let mask: UnsafeMutableBufferPointer<Float>?

  init(_ parameter: Parameter, gradient: Bool, maskAll: Bool) {
    path = parameter.path
    role = parameter.role
    switch parameter.value {
    case .float32(let tensor):
      value = .copy(tensor.scalars)
      counts = .allocate(capacity: 0)
    case .int64(_, let scalars):
      value = .allocate(capacity: 0)
      counts = .allocate(capacity: scalars.count)
      _ = counts.initialize(from: scalars)
    }
    self.gradient = gradient && parameter.role != .buffer ? .zeros(value.count) : nil
    let keep = parameter.mask ?? (maskAll && parameter.role == .weight ? [UInt8](repeating: 1, count: value.count) : nil)
    mask = keep.map { .copy($0.map(Float.init)) }
  }

  /// Buffers derived from other parameters (a convolution's weights with a BatchNorm folded in),
  /// with no gradient and no mask.
  init(path: ParameterPath, role: Parameter.Role, values: [Float]) {
    self.path = path
    self.role = role
    value = .copy(values)
    counts = .allocate(capacity: 0)
    gradient = nil
    mask = nil
  }

  deinit {
    value.deallocate()
    counts.deallocate()
    gradient?.deallocate()
    mask?.deallocate()
  }

  /// The parameter as it is now, with `original`'s shape.
  func exported(original: Parameter) -> Parameter {
    let mask: [UInt8]? = self.mask.map { buffer in buffer.map { $0 != 0 ? 1 : 0 } }
    let keptMask = original.mask == nil && mask?.contains(0) != true ? nil : mask
    switch original.value {
    case .float32(let tensor):
      return Parameter(
        path: path, role: role, tensor: Tensor(shape: tensor.shape, scalars: Array(value)), mask: keptMask)
    case .int64(let shape, _):
      return Parameter(path: path, role: role, value: .int64(shape: shape, scalars: Array(counts)))
    }
  }
}

/// What every step sees of a pass.
struct PlanPass {
  /// Samples in the batch; every value's rows are `count` apart.
  let count: Int
  let threads: Int
  let mode: ExecutionPlan.Mode
  let values: [UnsafeMutableBufferPointer<Float>]
  let gradients: [UnsafeMutableBufferPointer<Float>?]
  /// The plan's scratch memory, as large as the steps asked for (`scratchCount`).
  let scratch: UnsafeMutablePointer<Float>

  func value(_ index: Int) -> UnsafeMutablePointer<Float> { values[index].baseAddress! }
  /// The gradient of value `index`; nil when nothing upstream is trained.
  func gradient(_ index: Int) -> UnsafeMutablePointer<Float>? { gradients[index]?.baseAddress }
}

/// One step of a plan: an op on its input values, writing its output value.
///
/// `backward` receives the gradient of its output and writes (or, where
/// `accumulatesInputGradients` says so, adds) the gradients of its inputs that have one, and
/// overwrites the gradients of its own trained parameters.
protocol PlanStep: AnyObject {
  var inputs: [Int] { get }
  var output: Int { get }
  var hasTrainedParameters: Bool { get }
  /// Per input, whether its gradient already holds another step's share (set by the plan).
  var accumulatesInputGradients: [Bool] { get set }
  func forward(_ pass: PlanPass)
  func backward(_ pass: PlanPass)
}

/// A Linear or Conv2d step, whose inference kernels the evaluator chooses.
protocol WeightedStep: PlanStep {
  /// The path of its module.
  var path: ParameterPath { get }
  var weight: PlanParameter { get }
  var bias: PlanParameter? { get }
  /// The convolution's sizes; nil for a Linear step.
  var convolution: ConvolutionKernels.Geometry? { get }
  /// The weight as a matrix: one row per neuron or filter, `columns` weights each.
  var rows: Int { get }
  var columns: Int { get }
  /// Runs inference on these sparse forms of the weight instead of the dense kernels: `batch`
  /// on batches, `single` on single samples (a convolution runs its batch kernel on a single
  /// sample, so it reads only `batch`). Both give the dense kernels' bits on batches.
  /// Set through `ExecutionPlan.useSparse`, which sizes the scratch memory.
  func useSparse(batch: SparseMatrix?, single: SparseMatrix?)
  /// Floats of the plan's scratch memory a pass over `capacity` samples needs.
  func scratchCount(capacity: Int) -> Int
}
