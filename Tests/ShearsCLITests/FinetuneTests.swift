import Foundation
import Testing

/// `finetune` on the suite's pruned model: masks held (pruned weights stay exactly zero), the
/// schedules reaching their target sparsity, the JSON and text forms, and bad input.
@Suite(.trainedModel) struct FinetuneTests {
  let trained: TrainedModel
  let output: TemporaryFolder
  var out: String { output.path("out.safetensors") }

  init() throws {
    trained = try TrainedModel.shared()
    output = try TemporaryFolder()
  }

  private func finetune(_ arguments: [String], model: String) throws -> ShearsRun {
    try shears(["finetune", "--model", model, "--data", trained.data.path, "--out", out] + arguments)
  }

  @Test func finetuneKeepsPrunedWeightsAtZero() throws {
    let run = try finetune(["--epochs", "1", "--json"], model: trained.pruned)
    try requireSuccess(run)
    #expect(run.stderrLines == [trained.dataNote], "with --json, stderr holds only the data source:\n\(run)")
    let json = try jsonObject(run)
    #expect(
      modelReportKeys.union(["accuracy", "loss", "samples", "samples_per_second", "epochs", "out"])
        .subtracting(json.keys).isEmpty, "\(json.keys.sorted())")
    #expect((json["samples_per_second"] as? Double ?? 0) > 0)
    #expect(json["epochs"] as? Int == 1)
    #expect((0...1).contains(json["accuracy"] as? Double ?? -1))

    // The same nonzero counts before and after, in `info` and in the file's masks.
    let before = try infoJSON(trained.pruned)
    let after = try infoJSON(out)
    #expect(column(after, "nonzero", as: Int.self) == column(before, "nonzero", as: Int.self))
    #expect(after["nonzero"] as? Int == before["nonzero"] as? Int)
    expectNonzeros(after, [6272, 80])
    let changes = try layerChanges(from: trained.pruned, to: out)
    for change in changes {
      change.expectMaskHolds()
      #expect(change.mask == change.maskBefore, "fine-tuning prunes nothing more")
      #expect(change.after != change.before, "the kept weights were trained")
    }
    let history = try #require(after["history"] as? [String])
    #expect(history.dropLast() == (before["history"] as? [String] ?? [])[...])
    #expect(history.last?.hasPrefix("finetune epochs=1 ") == true, "\(history)")
    #expect(fileBytes(trained.pruned) == trained.prunedBytes)
    #expect(try output.contents() == ["out.safetensors"])
  }

  /// Each schedule prunes the dense model to the target while it trains.
  @Test(arguments: ["oneshot", "iterative", "gradual"])
  func scheduleReachesTheTarget(_ schedule: String) throws {
    let run = try finetune(
      ["--epochs", "1", "--schedule", schedule, "--target-sparsity", "0.6", "--json"], model: trained.model)
    try requireSuccess(run)
    let json = try jsonObject(run)
    let sparsity = try #require(json["sparsity"] as? Double)
    #expect(abs(sparsity - 0.6) < 0.005, "\(schedule): sparsity \(sparsity)")
    for layer in column(json, "sparsity", as: Double.self) {
      #expect(abs((layer ?? 0) - 0.6) < 0.005, "\(schedule): layer scope prunes each layer to the target")
    }
    #expect((json["samples_per_second"] as? Double ?? 0) > 0)
    let changes = try layerChanges(from: trained.model, to: out)
    for change in changes { change.expectMaskHolds() }
    let info = try infoJSON(out)
    #expect(isClose(info["sparsity"] as? Double ?? -1, sparsity))
    let entry = try #require((info["history"] as? [String])?.last)
    #expect(entry.contains(" schedule=\(schedule) target=0.6 criterion=magnitude scope=layer"), "\(entry)")
    #expect(fileBytes(trained.model) == trained.modelBytes)
  }

  /// Without `--json`: progress on stderr, then the table, the accuracy and the saved path.
  @Test func textOutput() throws {
    let run = try finetune(["--epochs", "1"], model: trained.pruned)
    try requireSuccess(run)
    #expect(run.stderrLines.first == trained.dataNote)
    #expect(run.stderrLines.dropFirst().map { $0.prefix(10) } == ["epoch 1/1 "], "\(run)")
    let lines = run.stdoutLines
    #expect(lines.first?.hasPrefix("layer      shape ") == true, "\(run)")
    #expect(lines.contains { $0.hasPrefix("0.weight   16x784         12544      6272    50.00%") }, "\(run)")
    #expect(lines.dropLast().last?.hasPrefix("test accuracy ") == true)
    #expect(lines.last == "saved \(out)")
  }

  @Test func forceReplacesTheInputCheckpoint() throws {
    let model = output.path("model.safetensors")
    try trained.prunedBytes.write(to: URL(fileURLWithPath: model))
    let refused = try shears("finetune", "--model", model, "--data", trained.data.path, "--epochs", "1", "--out", model)
    #expect(
      expectInputError(refused, subject: model)
        == "is the input checkpoint; write elsewhere or pass --force to replace it")
    #expect(fileBytes(model) == trained.prunedBytes)
    let forced = try shears(
      "finetune", "--model", model, "--data", trained.data.path, "--epochs", "1", "--out", model, "--force")
    try requireSuccess(forced)
    #expect(fileBytes(model) != trained.prunedBytes)
    expectNonzeros(try infoJSON(model), [6272, 80])
    #expect(try output.contents() == ["model.safetensors"])
  }

  // MARK: - Bad input

  @Test func globalScopeWithANeuronCriterion() throws {
    let arguments = [
      "--epochs", "1", "--schedule", "oneshot", "--target-sparsity", "0.5", "--criterion", "neuron-l2", "--scope",
      "global",
    ]
    let run = try finetune(arguments, model: trained.model)
    #expect(
      expectInputError(run, subject: "--criterion neuron-l2", notes: [trained.dataNote])
        == "neuron scores are not comparable across layers; use --scope layer")
    expectUntouched()
  }

  @Test func outputIsTheInputWithoutForce() throws {
    let run = try shears(
      "finetune", "--model", trained.pruned, "--data", trained.data.path, "--epochs", "1", "--out", trained.pruned)
    #expect(
      expectInputError(run, subject: trained.pruned)
        == "is the input checkpoint; write elsewhere or pass --force to replace it")
    expectUntouched()
  }

  @Test(arguments: [
    (["--epochs", "1", "--schedule", "gradual"], "Error: --schedule gradual needs --target-sparsity"),
    (["--epochs", "0"], "Error: --epochs must be 1 to 10000 (got 0)"),
    (["--epochs", "92233720368547758"], "Error: --epochs must be 1 to 10000 (got 92233720368547758)"),
    (["--epochs", "1", "--batch", "0"], "Error: --batch must be 1 to 65536 (got 0)"),
    // --lr and --l1 are checked as train checks them: bad usage, before anything is read.
    (["--epochs", "1", "--lr", "0"], "Error: --lr must be above 0 and at most 10 (got 0.0)"),
    (["--epochs", "1", "--lr", "inf"], "Error: --lr must be above 0 and at most 10 (got inf)"),
    (["--epochs", "1", "--l1", "nan"], "Error: --l1 must be 0 to 1 (got nan)"),
    (
      ["--epochs", "1", "--schedule", "iterative", "--target-sparsity", "0.5", "--steps", "1000000"],
      "Error: --steps must be 1 to 100 (got 1000000)"
    ),
    (
      ["--epochs", "1", "--schedule", "gradual", "--target-sparsity", "0.5", "--interval", "0"],
      "Error: --interval must be 1 to 1000000 (got 0)"
    ),
    (
      ["--epochs", "1", "--schedule", "oneshot", "--target-sparsity", "1.5"],
      "Error: --target-sparsity must be 0 to 1 (got 1.5)"
    ),
    (
      ["--epochs", "1", "--schedule", "oneshot", "--target-sparsity", "-0.1"],
      "Error: --target-sparsity must be 0 to 1 (got -0.1)"
    ),
    (
      ["--epochs", "1", "--schedule", "oneshot", "--target-sparsity", "nan"],
      "Error: --target-sparsity must be 0 to 1 (got nan)"
    ),
    ([], "Error: Missing expected argument '--epochs <epochs>'"),
    (
      ["--epochs", "1", "--schedule", "sometimes"],
      "Error: The value 'sometimes' is invalid for '--schedule <schedule>'. Please provide one of 'none', 'oneshot', "
        + "'iterative' or 'gradual'."
    ),
  ])
  func badUsage(_ arguments: [String], _ firstLine: String) throws {
    let run = try finetune(arguments, model: trained.model)
    #expect(expectUsageError(run).first == firstLine)
    expectUntouched()
  }

  private func expectUntouched(sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(fileBytes(trained.model) == trained.modelBytes, "the input changed", sourceLocation: sourceLocation)
    #expect(fileBytes(trained.pruned) == trained.prunedBytes, "the input changed", sourceLocation: sourceLocation)
    #expect((try? output.contents()) == [], "an output file was written", sourceLocation: sourceLocation)
  }
}
