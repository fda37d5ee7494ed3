import Testing
@testable import ExplorerCore

struct FormatTests {
  @Test func numbers() {
    #expect(Format.percent(0.9) == "90.0%")
    #expect(Format.bytes(980) == "980 B")
    #expect(Format.bytes(117 * 1024) == "117 KiB")
    #expect(Format.bytes(1_069_000) == "1.02 MiB")
    #expect(Format.count(980) == "980")
    #expect(Format.count(533_000) == "533k")
    #expect(Format.count(1_200_000) == "1.2M")
    #expect(Format.score(0.03121) == "0.03121")
    #expect(Format.score(-1.2041) == "-1.204")
    #expect(Format.score(0.000012) == "1.2e-05")
    #expect(Format.score(0) == "0")
    #expect(Format.duration(65) == "1:05")
  }

  @Test func fittingText() {
    #expect(Format.fit("shears", 4) == "shea")
    #expect(Format.fit("ab", 4) == "ab  ")
    #expect(Format.fit("ab", 0) == "")
    #expect(Format.right("ab", 4) == "  ab")
    #expect(Format.elide("0123456789", 10, ellipsis: "…") == "0123456789")
    #expect(Format.elide("0123456789abcdef", 10, ellipsis: "…") == "012…abcdef")
    #expect(Format.elide("0123456789abcdef", 10, ellipsis: "...") == "01...bcdef")
    #expect(Format.elide("0123456789", 2, ellipsis: "…") == "01")
  }
}
