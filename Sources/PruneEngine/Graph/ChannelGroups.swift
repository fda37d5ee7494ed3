/// Channels that must be pruned together: one channel of a value is written by the filters (or
/// neurons) of every layer producing it, normalised by every BatchNorm on the way and read by
/// the input columns of every layer consuming it. Removing it means removing all of these at
/// once (Fang et al. 2023, "DepGraph: Towards Any Structural Pruning", whose dependency graph
/// this is for the modules Shears has).
///
/// In a plain `nn.Sequential` each hidden Linear or Conv2d layer is its own group, read by the
/// next weighted layer. In a ResNet a block's inner channels form a group (`conv1`, `bn1` and
/// the `conv2` that reads them), and every block writing into the same residual stream shares
/// one: the stem `conv1`/`bn1` and each `conv2`/`bn2` of `layer1` write the same 16 channels,
/// which the next blocks' `conv1`s, the next stage's shortcut and so on read.
public struct ChannelGroup: Sendable, Equatable {
  /// A layer reading the group's channels: channel `c` is columns `c·span ..< (c+1)·span` of
  /// each row of its weight (`k·k` for a convolution, `H·W` for a Linear layer after Flatten).
  public struct Consumer: Sendable, Equatable {
    public var layer: ParameterPath
    public var span: Int
  }

  /// The Linear and Conv2d layers whose output rows are the channels, in module order.
  public var producers: [ParameterPath]
  /// The BatchNorm modules normalising the channels, in module order.
  public var norms: [ParameterPath]
  public var consumers: [Consumer]
  public var channels: Int

  /// The group's name in requests and reports: its first producer.
  public var leader: ParameterPath { producers[0] }

  /// The outputs of one layer as a group of their own, coupled to nothing.
  init(layer: ParameterPath, channels: Int) {
    self.init(producers: [layer], norms: [], consumers: [], channels: channels)
  }

  init(producers: [ParameterPath], norms: [ParameterPath], consumers: [Consumer], channels: Int) {
    self.producers = producers
    self.norms = norms
    self.consumers = consumers
    self.channels = channels
  }
}

extension Model {
  /// The groups of hidden channels that structured pruning can remove, in module order of
  /// their leaders. The network's inputs and outputs (the classes) are in none.
  ///
  /// - Complexity: O(modules).
  public var channelGroups: [ChannelGroup] {
    var tracer = ChannelTracer()
    let input = tracer.newSpace(channels: inputShape.first ?? 0)
    let output = tracer.trace(module, at: .root, value: .init(space: input, spatial: Array(inputShape.dropFirst())))
    let closed = Set([tracer.root(input), tracer.root(output.space)])
    var groups: [Int: ChannelGroup] = [:]
    var order: [Int] = []
    for (space, members) in tracer.members.enumerated() {
      let root = tracer.root(space)
      guard !closed.contains(root) else { continue }
      if groups[root] == nil {
        groups[root] = ChannelGroup(producers: [], norms: [], consumers: [], channels: tracer.channels[space])
        order.append(root)
      }
      groups[root]?.producers += members.producers
      groups[root]?.norms += members.norms
      groups[root]?.consumers += members.consumers
    }
    // Spaces are made in the order the modules run, so members and groups come in module order.
    return order.compactMap { groups[$0] }.filter { !$0.producers.isEmpty }
  }

  /// The group whose channels are the outputs of the weighted layer at `path`; nil for the
  /// output layer and for paths that name no weighted layer.
  public func channelGroup(producedBy path: ParameterPath) -> ChannelGroup? {
    channelGroups.first { $0.producers.contains(path) }
  }
}

/// Walks a module tree, giving every value a channel space and merging the spaces a residual
/// sum adds together (union-find).
private struct ChannelTracer {
  struct Members {
    var producers: [ParameterPath] = []
    var norms: [ParameterPath] = []
    var consumers: [ChannelGroup.Consumer] = []
  }

  /// A value: its channels' space and, for images, the spatial size (empty once flat).
  struct Value {
    var space: Int
    var spatial: [Int]
    /// Columns of a Linear layer per channel when the value is read flat.
    var span: Int { spatial.reduce(1, *) }
  }

  var parents: [Int] = []
  var channels: [Int] = []
  var members: [Members] = []

  mutating func newSpace(channels count: Int) -> Int {
    parents.append(parents.count)
    channels.append(count)
    members.append(Members())
    return parents.count - 1
  }

  mutating func root(_ space: Int) -> Int {
    var space = space
    while parents[space] != space {
      parents[space] = parents[parents[space]]
      space = parents[space]
    }
    return space
  }

  mutating func merge(_ a: Int, _ b: Int) {
    let (ra, rb) = (root(a), root(b))
    if ra != rb { parents[max(ra, rb)] = min(ra, rb) }
  }

  /// The value `module` writes when it reads `value`. Shapes are assumed valid (`leaves`).
  mutating func trace(_ module: Module, at path: ParameterPath, value: Value) -> Value {
    switch module {
    case .linear(_, let outputs):
      // A Linear layer reads its input flattened: `span` columns per channel.
      members[value.space].consumers.append(.init(layer: path, span: value.span))
      let space = newSpace(channels: outputs)
      members[space].producers.append(path)
      return Value(space: space, spatial: [])
    case .conv2d(_, let filters, let kernel, let stride, let padding, _):
      members[value.space].consumers.append(.init(layer: path, span: kernel * kernel))
      let space = newSpace(channels: filters)
      members[space].producers.append(path)
      let spatial = value.spatial.map { ($0 + 2 * padding - kernel) / stride + 1 }
      return Value(space: space, spatial: spatial)
    case .batchNorm:
      members[value.space].norms.append(path)
      return value
    case .relu, .dropout:
      return value
    case .maxPool(let size), .averagePool(let size):
      return Value(space: value.space, spatial: value.spatial.map { $0 / size })
    case .globalAveragePool:
      return Value(space: value.space, spatial: value.spatial.map { _ in 1 })
    case .flatten:
      // The channels stay where they were; a Linear layer reads each as `span` columns.
      return value
    case .embedding, .layerNorm, .gelu, .causalSelfAttention, .transformerBlock, .container, .gpt:
      // Transformer channels couple through attention and the residual stream in ways these
      // groups do not describe: no group is formed, so structured criteria find nothing here.
      return Value(space: newSpace(channels: 0), spatial: [])
    case .sequential(let children):
      var current = value
      for child in children { current = trace(child.module, at: path.appending(child.name), value: current) }
      return current
    case .residual(let body, let shortcut, _):
      let main = trace(.sequential(body), at: path, value: value)
      let side = shortcut.map { trace($0.module, at: path.appending($0.name), value: value) } ?? value
      merge(main.space, side.space)
      return main
    }
  }
}
