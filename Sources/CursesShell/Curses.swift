import CNcurses

/// Facts about the curses library the terminal front end is built on.
public enum Curses {
  /// The library's version string, for example `ncurses 6.4.20221231`.
  public static var version: String { String(cString: curses_version()) }
}
