/// The Unicode classes the tokenizers split and clean text by, named as in their Python and
/// Rust sources.
extension Unicode.Scalar {
  /// A letter: general category L (`\p{L}` in a regular expression).
  var isLetter: Bool {
    switch properties.generalCategory {
    case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: true
    default: false
    }
  }

  /// A number: general category N (`\p{N}`).
  var isNumber: Bool {
    switch properties.generalCategory {
    case .decimalNumber, .letterNumber, .otherNumber: true
    default: false
    }
  }

  /// Punctuation: general category P.
  var isPunctuation: Bool {
    switch properties.generalCategory {
    case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation, .initialPunctuation,
      .finalPunctuation, .otherPunctuation:
      true
    default: false
    }
  }

  /// Whitespace as regular expressions' `\s` and Rust's `char::is_whitespace` see it: the
  /// Unicode White_Space property (tab to carriage return, space, U+0085, no-break spaces...).
  var isWhitespace: Bool { properties.isWhitespace }

  /// A word character as `\w` sees it: alphabetic, a mark, a decimal digit, a connector
  /// punctuation (`_`) or a joiner.
  var isWordCharacter: Bool {
    switch properties.generalCategory {
    case .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .connectorPunctuation: true
    default: properties.isAlphabetic || properties.isJoinControl
    }
  }
}
