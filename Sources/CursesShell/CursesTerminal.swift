import CNcurses
import ExplorerCore
import Foundation

/// What the terminal delivers: a key or a new size.
public enum TerminalInput: Equatable {
  case key(Key)
  case resize(width: Int, height: Int)
}

/// The only place curses is used: set-up and restore, raw key codes to `Key`, and copying a
/// `ScreenBuffer` to the screen with colour pairs (or attributes in monochrome).
final class CursesTerminal {
  /// The terminal cannot show the explorer (no `TERM`, an unknown one, one that cannot move
  /// the cursor, or curses could not set it up).
  struct Unusable: Error, CustomStringConvertible {
    var description: String
  }

  let glyphs: Glyphs
  private let usesColor: Bool
  private let screen: OpaquePointer
  private var isActive = false

  /// Colour pairs by style; 0 is the terminal's default.
  private static let pairs: [CellStyle: (pair: Int16, foreground: Int16, background: Int16)] = [
    .accent: (1, Int16(COLOR_CYAN), -1),
    .warning: (2, Int16(COLOR_YELLOW), -1),
    .reverse: (3, Int16(COLOR_BLACK), Int16(COLOR_CYAN)),
    .dim: (4, Int16(COLOR_BLUE), -1),
  ]

  /// Checks from the terminfo entry alone, before anything is written to the terminal, that
  /// the terminal named by `TERM` can show a full screen.
  /// - Throws: `Unusable` naming the terminal and what it lacks.
  static func requireUsable(environment: [String: String]) throws {
    guard let name = environment["TERM"], !name.isEmpty else {
      throw Unusable(description: "TERM is not set; set it to the terminal's type (for example xterm-256color)")
    }
    switch shears_terminal_check(name) {
    case 0: return
    case SHEARS_TERMINAL_UNKNOWN:
      throw Unusable(description: "terminal '\(name)' is unknown (no terminfo entry for it)")
    default:
      throw Unusable(
        description: "terminal '\(name)' cannot move the cursor; run it in a full-screen terminal (xterm, screen, tmux)")
    }
  }

  /// Takes over the terminal.
  /// - Parameter environment: `TERM` names the terminal; `NO_COLOR` (any value) turns colours off.
  /// - Throws: `Unusable` when curses cannot drive the terminal (where `initscr` would exit);
  ///   nothing has been written to it then.
  init(environment: [String: String]) throws {
    try Self.requireUsable(environment: environment)
    setlocale(LC_ALL, "")
    let codeset = String(cString: shears_codeset())
    glyphs = codeset.uppercased().replacingOccurrences(of: "-", with: "") == "UTF8" ? .unicode : .ascii
    guard let output = fdopen(STDOUT_FILENO, "w"), let input = fdopen(STDIN_FILENO, "r"),
      let screen = newterm(nil, output, input)
    else {
      throw Unusable(description: "cannot set up the terminal (TERM=\(environment["TERM"] ?? ""))")
    }
    self.screen = screen
    set_term(screen)
    isActive = true
    cbreak()
    noecho()
    shears_enable_keypad()
    curs_set(0)
    set_escdelay(25)
    mousemask(mmask_t(shears_button1_events()), nil)
    mouseinterval(0)
    usesColor = environment["NO_COLOR"] == nil && has_colors()
    if usesColor {
      start_color()
      use_default_colors()
      for (_, pair) in Self.pairs { init_pair(pair.pair, pair.foreground, pair.background) }
    }
  }

  deinit { restore() }

  /// Gives the terminal back: leaves curses mode, shows the cursor. Safe to call twice.
  func restore() {
    guard isActive else { return }
    isActive = false
    curs_set(1)
    endwin()
    delscreen(screen)
  }

  var size: (width: Int, height: Int) { (Int(shears_columns()), Int(shears_lines())) }

  /// Waits up to `milliseconds` for input.
  func read(waitingUpTo milliseconds: Int32) -> TerminalInput? {
    timeout(milliseconds)
    let code = getch()
    switch code {
    case ERR: return nil
    case KEY_RESIZE: return .resize(width: Int(shears_columns()), height: Int(shears_lines()))
    case KEY_LEFT: return .key(.left)
    case KEY_RIGHT: return .key(.right)
    case KEY_UP: return .key(.up)
    case KEY_DOWN: return .key(.down)
    case KEY_SLEFT: return .key(.shiftLeft)
    case KEY_SRIGHT: return .key(.shiftRight)
    case KEY_PPAGE: return .key(.pageUp)
    case KEY_NPAGE: return .key(.pageDown)
    case KEY_ENTER, 10, 13: return .key(.enter)
    case KEY_BACKSPACE, 127, 8: return .key(.backspace)
    case 27: return .key(.escape)
    case KEY_MOUSE:
      var event = MEVENT()
      guard getmouse(&event) == OK, shears_is_button1(UInt(event.bstate)) != 0 else { return nil }
      return .key(.click(column: Int(event.x), row: Int(event.y)))
    default:
      guard code >= 32, code < 127, let scalar = Unicode.Scalar(UInt32(code)) else { return nil }
      return .key(.character(Character(scalar)))
    }
  }

  /// Copies the buffer to the screen, one run of same-styled cells at a time.
  func draw(_ buffer: ScreenBuffer) {
    erase()
    for row in 0..<min(buffer.height, Int(shears_lines())) {
      var column = 0
      while column < min(buffer.width, Int(shears_columns())) {
        let style = buffer.style(column: column, row: row)
        var run = ""
        let start = column
        while column < min(buffer.width, Int(shears_columns())) && buffer.style(column: column, row: row) == style {
          run.append(buffer[column, row])
          column += 1
        }
        // The bottom-right cell cannot be written without scrolling.
        if row == Int(shears_lines()) - 1 && column == Int(shears_columns()) { run = String(run.dropLast()) }
        let attributes = attributes(for: style)
        attron(attributes)
        mvaddstr(Int32(row), Int32(start), run)
        attroff(attributes)
      }
    }
    refresh()
  }

  private func attributes(for style: CellStyle) -> Int32 {
    switch style {
    case .normal: return Int32(shears_attribute_normal())
    case .bold: return Int32(shears_attribute_bold())
    case .reverse:
      return usesColor ? Int32(shears_color_pair(Int32(Self.pairs[.reverse]!.pair))) : Int32(shears_attribute_reverse())
    case .dim, .accent, .warning:
      if usesColor, let pair = Self.pairs[style] {
        return Int32(shears_color_pair(Int32(pair.pair))) | (style == .warning ? Int32(shears_attribute_bold()) : 0)
      }
      return style == .dim ? Int32(shears_attribute_dim()) : Int32(shears_attribute_bold())
    }
  }
}
