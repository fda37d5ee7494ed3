/// A pruned model's plan, for applying the same per-layer amounts to a PyTorch model with
/// `torch.nn.utils.prune` (`shears export --format recipe`).
///
/// Each layer (`nn.Linear` or `nn.Conv2d`) lists the `torch.nn.utils.prune` calls that reproduce
/// its mask's counts on a module of the same shape, and scale them on a larger one:
/// `ln_structured(n, dim=0)` for whole neurons or filters (rows of `[out, in]`, output channels
/// of `[filters, channels, kh, kw]`) when the model was pruned by a neuron or filter criterion
/// (or, with no history, when every pruned weight lies in a pruned row), with `n` = 1 for
/// `filter-l1` (Li et al. 2017) and 2 otherwise, then `l1_unstructured` for single weights.
/// `amount` is a fraction of what is still kept, as in torch's cumulative pruning (for the same
/// shape it gives exactly `count`). `python` holds a function that applies a recipe.
public struct PruningRecipe: Sendable, Equatable, Codable {
  public struct Step: Sendable, Equatable, Codable {
    /// `ln_structured` or `l1_unstructured`.
    public var method: String
    /// Fraction of the units still kept to prune (rows for `ln_structured`, weights otherwise).
    public var amount: Double
    /// The same as a number of units on this model.
    public var count: Int
    /// The norm `ln_structured` ranks rows by (absent for `l1_unstructured`).
    public var n: Int?
  }

  public struct Layer: Sendable, Equatable, Codable {
    /// The module's name in `nn.Sequential` (`"0"`, `"2"`, ...).
    public var module: String
    /// `0.weight`.
    public var name: String
    /// The weight's shape: `[out, in]`, or `[filters, channels, kh, kw]`.
    public var shape: [Int]
    public var params: Int
    /// Weights pruned (mask 0).
    public var pruned: Int
    public var sparsity: Double
    /// Rows (neurons or filters) whose weights are all pruned.
    public var prunedNeurons: Int
    public var steps: [Step]
  }

  /// Channels pruned together across layers coupled through BatchNorm or residual sums
  /// (`ChannelGroup`), which no single `torch.nn.utils.prune` call reproduces: the recipe lists
  /// the pruned channels themselves, applied with `prune.custom_from_mask` to the rows of every
  /// producer and to the scale and shift of every BatchNorm.
  public struct Group: Sendable, Equatable, Codable {
    /// Module names of the layers whose output rows are the channels (`conv1`, `layer1.0.conv2`).
    public var producers: [String]
    /// Module names of the BatchNorms normalising them (`bn1`, `layer1.0.bn2`).
    public var norms: [String]
    public var channels: Int
    /// The pruned channels, ascending.
    public var pruned: [Int]
  }

  /// `shears-recipe-1`.
  public var format = PruningRecipe.formatName
  public var arch: String
  /// The criterion, scope and structure of the last pruning in the history, when known.
  public var criterion: String?
  public var scope: String?
  public var structured: Bool
  /// The pruning operations of the history, oldest first (`prune magnitude scope=layer amount=0.5`).
  public var operations: [String]
  /// Fraction of prunable weights pruned.
  public var sparsity: Double
  public var layers: [Layer]
  /// Pruned channels of groups with BatchNorm, applied before `layers`' steps.
  public var groups: [Group]
  public var python: String = PruningRecipe.pythonSnippet

  public static let formatName = "shears-recipe-1"

  /// The recipe of a model, reading the criterion from `metadata.history`.
  public init(model: Model, metadata: CheckpointMetadata) {
    arch = model.architecture.description
    operations = metadata.history.filter { $0.hasPrefix("prune ") || $0.contains(" criterion=") }
    let last = operations.last.map(Self.parseOperation)
    criterion = last?.criterion
    scope = last?.scope
    let known = last?.structured
    structured = known ?? false
    // Li et al. 2017 rank filters by the L1 norm; the neuron criteria by the L2 norm.
    let norm = last?.criterion == "filter-l1" ? 1 : 2
    var total = 0
    var totalPruned = 0
    // Channels of BatchNorm groups whose scale is pruned were pruned as a group.
    var groupRows: [ParameterPath: Int] = [:]
    groups = model.channelGroups.compactMap { group in
      guard let norm = group.norms.first, let scaleMask = model.parameters[norm.appending("weight")]?.mask else { return nil }
      let kept = model.keptChannels(of: group)
      let pruned = (0..<group.channels).filter { scaleMask[$0] == 0 && !kept[$0] }
      guard !pruned.isEmpty else { return nil }
      for producer in group.producers { groupRows[producer] = pruned.count }
      return Group(
        producers: group.producers.map(\.description), norms: group.norms.map(\.description), channels: group.channels,
        pruned: pruned)
    }
    layers = model.weightedLayers.map { path, dense in
      let (rows, columns) = (dense.outputCount, dense.inputCount)
      let mask = dense.keptMask
      let groupPruned = (groupRows[path] ?? 0) * columns
      let pruned = mask.count - dense.keptCount - groupPruned
      let prunedRows = (0..<rows).filter { row in !mask[(row * columns)..<((row + 1) * columns)].contains(1) }.count
        - (groupRows[path] ?? 0)
      let partial = pruned - prunedRows * columns
      let byRows = prunedRows > 0 && (known ?? (partial == 0))
      var steps: [Step] = []
      let liveRows = rows - (groupRows[path] ?? 0)
      if byRows {
        steps.append(
          Step(method: "ln_structured", amount: Double(prunedRows) / Double(liveRows), count: prunedRows, n: norm))
        if partial > 0 {
          let remaining = (liveRows - prunedRows) * columns
          steps.append(Step(method: "l1_unstructured", amount: Double(partial) / Double(remaining), count: partial))
        }
      } else if pruned > 0 {
        steps.append(
          Step(method: "l1_unstructured", amount: Double(pruned) / Double(mask.count - groupPruned), count: pruned))
      }
      let allPruned = pruned + groupPruned
      total += mask.count
      totalPruned += allPruned
      return Layer(
        module: path.description, name: path.appending("weight").description, shape: dense.weight.shape, params: mask.count,
        pruned: allPruned, sparsity: Double(allPruned) / Double(mask.count), prunedNeurons: prunedRows + (groupRows[path] ?? 0),
        steps: steps)
    }
    sparsity = total == 0 ? 0 : Double(totalPruned) / Double(total)
  }

  /// Criterion, scope and whether neurons were scored, from a history entry:
  /// `prune neuron-l2 scope=layer amount=0.5`, `prune taylor structured scope=global ...`, or
  /// `finetune ... criterion=magnitude scope=layer`.
  static func parseOperation(_ entry: String) -> (criterion: String?, scope: String?, structured: Bool?) {
    let words = entry.split(separator: " ").map(String.init)
    func value(_ key: String) -> String? {
      words.first { $0.hasPrefix(key + "=") }.map { String($0.dropFirst(key.count + 1)) }
    }
    let name = words.first == "prune" && words.count > 1 ? words[1] : value("criterion")
    let scope = value("scope")
    guard let name, let criterion = Criterion(rawValue: name) else { return (name, scope, nil) }
    // Any granularity but single weights prunes whole rows (neurons or filters).
    let structured = words.contains("structured") || criterion.defaultGranularity != .weight
    return (name, scope, structured)
  }

  /// A Python function applying a recipe with `torch.nn.utils.prune`.
  public static let pythonSnippet = """
    import json
    import torch
    import torch.nn.utils.prune as prune

    def apply_shears_recipe(model, recipe, modules=None):
        \"\"\"Prunes model's layers by the per-layer amounts of a Shears recipe (a dict or a path).

        modules maps the recipe's module names ("0", "2", ...: nn.Sequential indices) to your
        model's nn.Linear and nn.Conv2d modules; by default they are looked up in
        model.named_modules(). Amounts are fractions, so the same plan scales to wider layers.
        \"\"\"
        if isinstance(recipe, str):
            with open(recipe) as f:
                recipe = json.load(f)
        modules = modules or dict(model.named_modules())
        for group in recipe.get("groups", []):
            for name in group["producers"]:
                module = modules[name]
                mask = torch.ones_like(module.weight)
                mask[group["pruned"]] = 0
                prune.custom_from_mask(module, "weight", mask)
            for name in group["norms"]:
                module = modules[name]
                mask = torch.ones_like(module.weight)
                mask[group["pruned"]] = 0
                prune.custom_from_mask(module, "weight", mask)
                prune.custom_from_mask(module, "bias", mask)
        for layer in recipe["layers"]:
            module = modules[layer["module"]]
            for step in layer["steps"]:
                if step["method"] == "ln_structured":
                    prune.ln_structured(module, "weight", amount=step["amount"], n=step.get("n", 2), dim=0)
                else:
                    prune.l1_unstructured(module, "weight", amount=step["amount"])
        return model

    """
}
