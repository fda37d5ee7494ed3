import Foundation

/// How parameters are updated from their gradients.
public enum OptimizerKind: Sendable, Equatable, CustomStringConvertible {
  /// Stochastic gradient descent with (heavy-ball) momentum, as `torch.optim.SGD`.
  case sgd(learningRate: Float, momentum: Float)
  /// Adam (Kingma & Ba 2015), as `torch.optim.Adam` with its default betas and epsilon.
  case adam(learningRate: Float)

  public var learningRate: Float {
    switch self {
    case .sgd(let rate, _), .adam(let rate): rate
    }
  }

  public var description: String {
    switch self {
    case .sgd(let rate, let momentum): "sgd lr=\(rate) momentum=\(momentum)"
    case .adam(let rate): "adam lr=\(rate)"
    }
  }
}

/// How the optimizer treats one parameter tensor.
struct ParameterRole {
  /// 1 where the parameter may change, 0 where it is pruned and must stay exactly zero.
  var mask: UnsafeMutableBufferPointer<Float>?
  /// Coefficient of the L1 penalty `l1 · Σ|w|` added to the loss (0 for none).
  var l1: Float
}

/// An optimizer's state for one network: a velocity (SGD) or two moment estimates (Adam) per
/// parameter, updated in place.
final class Optimizer {
  let kind: OptimizerKind
  private let firstMoments: [UnsafeMutableBufferPointer<Float>]
  private let secondMoments: [UnsafeMutableBufferPointer<Float>]
  private(set) var stepCount = 0

  static let beta1: Float = 0.9
  static let beta2: Float = 0.999
  static let epsilon: Float = 1e-8

  let roles: [ParameterRole]
  /// Coefficient of the L2 penalty added to every gradient as `weightDecay · w`, as the
  /// `weight_decay` of `torch.optim.SGD` and `Adam`.
  let weightDecay: Float

  /// - Parameter roles: one per parameter; `nil` treats every parameter as unmasked and
  ///   unpenalised.
  init(
    kind: OptimizerKind, parameters: [UnsafeMutableBufferPointer<Float>], roles: [ParameterRole]? = nil,
    weightDecay: Float = 0
  ) {
    self.kind = kind
    self.roles = roles ?? parameters.map { _ in ParameterRole(mask: nil, l1: 0) }
    self.weightDecay = weightDecay
    firstMoments = parameters.map { .zeros($0.count) }
    if case .adam = kind {
      secondMoments = parameters.map { .zeros($0.count) }
    } else {
      secondMoments = []
    }
  }

  deinit {
    for buffer in firstMoments + secondMoments { buffer.deallocate() }
  }

  /// Applies one update to every parameter from its gradient.
  ///
  /// Large tensors are split across `threads`; each element's update is independent, so the
  /// result does not depend on the split.
  ///
  /// - Parameter learningRateScale: multiplies the configured learning rate (a schedule's factor).
  func step(
    parameters: [UnsafeMutableBufferPointer<Float>], gradients: [UnsafeMutableBufferPointer<Float>],
    learningRateScale: Float = 1, threads: Int
  ) {
    stepCount += 1
    for index in parameters.indices {
      let count = parameters[index].count
      let parts = count >= 1 << 16 ? max(1, threads) : 1
      parallelFor(parts) { part in
        let range = (count * part / parts)..<(count * (part + 1) / parts)
        update(
          index: index, range: range, parameter: parameters[index], gradient: gradients[index],
          learningRateScale: learningRateScale)
      }
    }
  }

  private func update(
    index: Int, range: Range<Int>,
    parameter: UnsafeMutableBufferPointer<Float>, gradient: UnsafeMutableBufferPointer<Float>,
    learningRateScale: Float
  ) {
    typealias V = SIMD16<Float>
    let w = parameter.baseAddress!, g = gradient.baseAddress!, m = firstMoments[index].baseAddress!
    let role = roles[index]
    regularize(gradient: g, weights: w, range: range, role: role)
    defer {
      // Pruned entries stay exactly zero, and so does their optimizer state: a momentum or
      // moment left over from before pruning would otherwise move them again.
      if let mask = role.mask?.baseAddress {
        applyMask(mask, to: w, range: range)
        applyMask(mask, to: m, range: range)
        if case .adam = kind { applyMask(mask, to: secondMoments[index].baseAddress!, range: range) }
      }
    }
    var i = range.lowerBound
    switch kind {
    case .sgd(let configuredRate, let momentum):
      let rate = configuredRate * learningRateScale
      // v = μ·v + g; w -= lr·v
      let mu = V(repeating: momentum), lr = V(repeating: rate)
      while i + 16 <= range.upperBound {
        let velocity = mu * load(m + i) + load(g + i)
        store(velocity, m + i)
        store(load(w + i) - lr * velocity, w + i)
        i += 16
      }
      while i < range.upperBound {
        m[i] = momentum * m[i] + g[i]
        w[i] -= rate * m[i]
        i += 1
      }
    case .adam(let configuredRate):
      let rate = configuredRate * learningRateScale
      // m = β1·m + (1-β1)·g; v = β2·v + (1-β2)·g²; w -= lr/(1-β1ᵗ) · m / (√v/√(1-β2ᵗ) + ε)
      let v = secondMoments[index].baseAddress!
      let t = Float(stepCount)
      let stepSize = rate / (1 - powf(Self.beta1, t))
      let inverseRootCorrection = 1 / (1 - powf(Self.beta2, t)).squareRoot()
      let b1 = V(repeating: Self.beta1), c1 = V(repeating: 1 - Self.beta1)
      let b2 = V(repeating: Self.beta2), c2 = V(repeating: 1 - Self.beta2)
      let sv = V(repeating: stepSize), rc = V(repeating: inverseRootCorrection), ev = V(repeating: Self.epsilon)
      while i + 16 <= range.upperBound {
        let gradient = load(g + i)
        let first = b1 * load(m + i) + c1 * gradient
        let second = b2 * load(v + i) + c2 * gradient * gradient
        store(first, m + i)
        store(second, v + i)
        store(load(w + i) - sv * first / (second.squareRoot() * rc + ev), w + i)
        i += 16
      }
      while i < range.upperBound {
        m[i] = Self.beta1 * m[i] + (1 - Self.beta1) * g[i]
        v[i] = Self.beta2 * v[i] + (1 - Self.beta2) * g[i] * g[i]
        w[i] -= stepSize * m[i] / (v[i].squareRoot() * inverseRootCorrection + Self.epsilon)
        i += 1
      }
    }
  }
}

extension Optimizer {
  /// `g = (g + weightDecay · w + l1 · sign(w)) ⊙ mask`: the penalties' gradients, and none for
  /// pruned entries.
  private func regularize(
    gradient g: UnsafeMutablePointer<Float>, weights w: UnsafeMutablePointer<Float>, range: Range<Int>,
    role: ParameterRole
  ) {
    typealias V = SIMD16<Float>
    guard weightDecay != 0 || role.l1 != 0 || role.mask != nil else { return }
    let decay = V(repeating: weightDecay), l1 = V(repeating: role.l1)
    let ones = V(repeating: 1)
    let mask = role.mask?.baseAddress
    var i = range.lowerBound
    while i + 16 <= range.upperBound {
      let weight = load(w + i)
      var sign = V()
      sign.replace(with: ones, where: weight .> 0)
      sign.replace(with: -ones, where: weight .< 0)
      var value = load(g + i) + decay * weight + l1 * sign
      if let mask { value *= load(mask + i) }
      store(value, g + i)
      i += 16
    }
    while i < range.upperBound {
      let sign: Float = w[i] > 0 ? 1 : w[i] < 0 ? -1 : 0
      g[i] = (g[i] + weightDecay * w[i] + role.l1 * sign) * (mask?[i] ?? 1)
      i += 1
    }
  }

  private func applyMask(_ mask: UnsafeMutablePointer<Float>, to values: UnsafeMutablePointer<Float>, range: Range<Int>) {
    var i = range.lowerBound
    while i + 16 <= range.upperBound {
      store(load(values + i) * load(mask + i), values + i)
      i += 16
    }
    while i < range.upperBound {
      values[i] *= mask[i]
      i += 1
    }
  }
}

@inline(__always) private func load(_ p: UnsafeMutablePointer<Float>) -> SIMD16<Float> {
  UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
}

@inline(__always) private func store(_ value: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>) {
  UnsafeMutableRawPointer(p).storeBytes(of: value, as: SIMD16<Float>.self)
}
