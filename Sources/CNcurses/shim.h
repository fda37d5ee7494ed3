#ifndef SHEARS_CNCURSES_SHIM_H
#define SHEARS_CNCURSES_SHIM_H
#define NCURSES_WIDECHAR 1
#include <langinfo.h>
#include <locale.h>
#include <ncursesw/curses.h>
#include <ncursesw/term.h>
#include <unistd.h>

// Macros Swift cannot import, as functions.
static inline int shears_color_pair(int pair) { return (int)COLOR_PAIR(pair); }
static inline int shears_attribute_bold(void) { return (int)A_BOLD; }
static inline int shears_attribute_dim(void) { return (int)A_DIM; }
static inline int shears_attribute_reverse(void) { return (int)A_REVERSE; }
static inline int shears_attribute_normal(void) { return (int)A_NORMAL; }
static inline unsigned long shears_button1_events(void) {
  return (unsigned long)(BUTTON1_CLICKED | BUTTON1_PRESSED | BUTTON1_RELEASED);
}
static inline int shears_is_button1(unsigned long state) {
  return (state & (BUTTON1_CLICKED | BUTTON1_PRESSED)) != 0;
}

// Globals Swift 6 cannot read safely; only the UI thread calls these.
static inline int shears_columns(void) { return COLS; }
static inline int shears_lines(void) { return LINES; }
static inline void shears_enable_keypad(void) { keypad(stdscr, TRUE); }
static inline const char *shears_codeset(void) { return nl_langinfo(CODESET); }

// What terminfo says about the terminal `name` (NULL: $TERM), read without writing anything to
// it: 0 when the explorer can drive it, SHEARS_TERMINAL_UNKNOWN when there is no entry for it,
// SHEARS_TERMINAL_NO_CURSOR_ADDRESSING when it cannot move the cursor to a position (`cup`;
// `dumb`, hard-copy terminals), where curses would scroll blank lines instead of a screen.
#define SHEARS_TERMINAL_UNKNOWN 1
#define SHEARS_TERMINAL_NO_CURSOR_ADDRESSING 2
static inline int shears_terminal_check(const char *name) {
  int status = 0;
  if (setupterm(name, STDOUT_FILENO, &status) != OK) return SHEARS_TERMINAL_UNKNOWN;
  const char *move = tigetstr("cup");
  int canAddress = move != NULL && move != (const char *)-1;
  del_curterm(cur_term);
  return canAddress ? 0 : SHEARS_TERMINAL_NO_CURSOR_ADDRESSING;
}

#endif
