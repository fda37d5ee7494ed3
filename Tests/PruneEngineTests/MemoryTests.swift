import Foundation
import Testing

@testable import PruneEngine

/// Memory estimates from architectures and checkpoint headers, and the budget they are checked
/// against, with the limits injected.
@Suite struct MemoryTests {
  @Test(arguments: ["mlp:784-300-100-10", "lenet5", "cnn:3x32x32-conv8k3s2p1-pool2-fc10"])
  func parameterCountIsTheModels(arch: String) throws {
    let architecture = try Architecture(parsing: arch)
    var generator = SeededGenerator(seed: 1)
    #expect(architecture.parameterCount == Model(architecture: architecture, generator: &generator).parameterCount)
  }

  /// LeNet-300-100: 266,610 parameters of 4 bytes in 7 copies with Adam (6 with SGD), plus
  /// 1,194 features per sample (input, 300, 100, 10), each with its gradient, for 64 samples.
  @Test func trainingMemoryCountsCopiesAndActivations() {
    let architecture = Architecture.lenet300100
    let activations = 2 * (784 + 300 + 100 + 10) * 64 * 4
    #expect(architecture.trainingMemory(batchSize: 64, optimizer: .adam(learningRate: 1e-3)) == 7 * 266_610 * 4 + activations)
    #expect(
      architecture.trainingMemory(batchSize: 64, optimizer: .sgd(learningRate: 0.1, momentum: 0.9))
        == 6 * 266_610 * 4 + activations)
  }

  /// 200 layers of 2^56 weights overflow Int; the estimates saturate instead of trapping.
  @Test func estimatesOfHugeArchitecturesSaturate() throws {
    let architecture = Architecture(inputShape: [1 << 28], steps: Array(repeating: .linear(outputs: 1 << 28), count: 200))
    #expect(architecture.parameterCount == .max)
    #expect(architecture.trainingMemory(batchSize: 64, optimizer: .adam(learningRate: 1e-3)) == .max)
    #expect(architecture.evaluationMemory(threads: 2) == .max)
    let budget = MemoryBudget(limits: [.init(name: "this machine has", bytes: 1 << 34, inUse: 0)])
    #expect(throws: ShearsError("--arch x", "needs 8589934592.0 GiB, this machine has 16.0 GiB")) {
      try budget.check(.max, for: "--arch x")
    }
  }

  @Test func checkNamesTheLimitThatDoesNotFit() throws {
    let budget = MemoryBudget(limits: [
      .init(name: "this machine has", bytes: 8 << 30, inUse: 0),
      .init(name: "this process may use", bytes: 4 << 30, inUse: 1 << 30),
    ])
    try budget.check(3 << 30, for: "m")
    #expect(throws: ShearsError("m", "needs 12.3 GiB, this machine has 8.0 GiB")) {
      try budget.check(Int(12.3 * Double(1 << 30)), for: "m")
    }
    #expect(throws: ShearsError("m", "needs 5.0 GiB, this process may use 4.0 GiB")) {
      try budget.check(5 << 30, for: "m")
    }
    // It fits the limit, but not beside what the process already holds.
    #expect(throws: ShearsError("m", "needs 3.5 GiB, this process may use 4.0 GiB and 1.0 GiB of it is in use")) {
      try budget.check(3 << 30 + 1 << 29, for: "m")
    }
    #expect(throws: ShearsError("m", "needs 512.0 MiB, --max-memory is 10.2 MiB")) {
      try MemoryBudget(limits: [.init(name: "--max-memory is", bytes: 10_737_418, inUse: 0)]).check(1 << 29, for: "m")
    }
  }

  @Test func theCurrentBudgetHasTheMachinesMemoryOrTheGivenLimit() {
    let machine = MemoryBudget.current().limits[0]
    #expect(machine.bytes > 0 && machine.inUse > 0 && machine.inUse < machine.bytes)
    let given = MemoryBudget.current(memory: 1 << 30, memoryName: "--max-memory is").limits[0]
    #expect(given.name == "--max-memory is" && given.bytes == 1 << 30)
  }

  /// Loading copies the stored bytes and makes 4-byte parameters and byte masks of them.
  @Test func loadingMemoryComesFromTheHeader() throws {
    try withTemporaryFolder { folder in
      let path = folder + "/m.safetensors"
      var generator = SeededGenerator(seed: 1)
      let model = Model(architecture: .lenet300100, generator: &generator)
      try Checkpoint.save(model, metadata: CheckpointMetadata(), to: path)
      let file = try MappedSafetensorsFile(path: path)
      #expect(Checkpoint.loadingMemory(of: file) == 266_610 * 4 + 266_610 * 5)
    }
  }
}
