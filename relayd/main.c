/*
 * relayd main: command line and configuration (common/config.h: one table; --check-config,
 * -T, --dump-config), start-up order, and shutdown order. Readiness goes to systemd (notify.h).
 * Start: config -> database (schema created or migrated) -> writer -> first snapshot -> admin
 * socket -> workers -> admin loop on this thread. Stop (SIGTERM/SIGINT): workers stop accepting,
 * answer new requests on open connections with 503, and let in-flight requests finish within
 * shutdown_grace_s; then what remains is ended and settled as "interrupted". A second SIGTERM or
 * SIGINT ends them at once. Last, the writer commits everything queued; exit status 0.
 */
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "admin.h"
#include "adminsock.h"
#include "config.h"
#include "db.h"
#include "dbnotify.h"
#include "jsonarena.h"
#include "lease.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "portguard.h"
#include "relay.h"
#include "respcache.h"
#include "secret.h"
#include "balpoll.h"
#include "monitor.h"
#include "snapshot.h"
#include "tcplisten.h"
#include "imgfetch.h"
#include "keypool.h"
#include "affinity.h"
#include "chanlimit.h"
#include "tokenizer.h"
#include "util.h"
#include "worker.h"
#include "vertex.h"
#include "webhook.h"
#include "selfsvc.h"
#include "writer.h"

static void usage(FILE *f)
{
  fprintf(f, "usage: relayd [-c FILE] [--check-config | -T] [--KEY VALUE ...]\n\n"
             "Settings (KEY = VALUE in the -c file, RELAY_KEY in the environment, --KEY VALUE here;\n"
             "precedence: command line > environment > file > default; see relayd.conf(5)):\n");
  config_usage(f);
  fprintf(f, "\n  -c, --config FILE          read settings from an ini file (default: %s, if it "
             "exists)\n"
             "  --check-config, -t         check the file, environment and options, then exit: 0 ok,\n"
             "                             78 with every error (FILE:LINE: message), not just the first\n"
             "  -T, --show-config          check as --check-config, then print every setting's value\n"
             "                             and where it came from (passwords as ***)\n"
             "  --dump-config=man|ini|json print the settings table\n"
             "  -h, --help                 this text\n"
             "  -V, --version              print the version\n"
             "Exit status: 0 stopped cleanly; 1 start-up failed; 2 usage; 75 the listen, metrics or\n"
             "admin address, or the node name, is held by another process; 78 invalid configuration.\n"
             "Signals: SIGHUP reloads the configuration file and the database; SIGTERM and SIGINT\n"
             "stop after in-flight requests finish. Under systemd, readiness and reloads are\n"
             "reported on $NOTIFY_SOCKET.\n",
          config_default_file);
}

/* config_build_all's reporter: one line on stderr per error. */
static void print_config_error(void *arg, const char *msg)
{
  (void)arg;
  fprintf(stderr, "relayd: %s\n", msg);
}

/* What the command line asks for besides settings. */
struct cmdline {
  const char *config_file;      /* -c; NULL: the default file if it exists */
  bool check_config;
  bool show_config;             /* -T */
  const char *dump_format;
  struct config_arg *args;      /* --KEY VALUE pairs, pointers into argv; freed by main */
  size_t nargs;
};

/* Returns -1 to go on, or an exit status. */
static int parse_args(int argc, char **argv, struct cmdline *cl)
{
  cl->args = calloc((size_t)argc + 1, sizeof *cl->args);
  if (!cl->args)
    return 1;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      usage(stdout);
      return 0;
    }
    if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0) {
      printf("relayd %s\n", RELAY_VERSION);
      return 0;
    }
    if (strcmp(a, "--check-config") == 0 || strcmp(a, "-t") == 0) {
      cl->check_config = true;
      continue;
    }
    if (strcmp(a, "-T") == 0 || strcmp(a, "--show-config") == 0) {
      cl->show_config = true;
      continue;
    }
    if (strcmp(a, "--dump-config") == 0 || strncmp(a, "--dump-config=", 14) == 0) {
      cl->dump_format = a[13] == '=' ? a + 14 : "ini";
      continue;
    }
    if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0 || strncmp(a, "--config=", 9) == 0) {
      if (a[8] == '=') {
        cl->config_file = a + 9;
        continue;
      }
      if (i + 1 >= argc) {
        fprintf(stderr, "relayd: %s needs a file\n", a);
        return 2;
      }
      cl->config_file = argv[++i];
      continue;
    }
    if (strncmp(a, "--", 2) != 0) {
      fprintf(stderr, "relayd: unexpected argument '%s' (see relayd --help)\n", a);
      return 2;
    }
    const char *key = a + 2, *val;
    const char *eq = strchr(key, '=');
    char keybuf[64];
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
    if (config_find(key) < 0) {
      fprintf(stderr, "relayd: unknown option '--%s' (see relayd --help)\n", key);
      return 2;
    }
    /* key must outlive keybuf: point into argv (the name part of --key=value is not
       NUL-terminated there, so keep only the index) */
    cl->args[cl->nargs].key = config_keys[config_find(key)].name;
    cl->args[cl->nargs].value = val;
    cl->nargs++;
  }
  return -1;
}

static void raise_fd_limit(void)
{
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

/* The first SIGTERM/SIGINT was taken by the admin loop: workers now drain. Waits for them, and a
 * second SIGTERM or SIGINT makes them end their in-flight requests at once. */
static void drain_workers(struct worker *workers, int n)
{
  workers_begin_stop(n);
  for (int i = 0; i < n; i++)
    worker_request_stop(&workers[i]);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  bool told = false;
  for (;;) {
    bool all = true;
    for (int i = 0; i < n; i++)
      all = all && atomic_load(&workers[i].finished);
    if (all)
      break;
    struct pollfd p = {.fd = sfd, .events = POLLIN};
    if (sfd >= 0 && poll(&p, 1, 100) > 0) {
      struct signalfd_siginfo si;
      while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si)
        if (!told) {
          log_msg(LOG_INFO, "second signal: ending in-flight requests now", "signal=%s",
                  si.ssi_signo == SIGTERM ? "TERM" : "INT");
          for (int i = 0; i < n; i++)
            worker_request_stop_now(&workers[i]);
          told = true;
        }
    } else if (sfd < 0) {
      usleep(100000);
    }
  }
  if (sfd >= 0)
    close(sfd);
}

/* dbnotify's reload callback: a notification asked for a new snapshot. */
/* struct snapshot_extra's load: the key pools, then the limits of channels and pool keys (they
 * point into the pools). */
static int pools_load(struct db *db, struct snapshot *s, const struct secret_key *master, char *err, size_t errlen)
{
  int rc = keypool_load(db, s, master, err, errlen);
  return rc == 0 ? chanlimit_load(db, s) : rc;
}

/* struct snapshot_extra's shutdown: the process-wide tables of the pools, limits and affinity. */
static void pools_shutdown(void)
{
  keypool_free_states();
  chanlimit_free_states();
  affinity_free();
}

static int reload_snapshot(void *arg, char *err, size_t errlen)
{
  return admin_load_snapshot(arg, err, errlen);
}

int main(int argc, char **argv)
{
  struct cmdline cl = {0};
  int rc = parse_args(argc, argv, &cl);
  if (rc >= 0) {
    free(cl.args);
    return rc;
  }
  if (cl.dump_format) {
    rc = config_dump(stdout, cl.dump_format) == 0 ? 0 : 2;
    if (rc)
      fprintf(stderr, "relayd: --dump-config: unknown format '%s' (man, ini or json)\n",
              cl.dump_format);
    free(cl.args);
    return rc;
  }
  struct config *cfg = calloc(1, sizeof *cfg);
  char err[1024];
  if (!cfg) {
    fprintf(stderr, "relayd: out of memory\n");
    free(cl.args);
    return 1;
  }
  /* every error of the file, the environment and the command line, not only the first */
  int nerr = config_build_all(cfg, cl.config_file, cl.args, cl.nargs, print_config_error, NULL);
  if (nerr > 0) {
    fprintf(stderr, "relayd: %d error%s in the configuration\n", nerr, nerr == 1 ? "" : "s");
    free(cfg);
    free(cl.args);
    return 78;                  /* EX_CONFIG */
  }
  if (cl.show_config) {
    config_show(stdout, cfg);
    free(cfg);
    free(cl.args);
    return fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1;
  }
  if (cl.check_config) {
    printf("relayd: configuration OK (%s)\n", cfg->file[0] ? cfg->file : "no file: defaults, environment and options");
    free(cfg);
    free(cl.args);
    return 0;
  }
  log_configure(cfg->log_level, cfg->log_format);

  /* the API address must be ours alone (a program binding it with SO_REUSEPORT would let another
     join): checked before the database is touched. listen_lock is this process's lock on it,
     held until exit (portguard.h). */
  int listen_lock = -1;
  if (portguard_claim("listen", cfg->listen, &listen_lock, err, sizeof err) != PORTGUARD_OK) {
    log_msg(LOG_ERR, "not starting: the listen address is not free", "listen=%s error=\"%s\"",
            cfg->listen, err);
    free(cfg);
    free(cl.args);
    return PORTGUARD_EXIT_CODE;
  }

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
  jsonarena_init();     /* cJSON hooks, before any thread starts (jsonarena.h) */

  notify_init();
  struct admin_ctx ctx = {.cfg = cfg, .startup_cfg = cfg, .config_file = cl.config_file,
                          .args = cl.args, .nargs = cl.nargs, .started_at = now_unix()};
  char dbsafe[1024];
  config_format(cfg, (size_t)config_find("db"), dbsafe, sizeof dbsafe);
  ctx.db = db_open(cfg->db, err, sizeof err);
  if (!ctx.db) {
    log_msg(LOG_ERR, "cannot open the database", "db=\"%s\" error=\"%s\"", dbsafe, err);
    notify_send("STATUS=cannot open the database: %s", err);
    free(cfg);
    free(cl.args);
    return 1;
  }
  /* the master key opens channel keys; missing = created (first start), damaged = refuse */
  static struct secret_key master;
  char keypath[600];
  bool key_created = false;
  const char *mkf = strcmp(cfg->master_key_file, "auto") == 0 ? NULL : cfg->master_key_file;
  if (secret_key_path(mkf, cfg->db, keypath, sizeof keypath, err, sizeof err) < 0 ||
      secret_key_load(&master, keypath, true, &key_created, err, sizeof err) < 0) {
    log_msg(LOG_ERR, "cannot load the master key", "error=\"%s\"", err);
    notify_send("STATUS=cannot load the master key: %s", err);
    db_close(ctx.db);
    free(cfg);
    free(cl.args);
    return 1;
  }
  if (key_created)
    log_msg(LOG_INFO, "created a new master key file", "path=\"%s\" key_id=%s", keypath, master.id);
  snapshot_set_master_key(&master);
  /* the key pools and then the channel / key limits load with every snapshot (keypool.h, chanlimit.h) */
  static const struct snapshot_extra pools = { pools_load, keypool_free, pools_shutdown };
  snapshot_set_extra(&pools);
  int sealed = snapshot_seal_channel_keys(ctx.db, &master, err, sizeof err);
  if (sealed < 0) {
    log_msg(LOG_ERR, "cannot encrypt plaintext channel keys", "error=\"%s\"", err);
    secret_key_wipe(&master);
    db_close(ctx.db);
    free(cfg);
    free(cl.args);
    return 1;
  }
  if (sealed > 0)
    log_msg(LOG_INFO, "encrypted plaintext channel keys with the master key", "channels=%d key_id=%s",
            sealed, master.id);
  writer_set_access_log(cfg->access_log);
  writer_set_buffer_max((size_t)cfg->writer_buffer_max);
  if (writer_start(cfg->db, err, sizeof err) < 0) {
    log_msg(LOG_ERR, "cannot start the writer", "error=\"%s\"", err);
    db_close(ctx.db);
    free(cfg);
    free(cl.args);
    return 1;
  }
  if (selfsvc_start(cfg->db, err, sizeof err) < 0) {
    log_msg(LOG_ERR, "cannot start the self-service thread", "error=\"%s\"", err);
    writer_stop();
    db_close(ctx.db);
    free(cfg);
    free(cl.args);
    return 1;
  }
  char host[200] = "", node[400];
  if (gethostname(host, sizeof host) != 0)
    snprintf(host, sizeof host, "localhost");
  host[sizeof host - 1] = '\0';
  if (strcmp(cfg->node_name, "auto") != 0)
    snprintf(node, sizeof node, "%s", cfg->node_name);
  else
    snprintf(node, sizeof node, "%s/%s", host, cfg->listen);
  writer_set_node(node);
  /* one live relayd per node name: its reservations are resolved below, and only by their owner */
  int leased = lease_acquire(ctx.db, node, err, sizeof err);
  if (leased == 0 && lease_start(cfg->db, err, sizeof err) < 0)
    leased = -1;
  if (leased != 0) {
    log_msg(LOG_ERR, leased > 0 ? "another relayd holds this node name: not starting"
                                : "cannot take the node lease", "node=\"%s\" error=\"%s\"", node, err);
    notify_send("STATUS=not started: %s", err);
    lease_stop();
    writer_stop();
    db_close(ctx.db);
    free(cfg);
    free(cl.args);
    return leased > 0 ? LEASE_EXIT_CODE : 1;
  }
  int resolved = writer_resolve_unsettled(ctx.db, strcmp(cfg->unsettled_reservations, "charge") == 0,
                                          err, sizeof err);
  if (resolved < 0) {
    log_msg(LOG_ERR, "cannot resolve unsettled reservations", "error=\"%s\"", err);
    lease_stop();
    writer_stop();
    db_close(ctx.db);
    free(cfg);
    free(cl.args);
    return 1;
  }
  if (resolved > 0)
    log_msg(LOG_WARN, "the last run stopped without settling some requests: resolved",
            "count=%d policy=%s", resolved, cfg->unsettled_reservations);
  int exit_code = 1;            /* a failure below may name another status */
  int admin_fd = -1;
  struct worker *workers = NULL;
  int started = 0;
  int api_fd = -1;              /* the API address's one socket: every worker accepts on it
                                   (worker.h), closed here once every worker has joined */
  if (admin_load_snapshot(&ctx, err, sizeof err) < 0)
    goto out;
  /* PostgreSQL: LISTEN for gwctl's changes and the other nodes' charges (nothing on SQLite) */
  if (dbnotify_start(ctx.cfg->db, ctx.db, reload_snapshot, &ctx, err, sizeof err) < 0) {
    log_msg(LOG_ERR, "cannot listen for database notifications", "error=\"%s\"", err);
    goto out;
  }
  admin_fd = admin_listen(cfg->admin_socket,
                          strcmp(cfg->admin_group, "none") == 0 ? NULL : cfg->admin_group, err,
                          sizeof err);
  if (admin_fd < 0) {
    log_msg(LOG_ERR, "cannot open the admin socket", "error=\"%s\"", err);
    if (admin_fd == ADMIN_LISTEN_IN_USE)
      exit_code = PORTGUARD_EXIT_CODE;
    goto out;
  }
  if (webhook_start(err, sizeof err) < 0 || monitor_start(err, sizeof err) < 0 ||
      balpoll_start(cfg->db, err, sizeof err) < 0) {
    log_msg(LOG_ERR, "cannot start the monitor", "error=\"%s\"", err);
    goto out;
  }
  if (vertex_start(err, sizeof err) < 0) {
    log_msg(LOG_ERR, "cannot start the Vertex AI token thread", "error=\"%s\"", err);
    goto out;
  }
  int n = (int)cfg->workers;
  if (n <= 0) {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    n = cpus > 0 ? (int)cpus : 1;
  }
  long nofile, max_conns = workers_connection_limit(cfg, n, &nofile);
  if (max_conns > 0 && max_conns < cfg->max_connections)
    log_msg(LOG_WARN, "max_connections lowered to what the open file limit holds (two descriptors a "
            "request, plus a reserve; raise LimitNOFILE or ulimit -n for more)",
            "max_connections=%lld effective=%ld open_file_limit=%ld workers=%d",
            (long long)cfg->max_connections, max_conns, nofile, n);
  tokenizer_setup(cfg->tokenizer_dir);     /* read-only once the workers run */
  imgfetch_set_defaults(&(struct imgfetch_opts){.max_bytes = (size_t)cfg->image_fetch_max_bytes,
                                                 .timeout_ms = (long)cfg->image_fetch_timeout_ms,
                                                 .allow_private = cfg->image_fetch_allow_private != 0});
  workers = calloc((size_t)n, sizeof *workers);
  if (!workers)
    goto out;
  api_fd = tcplisten_open("listen", cfg->listen, 4096, true, NULL, 0, err, sizeof err);
  if (api_fd < 0) {
    log_msg(LOG_ERR, "cannot listen", "error=\"%s\"", err);
    goto out;
  }
  ctx.workers = workers;
  for (int i = 0; i < n; i++) {
    if (worker_init(&workers[i], i, cfg, &relay_worker_handlers, api_fd, err, sizeof err) < 0 ||
        worker_start(&workers[i]) != 0) {
      log_msg(LOG_ERR, "cannot start a worker", "worker=%d error=\"%s\"", i, err);
      worker_join(&workers[i]);
      goto out;
    }
    started++;
    ctx.nworkers = started;
  }
  struct metrics *metrics = NULL;
  ctx.metrics_address = "off";
  if (strcmp(cfg->metrics_listen, "off") != 0) {
    /* an address someone else serves is fatal (Prometheus would scrape the wrong process); probed
       after the workers bind, so the API address itself counts as taken */
    if (portguard_claim("metrics_listen", cfg->metrics_listen, NULL, err, sizeof err) == PORTGUARD_IN_USE) {
      log_msg(LOG_ERR, "not starting: the metrics address is not free", "metrics_listen=%s error=\"%s\"",
              cfg->metrics_listen, err);
      exit_code = PORTGUARD_EXIT_CODE;
      goto out;
    }
    /* other failures are not fatal: the API matters more than its metrics (the error says what
       to fix) */
    metrics = metrics_start(cfg->metrics_listen, workers, n, ctx.started_at, err, sizeof err);
    if (metrics) {
      ctx.metrics_address = metrics_address(metrics);
      log_msg(LOG_INFO, "metrics listening", "addr=%s path=/metrics", ctx.metrics_address);
    } else {
      log_msg(LOG_ERR, "metrics disabled: cannot listen", "error=\"%s\"", err);
    }
  }
  log_msg(LOG_INFO, "relayd ready", "version=%s listen=%s db=\"%s\" admin_socket=%s workers=%d "
          "config=\"%s\"", RELAY_VERSION, cfg->listen, dbsafe, cfg->admin_socket, n, cfg->file);
  char status[600], what[300];
  snprintf(what, sizeof what, "serving on %s", cfg->listen);
  admin_status_line(status, sizeof status, what);
  notify_ready(status);
  admin_run(&ctx, admin_fd);
  log_msg(LOG_INFO, "draining: no new connections; in-flight requests may finish",
          "shutdown_grace_s=%lld", (long long)cfg->shutdown_grace_s);
  drain_workers(workers, started);
  exit_code = 0;
  metrics_stop(metrics);
out:
  if (exit_code != 0)
    notify_send("STATUS=failed to start: %s", err);
  for (int i = 0; i < started; i++)
    worker_request_stop(&workers[i]);
  for (int i = 0; i < started; i++)
    worker_join(&workers[i]);
  free(workers);
  if (api_fd >= 0)
    close(api_fd);              /* after every worker: none accepts on it any more */
  selfsvc_stop();               /* after the workers: no request waits on it any more */
  balpoll_stop();
  monitor_stop();
  webhook_stop();               /* after its producers but the workers' last auto-disables */
  vertex_stop();
  writer_stop();
  lease_stop();                 /* after the writer: every reservation of the name is settled */
  if (admin_fd >= 0) {
    close(admin_fd);
    unlink(ctx.cfg->admin_socket);
  }
  dbnotify_stop();
  snapshot_shutdown();
  vertex_free_all();            /* after the last snapshot that pointed at the channels' states */
  respcache_clear();
  db_close(ctx.db);
  secret_key_wipe(&master);
  tokenizer_teardown();
  curl_global_cleanup();
  log_msg(LOG_INFO, "relayd stopped", "exit=%d", exit_code);
  notify_close();
  if (listen_lock >= 0)
    close(listen_lock);
  if (ctx.cfg != cfg)
    free((void *)ctx.cfg);
  free(cfg);
  free(cl.args);
  return exit_code;
}
