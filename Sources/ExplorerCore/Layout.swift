/// A rectangle of cells.
public struct Rect: Sendable, Equatable {
  public var left: Int
  public var top: Int
  public var width: Int
  public var height: Int

  public init(left: Int, top: Int, width: Int, height: Int) {
    self.left = left
    self.top = top
    self.width = max(0, width)
    self.height = max(0, height)
  }

  public var right: Int { left + width }
  public var bottom: Int { top + height }
}

/// Where each panel goes for a terminal size: a pure function of the size and the number of
/// layers, recomputed on every resize.
///
/// From the top: header, settings, the layer table (scrolling when the layers do not fit), a
/// blank row, then the histogram on the left beside the metrics and the curve on the right, and
/// at the bottom the progress, message and status lines.
public struct Layout: Sendable, Equatable {
  public static let minimumWidth = 60
  public static let minimumHeight = 18
  /// Rows the histogram and metrics need at least.
  static let minimumBodyHeight = 7
  /// Rows of the metrics panel (accuracy, dense, loss, sparsity, size, FLOPs, speed-up).
  static let metricsHeight = 7
  /// Columns of the right column at least: the longest metrics line.
  static let minimumRightWidth = 32

  public var isTooSmall: Bool
  public var header: Rect
  public var settings: Rect
  public var table: Rect
  public var histogram: Rect
  public var metrics: Rect
  public var curve: Rect
  public var progress: Rect
  public var message: Rect
  public var status: Rect

  public init(width: Int, height: Int, layerCount: Int = 3) {
    isTooSmall = width < Self.minimumWidth || height < Self.minimumHeight
    header = Rect(left: 0, top: 0, width: width, height: 1)
    settings = Rect(left: 0, top: 1, width: width, height: 1)
    let spareRows = height - 2 - 3 - 1 - Self.minimumBodyHeight
    table = Rect(left: 0, top: 2, width: width, height: min(layerCount + 1, max(2, spareRows)))
    status = Rect(left: 0, top: height - 1, width: width, height: 1)
    message = Rect(left: 0, top: height - 2, width: width, height: 1)
    progress = Rect(left: 0, top: height - 3, width: width, height: 1)
    let bodyTop = table.bottom + 1
    let bodyHeight = progress.top - bodyTop
    let rightWidth = max(Self.minimumRightWidth, width * 42 / 100)
    let leftWidth = width - rightWidth - 1
    histogram = Rect(left: 0, top: bodyTop, width: leftWidth, height: bodyHeight)
    let rightLeft = leftWidth + 1
    let metricsHeight = min(Self.metricsHeight, bodyHeight)
    metrics = Rect(left: rightLeft, top: bodyTop, width: rightWidth, height: metricsHeight)
    curve = Rect(
      left: rightLeft, top: bodyTop + metricsHeight, width: rightWidth, height: bodyHeight - metricsHeight)
  }
}
