import Testing
@testable import PruneEngine

struct ShearsErrorTests {
  /// Names and values quoted from a file may hold newlines; the message stays one line.
  @Test func controlCharactersFromAFileAreEscaped() {
    #expect(ShearsError("m.safetensors", "tensor 'a\nb' is\tbad\u{7}").description == "m.safetensors: tensor 'a\\nb' is\\tbad\\u{07}")
    #expect(ShearsError("", "plain é").description == "plain é")
  }
}
