import Testing

/// `--help` for the root command and every subcommand, compared as whole texts (as
/// apple/swift-argument-parser's MathExampleTests do), and usage errors at the root.
@Suite struct HelpTests {
  /// Runs `shears <arguments> --help` and compares stdout with `expected`; help ends with a
  /// newline the parser sometimes doubles, which is not compared.
  private func expectHelp(_ arguments: [String], _ expected: String, sourceLocation: SourceLocation = #_sourceLocation)
    throws
  {
    let run = try shears(arguments + ["--help"])
    expectSuccess(run, sourceLocation: sourceLocation)
    #expect(run.stderr.isEmpty, "stderr is not empty:\n\(run)", sourceLocation: sourceLocation)
    #expect(run.stdout.hasSuffix("\n"), sourceLocation: sourceLocation)
    var text = run.stdout
    while text.hasSuffix("\n") { text.removeLast() }
    #expect(text == expected, sourceLocation: sourceLocation)
  }

  @Test func root() throws {
    try expectHelp(
      [],
      """
      OVERVIEW: Explore neural-network pruning: score, prune, measure and fine-tune a
      model.

      Data: --data DIR or FILE.npz, else $SHEARS_DATA, else
      /usr/share/datasets/fashion-mnist, else the embedded Fashion-MNIST subset; the
      chosen source is printed on stderr.

      USAGE: shears <subcommand>

      OPTIONS:
        -h, --help              Show help information.

      SUBCOMMANDS:
        explore (default)       Open the interactive pruning explorer (the default
                                command).
        train                   Train a model from scratch, evaluate it on the test
                                set and save a checkpoint.
        eval                    Evaluate a checkpoint on the test set: accuracy and
                                loss.
        info                    Show a checkpoint's layers, sparsity, size, FLOPs and
                                history.
        prune                   Prune a checkpoint by a criterion and save the result.
        finetune                Fine-tune a pruned checkpoint with its masks held,
                                optionally pruning on a schedule.
        sweep                   Prune the whole model to each amount and report the
                                accuracy-sparsity curve.
        sensitivity             Prune each layer alone to each amount and report the
                                accuracy (Distiller-style).
        export                  Write a pruned checkpoint in compact form, or its
                                pruning recipe for PyTorch.
        bench                   Measure the engine: GEMM GFLOP/s, training samples/s
                                and test-set evaluation time.

        See 'shears help <subcommand>' for detailed help.
      """)
  }

  @Test func explore() throws {
    try expectHelp(
      ["explore"],
      """
      OVERVIEW: Open the interactive pruning explorer (the default command).

      Without --model it opens the LeNet-300-100 baseline for the data source,
      trained on first use and cached under $XDG_CACHE_HOME/shears (or
      ~/.cache/shears). Press ? for the keys.

      USAGE: shears explore [--model <PATH>] [--data <DIR>] [--max-memory <GiB>]

      OPTIONS:
        --model <PATH>          Checkpoint to open (safetensors).
        --data <DIR>            Folder of MNIST-format IDX files (optionally .gz), or
                                a NumPy .npz of x_train, y_train, x_test, y_test; a
                                UTF-8 .txt for language models.
        --max-memory <GiB>      Memory the command may use, in GiB (default: this
                                machine's memory; limits set by ulimit apply too).
        -h, --help              Show help information.
      """)
  }

  @Test func train() throws {
    try expectHelp(
      ["train"],
      """
      OVERVIEW: Train a model from scratch, evaluate it on the test set and save a
      checkpoint.

      ARCH mlp:W0-W1-...-Wn: Linear layers W0 -> W1 -> ... -> Wn with ReLU between;
      W0 is the input size (784 for 28x28 images) and Wn the number of classes.
      mlp:784-300-100-10 is LeNet-300-100.

      ARCH cnn:CxHxW-ITEM-...: a convolutional network on C-channel HxW images. Each
      ITEM is conv<N>k<K>[s<S>][p<P>] (Conv2d of N KxK filters, stride S, zero
      padding P, then ReLU), pool<K> (MaxPool2d(K)) or fc<N> (Linear with N outputs;
      Flatten comes before the first, ReLU between); the last ITEM is fc<classes>.

      ARCH lenet5: cnn:1x28x28-conv20k5-pool2-conv50k5-pool2-fc500-fc10, that is
      nn.Sequential(Conv2d(1,20,5), ReLU(), MaxPool2d(2), Conv2d(20,50,5), ReLU(),
      MaxPool2d(2), Flatten(), Linear(800,500), ReLU(), Linear(500,10)).

      ARCH resnet:CxHxW-WxB-...-N: a residual network (He et al. 2016, CIFAR form) on
      C-channel HxW images: a 3x3 Conv2d of the first width with BatchNorm and ReLU,
      one stage of B basic blocks W filters wide per WxB item (each stage after the
      first halves the resolution; a block changing shape has a 1x1 Conv2d and
      BatchNorm shortcut), global average pooling and a Linear layer of N classes. A
      stage item W:I1,I2,... gives each block its own inner width (the filters of its
      first Conv2d) around a residual stream W wide, one block per I (16:8,12,16).
      resnet20 is resnet:1x28x28-16x3-32x3-64x3-10; resnet20:CxHxW takes other
      images.

      ARCH gpt:LAYERS-HEADS-WIDTH-CONTEXT: a GPT-2 language model (pre-LayerNorm
      blocks of causal self-attention with HEADS heads and a GELU MLP 4 x WIDTH wide,
      WIDTH features per token, CONTEXT tokens per sequence, output layer tied to the
      token embedding) over text read as UTF-8 bytes (a vocabulary of 256; gpt:...-vN
      for N tokens). Its tensors are named as nanoGPT's GPT module names them
      (transformer.wte.weight, transformer.h.0.attn.c_attn.weight, ...). It trains on
      --data FILE.txt, by default the embedded text (Jane Austen's novels): the last
      tenth, from a line break, is the validation text, the rest is cut into windows
      of CONTEXT tokens, --batch windows per step, each token learning its successor;
      the validation loss and perplexity are reported.

      Layers of mlp:, cnn: and lenet5 are numbered as nn.Sequential numbers them, and
      a ResNet's modules are named as torchvision names them (conv1, bn1,
      layer1.0.conv1, layer2.0.downsample.0, fc), so tensor names are those of the
      PyTorch module's state_dict. Training minimises softmax cross-entropy on the
      last layer's outputs.

      USAGE: shears train [<options>] --arch <ARCH> --out <PATH>

      OPTIONS:
        --arch <ARCH>           Architecture: mlp:..., cnn:..., lenet5, resnet:...,
                                resnet20 or gpt:... (see above).
        --data <DIR>            Folder of MNIST-format IDX files (optionally .gz), or
                                a NumPy .npz of x_train, y_train, x_test, y_test; a
                                UTF-8 .txt for language models.
        --epochs <epochs>       Passes over the training set, 1 to 10000. (default:
                                10)
        --batch <batch>         Samples per optimizer step, 1 to 65536. (default: 64)
        --optimizer <optimizer> adam or sgd (with momentum 0.9). (values: adam, sgd;
                                default: adam)
        --lr <lr>               Learning rate, above 0 and at most 10 (default 0.001
                                for adam, 0.05 for sgd).
        --lr-schedule <lr-schedule>
                                Learning-rate schedule: cosine (decays to zero over
                                the run) or constant. (values: constant, cosine;
                                default: cosine)
        --l1 <l1>               L1 penalty X, 0 to 1: adds X x sum|w| over the
                                weights to the loss (sparse training). (default: 0.0)
        --l1-bn <X>             L1 penalty X, 0 to 1, on BatchNorm scales: adds X x
                                sum|gamma| to the loss, network slimming's sparsity
                                training (Liu et al. 2017) before prune --criterion
                                bn-scale. (default: 0.0)
        --augment               Shift each training image by up to 4 pixels (zero
                                padded) and mirror it left to right at random, afresh
                                for every sample and epoch (RandomCrop(padding=4) and
                                RandomHorizontalFlip).
        --rewind-epoch <rewind-epoch>
                                Also keep the weights after this epoch, 0
                                (initialisation) to --epochs, for finetune --rewind.
        --seed <seed>           Seed for initialisation and shuffling, 0 to 2^64-1.
                                (default: 1)
        --out <PATH>            Checkpoint to write (safetensors).
        --max-memory <GiB>      Memory the command may use, in GiB (default: this
                                machine's memory; limits set by ulimit apply too).
        --json                  Print exactly one JSON object on stdout.
        --progress              Show progress on stderr even with --json.
        -h, --help              Show help information.
      """)
  }

  @Test func eval() throws {
    try expectHelp(
      ["eval"],
      """
      OVERVIEW: Evaluate a checkpoint on the test set: accuracy and loss.

      A language model (gpt:...) is evaluated on text instead: --data FILE.txt, by
      default the embedded text, its validation part or all of it (--split), in
      windows of the model's context whose last input token is the first of the next
      window, so every token but the first is predicted once; it reports the loss in
      nats per token, the perplexity and the tokens predicted.

      USAGE: shears eval --model <PATH> [--data <DIR>] [--repetitions <repetitions>] [--split <split>] [--max-memory <GiB>] [--json]

      OPTIONS:
        --model <PATH>          Checkpoint to evaluate (safetensors).
        --data <DIR>            Folder of MNIST-format IDX files (optionally .gz), or
                                a NumPy .npz of x_train, y_train, x_test, y_test; a
                                UTF-8 .txt for language models.
        --repetitions <repetitions>
                                Also time the evaluation: median of this many runs
                                after a warm-up, 1 to 1000 (milliseconds in the
                                output).
        --split <split>         Text a language model is evaluated on: validation
                                (the last tenth) or all. (values: validation, all;
                                default: validation)
        --max-memory <GiB>      Memory the command may use, in GiB (default: this
                                machine's memory; limits set by ulimit apply too).
        --json                  Print exactly one JSON object on stdout.
        -h, --help              Show help information.
      """)
  }

  @Test func info() throws {
    try expectHelp(
      ["info"],
      """
      OVERVIEW: Show a checkpoint's layers, sparsity, size, FLOPs and history.

      Any other safetensors file (a transformer shard, say) is read by memory map,
      one tensor at a time, and described tensor by tensor: range, mean, spread,
      zeros, a histogram of |w| and the sparsity magnitude thresholds would give.

      USAGE: shears info --model <PATH> [--max-memory <GiB>] [--json] [--timings]

      OPTIONS:
        --model <PATH>          Checkpoint to describe (safetensors).
        --max-memory <GiB>      Memory the command may use, in GiB (default: this
                                machine's memory; limits set by ulimit apply too).
        --json                  Print exactly one JSON object on stdout.
        --timings               Also time each layer's forward pass on one thread:
                                dense and sparse kernels, and the shrunk model's
                                layer when pruning left dead filters or neurons.
        -h, --help              Show help information.
      """)
  }

  @Test func export() throws {
    try expectHelp(
      ["export"],
      """
      OVERVIEW: Write a pruned checkpoint in compact form, or its pruning recipe for
      PyTorch.

      compact: safetensors with each pruned layer's kept weights as i.weight.values
      plus a packed bitmask (i.weight.bitmask) or CSR positions (i.weight.indices,
      i.weight.indptr), whichever is smaller; metadata i.weight.encoding says which.
      Shears loads it like any checkpoint. recipe: JSON with each layer's sparsity
      and the torch.nn.utils.prune calls that reproduce it, and a Python function
      (key "python") that applies them to a model.

      USAGE: shears export --model <PATH> --format <format> --out <PATH> [--force] [--max-memory <GiB>] [--json]

      OPTIONS:
        --model <PATH>          Checkpoint to export (safetensors).
        --format <format>       compact (safetensors) or recipe (JSON). (values:
                                compact, recipe)
        --out <PATH>            File to write.
        --force                 Allow --out to overwrite the input checkpoint.
        --max-memory <GiB>      Memory the command may use, in GiB (default: this
                                machine's memory; limits set by ulimit apply too).
        --json                  Print exactly one JSON object on stdout.
        -h, --help              Show help information.
      """)
  }

  @Test func bench() throws {
    try expectHelp(
      ["bench"],
      """
      OVERVIEW: Measure the engine: GEMM GFLOP/s, training samples/s and test-set
      evaluation time.

      Figures are medians of several runs at batch 64 of LeNet-300-100
      (mlp:784-300-100-10: GEMMs, training, evaluation dense and sparse, the
      explorer), of LeNet-5 (lenet5: its GEMMs and convolution kernels, training,
      evaluation, per-layer times dense, sparse and shrunk) and of ResNet-20 on
      images of the data's shape (training, and evaluation of 1,000 test images).
      --suite explorer (not part of all) presses threshold keys in the explorer on
      LeNet-300-100, ResNet-20 and a ResNet of about 1M parameters: key press to
      redrawn screen, median and worst. Build with -c release; a debug build is 10 to
      100 times slower.

      USAGE: shears bench [--data <DIR>] [--json] [--progress] [--repetitions <repetitions>] [--suite <suite>]

      OPTIONS:
        --data <DIR>            Folder of MNIST-format IDX files (optionally .gz), or
                                a NumPy .npz of x_train, y_train, x_test, y_test; a
                                UTF-8 .txt for language models.
        --json                  Print exactly one JSON object on stdout.
        --progress              Show progress on stderr even with --json.
        --repetitions <repetitions>
                                Repetitions per measurement, 1 to 1000 (the median is
                                reported). (default: 5)
        --suite <suite>         Which models to measure. (values: all, mlp, lenet5,
                                resnet20, explorer; default: all)
        -h, --help              Show help information.
      """)
  }

  @Test func prune() throws {
    try expectHelp(
      ["prune"],
      """
      OVERVIEW: Prune a checkpoint by a criterion and save the result.

      Pruning is cumulative, as in torch.nn.utils.prune: only weights still kept
      compete, and a fraction applies to their number (round half to even). Ties go
      lowest index first. Structured criteria (neuron-l2, filter-l1, bn-scale,
      activation, apoz, redundancy, taylor --structured) remove whole neurons, or
      filters of a convolution, together with the channels coupled to them: in a
      ResNet, a residual stream's channel in every block that writes it, with its
      BatchNorm scales and shifts. bn-scale ranks channels by |gamma| (network
      slimming; train with --l1-bn first). --shrink then removes them physically.

      USAGE: shears prune [<options>] --model <PATH> --criterion <C> --out <PATH>

      OPTIONS:
        --model <PATH>          Checkpoint to prune (safetensors).
        --criterion <C>         magnitude, random, gradient, taylor, neuron-l2,
                                filter-l1, activation, apoz, redundancy or bn-scale.
                                (values: magnitude, random, gradient, taylor,
                                neuron-l2, filter-l1, activation, apoz, redundancy,
                                bn-scale)
        --scope <scope>         layer: each layer pruned on its own; global: one
                                ranking over all layers; row: each row (neuron,
                                filter) of each layer on its own, as Wanda compares
                                weights. (values: layer, global, row; default: layer)
        --structured            Score whole neurons or filters with taylor (the
                                neuron criteria always do).
        --layers <LIST>         Prune only these Linear or Conv2d layers, e.g. 0,2
                                (default: all); a module path names every layer under
                                it.
        --seed <seed>           Seed for the random criterion, 0 to 2^64-1. (default:
                                1)
        --amount <F>            Fraction of the remaining weights to prune, 0 to 1;
                                an integer above 1 is a count.
        --threshold <T>         Prune scores below T, a finite number.
        --alpha <A>             Prune scores below A x the largest score, A 0 or more.
        --std <K>               Prune below K x the layer's weight standard
                                deviation, K 0 or more.
        --data <DIR>            Folder of MNIST-format IDX files (optionally .gz), or
                                a NumPy .npz of x_train, y_train, x_test, y_test; a
                                UTF-8 .txt for language models.
        --shrink                Remove pruned neurons and filters physically (the
                                outputs stay the same).
        --out <PATH>            Checkpoint to write (safetensors).
        --force                 Allow --out to overwrite the input checkpoint.
        --max-memory <GiB>      Memory the command may use, in GiB (default: this
                                machine's memory; limits set by ulimit apply too).
        --json                  Print exactly one JSON object on stdout.
        -h, --help              Show help information.
      """)
  }

  @Test func finetune() throws {
    try expectHelp(
      ["finetune"],
      """
      OVERVIEW: Fine-tune a pruned checkpoint with its masks held, optionally pruning
      on a schedule.

      Pruned weights stay exactly zero: the gradient, the update and the optimizer
      state are masked. With --schedule and --target-sparsity the model is pruned as
      it trains: oneshot prunes once and fine-tunes; iterative prunes in --steps
      steps with --epochs of fine-tuning after each; gradual raises the sparsity
      every --interval steps over the first 75% of the run (Zhu & Gupta 2017).

      USAGE: shears finetune [<options>] --model <PATH> --epochs <epochs> --out <PATH>

      OPTIONS:
        --model <PATH>          Checkpoint to fine-tune (safetensors).
        --data <DIR>            Folder of MNIST-format IDX files (optionally .gz), or
                                a NumPy .npz of x_train, y_train, x_test, y_test; a
                                UTF-8 .txt for language models.
        --epochs <epochs>       Passes over the training set, 1 to 10000 (per step
                                with --schedule iterative).
        --optimizer <optimizer> adam or sgd (with momentum 0.9). (values: adam, sgd;
                                default: adam)
        --lr <lr>               Learning rate, above 0 and at most 10, decayed to
                                zero over the run (default 0.008 for adam, 0.05 for
                                sgd).
        --l1 <l1>               L1 penalty X, 0 to 1: adds X x sum|w| over the
                                weights to the loss. (default: 0.0)
        --augment               Shift each training image by up to 4 pixels (zero
                                padded) and mirror it left to right at random, afresh
                                for every sample and epoch (RandomCrop(padding=4) and
                                RandomHorizontalFlip).
        --batch <batch>         Samples per optimizer step, 1 to 65536. (default: 64)
        --seed <seed>           Seed for shuffling, 0 to 2^64-1. (default: 1)
        --schedule <schedule>   none, oneshot, iterative or gradual. (values: none,
                                oneshot, iterative, gradual; default: none)
        --target-sparsity <S>   Sparsity to reach with --schedule, 0 to 1.
        --criterion <C>         Criterion for --schedule (default magnitude).
                                (values: magnitude, random, gradient, taylor,
                                neuron-l2, filter-l1, activation, apoz, redundancy,
                                bn-scale; default: magnitude)
        --scope <scope>         layer, global or row, for --schedule. (values: layer,
                                global, row; default: layer)
        --steps <steps>         Pruning steps of --schedule iterative, 1 to 100.
                                (default: 3)
        --interval <interval>   Training steps between mask updates of --schedule
                                gradual, 1 to 1000000. (default: 100)
        --rewind                Restart from the checkpoint's rewind weights under
                                its masks (lottery ticket; train --rewind-epoch).
        --out <PATH>            Checkpoint to write (safetensors).
        --force                 Allow --out to overwrite the input checkpoint.
        --max-memory <GiB>      Memory the command may use, in GiB (default: this
                                machine's memory; limits set by ulimit apply too).
        --json                  Print exactly one JSON object on stdout.
        --progress              Show progress on stderr even with --json.
        -h, --help              Show help information.
      """)
  }

  @Test func sweep() throws {
    try expectHelp(
      ["sweep"],
      """
      OVERVIEW: Prune the whole model to each amount and report the accuracy-sparsity
      curve.

      Each amount starts from the input checkpoint; scores are computed once.

      USAGE: shears sweep [<options>] --model <PATH> --criterion <C> --amounts <LIST>

      OPTIONS:
        --model <PATH>          Checkpoint to sweep (safetensors).
        --criterion <C>         magnitude, random, gradient, taylor, neuron-l2,
                                filter-l1, activation, apoz, redundancy or bn-scale.
                                (values: magnitude, random, gradient, taylor,
                                neuron-l2, filter-l1, activation, apoz, redundancy,
                                bn-scale)
        --scope <scope>         layer: each layer pruned on its own; global: one
                                ranking over all layers; row: each row (neuron,
                                filter) of each layer on its own, as Wanda compares
                                weights. (values: layer, global, row; default: layer)
        --structured            Score whole neurons or filters with taylor (the
                                neuron criteria always do).
        --layers <LIST>         Prune only these Linear or Conv2d layers, e.g. 0,2
                                (default: all); a module path names every layer under
                                it.
        --seed <seed>           Seed for the random criterion, 0 to 2^64-1. (default:
                                1)
        --amounts <LIST>        Amounts to prune, e.g. 0,0.5,0.9: 1 to 100 entries,
                                each as --amount.
        --finetune-epochs <finetune-epochs>
                                Fine-tune this many epochs at each amount before
                                evaluating, 0 to 10000. (default: 0)
        --data <DIR>            Folder of MNIST-format IDX files (optionally .gz), or
                                a NumPy .npz of x_train, y_train, x_test, y_test; a
                                UTF-8 .txt for language models.
        --csv <PATH>            Also write the rows as CSV.
        --max-memory <GiB>      Memory the command may use, in GiB (default: this
                                machine's memory; limits set by ulimit apply too).
        --json                  Print exactly one JSON object on stdout.
        --progress              Show progress on stderr even with --json.
        -h, --help              Show help information.
      """)
  }

  @Test func sensitivity() throws {
    try expectHelp(
      ["sensitivity"],
      """
      OVERVIEW: Prune each layer alone to each amount and report the accuracy
      (Distiller-style).

      Every row starts from the input checkpoint: one layer is pruned, evaluated and
      restored.

      USAGE: shears sensitivity --model <PATH> [--criterion <C>] --amounts <LIST> [--data <DIR>] [--csv <PATH>] [--max-memory <GiB>] [--json] [--progress]

      OPTIONS:
        --model <PATH>          Checkpoint to analyse (safetensors).
        --criterion <C>         Criterion (default magnitude). (values: magnitude,
                                random, gradient, taylor, neuron-l2, filter-l1,
                                activation, apoz, redundancy, bn-scale; default:
                                magnitude)
        --amounts <LIST>        Amounts to prune, e.g. 0.1,0.3,0.5,0.7,0.9: 1 to 100
                                entries, each as --amount.
        --data <DIR>            Folder of MNIST-format IDX files (optionally .gz), or
                                a NumPy .npz of x_train, y_train, x_test, y_test; a
                                UTF-8 .txt for language models.
        --csv <PATH>            Also write the rows as CSV.
        --max-memory <GiB>      Memory the command may use, in GiB (default: this
                                machine's memory; limits set by ulimit apply too).
        --json                  Print exactly one JSON object on stdout.
        --progress              Show progress on stderr even with --json.
        -h, --help              Show help information.
      """)
  }

  /// `shears help <subcommand>` prints the same text as `shears <subcommand> --help`.
  @Test(arguments: ["explore", "train", "eval", "info", "prune", "finetune", "sweep", "sensitivity", "export", "bench"])
  func helpSubcommandMatchesHelpFlag(_ subcommand: String) throws {
    let viaFlag = try shears(subcommand, "--help")
    let viaHelp = try shears("help", subcommand)
    expectSuccess(viaHelp)
    #expect(viaHelp.stdout == viaFlag.stdout)
  }

  /// An unknown subcommand or option is bad usage: exit 2 and the parser's one-line reason first.
  @Test(arguments: [
    (["frobnicate"], "Error: Unexpected argument 'frobnicate'"),
    (["--frobnicate"], "Error: Unknown option '--frobnicate'"),
    (
      ["train", "--arch", "mlp:784-16-10", "--out", "m.safetensors", "--frobnicate"],
      "Error: Unknown option '--frobnicate'"
    ),
    (["info", "--model", "m.safetensors", "--progress"], "Error: Unknown option '--progress'"),
  ])
  func unknownSubcommandOrOption(_ arguments: [String], _ firstLine: String) throws {
    let lines = expectUsageError(try shears(arguments))
    #expect(lines.first == firstLine)
  }
}
