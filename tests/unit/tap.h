/*
 * tap: the few lines of TAP output the C unit tests share. Each check prints "ok N - what" or
 * "not ok N - what"; tap_done() prints the plan and returns the exit status. tests/run.sh counts
 * these lines.
 */
#ifndef RELAY_TAP_H
#define RELAY_TAP_H

#include <stdio.h>

static int tap_n, tap_failed;

#define CHECK(cond, ...)                                                                          \
  do {                                                                                            \
    tap_n++;                                                                                      \
    if (cond) {                                                                                   \
      printf("ok %d - ", tap_n);                                                                  \
    } else {                                                                                      \
      tap_failed++;                                                                               \
      printf("not ok %d - %s:%d: ", tap_n, __FILE__, __LINE__);                                   \
    }                                                                                             \
    printf(__VA_ARGS__);                                                                          \
    printf("\n");                                                                                 \
  } while (0)

static inline int tap_done(void)
{
  printf("1..%d\n", tap_n);
  return tap_failed ? 1 : 0;
}

#endif
