import Testing
@testable import ExplorerCore

/// Whole screens of the fixture model, compared as text (styles are checked in
/// `ScreenStyleTests`). To see one: `print(Screen.render(state).description)`.
struct ScreenTests {
  /// The default screen: layer scope, |w| histogram with linear counts, the first layer selected.
  @Test func theScreenAt80x24() {
    expectText(
      Screen.render(ScreenCases.layerScope),
      """
       shears  model: tiny.safetensors  data: /data/tiny (--data)  [unsaved]
       criterion magnitude (weights)   scope layer   histogram |w| linear
        layer     shape     threshold sparsity                           nonzero  ties
      > 0.weight  15x20     0.0665    █████████████░░░░░░░░░░░░░  50.0%      150     0
        2.weight  3x4       0.15      ███████░░░░░░░░░░░░░░░░░░░  25.0%        9     0
        4.weight  2x3       0.3       █████████████░░░░░░░░░░░░░  50.0%        3     2

      0.weight |w|: 50.0% pruned                     accuracy 0.8125 (64 images)
        █        │                                     dense  0.8594  -4.69 pts
        █        │                                   loss     0.5432
        █   ▆    │                                   sparsity 49.1%  2.0x smaller
        █   █    │                                   size     1 KiB → 769 B
        ██  █ ▃ ▃▃                                   FLOPs    656 → 344
        ██▂▂█ █▇██ ▂  ▂  ▇                           speed-up 1.3x measured
      ▆ █████ ████▁█  █  █    ▁                      accuracy vs sparsity
      █▅█████ ██████▅ █  █    █                      0.864 ⠂    ⠐
      ███████████████ █ ███▃  █  ██
      ███████████████▇█ ████▇▇█▂ ██▂        ▂
      █████████████████▁████████ ███▆  ▆▆ ▆▁█▆ ▆                    o
      ██████████████████████████▅████▅▅██▅████▅█ ▅ ▅ 0.792              ⠠
      0          ▲ cut 0.0665                 0.2554       0%                     100%

       opened /models/tiny.safetensors
       ←→ prune  ↑↓ layer  g scope  c criterion  f fine-tune  s save  ? help  q quit
      """)
  }

  /// At 120x40 the bars, the histogram and the curve use the extra room.
  @Test func aLargerTerminalGivesTheBarsHistogramAndCurveMoreRoom() {
    expectText(
      Screen.render(ScreenCases.large),
      """
       shears  model: tiny.safetensors  data: /data/tiny (--data)  [unsaved]
       criterion magnitude (weights)   scope layer   histogram |w| linear
        layer     shape     threshold sparsity                                                                   nonzero  ties
      > 0.weight  15x20     0.0665    █████████████████████████████████░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░  50.0%      150     0
        2.weight  3x4       0.15      █████████████████░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░  25.0%        9     0
        4.weight  2x3       0.3       █████████████████████████████████░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░  50.0%        3     2

      0.weight |w|: 50.0% pruned                                            accuracy 0.8125 (64 images)
         █             │                                                      dense  0.8594  -4.69 pts
         █             │                                                    loss     0.5432
         █             │                                                    sparsity 49.1%  2.0x smaller
         █             │                                                    size     1 KiB → 769 B
         █             │                                                    FLOPs    656 → 344
         █             │                                                    speed-up 1.3x measured
         █             │                                                    accuracy vs sparsity
         █             │                                                    0.864
         █             │                                                          ⠄       ⠠
         █             │
         █     ▁       ▁
         █     █       █
         █▄    █       █          ▄
         ██    █       █          █
         ██  █ █  ██   █          █
      ▄  ██ ▄█ █▄ ██ ▄ █  ▄▄      █
      █  ██ ██ ██ ██ █ █  ██      █
      █▇ ██▇██ ██ ██▇█▇█▇ ██      █  ▇    ▇
      ██ █████ ██ ███████ ██  ▃▃  █  █    █
      ██ █████ ██ ███████ ██  ██  █  █    █
      ██ █████▆██▆███████▆██  ██ ▆█  █▆  ▆█    ▆ ▆
      ██ ███████████████████  ██ ██▂ ██▂ ██    █ █                                               o
      ██ ███████████████████  ██ ███ ███ ██    █ █
      ██▅███████████████████▅ ██ ███ ███ ██▅▅ ▅█▅█▅      ▅     ▅
      ███████████████████████▁██ ███ ███ ████ █████▁▁  ▁▁█  ▁ ▁█▁▁ ▁▁
      ██████████████████████████ ███ ███ ████ ███████  ███  █ ████ ██
      ██████████████████████████▄███▄███▄████ ███████  ███▄ █▄████ ██ ▄   ▄                             ⠂
      ███████████████████████████████████████ ███████  ████ ██████ ██ █   █ 0.792
      0                ▲ cut 0.0665                                  0.2554       0%                                      100%

       opened /models/tiny.safetensors
       ←→ prune  ↑↓ layer  g scope  c criterion  f fine-tune  s save  ? help  q quit
      """)
  }

  /// At the minimum size (60x18) the shape column, the curve and the least used keys give way.
  @Test func theSmallestScreenLeavesOutTheShapesAndTheCurve() {
    expectText(
      Screen.render(ScreenCases.minimum),
      """
       shears  tiny.safetensors  …/tiny (--data)  [unsaved]
       criterion magnitude (weights)  scope layer  hist |w| linear
        layer     threshold sparsity                 nonzero  ties
      > 0.weight  0.0665    ████████░░░░░░░░  50.0%      150     0
        2.weight  0.15      ████░░░░░░░░░░░░  25.0%        9     0
        4.weight  0.3       ████████░░░░░░░░  50.0%        3     2

      0.weight |w|: 50.0% pruned  accuracy 0.8125 (64 images)
       █     │                      dense  0.8594  -4.69 pts
       █ █  █│                    loss     0.5432
      ▄█▇█▄▇█▆                    sparsity 49.1%  2.0x smaller
      ████████▇▆ ▆▄ ▆ ▄           size     1 KiB → 769 B
      ██████████▇██▇█ █▂    ▄     FLOPs    656 → 344
      ███████████████▇██▃▇▇▅█▃▇▂▂ speed-up 1.3x measured
      0      ▲ cut 0.0665  0.2554

       opened /models/tiny.safetensors
       ←→ prune  ↑↓ layer  f fine-tune  s save  ? help  q quit
      """)
  }

  /// Below the minimum size one line says so (and how to quit).
  @Test func belowTheMinimumOneLineSaysSo() {
    expectText(
      Screen.render(ScreenCases.tooSmall),
      """
      terminal too small: 50x15, needs 60x18 (q quits)
      """)
  }

  /// Narrower than that line, it is split.
  @Test func aVeryNarrowTerminalSplitsTheLine() {
    expectText(
      Screen.render(ScreenCases.tooNarrow),
      """
      terminal too small: 30x24
      needs 60x18
      q quits
      """)
  }

  /// After `g`: one threshold for every layer, each layer pruned by its share under it.
  @Test func globalScopeShowsOneCutAndEachLayersShare() {
    expectText(
      Screen.render(ScreenCases.globalScope),
      """
       shears  model: tiny.safetensors  data: /data/tiny (--data)  [unsaved]
       criterion magnitude (weights)   scope global   histogram |w| linear
        layer     shape     threshold sparsity                           nonzero  ties
      > 0.weight  15x20     0.07      █████████████░░░░░░░░░░░░░  51.7%      145     2
        2.weight  3x4       0.07      ██░░░░░░░░░░░░░░░░░░░░░░░░   8.3%       11     0
        4.weight  2x3       0.07      ░░░░░░░░░░░░░░░░░░░░░░░░░░   0.0%        6     0

      0.weight |w|: 51.7% pruned                     accuracy 0.8125 (64 images)
        █         │                                    dense  0.8594  -4.69 pts
        █         │                                  loss     0.5432
        █   ▆     │                                  sparsity 49.1%  2.0x smaller
        █   █     │                                  size     1 KiB → 769 B
        ██  █ ▃ ▃▃│                                  FLOPs    656 → 344
        ██▂▂█ █▇██│▂  ▂  ▇                           speed-up 1.3x measured
      ▆ █████ ████▁█  █  █    ▁                      accuracy vs sparsity
      █▅█████ ██████▅ █  █    █                      0.864 ⠂    ⠐
      ███████████████ █ ███▃  █  ██
      ███████████████▇█ ████▇▇█▂ ██▂        ▂
      █████████████████▁████████ ███▆  ▆▆ ▆▁█▆ ▆                    o
      ██████████████████████████▅████▅▅██▅████▅█ ▅ ▅ 0.792              ⠠
      0           ▲ cut 0.07                  0.2554       0%                     100%
       evaluating...
       opened /models/tiny.safetensors
       ←→ prune  ↑↓ layer  g scope  c criterion  f fine-tune  s save  ? help  q quit
      """)
  }

  /// While fine-tuning (here with the second layer selected): the progress bar and the keys that still work.
  @Test func fineTuningShowsTheProgressBarAndTheKeysThatStillWork() {
    expectText(
      Screen.render(ScreenCases.fineTuning),
      """
       shears  model: tiny.safetensors  data: /data/tiny (--data)  [unsaved]
       criterion magnitude (weights)   scope layer   histogram |w| linear
        layer     shape     threshold sparsity                           nonzero  ties
        0.weight  15x20     0.0665    █████████████░░░░░░░░░░░░░  50.0%      150     0
      > 2.weight  3x4       0.15      ███████░░░░░░░░░░░░░░░░░░░  25.0%        9     0
        4.weight  2x3       0.3       █████████████░░░░░░░░░░░░░  50.0%        3     2

      2.weight |w|: 25.0% pruned                     accuracy 0.8125 (64 images)
        █ █ █  █   █    █    █   █    █   █    █   █   dense  0.8594  -4.69 pts
        █ █ █  █   █    █    █   █    █   █    █   █ loss     0.5432
        █ █ █  █   █    █    █   █    █   █    █   █ sparsity 49.1%  2.0x smaller
        █ █ █  █   █    █    █   █    █   █    █   █ size     1 KiB → 769 B
        █ █ █  █   █    █    █   █    █   █    █   █ FLOPs    656 → 344
        █ █ █  █   █    █    █   █    █   █    █   █ speed-up 1.3x measured
        █ █ █  █   █    █    █   █    █   █    █   █ accuracy vs sparsity
        █ █ █  █   █    █    █   █    █   █    █   █ 0.864 ⠂    ⠐
        █ █ █  █   █    █    █   █    █   █    █   █
        █ █ █  █   █    █    █   █    █   █    █   █
        █ █ █  █   █    █    █   █    █   █    █   █                o
        █ █ █  █   █    █    █   █    █   █    █   █ 0.792              ⠠
      0     ▲ cut 0.15                             1       0%                     100%
       epoch 2/3 batch 50/100 [██████░░░░░░] 50%  loss 0.4321  12k samples/s  ETA 0:30
       opened /models/tiny.safetensors
       x cancel fine-tune  ↑↓ layer  h/l histogram  ? help  q quit
      """)
  }

  /// After `f`, `1`, `2`: the prompt and its keys.
  @Test func theEpochsPrompt() {
    expectText(
      Screen.render(ScreenCases.epochsPrompt),
      """
       shears  model: tiny.safetensors  data: /data/tiny (--data)  [unsaved]
       criterion magnitude (weights)   scope layer   histogram |w| linear
        layer     shape     threshold sparsity                           nonzero  ties
      > 0.weight  15x20     0.0665    █████████████░░░░░░░░░░░░░  50.0%      150     0
        2.weight  3x4       0.15      ███████░░░░░░░░░░░░░░░░░░░  25.0%        9     0
        4.weight  2x3       0.3       █████████████░░░░░░░░░░░░░  50.0%        3     2

      0.weight |w|: 50.0% pruned                     accuracy 0.8125 (64 images)
        █        │                                     dense  0.8594  -4.69 pts
        █        │                                   loss     0.5432
        █   ▆    │                                   sparsity 49.1%  2.0x smaller
        █   █    │                                   size     1 KiB → 769 B
        ██  █ ▃ ▃▃                                   FLOPs    656 → 344
        ██▂▂█ █▇██ ▂  ▂  ▇                           speed-up 1.3x measured
      ▆ █████ ████▁█  █  █    ▁                      accuracy vs sparsity
      █▅█████ ██████▅ █  █    █                      0.864 ⠂    ⠐
      ███████████████ █ ███▃  █  ██
      ███████████████▇█ ████▇▇█▂ ██▂        ▂
      █████████████████▁████████ ███▆  ▆▆ ▆▁█▆ ▆                    o
      ██████████████████████████▅████▅▅██▅████▅█ ▅ ▅ 0.792              ⠠
      0          ▲ cut 0.0665                 0.2554       0%                     100%

       fine-tune epochs [1]: 12_
       0-9 epochs  Backspace erase  Enter start  Esc cancel
      """)
  }

  /// `q` with unsaved changes asks first.
  @Test func theQuitQuestion() {
    expectText(
      Screen.render(ScreenCases.confirmQuit),
      """
       shears  model: tiny.safetensors  data: /data/tiny (--data)  [unsaved]
       criterion magnitude (weights)   scope layer   histogram |w| linear
        layer     shape     threshold sparsity                           nonzero  ties
      > 0.weight  15x20     0.0665    █████████████░░░░░░░░░░░░░  50.0%      150     0
        2.weight  3x4       0.15      ███████░░░░░░░░░░░░░░░░░░░  25.0%        9     0
        4.weight  2x3       0.3       █████████████░░░░░░░░░░░░░  50.0%        3     2

      0.weight |w|: 50.0% pruned                     accuracy 0.8125 (64 images)
        █        │                                     dense  0.8594  -4.69 pts
        █        │                                   loss     0.5432
        █   ▆    │                                   sparsity 49.1%  2.0x smaller
        █   █    │                                   size     1 KiB → 769 B
        ██  █ ▃ ▃▃                                   FLOPs    656 → 344
        ██▂▂█ █▇██ ▂  ▂  ▇                           speed-up 1.3x measured
      ▆ █████ ████▁█  █  █    ▁                      accuracy vs sparsity
      █▅█████ ██████▅ █  █    █                      0.864 ⠂    ⠐
      ███████████████ █ ███▃  █  ██
      ███████████████▇█ ████▇▇█▂ ██▂        ▂
      █████████████████▁████████ ███▆  ▆▆ ▆▁█▆ ▆                    o
      ██████████████████████████▅████▅▅██▅████▅█ ▅ ▅ 0.792              ⠠
      0          ▲ cut 0.0665                 0.2554       0%                     100%

       unsaved changes: quit anyway? (y/n)
       y quit  any other key: stay
      """)
  }

  /// `?`: every binding of the keymap, then the mouse.
  @Test func theHelpScreenIsGeneratedFromTheKeymap() {
    expectText(
      Screen.render(ScreenCases.help),
      """
       shears  model: tiny.safetensors  data: /data/tiny (--data)  [unsaved]

                         Keys
                         →         prune 1% more
                         ←         prune 1% less
                         ⇧→, PgUp  prune 10% more
                         ⇧←, PgDn  prune 10% less
                         ↑         select the previous layer
                         ↓         select the next layer
                         g         layer or global scope
                         c         next criterion
                         l         log or linear counts
                         h         |w| or signed weights
                         f         fine-tune (asks for epochs)
                         x         cancel the fine-tune
                         s         save a checkpoint
                         u         undo the last prune or fine-tune
                         r         reset to the dense model
                         e         export the curve as CSV
                         ?         show or hide this help
                         q         quit
                         click     select the layer of a table row

       any key: back
      """)
  }

  /// Without a UTF-8 locale: ASCII bars, histogram, markers, arrows and key names.
  @Test func asciiGlyphsWithoutUTF8() {
    expectText(
      Screen.render(ScreenCases.ascii),
      """
       shears  model: tiny.safetensors  data: /data/tiny (--data)  [unsaved]
       criterion magnitude (weights)   scope layer   histogram |w| linear
        layer     shape     threshold sparsity                           nonzero  ties
      > 0.weight  15x20     0.0665    #############-------------  50.0%      150     0
        2.weight  3x4       0.15      #######-------------------  25.0%        9     0
        4.weight  2x3       0.3       #############-------------  50.0%        3     2

      0.weight |w|: 50.0% pruned                     accuracy 0.8125 (64 images)
        #        |                                     dense  0.8594  -4.69 pts
        #        |                                   loss     0.5432
        #   =    |                                   sparsity 49.1%  2.0x smaller
        #   #    |                                   size     1 KiB -> 769 B
        ##  # - --                                   FLOPs    656 -> 344
        ##..# #### .  .  #                           speed-up 1.3x measured
      = ##### ####.#  #  #    .                      accuracy vs sparsity
      #=##### ######= #  #    #                      0.864 *    *
      ############### # ###-  #  ##
      ################# #######. ##.        .
      #################.######## ###=  == =.#= =                    o
      ##########################=####==##=####=# = = 0.792              *
      0          ^ cut 0.0665                 0.2554       0%                     100%

       opened /models/tiny.safetensors
       Left/Right prune  Up/Down layer  g scope  f fine-tune  s save  ? help  q quit
      """)
  }

  /// Before a model is open (training the baseline): the progress and the message only.
  @Test func trainingTheBaselineShowsOnlyTheProgress() {
    expectText(
      Screen.render(ScreenCases.trainingBaseline),
      """
       shears




















       epoch 2/3 batch 50/100 [██████░░░░░░] 50%  loss 0.4321  12k samples/s  ETA 0:30
       training the baseline mlp:784-300-100-10; it is cached for next time
       ? help  q quit
      """)
  }

  /// A convolutional network by magnitude: the convolutions are rows of the table like the
  /// Linear layers, with their four-dimensional shapes, and the first one's |w| histogram.
  @Test func aConvolutionalNetworkByMagnitude() {
    expectText(
      Screen.render(ScreenCases.convolution),
      """
       shears  model: lenet-tiny.safetensors  data: /data/tiny (--data)  [unsaved]
       criterion magnitude (weights)   scope layer   histogram |w| linear
        layer     shape     threshold sparsity                           nonzero  ties
      > 0.weight  8x1x3x3   0.1321    ████████░░░░░░░░░░░░░░░░░░  30.6%       50     0
        3.weight  12x8x2x2  0.1996    █████████████░░░░░░░░░░░░░  50.0%      192     0
        7.weight  16x12     0.251     ████████████████░░░░░░░░░░  59.9%       77     0
        9.weight  10x16     0.0715    █████░░░░░░░░░░░░░░░░░░░░░  20.0%      128     0

      0.weight |w|: 30.6% pruned                     accuracy 0.8125 (64 images)
              █                                        dense  0.8594  -4.69 pts
              █                                      loss     0.5432
              █                                      sparsity 44.7%  1.8x smaller
              █                                      size     3 KiB → 2 KiB
         ▇    █                                      FLOPs    1662 → 940
         █    █   ▄▄            ▄                    speed-up 1.3x measured
      ▁  █    █▁  ██            █                    accuracy vs sparsity
      █  █    ██  ██            █                    0.864 ⠂    ⠐
      █▆▆█▆▆ ▆██▆▆██▆  ▆    ▆▆  █ ▆    ▆
      ██████▃████████▃▃█▃  ▃██▃▃█▃█▃▃ ▃█▃ ▃     ▃  ▃                o
      ███████████████████  ██████████ ███ █     █  █ 0.792              ⠠
      0       ▲ cut 0.1321                    0.7495       0%                     100%

       opened /models/lenet-tiny.safetensors
       ←→ prune  ↑↓ layer  g scope  c criterion  f fine-tune  s save  ? help  q quit
      """)
  }

  /// By neuron-l2 the table counts filters kept of a convolution's filters and neurons of the
  /// hidden Linear layer's, and the histogram has one score per filter: the L2 norms of the
  /// second convolution's 12 filters, 6 of them under the cut.
  @Test func aFilterCriterionCountsFilters() {
    expectText(
      Screen.render(ScreenCases.filters),
      """
       shears  model: lenet-tiny.safetensors  data: /data/tiny (--data)  [unsaved]
       criterion neuron-l2 (filters, neurons)   scope layer   histogram scores linear
        layer     shape     threshold sparsity                              kept  ties
        0.weight  8x1x3x3   0.6048    ███████░░░░░░░░░░░░░░░░░░░  25.0%      6/8     0
      > 3.weight  12x8x2x2  1.535     █████████████░░░░░░░░░░░░░  50.0%     6/12     0
        7.weight  16x12     0.8373    ███████░░░░░░░░░░░░░░░░░░░  25.0%    12/16     0
        9.weight  10x16     -         ░░░░░░░░░░░░░░░░░░░░░░░░░░   0.0%    10/10     -

      3.weight neuron-l2 per filter: 50.0% pruned    accuracy 0.8125 (64 images)
              █                                        dense  0.8594  -4.69 pts
              █                                      loss     0.5432
              █                                      sparsity 31.9%  1.5x smaller
              █                                      size     3 KiB → 2 KiB
              █                                      FLOPs    1662 → 1146
      ▄   ▄▄▄ █         ▄  ▄      ▄ ▄        ▄     ▄ speed-up 1.3x measured
      █   ███ █         █  █      █ █        █     █ accuracy vs sparsity
      █   ███ █         █  █      █ █        █     █ 0.864 ⠂    ⠐
      █   ███ █         █  █      █ █        █     █
      █   ███ █         █  █      █ █        █     █                o
      █   ███ █         █  █      █ █        █     █ 0.792              ⠠
      1.346   ▲ cut 1.535                      2.345       0%                     100%

       opened /models/lenet-tiny.safetensors
       ←→ prune  ↑↓ layer  g scope  c criterion  f fine-tune  s save  ? help  q quit
      """)
  }

  @Test func everyScreenFillsExactlyTheTerminal() {
    for (name, state) in ScreenCases.all {
      let screen = Screen.render(state)
      #expect(screen.width == state.width && screen.height == state.height, "\(name)")
      #expect(screen.lines.allSatisfy { $0.count <= state.width }, "\(name)")
    }
  }
}
