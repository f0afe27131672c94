/*
 * action: every change gwtui makes, made by running gwctl (the one implementation of each action).
 *
 * Owns: finding the gwctl binary (next to gwtui's own executable through /proc/self/exe, else on
 * PATH), running it with --db/--socket passed through and its stdin on /dev/null, capturing its
 * stdout and stderr through a pipe (so it never writes on the curses screen), and turning its exit
 * into one line for the status bar. One action runs at a time; the screen keeps refreshing meanwhile.
 * Callers: gwtui/main.c (start from a key, fd for poll, finish when the pipe closes).
 * Never: changes the database or relayd itself, blocks the loop (a slow "channel test" runs in the
 * background), or lets the child inherit the terminal's stdin/stdout/stderr.
 */
#ifndef GWTUI_ACTION_H
#define GWTUI_ACTION_H

#include <poll.h>
#include <stddef.h>
#include <sys/types.h>

struct action {
  pid_t pid;                    /* 0 when none runs */
  int fd;                       /* read end of the child's stdout+stderr, -1 when none */
  char what[128];               /* "channel disable c1", for the status line */
  char out[4096];
  size_t outlen;
  int changes;                  /* the action changes the database: read it again when done */
};

void action_init(struct action *a, const char *db_url, const char *socket_path);
/* The gwctl that actions run (for --help and the man page's words). */
const char *action_gwctl(void);

/* Starts gwctl with argv (NULL-terminated, without "gwctl" and the global options). changes: the
 * database changes. Returns 0, or -1 with a message in msg (another action runs, fork failed). */
int action_start(struct action *a, const char *const *argv, int changes, char *msg, size_t msglen);
int action_running(const struct action *a);
/* Adds the pipe to pfd (0 or 1 entries); returns how many. */
int action_pollfd(struct action *a, struct pollfd *pfd);
/* Reads the child's output after poll; returns 1 when the action finished (msg then holds the
 * result line and *ok whether gwctl exited 0), else 0. */
int action_handle(struct action *a, const struct pollfd *pfd, char *msg, size_t msglen, int *ok);
/* Ends a running action (SIGTERM to that child only) when gwtui quits. */
void action_cancel(struct action *a);

#endif
