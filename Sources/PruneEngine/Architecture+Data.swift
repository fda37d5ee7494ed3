extension Architecture {
  /// Why a network of this architecture cannot take `dataset`'s images, or `nil` when it can.
  ///
  /// The input width must be the number of values per image, and a convolutional input must
  /// also have the images' shape: `cnn:1x32x96` takes as many values as a 3x32x32 image, but
  /// reads them as another picture.
  /// - Parameter source: where the images are, as the message names them.
  /// - Returns: `takes 784 inputs but the images in SOURCE have 3072 values (3x32x32)`, or
  ///   `takes 1x32x96 images but the images in SOURCE are 3x32x32`; for a ResNet always the
  ///   image shapes, with a note on the shapes a file without `arch` metadata is read with.
  public func inputMismatch(with dataset: Dataset, in source: String) -> String? {
    let shape = { (sizes: [Int]) in sizes.map(String.init).joined(separator: "x") }
    let imageShape = [dataset.channels, dataset.rows, dataset.columns]
    if case .gpt = layout {
      return "is a language model: it reads text (train, eval and info take one), not the images in \(source)"
    }
    if case .resnet = layout, inputShape != imageShape {
      // A ResNet's file may not say its image size (`Checkpoint.inferResNet`): say what was assumed.
      return "takes \(shape(inputShape)) images but the images in \(source) are \(shape(imageShape)) "
        + "(a ResNet file without arch metadata is read as 1x28x28 or 3x32x32)"
    }
    guard inputCount == dataset.featureCount else {
      return "takes \(inputCount) inputs but the images in \(source) have \(dataset.featureDescription)"
    }
    guard inputShape.count != 3 || inputShape == imageShape else {
      return "takes \(shape(inputShape)) images but the images in \(source) are \(shape(imageShape))"
    }
    return nil
  }
}
