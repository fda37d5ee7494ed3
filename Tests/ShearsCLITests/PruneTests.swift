import Foundation
import Testing

/// `prune` on a model trained once for the suite: counts per layer and in total, the masks and
/// weights in the written file (read independently of the engine), the history, every criterion
/// and threshold form, and the input checkpoint left byte-identical.
@Suite(.trainedModel) struct PruneTests {
  let trained: TrainedModel
  let output: TemporaryFolder
  var out: String { output.path("out.safetensors") }

  init() throws {
    trained = try TrainedModel.shared()
    output = try TemporaryFolder()
  }

  /// `shears prune --model <model> --data <fixture> --out <out> --json <arguments>`, which must
  /// succeed with only the data source on stderr; returns the JSON.
  private func prune(
    _ arguments: String..., model: String? = nil, sourceLocation: SourceLocation = #_sourceLocation
  ) throws -> [String: Any] {
    let run = try shears(
      ["prune", "--model", model ?? trained.model, "--data", trained.data.path, "--out", out, "--json"] + arguments)
    try requireSuccess(run, sourceLocation: sourceLocation)
    #expect(run.stderrLines == [trained.dataNote], "\(run)", sourceLocation: sourceLocation)
    return try jsonObject(run, sourceLocation: sourceLocation)
  }

  /// The `pruned` entries: (layer, pruned, kept before).
  private func prunedEntries(_ json: [String: Any]) -> [[Int?]] {
    let layers = column(json, "layer", of: "pruned", as: Int.self)
    let pruned = column(json, "pruned", of: "pruned", as: Int.self)
    let keptBefore = column(json, "kept_before", of: "pruned", as: Int.self)
    return zip(layers, zip(pruned, keptBefore)).map { [$0, $1.0, $1.1] }
  }

  // MARK: - Magnitude, layer scope

  @Test func magnitudeHalfPrunesHalfOfEachLayer() throws {
    let json = try prune("--criterion", "magnitude", "--amount", "0.5")
    #expect(modelReportKeys.union(["accuracy", "loss", "samples", "pruned", "out"]).subtracting(json.keys).isEmpty)
    expectNonzeros(json, [6272, 80])
    #expect(isClose(json["sparsity"] as? Double ?? -1, 0.5))
    #expect(prunedEntries(json) == [[0, 6272, 12544], [2, 80, 160]])
    #expect(column(json, "ties_at_cut", of: "pruned", as: Int.self) == [0, 0], "trained weights have no ties")
    let accuracy = try #require(json["accuracy"] as? Double)
    #expect((0...1).contains(accuracy))
    #expect(json["samples"] as? Int == 64)
    #expect(json["out"] as? String == out)
    #expect(json["output_shift"] == nil, "only redundancy reports how far outputs moved")

    // `info` on the result shows the same figures, the accuracy measured and one more history entry.
    let info = try infoJSON(out)
    expectNonzeros(info, [6272, 80])
    for key in ["dense_bytes", "sparse_bytes", "flops_dense", "flops_sparse"] {
      #expect(info[key] as? Int != nil && info[key] as? Int == json[key] as? Int, "\(key)")
    }
    #expect(isClose(info["accuracy"] as? Double ?? -1, accuracy))
    let history = try #require(info["history"] as? [String])
    let before = try #require(try infoJSON(trained.model)["history"] as? [String])
    #expect(history == before + ["prune magnitude scope=layer amount=0.5"])

    // The file: masks named `i.weight_mask`, pruned weights zero, kept weights unchanged.
    let changes = try layerChanges(from: trained.model, to: out)
    #expect(changes.map(\.prunedIndices.count) == [6272, 80])
    for change in changes { change.expectMagnitudeCut() }
    #expect(try SafetensorsFile(path: out).metadata["format"] == "shears-1")

    #expect(fileBytes(trained.model) == trained.modelBytes, "the input checkpoint changed")
    #expect(try output.contents() == ["out.safetensors"], "the checkpoint and nothing else (no temporary file)")
  }

  /// The text form: the table, one line per pruned layer, the accuracy and where it was saved.
  @Test func textOutputShowsTheTableAndCounts() throws {
    let json = try prune("--criterion", "magnitude", "--amount", "0.5")
    let run = try shears(
      "prune", "--model", trained.model, "--data", trained.data.path, "--out", out, "--criterion", "magnitude",
      "--amount", "0.5")
    try requireSuccess(run)
    #expect(run.stderrLines == [trained.dataNote])
    let accuracy = try #require(json["accuracy"] as? Double)
    let loss = try #require(json["loss"] as? Double)
    expectSameText(
      run.stdout,
      """
      layer      shape         params   nonzero  sparsity  compression  ties at cut
      0.weight   16x784         12544      6272    50.00%         2.0x            0
      2.weight   10x16            160        80    50.00%         2.0x            0
      total                     12704      6352    50.00%         2.0x
      size  49.7 KiB dense, 26.5 KiB sparse    FLOPs/sample  25434 dense, 12730 sparse (2.0x fewer)
      layer 0: pruned 6272 of 12544 weights still kept
      layer 2: pruned 80 of 160 weights still kept
      test accuracy \(String(format: "%.4f", accuracy))  loss \(String(format: "%.4f", loss))  (64 images)
      saved \(out)

      """)
  }

  /// As in PyTorch, a second step prunes a fraction of what is still kept: 0.5 then 0.5 is 75%.
  @Test func pruningIsCumulative() throws {
    let json = try prune("--criterion", "magnitude", "--amount", "0.5", model: trained.pruned)
    expectNonzeros(json, [3136, 40])
    #expect(isClose(json["sparsity"] as? Double ?? -1, 0.75))
    #expect(prunedEntries(json) == [[0, 3136, 6272], [2, 40, 80]])
    let changes = try layerChanges(from: trained.pruned, to: out)
    #expect(changes.map(\.newlyPruned.count) == [3136, 40])
    for change in changes { change.expectMagnitudeCut() }
    let history = try SafetensorsFile(path: out).history
    #expect(history.filter { $0.hasPrefix("prune ") }.count == 2, "\(history)")
    #expect(fileBytes(trained.pruned) == trained.prunedBytes)
  }

  /// An integer above 1 with no decimal point is a count per layer, of the weights still kept.
  @Test(arguments: [(false, 100, [12444, 60]), (true, 80, [6192, 0])])
  func integerAmountIsACount(onPruned: Bool, count: Int, nonzeros: [Int]) throws {
    let json = try prune(
      "--criterion", "magnitude", "--amount", "\(count)", model: onPruned ? trained.pruned : trained.model)
    expectNonzeros(json, nonzeros)
    #expect(column(json, "pruned", of: "pruned", as: Int.self) == [count, count])
  }

  /// Global scope ranks all layers' weights together: the total is exactly half, and the cut is
  /// one magnitude across layers.
  @Test func globalScopeRanksAllLayersTogether() throws {
    let json = try prune("--criterion", "magnitude", "--scope", "global", "--amount", "0.5")
    #expect(json["nonzero"] as? Int == 12704 - 6352)
    #expect(isClose(json["sparsity"] as? Double ?? -1, 0.5))
    let pruned = column(json, "pruned", of: "pruned", as: Int.self).compactMap { $0 }
    #expect(pruned.reduce(0, +) == 6352)
    let changes = try layerChanges(from: trained.model, to: out)
    #expect(changes.map(\.prunedIndices.count) == pruned)
    for change in changes { change.expectMaskHolds() }
    let largestPruned = changes.flatMap { change in change.prunedIndices.map { abs(change.before[$0]) } }.max() ?? 0
    let smallestKept =
      changes.flatMap { change in change.mask.indices.filter { change.mask[$0] == 1 }.map { abs(change.before[$0]) } }
      .min() ?? .infinity
    #expect(largestPruned <= smallestKept)
    #expect(column(json, "sparsity", as: Double.self) != [0.5, 0.5], "one ranking, not two halves")
  }

  @Test func layersOptionPrunesOnlyThoseLayers() throws {
    let json = try prune("--criterion", "magnitude", "--amount", "0.5", "--layers", "0")
    expectNonzeros(json, [6272, 160])
    #expect(prunedEntries(json) == [[0, 6272, 12544]])
    let before = try SafetensorsFile(path: trained.model)
    let after = try SafetensorsFile(path: out)
    #expect(after.tensors["2.weight"]?.bytes == before.tensors["2.weight"]?.bytes)
    #expect(after.mask(layer: 2) == nil, "an unpruned layer has no mask")
    #expect(after.history.last == "prune magnitude scope=layer layers=0 amount=0.5")
  }

  // MARK: - Threshold forms

  /// `--threshold T`: magnitudes below T; `--alpha A`: below A x the layer's largest magnitude.
  @Test(arguments: ["--threshold", "--alpha"])
  func thresholdFormsPruneBelowTheCut(_ option: String) throws {
    let value: Float = option == "--threshold" ? 0.01 : 0.1
    let json = try prune("--criterion", "magnitude", option, "\(value)")
    let changes = try layerChanges(from: trained.model, to: out)
    for (change, pruned) in zip(changes, column(json, "pruned", of: "pruned", as: Int.self)) {
      let cut = option == "--threshold" ? value : value * (change.before.map(abs).max() ?? 0)
      let below = change.before.indices.filter { abs(change.before[$0]) < cut }
      #expect(change.prunedIndices == below, "\(option) \(value): prunes exactly |w| < \(cut)")
      #expect(pruned == below.count)
      #expect(below.count > 0 && below.count < change.before.count, "the cut falls inside the layer")
      change.expectMagnitudeCut()
    }
  }

  /// `--std K` (Han et al.): below K x the layer's standard deviation; checked as a magnitude cut
  /// that prunes some but not all of each layer.
  @Test func standardDeviationRulePrunesSome() throws {
    let json = try prune("--criterion", "magnitude", "--std", "0.5")
    let pruned = column(json, "pruned", of: "pruned", as: Int.self)
    #expect(pruned.count == 2)
    let changes = try layerChanges(from: trained.model, to: out)
    for (change, count) in zip(changes, pruned) {
      #expect(count == change.prunedIndices.count)
      #expect((count ?? 0) > 0 && (count ?? 0) < change.before.count)
      change.expectMagnitudeCut()
    }
    #expect(try SafetensorsFile(path: out).history.last == "prune magnitude scope=layer std=0.5")
  }

  // MARK: - Every criterion

  /// Arguments of each criterion, and whether it removes whole neurons.
  static let criteria: [(arguments: [String], structured: Bool)] = [
    (["magnitude"], false), (["random"], false), (["gradient"], false), (["taylor"], false),
    (["taylor", "--structured"], true), (["neuron-l2"], true), (["activation"], true), (["apoz"], true),
    (["redundancy"], true),
  ]

  @Test(arguments: criteria)
  func everyCriterionRuns(_ arguments: [String], structured: Bool) throws {
    let run = try shears(
      [
        "prune", "--model", trained.model, "--data", trained.data.path, "--out", out, "--json", "--amount", "0.25",
        "--criterion",
      ] + arguments)
    try requireSuccess(run)
    #expect(run.stderrLines == [trained.dataNote])
    let json = try jsonObject(run)
    #expect(modelReportKeys.union(["accuracy", "loss", "samples", "pruned", "out"]).subtracting(json.keys).isEmpty)
    let accuracy = try #require(json["accuracy"] as? Double)
    #expect((0...1).contains(accuracy))
    let changes = try layerChanges(from: trained.model, to: out)
    for change in changes { change.expectMaskHolds() }

    if structured {
      // A quarter of the 16 hidden neurons, as whole rows; the output layer's neurons are classes.
      #expect(prunedEntries(json) == [[0, 4, 16]])
      #expect(changes[0].prunedRows.count == 4)
      #expect(changes[0].prunedIndices.count == 4 * 784, "only whole rows are pruned")
    } else {
      #expect(prunedEntries(json) == [[0, 3136, 12544], [2, 40, 160]])
      expectNonzeros(json, [9408, 120])
    }

    if arguments == ["redundancy"] {
      // The removed neurons' outgoing weights are folded into their twins: their columns in
      // layer 2 are zero, and the JSON says how far the outputs moved.
      let removed = Set(changes[0].prunedRows)
      let zeroColumns = Set(changes[1].after.indices.filter { changes[1].after[$0] == 0 }.map { $0 % 16 })
      #expect(zeroColumns == removed)
      expectNonzeros(json, [9408, 120])
      let shift = try #require(json["output_shift"] as? [String: Any], "\(json.keys.sorted())")
      let mean = try #require(shift["mean_absolute"] as? Double)
      let maximum = try #require(shift["maximum_absolute"] as? Double)
      #expect(mean >= 0 && maximum >= mean && maximum.isFinite)
    } else {
      #expect(json["output_shift"] == nil)
      if structured {
        #expect(changes[1].prunedIndices.isEmpty, "layer 2 untouched")
        #expect(changes[1].after == changes[1].before)
      }
    }
    #expect(fileBytes(trained.model) == trained.modelBytes)
  }

  /// `neuron-l2` (= `ln_structured(n=2, dim=0)`): the rows with the smallest L2 norms go, the
  /// output layer is left alone.
  @Test func neuronL2PrunesTheSmallestRows() throws {
    let json = try prune("--criterion", "neuron-l2", "--amount", "0.25")
    expectNonzeros(json, [12544 - 4 * 784, 160])
    let change = try layerChanges(from: trained.model, to: out)[0]
    let norms = (0..<16).map { row in
      change.before[(row * 784)..<((row + 1) * 784)].reduce(0.0) { $0 + Double($1) * Double($1) }
    }
    let smallest = (0..<16).sorted { norms[$0] < norms[$1] }.prefix(4).sorted()
    #expect(change.prunedRows == Array(smallest))
    let kept = change.mask.indices.filter { change.mask[$0] == 1 }
    #expect(kept.allSatisfy { change.after[$0] == change.before[$0] })
    let after = try SafetensorsFile(path: out)
    #expect(after.mask(layer: 2) == nil)
  }

  // MARK: - Writing

  /// `--out` equal to `--model` needs `--force`; with it, the file is replaced in place.
  @Test func forceReplacesTheInputCheckpoint() throws {
    let model = output.path("model.safetensors")
    try trained.modelBytes.write(to: URL(fileURLWithPath: model))
    let refused = try shears(
      "prune", "--model", model, "--data", trained.data.path, "--criterion", "magnitude", "--amount", "0.5", "--out",
      model)
    #expect(
      expectInputError(refused, subject: model)
        == "is the input checkpoint; write elsewhere or pass --force to replace it")
    #expect(fileBytes(model) == trained.modelBytes)

    let forced = try shears(
      "prune", "--model", model, "--data", trained.data.path, "--criterion", "magnitude", "--amount", "0.5", "--out",
      model, "--force", "--json")
    try requireSuccess(forced)
    expectNonzeros(try infoJSON(model), [6272, 80])
    #expect(try output.contents() == ["model.safetensors"], "no temporary file left")
  }

  /// `--shrink` runs and is recorded (the shrunk shapes are checked once the engine shrinks).
  @Test func shrinkRuns() throws {
    let json = try prune("--criterion", "neuron-l2", "--amount", "0.25", "--shrink")
    #expect(json["accuracy"] is Double)
    #expect(try SafetensorsFile(path: out).history.last == "prune neuron-l2 scope=layer amount=0.25 shrink")
    #expect(fileBytes(trained.model) == trained.modelBytes)
  }
}
