/// The dotted name of a module or of one of its tensors in a state dict, as PyTorch forms it:
/// `0.weight` in an `nn.Sequential`, `layer1.0.conv1.weight` in a ResNet,
/// `encoder.layer.3.attention.self.query.weight` in BERT.
///
/// Every module owns the paths under its own: `layer1.0` owns `layer1.0.conv1.weight`. Paths are
/// the identity of parameters, masks, reports and explorer rows, so two models with the same
/// layout name the same things the same way.
public struct ParameterPath: Hashable, Sendable, CustomStringConvertible, ExpressibleByIntegerLiteral {
  /// The dotted form, `layer1.0.conv1.weight`; empty for the root module.
  public let description: String

  /// The root module: the model itself, which owns every path.
  public static let root = ParameterPath(unchecked: "")

  /// A path from its dotted form. Every component must be a non-empty run of letters, digits
  /// and underscores, as Python attribute names and `nn.Sequential` indices are.
  public init?(_ dotted: String) {
    guard dotted.isEmpty || dotted.split(separator: ".", omittingEmptySubsequences: false).allSatisfy(Self.isComponent)
    else { return nil }
    description = dotted
  }

  /// The child at `index` of an `nn.Sequential` root: `0`, `2`, ..., as a Sequential model
  /// names its layers.
  public init(integerLiteral index: Int) {
    precondition(index >= 0, "a Sequential index is not negative")
    description = String(index)
  }

  private init(unchecked dotted: String) {
    description = dotted
  }

  /// The names from the outermost module in, `["layer1", "0", "conv1", "weight"]`.
  public var components: [Substring] {
    description.isEmpty ? [] : description.split(separator: ".", omittingEmptySubsequences: false)
  }

  /// The last component: `weight` of `layer1.0.conv1.weight`.
  public var name: Substring { components.last ?? "" }

  /// The module that owns this path, `layer1.0.conv1` for `layer1.0.conv1.weight`; nil for the root.
  public var parent: ParameterPath? {
    guard !description.isEmpty else { return nil }
    guard let dot = description.lastIndex(of: ".") else { return .root }
    return ParameterPath(unchecked: String(description[..<dot]))
  }

  /// The path of a child called `name`: `layer1.0` + `conv1` is `layer1.0.conv1`.
  public func appending(_ name: String) -> ParameterPath {
    precondition(Self.isComponent(Substring(name)), "'\(name)' is not a path component")
    return ParameterPath(unchecked: description.isEmpty ? name : description + "." + name)
  }

  /// Whether `module` owns this path: it is `module` itself or lies under it.
  public func isWithin(_ module: ParameterPath) -> Bool {
    module.description.isEmpty || description == module.description
      || description.hasPrefix(module.description + ".")
  }

  private static func isComponent(_ component: Substring) -> Bool {
    !component.isEmpty && component.utf8.allSatisfy { byte in
      (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || byte == 0x5F
    }
  }
}
