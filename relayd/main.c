/*
 * relayd main: command line and configuration, start-up order, and shutdown order.
 * Start: config -> database (schema created or migrated) -> writer -> first snapshot -> admin
 * socket -> workers -> admin loop on this thread. Stop (SIGTERM/SIGINT): workers stop accepting
 * and finish in-flight requests within shutdown_grace_s, then the writer commits everything queued.
 */
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "admin.h"
#include "config.h"
#include "db.h"
#include "log.h"
#include "snapshot.h"
#include "util.h"
#include "worker.h"
#include "writer.h"

static void usage(FILE *f)
{
  fprintf(f, "usage: relayd [-c FILE] [--listen HOST:PORT] [--db sqlite:PATH] [--admin-socket PATH] "
             "[options]\n\nOptions (also valid as 'key = value' in the -c file):\n");
  config_usage(f);
  fprintf(f, "  -c, --config FILE          read settings from an ini file first\n"
             "  -h, --help                 this text\n"
             "  -V, --version              print the version\n"
             "Signals: SIGHUP reloads the configuration from the database; SIGTERM and SIGINT stop\n"
             "after in-flight requests finish.\n");
}

static int parse_args(int argc, char **argv, struct config *cfg)
{
  char err[512];
  /* the file first, so the command line wins */
  for (int i = 1; i < argc; i++)
    if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0)) {
      if (i + 1 >= argc) {
        fprintf(stderr, "relayd: %s needs a file\n", argv[i]);
        return 2;
      }
      if (config_load_file(cfg, argv[i + 1], err, sizeof err) < 0) {
        fprintf(stderr, "relayd: %s\n", err);
        return 78;
      }
    }
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      usage(stdout);
      exit(0);
    }
    if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0) {
      printf("relayd %s\n", RELAY_VERSION);
      exit(0);
    }
    if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
      i++;
      continue;
    }
    if (strncmp(a, "--", 2) != 0) {
      fprintf(stderr, "relayd: unexpected argument '%s' (see relayd --help)\n", a);
      return 2;
    }
    const char *key = a + 2, *val;
    char keybuf[64];
    const char *eq = strchr(key, '=');
    if (eq) {
      snprintf(keybuf, sizeof keybuf, "%.*s", (int)(eq - key), key);
      key = keybuf;
      val = eq + 1;
    } else {
      if (i + 1 >= argc) {
        fprintf(stderr, "relayd: %s needs a value\n", a);
        return 2;
      }
      val = argv[++i];
    }
    if (config_set(cfg, key, val, err, sizeof err) < 0) {
      fprintf(stderr, "relayd: %s (see relayd --help)\n", err);
      return 2;
    }
  }
  return 0;
}

static void raise_fd_limit(void)
{
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

static enum log_level parse_level(const char *s)
{
  if (strcmp(s, "error") == 0)
    return LOG_ERR;
  if (strcmp(s, "warn") == 0)
    return LOG_WARN;
  if (strcmp(s, "debug") == 0)
    return LOG_DEBUG;
  return LOG_INFO;
}

int main(int argc, char **argv)
{
  struct config cfg;
  config_defaults(&cfg);
  int rc = parse_args(argc, argv, &cfg);
  if (rc)
    return rc;
  log_init(parse_level(cfg.log_level));

  /* signals go to the admin loop's signalfd; every thread inherits this mask */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);
  raise_fd_limit();
  curl_global_init(CURL_GLOBAL_DEFAULT);

  char err[1024];
  struct admin_ctx ctx = {.cfg = &cfg, .started_at = now_unix()};
  ctx.db = db_open(cfg.db, err, sizeof err);
  if (!ctx.db) {
    log_msg(LOG_ERR, "cannot open the database", "db=\"%s\" error=\"%s\"", cfg.db, err);
    return 1;
  }
  if (writer_start(cfg.db, err, sizeof err) < 0) {
    log_msg(LOG_ERR, "cannot start the writer", "error=\"%s\"", err);
    db_close(ctx.db);
    return 1;
  }
  int exit_code = 1;
  int admin_fd = -1;
  struct worker *workers = NULL;
  int started = 0;
  if (admin_load_snapshot(&ctx, err, sizeof err) < 0)
    goto out;
  admin_fd = admin_listen(cfg.admin_socket, err, sizeof err);
  if (admin_fd < 0) {
    log_msg(LOG_ERR, "cannot open the admin socket", "error=\"%s\"", err);
    goto out;
  }
  int n = (int)cfg.workers;
  if (n <= 0) {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    n = cpus > 0 ? (int)cpus : 1;
  }
  workers = calloc((size_t)n, sizeof *workers);
  if (!workers)
    goto out;
  ctx.workers = workers;
  for (int i = 0; i < n; i++) {
    if (worker_init(&workers[i], i, &cfg, err, sizeof err) < 0 || worker_start(&workers[i]) != 0) {
      log_msg(LOG_ERR, "cannot start a worker", "worker=%d error=\"%s\"", i, err);
      worker_join(&workers[i]);
      goto out;
    }
    started++;
    ctx.nworkers = started;
  }
  log_msg(LOG_INFO, "relayd ready", "version=%s listen=%s db=\"%s\" admin_socket=%s workers=%d",
          RELAY_VERSION, cfg.listen, cfg.db, cfg.admin_socket, n);
  admin_run(&ctx, admin_fd);
  exit_code = 0;
out:
  for (int i = 0; i < started; i++)
    worker_request_stop(&workers[i]);
  for (int i = 0; i < started; i++)
    worker_join(&workers[i]);
  free(workers);
  writer_stop();
  if (admin_fd >= 0) {
    close(admin_fd);
    unlink(cfg.admin_socket);
  }
  snapshot_shutdown();
  db_close(ctx.db);
  curl_global_cleanup();
  log_msg(LOG_INFO, "relayd stopped", "exit=%d", exit_code);
  return exit_code;
}
