/*
 * action: runs gwctl for every change gwtui makes (see action.h for the contract).
 *
 * Owns: the child process and its output pipe.
 * Callers: gwtui/main.c.
 * Never: implements an action itself, waits for a child that has not closed its output, or lets
 * the child touch the terminal (stdin is /dev/null, stdout and stderr are the pipe, and the child
 * runs in its own process group so ^C on the dashboard does not reach it).
 */
#include "action.h"
#include "i18n.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *g_db, *g_socket;
static char g_gwctl[PATH_MAX];

const char *action_gwctl(void)
{
  return g_gwctl;
}

void action_init(struct action *a, const char *db_url, const char *socket_path)
{
  memset(a, 0, sizeof *a);
  a->fd = -1;
  g_db = db_url && *db_url ? db_url : NULL;
  g_socket = socket_path && *socket_path ? socket_path : NULL;
  /* gwctl next to our own executable (build/bin, /usr/bin), else whatever PATH finds */
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  snprintf(g_gwctl, sizeof g_gwctl, "gwctl");
  if (n > 0) {
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (slash) {
      *slash = '\0';
      char cand[PATH_MAX];
      if (snprintf(cand, sizeof cand, "%s/gwctl", self) < (int)sizeof cand && access(cand, X_OK) == 0)
        snprintf(g_gwctl, sizeof g_gwctl, "%s", cand);
    }
  }
}

int action_running(const struct action *a)
{
  return a->pid > 0;
}

int action_start(struct action *a, const char *const *argv, int changes, char *msg, size_t msglen)
{
  if (a->pid > 0) {
    snprintf(msg, msglen, _("busy: %s is still running"), a->what);
    return -1;
  }
  const char *args[32];
  size_t n = 0;
  args[n++] = g_gwctl;
  if (g_db) {
    args[n++] = "--db";
    args[n++] = g_db;
  }
  if (g_socket) {
    args[n++] = "--socket";
    args[n++] = g_socket;
  }
  size_t w = 0;
  a->what[0] = '\0';
  for (size_t i = 0; argv[i] && n < sizeof args / sizeof args[0] - 1; i++) {
    args[n++] = argv[i];
    if (strcmp(argv[i], "--yes") != 0 && w < sizeof a->what) {
      int k = snprintf(a->what + w, sizeof a->what - w, "%s%s", w ? " " : "", argv[i]);
      if (k > 0)
        w += (size_t)k;
    }
  }
  args[n] = NULL;

  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) {
    snprintf(msg, msglen, _("cannot run gwctl: %s"), strerror(errno));
    return -1;
  }
  pid_t pid = fork();
  if (pid < 0) {
    snprintf(msg, msglen, _("cannot run gwctl: %s"), strerror(errno));
    close(p[0]);
    close(p[1]);
    return -1;
  }
  if (pid == 0) {
    int null = open("/dev/null", O_RDONLY);
    setpgid(0, 0);
    signal(SIGPIPE, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(p[1], STDOUT_FILENO) < 0
        || dup2(p[1], STDERR_FILENO) < 0)
      _exit(127);
    if (strchr(g_gwctl, '/'))
      execv(g_gwctl, (char *const *)args);
    else
      execvp(g_gwctl, (char *const *)args);
    dprintf(STDERR_FILENO, "gwtui: cannot run %s: %s\n", g_gwctl, strerror(errno));
    _exit(127);
  }
  close(p[1]);
  fcntl(p[0], F_SETFL, fcntl(p[0], F_GETFL) | O_NONBLOCK);
  a->pid = pid;
  a->fd = p[0];
  a->outlen = 0;
  a->out[0] = '\0';
  a->changes = changes;
  snprintf(msg, msglen, _("running: gwctl %s"), a->what);
  return 0;
}

int action_pollfd(struct action *a, struct pollfd *pfd)
{
  if (a->fd < 0)
    return 0;
  pfd[0] = (struct pollfd){ .fd = a->fd, .events = POLLIN };
  return 1;
}

/* The line of out to show: on failure the "gwctl: ..." error line, else the first line. */
static void pick_line(const char *out, int ok, char *buf, size_t len)
{
  const char *line = out, *err = NULL;
  for (const char *p = out; *p; ) {
    if (!err && strncmp(p, "gwctl: ", 7) == 0)
      err = p;
    const char *nl = strchr(p, '\n');
    if (!nl)
      break;
    p = nl + 1;
  }
  if (!ok && err)
    line = err;
  snprintf(buf, len, "%.*s", (int)strcspn(line, "\n"), line);
}

int action_handle(struct action *a, const struct pollfd *pfd, char *msg, size_t msglen, int *ok)
{
  if (a->fd < 0 || pfd->fd != a->fd || !(pfd->revents & (POLLIN | POLLHUP | POLLERR)))
    return 0;
  for (;;) {
    char tmp[1024];
    ssize_t n = read(a->fd, tmp, sizeof tmp);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return 0;
    if (n > 0) {
      size_t room = sizeof a->out - 1 - a->outlen;
      size_t k = (size_t)n < room ? (size_t)n : room;
      memcpy(a->out + a->outlen, tmp, k);
      a->outlen += k;
      a->out[a->outlen] = '\0';
      continue;
    }
    break;                              /* EOF (or an error): the child is done with the pipe */
  }
  close(a->fd);
  a->fd = -1;
  int st = 0;
  while (waitpid(a->pid, &st, 0) < 0 && errno == EINTR)
    ;
  a->pid = 0;
  char line[512];
  *ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
  pick_line(a->out, *ok, line, sizeof line);
  if (*ok)
    snprintf(msg, msglen, _("gwctl %s: ok%s%s"), a->what, line[0] ? ": " : "", line);
  else if (WIFEXITED(st))
    snprintf(msg, msglen, _("gwctl %s failed (exit %d)%s%s"), a->what, WEXITSTATUS(st),
             line[0] ? ": " : "", line);
  else
    snprintf(msg, msglen, _("gwctl %s: killed by signal %d"), a->what,
             WIFSIGNALED(st) ? WTERMSIG(st) : 0);
  return 1;
}

void action_cancel(struct action *a)
{
  if (a->pid > 0) {
    kill(a->pid, SIGTERM);
    while (waitpid(a->pid, NULL, 0) < 0 && errno == EINTR)
      ;
  }
  if (a->fd >= 0)
    close(a->fd);
  a->pid = 0;
  a->fd = -1;
}
