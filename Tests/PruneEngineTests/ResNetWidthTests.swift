import Foundation
import Testing

@testable import PruneEngine

/// ResNets whose blocks have their own inner widths (what removing filters physically leaves):
/// the `W:I1,I2,...` stage form and the module's shapes.
struct ResNetWidthTests {
  @Test func variableWidthStagesParseAndPrintBack() throws {
    let text = "resnet:1x28x28-16:8,12,16-32x2-64:5-10"
    let architecture = try Architecture(parsing: text)
    #expect(architecture.description == text)
    #expect(try Architecture(parsing: architecture.description) == architecture)
    guard case .resnet(let stages, let classes) = architecture.layout else {
      Issue.record("not a ResNet layout")
      return
    }
    #expect(classes == 10)
    #expect(stages.map(\.width) == [16, 32, 64])
    #expect(stages.map(\.innerWidths) == [[8, 12, 16], [32, 32], [5]])
    #expect(stages.map(\.blocks) == [3, 2, 1])
    #expect(stages.map(\.isUniform) == [false, true, false])
    // Inner widths equal to the stream width are the uniform stage and print as WxB.
    #expect(try Architecture(parsing: "resnet:1x8x8-4:4,4-6:6-3").description == "resnet:1x8x8-4x2-6x1-3")
    #expect(try Architecture(parsing: "resnet:1x8x8-4:4,4-3") == Architecture(parsing: "resnet:1x8x8-4x2-3"))
    // The presets print as before, so existing checkpoints' metadata still matches.
    #expect(try Architecture(parsing: "resnet20").description == "resnet:1x28x28-16x3-32x3-64x3-10")
    #expect(ResNet.Stage(width: 16, blocks: 3) == ResNet.Stage(width: 16, innerWidths: [16, 16, 16]))
  }

  @Test(arguments: [
    "resnet:1x8x8-4:-3", "resnet:1x8x8-4:2,,3-3", "resnet:1x8x8-4:0-3", "resnet:1x8x8-:2-3", "resnet:1x8x8-4:2:3-3",
    "resnet:1x8x8-4x2:3-3", "resnet:1x8x8-4:2,x-3", "resnet:1x8x8-4:16385-3", "resnet:1x8x8-16385:4-3",
  ])
  func malformedInnerWidthsAreRejected(_ text: String) throws {
    let field = String(text.split(separator: "-")[1])
    #expect(
      throws: ShearsError(
        "--arch \(text)",
        "stage '\(field)' is not WIDTHxBLOCKS or WIDTH:INNER,INNER,... (as 16x3 or 16:8,12,16, at most 16384 wide and "
          + "1024 deep)")
    ) { try Architecture(parsing: text) }
  }

  /// Each block's conv1/bn1 take its inner width, conv2/bn2 and the shortcut the stream width.
  @Test func theModuleHasEachBlocksWidths() throws {
    let stages = [ResNet.Stage(width: 8, innerWidths: [3, 5]), ResNet.Stage(width: 12, innerWidths: [7])]
    let module = ResNet.module(channels: 1, stages: stages, classes: 4)
    let shapes = Dictionary(uniqueKeysWithValues: module.parameterShapes().map { ($0.path.description, $0.shape) })
    let expected: [String: [Int]] = [
      "conv1.weight": [8, 1, 3, 3], "bn1.weight": [8],
      "layer1.0.conv1.weight": [3, 8, 3, 3], "layer1.0.bn1.running_mean": [3], "layer1.0.conv2.weight": [8, 3, 3, 3],
      "layer1.0.bn2.bias": [8], "layer1.1.conv1.weight": [5, 8, 3, 3], "layer1.1.bn1.running_var": [5],
      "layer1.1.conv2.weight": [8, 5, 3, 3],
      "layer2.0.conv1.weight": [7, 8, 3, 3], "layer2.0.bn1.weight": [7], "layer2.0.conv2.weight": [12, 7, 3, 3],
      "layer2.0.bn2.weight": [12], "layer2.0.downsample.0.weight": [12, 8, 1, 1], "layer2.0.downsample.1.weight": [12],
      "fc.weight": [4, 12], "fc.bias": [4],
    ]
    for (name, shape) in expected { #expect(shapes[name] == shape, "\(name)") }
    #expect(shapes["layer1.0.downsample.0.weight"] == nil && shapes["layer1.1.downsample.0.weight"] == nil)
    let convolutions = [8 * 9, 3 * 8 * 9, 8 * 3 * 9, 5 * 8 * 9, 8 * 5 * 9, 7 * 8 * 9, 12 * 7 * 9, 12 * 8]
    let batchNorms = 2 * (8 + 3 + 8 + 5 + 8 + 7 + 12 + 12)
    var generator = SeededGenerator(seed: 1)
    let model = Model(module: module, inputShape: [1, 8, 8], generator: &generator)
    #expect(model.parameterCount == convolutions.reduce(0, +) + batchNorms + 4 * 12 + 4)
    // The recognizer reads the widths back, and the parsed description builds the same tree.
    let architecture = model.architecture
    #expect(architecture.description == "resnet:1x8x8-8:3,5-12:7-4")
    #expect(try Architecture(parsing: architecture.description).module == module)
    let evaluation = Evaluator(model: model, threads: 1).evaluate(bandDataset(samples: 8, classes: 4, side: 8, seed: 2))
    #expect(evaluation.loss.isFinite)
  }
}
