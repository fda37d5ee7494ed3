import Testing
@testable import ExplorerCore

/// Where the panels go, by terminal size.
struct LayoutTests {
  @Test func at80x24() {
    let layout = Layout(width: 80, height: 24, layerCount: 3)
    #expect(!layout.isTooSmall)
    #expect(layout.header == Rect(left: 0, top: 0, width: 80, height: 1))
    #expect(layout.settings == Rect(left: 0, top: 1, width: 80, height: 1))
    #expect(layout.table == Rect(left: 0, top: 2, width: 80, height: 4))
    #expect(layout.histogram == Rect(left: 0, top: 7, width: 46, height: 14))
    #expect(layout.metrics == Rect(left: 47, top: 7, width: 33, height: 7))
    #expect(layout.curve == Rect(left: 47, top: 14, width: 33, height: 7))
    #expect(layout.progress == Rect(left: 0, top: 21, width: 80, height: 1))
    #expect(layout.message == Rect(left: 0, top: 22, width: 80, height: 1))
    #expect(layout.status == Rect(left: 0, top: 23, width: 80, height: 1))
  }

  @Test func atTheMinimumTheCurveHasNoRoom() {
    let layout = Layout(width: 60, height: 18, layerCount: 3)
    #expect(!layout.isTooSmall)
    #expect(layout.histogram == Rect(left: 0, top: 7, width: 27, height: 8))
    #expect(layout.metrics == Rect(left: 28, top: 7, width: 32, height: 7))
    #expect(layout.curve.height == 1)
  }

  @Test func manyLayersLeaveTheBodyItsMinimumAndScroll() {
    let layout = Layout(width: 80, height: 24, layerCount: 20)
    #expect(layout.table.height == 11)
    #expect(layout.histogram.height == Layout.minimumBodyHeight)
  }

  @Test func belowTheMinimumInEitherDirection() {
    #expect(Layout(width: 59, height: 24).isTooSmall)
    #expect(Layout(width: 80, height: 17).isTooSmall)
    #expect(!Layout(width: 60, height: 18).isTooSmall)
  }
}
