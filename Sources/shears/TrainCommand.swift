import ArgumentParser
import Foundation
import PruneEngine

struct TrainCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "train",
    abstract: "Train a model from scratch, evaluate it on the test set and save a checkpoint.",
    discussion: """
      ARCH mlp:W0-W1-...-Wn: Linear layers W0 -> W1 -> ... -> Wn with ReLU between; W0 is \
      the input size (784 for 28x28 images) and Wn the number of classes. \
      mlp:784-300-100-10 is LeNet-300-100.

      ARCH cnn:CxHxW-ITEM-...: a convolutional network on C-channel HxW images. Each ITEM \
      is conv<N>k<K>[s<S>][p<P>] (Conv2d of N KxK filters, stride S, zero padding P, then \
      ReLU), pool<K> (MaxPool2d(K)) or fc<N> (Linear with N outputs; Flatten comes before \
      the first, ReLU between); the last ITEM is fc<classes>.

      ARCH lenet5: cnn:1x28x28-conv20k5-pool2-conv50k5-pool2-fc500-fc10, that is \
      nn.Sequential(Conv2d(1,20,5), ReLU(), MaxPool2d(2), Conv2d(20,50,5), ReLU(), \
      MaxPool2d(2), Flatten(), Linear(800,500), ReLU(), Linear(500,10)).

      ARCH resnet:CxHxW-WxB-...-N: a residual network (He et al. 2016, CIFAR form) on \
      C-channel HxW images: a 3x3 Conv2d of the first width with BatchNorm and ReLU, one \
      stage of B basic blocks W filters wide per WxB item (each stage after the first \
      halves the resolution; a block changing shape has a 1x1 Conv2d and BatchNorm \
      shortcut), global average pooling and a Linear layer of N classes. A stage item \
      W:I1,I2,... gives each block its own inner width (the filters of its first Conv2d) \
      around a residual stream W wide, one block per I (16:8,12,16). resnet20 is \
      resnet:1x28x28-16x3-32x3-64x3-10; resnet20:CxHxW takes other images.

      ARCH gpt:LAYERS-HEADS-WIDTH-CONTEXT: a GPT-2 language model (pre-LayerNorm blocks of \
      causal self-attention with HEADS heads and a GELU MLP 4 x WIDTH wide, WIDTH features \
      per token, CONTEXT tokens per sequence, output layer tied to the token embedding) over \
      text read as UTF-8 bytes (a vocabulary of 256; gpt:...-vN for N tokens). Its tensors \
      are named as nanoGPT's GPT module names them (transformer.wte.weight, \
      transformer.h.0.attn.c_attn.weight, ...). It trains on --data FILE.txt, by default the \
      embedded text (Jane Austen's novels): the last tenth, from a line break, is the \
      validation text, the rest is cut into windows of CONTEXT tokens, --batch windows per \
      step, each token learning its successor; the validation loss and perplexity are \
      reported.

      Layers of mlp:, cnn: and lenet5 are numbered as nn.Sequential numbers them, and a \
      ResNet's modules are named as torchvision names them (conv1, bn1, layer1.0.conv1, \
      layer2.0.downsample.0, fc), so tensor names are those of the PyTorch module's \
      state_dict. Training minimises softmax cross-entropy on the last layer's outputs.
      """)

  @Option(
    name: .long,
    help: ArgumentHelp("Architecture: mlp:..., cnn:..., lenet5, resnet:..., resnet20 or gpt:... (see above).", valueName: "ARCH"))
  var arch: String

  @OptionGroup var dataOptions: DataOptions

  @Option(name: .long, help: "Passes over the training set, \(OptionRange<Int>.epochs.text).")
  var epochs = 10

  @Option(name: .long, help: "Samples per optimizer step, \(OptionRange<Int>.batch.text).")
  var batch = 64

  @Option(name: .long, help: "adam or sgd (with momentum 0.9).")
  var optimizer: OptimizerName = .adam

  @Option(
    name: .long,
    help: "Learning rate, \(OptionRange<Float>.learningRate.text) (default 0.001 for adam, 0.05 for sgd).")
  var lr: Float?

  @Option(name: .long, help: "Learning-rate schedule: cosine (decays to zero over the run) or constant.")
  var lrSchedule: LearningRateSchedule = .cosine

  @Option(
    name: .long,
    help: """
      L1 penalty X, \(OptionRange<Float>.l1.text): adds X x sum|w| over the weights to the loss (sparse \
      training).
      """)
  var l1: Float = 0

  @Option(
    name: .customLong("l1-bn"),
    help: ArgumentHelp(
      """
      L1 penalty X, \(OptionRange<Float>.l1.text), on BatchNorm scales: adds X x sum|gamma| to the loss, \
      network slimming's sparsity training (Liu et al. 2017) before prune --criterion bn-scale.
      """, valueName: "X"))
  var l1BatchNorm: Float = 0

  @OptionGroup var augmentation: AugmentationOption

  @Option(
    name: .long,
    help: "Also keep the weights after this epoch, 0 (initialisation) to --epochs, for finetune --rewind.")
  var rewindEpoch: Int?

  @Option(name: .long, help: "Seed for initialisation and shuffling, 0 to 2^64-1.")
  var seed: UInt64 = 1

  @Option(name: .long, help: ArgumentHelp("Checkpoint to write (safetensors).", valueName: "PATH"))
  var out: String

  @OptionGroup var memory: MemoryOptions
  @OptionGroup var output: OutputOptions

  enum OptimizerName: String, ExpressibleByArgument, CaseIterable {
    case adam, sgd
  }

  func validate() throws {
    try OptionRange<Int>.epochs.check(epochs, option: "--epochs")
    try OptionRange<Int>.batch.check(batch, option: "--batch")
    try OptionRange(0...epochs).check(rewindEpoch, option: "--rewind-epoch")
    try OptionRange<Float>.learningRate.check(lr, option: "--lr")
    try OptionRange<Float>.l1.check(l1, option: "--l1")
    try OptionRange<Float>.l1.check(l1BatchNorm, option: "--l1-bn")
  }

  func run() throws {
    let architecture = try Architecture(parsing: arch)
    try OutputPath.checkWritable(out)
    if let shape = architecture.languageModel {
      try trainLanguageModel(architecture, shape: shape)
      return
    }
    let source = try dataOptions.resolveSource()
    let data = try source.load()
    if let mismatch = architecture.inputMismatch(with: data.train, in: source.path) {
      throw ShearsError("--arch \(arch)", mismatch)
    }
    // The loss reads the logit of each label, so every label needs an output.
    guard data.classCount <= architecture.classCount else {
      throw ShearsError(
        "--arch \(arch)",
        "has \(architecture.classCount) outputs but the labels in \(source.path) go up to \(data.classCount - 1)")
    }
    let kind = optimizerKind
    let options = TrainingOptions(
      epochs: epochs, batchSize: batch, optimizer: kind, schedule: lrSchedule, l1: l1,
      l1BatchNorm: l1BatchNorm, augmentation: augmentation.augmentation, rewindEpoch: rewindEpoch, seed: seed)
    try memory.budget.check(
      architecture.trainingMemory(batchSize: min(batch, data.train.count), optimizer: kind), for: "--arch \(arch)")
    var generator = SeededGenerator(seed: seed)
    let initial = Model(architecture: architecture, generator: &generator)
    if l1BatchNorm > 0 && !initial.parameters.parameters.contains(where: { $0.role == .scale }) {
      throw ShearsError("--l1-bn", "penalises BatchNorm scales, and \(architecture) has no BatchNorm")
    }
    let printer = ProgressPrinter()
    let report = try Trainer.train(initial, on: data.train, options: options) { event in
      if output.showsProgress { printer.handle(event) }
    }
    let evaluation = Evaluator(model: report.model).evaluate(data.test)
    let metadata = CheckpointMetadata(
      architecture: architecture.description, dataset: source.description, accuracy: evaluation.accuracy,
      created: ISO8601DateFormatter().string(from: Date()),
      history: [historyEntry],
      rewindEpoch: report.rewindWeights == nil ? nil : rewindEpoch)
    try Checkpoint.save(report.model, metadata: metadata, rewind: report.rewindWeights, to: out)

    let result = TrainResult(
      model: ModelReport(report.model), evaluation: evaluation, samplesPerSecond: report.samplesPerSecond,
      seconds: report.seconds, epochs: report.epochsCompleted, out: out)
    if output.json {
      try JSONOutput.print(result)
    } else {
      try Console.output(
        "trained \(architecture) for \(epochs) epochs in \(ProgressPrinter.duration(report.seconds)) "
          + "(\(ProgressPrinter.rate(report.samplesPerSecond)) samples/s)")
      try Console.output(
        String(format: "test accuracy %.4f  loss %.4f  (%d images)", evaluation.accuracy, evaluation.loss, evaluation.samples))
      try Console.output("saved \(out)")
    }
  }
}

extension TrainCommand {
  private var optimizerKind: OptimizerKind {
    switch optimizer {
    case .adam: .adam(learningRate: lr ?? 1e-3)
    case .sgd: .sgd(learningRate: lr ?? 0.05, momentum: 0.9)
    }
  }

  /// What the checkpoint's history records of the run.
  private var historyEntry: String {
    "train epochs=\(epochs) batch=\(batch) \(optimizerKind) schedule=\(lrSchedule.rawValue)"
      + (l1 > 0 ? " l1=\(l1)" : "") + (l1BatchNorm > 0 ? " l1-bn=\(l1BatchNorm)" : "") + augmentation.historyEntry
      + " seed=\(seed)"
  }

  /// `train --arch gpt:...`: windows of the training text, then the validation loss.
  private func trainLanguageModel(_ architecture: Architecture, shape: GPT.Shape) throws {
    if augmentation.augment { throw ShearsError("--augment", "shifts and flips images, and \(architecture) reads text") }
    if l1BatchNorm > 0 { throw ShearsError("--l1-bn", "penalises BatchNorm scales, and \(architecture) has no BatchNorm") }
    let corpus = try dataOptions.resolveText()
    let windows = TokenWindows(tokens: corpus.training, context: shape.context)
    guard windows.count > 0 else {
      throw ShearsError(corpus.path, "has too little training text for one window of \(shape.context) tokens")
    }
    let kind = optimizerKind
    try memory.budget.check(
      architecture.trainingMemory(batchSize: min(batch, windows.count) * shape.context, optimizer: kind),
      for: "--arch \(arch)")
    let options = TrainingOptions(
      epochs: epochs, batchSize: batch, optimizer: kind, schedule: lrSchedule, l1: l1, rewindEpoch: rewindEpoch,
      seed: seed)
    var generator = SeededGenerator(seed: seed)
    let initial = Model(architecture: architecture, generator: &generator)
    let printer = ProgressPrinter()
    let report = try Trainer.train(initial, on: windows, options: options) { event in
      if output.showsProgress { printer.handle(event) }
    }
    let evaluation = LanguageModelEvaluator(model: report.model).evaluate(corpus.validation)
    let metadata = CheckpointMetadata(
      architecture: architecture.description, dataset: corpus.path, accuracy: nil,
      created: ISO8601DateFormatter().string(from: Date()), history: [historyEntry],
      rewindEpoch: report.rewindWeights == nil ? nil : rewindEpoch)
    try Checkpoint.save(report.model, metadata: metadata, rewind: report.rewindWeights, to: out)
    let tokensPerSecond = report.samplesPerSecond * Double(shape.context)
    if output.json {
      try JSONOutput.print(
        LanguageModelTrainResult(
          model: ModelReport(report.model), evaluation: evaluation, tokensPerSecond: tokensPerSecond,
          seconds: report.seconds, epochs: report.epochsCompleted, out: out))
    } else {
      try Console.output(
        "trained \(architecture) for \(epochs) epochs in \(ProgressPrinter.duration(report.seconds)) "
          + "(\(ProgressPrinter.rate(tokensPerSecond)) tokens/s)")
      try Console.output(
        String(
          format: "validation loss %.4f nats/token  perplexity %.3f  (%d tokens)", evaluation.loss,
          evaluation.perplexity, evaluation.tokens))
      try Console.output("saved \(out)")
    }
  }
}

extension LearningRateSchedule: ExpressibleByArgument {}

/// `train --json` of a language model: the model's figures, the validation loss and the run's.
struct LanguageModelTrainResult: Encodable {
  var model: ModelReport
  var evaluation: TextEvaluation
  var tokensPerSecond: Double
  var seconds: Double
  var epochs: Int
  var out: String

  enum CodingKeys: String, CodingKey {
    case loss, perplexity, tokens, tokensPerSecond, seconds, epochs, out
  }

  func encode(to encoder: Encoder) throws {
    try model.encode(to: encoder)
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encode(evaluation.loss, forKey: .loss)
    try container.encode(evaluation.perplexity, forKey: .perplexity)
    try container.encode(evaluation.tokens, forKey: .tokens)
    try container.encode(tokensPerSecond, forKey: .tokensPerSecond)
    try container.encode(seconds, forKey: .seconds)
    try container.encode(epochs, forKey: .epochs)
    try container.encode(out, forKey: .out)
  }
}

/// `train --json`: the model's figures plus the run's.
struct TrainResult: Encodable {
  var model: ModelReport
  var evaluation: Evaluation
  var samplesPerSecond: Double
  var seconds: Double
  var epochs: Int
  var out: String

  enum CodingKeys: String, CodingKey {
    case accuracy, loss, samples, samplesPerSecond, seconds, epochs, out
  }

  func encode(to encoder: Encoder) throws {
    try model.encode(to: encoder)
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encode(evaluation.accuracy, forKey: .accuracy)
    try container.encode(evaluation.loss, forKey: .loss)
    try container.encode(evaluation.samples, forKey: .samples)
    try container.encode(samplesPerSecond, forKey: .samplesPerSecond)
    try container.encode(seconds, forKey: .seconds)
    try container.encode(epochs, forKey: .epochs)
    try container.encode(out, forKey: .out)
  }
}
