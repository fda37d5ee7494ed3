import Testing
@testable import ExplorerCore

struct ScreenBufferTests {
  @Test func writesAreClippedAndDescriptionTrimsTrailingSpace() {
    var screen = ScreenBuffer(width: 6, height: 3)
    screen.write("shears!", column: 0, row: 0)
    screen.write("ab", column: -1, row: 1)
    screen.write("xy", column: 4, row: 2)
    screen.write("ignored", column: 0, row: 3)
    #expect(screen.description == "shears\nb\n    xy")
    #expect(screen[5, 0] == "s")
  }
}
