#ifndef SHEARS_CNCURSES_SHIM_H
#define SHEARS_CNCURSES_SHIM_H
#define NCURSES_WIDECHAR 1
#include <langinfo.h>
#include <locale.h>
#include <ncursesw/curses.h>

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

#endif
