import PruneEngine
import Testing
@testable import ExplorerCore

/// The panels one by one, each in a buffer of its own size (see `PanelCases`).
struct PanelTests {
  /// Name, shape, threshold (the cut), the sparsity bar and percentage, nonzeros and ties at the cut (two |w| = 0.3 in `4.weight`).
  @Test func theLayerTable() {
    expectText(
      PanelCases.table,
      """
        layer     shape     threshold sparsity                           nonzero  ties
      > 0.weight  15x20     0.0665    █████████████░░░░░░░░░░░░░  50.0%      150     0
        2.weight  3x4       0.15      ███████░░░░░░░░░░░░░░░░░░░  25.0%        9     0
        4.weight  2x3       0.3       █████████████░░░░░░░░░░░░░  50.0%        3     2
      """)
  }

  /// Below 66 columns the shape column goes so the bar keeps 10 cells.
  @Test func aNarrowLayerTableLeavesOutTheShape() {
    expectText(
      PanelCases.tableNarrow,
      """
        layer     threshold sparsity                 nonzero  ties
      > 0.weight  0.0665    ████████░░░░░░░░  50.0%      150     0
        2.weight  0.15      ████░░░░░░░░░░░░  25.0%        9     0
        4.weight  0.3       ████████░░░░░░░░  50.0%        3     2
      """)
  }

  /// A residual network's layers grouped by block: the first layer of a block named in full,
  /// the others indented under it by their names in the block.
  @Test func theLayerTableGroupsLayersByBlock() {
    expectText(
      PanelCases.tableResidual,
      """
        layer          shape     threshold sparsity                      nonzero  ties
        conv1          2x3       0.3       ███████████░░░░░░░░░░  50.0%        3     2
        layer1.0.conv1 2x3       -         ░░░░░░░░░░░░░░░░░░░░░   0.0%        6     0
          conv2        2x3       0.3       ███████████░░░░░░░░░░  50.0%        3     2
        layer2.0.conv1 2x3       -         ░░░░░░░░░░░░░░░░░░░░░   0.0%        6     0
          conv2        2x3       0.3       ███████████░░░░░░░░░░  50.0%        3     2
      >   shortcut.0   2x3       -         ░░░░░░░░░░░░░░░░░░░░░   0.0%        6     0
        fc             2x3       0.3       ███████████░░░░░░░░░░  50.0%        3     2
      """)
  }

  /// At the narrowest screen a long name keeps its room and the shape column goes; without
  /// room, names lose their start and keep the end that tells them apart.
  @Test func aNarrowTableElidesLongNamesFromTheLeft() {
    expectText(
      PanelCases.tableResidualNarrow,
      """
        layer          threshold sparsity            nonzero  ties
      > conv1          0.3       ██████░░░░░  50.0%        3     2
        layer1.0.conv1 -         ░░░░░░░░░░░   0.0%        6     0
          conv2        0.3       ██████░░░░░  50.0%        3     2
        layer2.0.conv1 -         ░░░░░░░░░░░   0.0%        6     0
          conv2        0.3       ██████░░░░░  50.0%        3     2
          shortcut.0   -         ░░░░░░░░░░░   0.0%        6     0
        fc             0.3       ██████░░░░░  50.0%        3     2
      """)
    #expect(LayerTablePanel.elideLeft("layer2.0.conv1", 9, ellipsis: "…") == "…0.conv1")
    #expect(LayerTablePanel.elideLeft("  shortcut.0", 9, ellipsis: "...") == "  ...ut.0")
    #expect(LayerTablePanel.displayNames(["0", "2"].map { ParameterPath($0)! }) == ["0.weight", "2.weight"])
    // Scrolled so that a block's second layer is on top: it is named in full.
    let paths = ResidualFixture.paths.map { ParameterPath($0)! }
    #expect(LayerTablePanel.displayNames(paths, firstShown: 2)[1...4] == ["layer1.0.conv1", "layer1.0.conv2", "layer2.0.conv1", "  conv2"])
  }

  /// Five layers in three rows, the last selected.
  @Test func theLayerTableScrollsToTheSelection() {
    expectText(
      PanelCases.tableScrolled,
      """
        layer     shape     threshold sparsity                           nonzero  ties
        4.weight  2x3       0.3       █████████████░░░░░░░░░░░░░  50.0%        3     2
        6.weight  2x3       -         ░░░░░░░░░░░░░░░░░░░░░░░░░░   0.0%        6     0
      > 8.weight  2x3       -         ░░░░░░░░░░░░░░░░░░░░░░░░░░   0.0%        6     0
      """)
  }

  /// A neuron criterion counts neurons kept of all neurons; it leaves the output layer alone: no
  /// threshold, no ties, its weights' sparsity and the rows that keep a weight. Half of 15 rows
  /// prunes 8 (7.5 rounded half to even); the cuts are the 8th smallest row norm of `0.weight`
  /// and the smallest of `2.weight` (|(0.1, -0.3, 0.5, -0.7)| = 0.9165).
  @Test func aNeuronCriterionCountsTheNeuronsKept() {
    expectText(
      PanelCases.tableNeurons,
      """
        layer     shape     threshold sparsity                              kept  ties
      > 0.weight  15x20     0.4338    ██████████████░░░░░░░░░░░░  53.3%     7/15     0
        2.weight  3x4       0.9165    █████████░░░░░░░░░░░░░░░░░  33.3%      2/3     0
        4.weight  2x3       -         █████████████░░░░░░░░░░░░░  50.0%      2/2     -
      """)
  }

  /// A target the session has not pruned to yet: the neurons it will keep, at once.
  @Test func theNeuronsKeptFollowTheKeysBeforeTheSession() {
    expectText(
      PanelCases.tableNeuronsPending,
      """
        layer     shape     threshold sparsity                              kept  ties
      > 0.weight  15x20     0.4391    ████████████████░░░░░░░░░░  60.0%     6/15     0
        2.weight  3x4       0.9165    █████████░░░░░░░░░░░░░░░░░  33.3%      2/3     0
        4.weight  2x3       -         █████████████░░░░░░░░░░░░░  50.0%      2/2     -
      """)
  }

  /// One score per neuron, from the lowest to the highest; the title keeps "per neuron" when the
  /// criterion's name does not fit.
  @Test func theHistogramOfNeuronScores() {
    expectText(
      PanelCases.histogramNeurons,
      """
      0.weight per neuron: 53.3% pruned
                         █
                         █
                         █
                         █
                         █
      ▅        ▅   ▅▅▅▅ ▅█    ▅  ▅   ▅ ▅     ▅
      █        █   ████ ██    █  █   █ █     █
      █        █   ████ ██    █  █   █ █     █
      0.2629             ▲ cut 0.4338   0.6191
      """)
  }

  /// |w| with linear counts: the cut's column has a line above the bars and a marker under the axis.
  @Test func theHistogramOfMagnitudesWithTheCut() {
    expectText(
      PanelCases.histogramAbsolute,
      """
      0.weight |w|: 50.0% pruned
        █       ▂
        █  ▆ ▃  █     ▃
       ██ ██ █ ▅█     █
      ▆██▆██ █ ██▃    █ ▃
      ██████▂██████▅▂ █ █ ▅   ▂
      ███████████████ █ █▃█▃  █▃
      ███████████████▅█ ████▂▅██▅  ▅  ▂▅▂
      █████████████████▃█████████▃▆█▆▆███▆▆▃ ▃
      0         ▲ cut 0.0665            0.2554
      """)
  }

  /// Signed weights: the cut at ±threshold, labelled once.
  @Test func theHistogramOfSignedWeightsHasTwoCuts() {
    expectText(
      PanelCases.histogramSigned,
      """
      0.weight w: 50.0% pruned
                   │   █      │
                   │   █   ▁  │
                   ▄▇▄ █   █  │
                   ███ █▆  █ ▃│  ▃
                  ▅███▅███▂███▅▂ █
           ▁ ▄▇▄▇▇██████████████▄█
      ▁▇▁▁ █▇█████████████████████▇▇▄▇▄ ▄  ▁
      ████▆████████████████████████████▃█▃▆█▃▃
      -0.2302      ▲          ▲ cut ±0.0665
      """)
  }

  /// Log counts lift the rare large weights.
  @Test func theHistogramWithLogCounts() {
    expectText(
      PanelCases.histogramLog,
      """
      0.weight |w|: 50.0% pruned
       ▂█ ▂▅ ▄ ▁▆     ▄
      ▆██▆██ █▂██▄▂   █ ▄
      ██████▆███████▆ █ █▁█▁  ▆▁
      ███████████████▂█ ████ ▂██▂  ▂   ▂
      █████████████████ ████▅████  █  ▅█▅
      █████████████████ █████████ ▇█▇▇███▇▇
      █████████████████▇█████████▇█████████▇ ▇
      ██████████████████████████████████████ █
      0         ▲ cut 0.0665            0.2554
      """)
  }

  /// Both toggles.
  @Test func theHistogramOfSignedWeightsWithLogCounts() {
    expectText(
      PanelCases.histogramSignedLog,
      """
      0.weight w: 50.0% pruned
                   ▁▂▁ █   ▃  │
                  ▁███▁█▆▃ █▃▄▁  ▄
             ▂▅▂▅▅████████▇████▇▂█
       ▅   █▅█████████████████████▅▅▁▅▁ ▁
      ▄█▄▄ ████████████████████████████ █  ▄
      ████▆████████████████████████████ █ ▆█
      █████████████████████████████████▆█▆██▆▆
      ████████████████████████████████████████
      -0.2302      ▲          ▲ cut ±0.0665
      """)
  }

  /// Without UTF-8: `.`, `-`, `=`, `#` for the eighths, `|` and `^` for the cut.
  @Test func theHistogramInASCII() {
    expectText(
      PanelCases.histogramASCII,
      """
      0.weight |w|: 50.0% pruned
        #       .
        #  = -  #     -
       ## ## # =#     #
      =##=## # ##-    # -
      ######.######=. # # =   .
      ############### # #-#-  #-
      ###############=# ####.=##=  =  .=.
      #################-#########-=#==###==- -
      0         ^ cut 0.0665            0.2554
      """)
  }

  /// At 0% there is no cut to draw.
  @Test func theHistogramWithNothingPruned() {
    expectText(
      PanelCases.histogramNothingPruned,
      """
      0.weight |w|: 0.0% pruned
        █       ▂
        █  ▆ ▃  █     ▃
       ██ ██ █ ▅█     █
      ▆██▆██ █ ██▃    █ ▃
      ██████▂██████▅▂ █ █ ▅   ▂
      ███████████████ █ █▃█▃  █▃
      ███████████████▅█ ████▂▅██▅  ▅  ▂▅▂
      █████████████████▃█████████▃▆█▆▆███▆▆▃ ▃
      0            nothing pruned       0.2554
      """)
  }

  /// Says so instead of drawing scores there are none of.
  @Test func theHistogramOfALayerTheCriterionDoesNotPrune() {
    expectText(
      PanelCases.histogramNotPruned,
      """
      4.weight is not pruned by neuron-l2
      """)
  }

  /// Accuracy against the dense baseline with the images it is based on, loss, sparsity, compression, size and FLOPs dense to effective, measured speed-up.
  @Test func theMetrics() {
    expectText(
      PanelCases.metrics,
      """
      accuracy 0.8125 (64 images)
        dense  0.8594  -4.69 pts
      loss     0.5432
      sparsity 49.1%  2.0x smaller
      size     1 KiB → 769 B
      FLOPs    656 → 344
      speed-up 1.3x measured
      """)
  }

  /// The quick estimate, in the 33 columns of an 80-column screen.
  @Test func theQuickEstimateSaysSoInFewWords() {
    expectText(
      PanelCases.metricsEstimate,
      """
      accuracy 0.8000 (est., 1000 img)
        dense  0.8594  -5.94 pts
      loss     0.6000
      sparsity 49.1%  2.0x smaller
      size     1 KiB → 769 B
      FLOPs    656 → 344
      speed-up 1.3x measured
      """)
  }

  /// The same with room to spare.
  @Test func theQuickEstimateSaysSoInFullWhenThereIsRoom() {
    expectText(
      PanelCases.metricsEstimateWide,
      """
      accuracy 0.8000 (estimate, 1000 images)
        dense  0.8594  -5.94 pts
      loss     0.6000
      sparsity 49.1%  2.0x smaller
      size     1 KiB → 769 B
      FLOPs    656 → 344
      speed-up 1.3x measured
      """)
  }

  /// Before the first evaluation.
  @Test func metricsBeforeTheFirstAccuracy() {
    expectText(
      PanelCases.metricsMeasuring,
      """
      accuracy measuring...
      sparsity 49.1%  2.0x smaller
      size     1 KiB → 769 B
      FLOPs    656 → 344
      """)
  }

  /// Every visited point in braille, the current one (the last visited) as `o`.
  @Test func theAccuracySparsityCurve() {
    expectText(
      PanelCases.curve,
      """
      accuracy vs sparsity
      0.864 ⠂    ⠐


                     o
      0.792              ⠠
            0%                     100%
      """)
  }

  /// Without UTF-8 a point is a `*`.
  @Test func theCurveInASCII() {
    expectText(
      PanelCases.curveASCII,
      """
      accuracy vs sparsity
      0.864 *    *


                     o
      0.792              *
            0%                     100%
      """)
  }

  /// Only the title.
  @Test func theCurveBeforeAnyPoint() {
    expectText(
      PanelCases.curveEmpty,
      """
      accuracy vs sparsity
      """)
  }

  /// After a fine-tune the pruned weights are gone from the histogram and the axis says so.
  @Test func theHistogramAfterAFineTuneShowsOnlyTheKeptWeights() {
    var snapshot = Fixture.snapshot()
    let kept = Fixture.weights0.filter { abs($0) > 0.0665 }
    snapshot.layers[0].scores = ScoreDistribution(sorted: kept.map(abs).sorted(), values: kept, prunedCount: 150)
    expectText(
      render(HistogramPanel.render, Fixture.state(snapshot: snapshot), width: 40, height: 6),
      """
      0.weight |w|: 50.0% pruned
                      █
                 ▆▄▂  █ ▆ ▂
                ▆████ █ █▄█▄  █▄
                ███████▂████▆████▂▄█▄▄▆█▆▄▄▂ ▂
      0         50.0% pruned before     0.2554
      """)
  }
}
