/*
 * test_config: unit test of common/config.c (the settings table): defaults pass their own checks,
 * types and bounds, '-'/'_' in names, sources and precedence (file < env < command line), ini
 * errors with FILE:LINE, and that a password in a database URL is never formatted. Prints TAP.
 * Never: reads the default config file (config_build is always given a path).
 */
#include "config.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int key(const char *name) { return config_find(name); }

static const char *fmt(const struct config *c, const char *name)
{
  static char buf[1024];
  config_format(c, (size_t)key(name), buf, sizeof buf);
  return buf;
}

/* config_build_all's reporter for the tests: every message, one a line. */
struct collected {
  char all[4096];
  int n;
};

static void collect(void *arg, const char *msg)
{
  struct collected *c = arg;
  size_t len = strlen(c->all);
  snprintf(c->all + len, sizeof c->all - len, "%s\n", msg);
  c->n++;
}

int main(void)
{
  struct config c;
  char err[512];
  config_defaults(&c);
  CHECK(strcmp(c.listen, "127.0.0.1:8080") == 0, "default listen");
  CHECK(c.shutdown_grace_s == 30 && c.source[key("shutdown_grace_s")] == CONFIG_SRC_DEFAULT,
        "default shutdown_grace_s, source default");
  CHECK(key("admin-socket") == key("admin_socket") && key("admin_socket") >= 0, "'-' and '_' name the same key");
  CHECK(key("nope") < 0 && key("") < 0, "unknown keys are not found");

  CHECK(config_set_from(&c, "workers", "257", CONFIG_SRC_CLI, err, sizeof err) < 0 &&
        strcmp(err, "workers: '257' is not an integer from 0 to 256") == 0, "integer bounds: %s", err);
  CHECK(config_set_from(&c, "workers", "3x", CONFIG_SRC_CLI, err, sizeof err) < 0, "not an integer");
  CHECK(config_set_from(&c, "log_format", "xml", CONFIG_SRC_CLI, err, sizeof err) < 0 &&
        strstr(err, "logfmt|json"), "enum choices: %s", err);
  CHECK(config_set_from(&c, "listen", "[::1]:80", CONFIG_SRC_CLI, err, sizeof err) == 0, "an IPv6 listen address");
  CHECK(config_set_from(&c, "listen", "8080", CONFIG_SRC_CLI, err, sizeof err) < 0, "a port alone is refused");
  CHECK(config_set_from(&c, "listen", "h:99999", CONFIG_SRC_CLI, err, sizeof err) < 0, "a port above 65535 is refused");
  CHECK(config_set_from(&c, "db", "", CONFIG_SRC_CLI, err, sizeof err) < 0, "an empty string is refused");
  char longv[2000];
  memset(longv, 'a', sizeof longv - 1);
  longv[sizeof longv - 1] = '\0';
  CHECK(config_set_from(&c, "admin_socket", longv, CONFIG_SRC_CLI, err, sizeof err) < 0 &&
        strstr(err, "longer than"), "an over-long string is refused");
  CHECK(config_set_from(&c, "workers", "4", CONFIG_SRC_ENV, err, sizeof err) == 0 && c.workers == 4 &&
        c.source[key("workers")] == CONFIG_SRC_ENV, "a set records its source");

  /* file < env < command line */
  char dir[] = "/tmp/test_config.XXXXXX";
  if (!mkdtemp(dir))
    return 1;
  char path[256];
  snprintf(path, sizeof path, "%s/relayd.conf", dir);
  FILE *f = fopen(path, "w");
  fputs("; comment\n# another\nworkers = 2\nrequest-timeout-s = \"7\"\nconnect_timeout_ms = 5\n", f);
  fclose(f);
  setenv("RELAY_REQUEST_TIMEOUT_S", "8", 1);
  setenv("RELAY_CONNECT_TIMEOUT_MS", "9", 1);
  struct config_arg args[] = {{"connect_timeout_ms", "10"}};
  CHECK(config_build(&c, path, args, 1, err, sizeof err) == 0, "build: %s", err);
  CHECK(c.workers == 2 && c.source[key("workers")] == CONFIG_SRC_FILE, "file value");
  CHECK(c.request_timeout_s == 8 && c.source[key("request_timeout_s")] == CONFIG_SRC_ENV, "env beats file");
  CHECK(c.connect_timeout_ms == 10 && c.source[key("connect_timeout_ms")] == CONFIG_SRC_CLI, "cli beats env");
  CHECK(strcmp(c.file, path) == 0, "the file read is recorded");
  setenv("RELAY_WORKERS", "lots", 1);
  CHECK(config_build(&c, path, NULL, 0, err, sizeof err) < 0 &&
        strcmp(err, "environment RELAY_WORKERS: workers: 'lots' is not an integer from 0 to 256") == 0,
        "a bad environment value names the variable: %s", err);
  unsetenv("RELAY_WORKERS");
  unsetenv("RELAY_REQUEST_TIMEOUT_S");
  unsetenv("RELAY_CONNECT_TIMEOUT_MS");
  f = fopen(path, "w");
  fputs("workers = 1\n\nbogus = 1\n", f);
  fclose(f);
  CHECK(config_build(&c, path, NULL, 0, err, sizeof err) < 0 && strstr(err, "relayd.conf:3: unknown setting 'bogus'"),
        "FILE:LINE on an unknown key: %s", err);
  /* every error is reported, not only the first; a [section] line is one of them */
  f = fopen(path, "w");
  fputs("[relayd]\nworkers = lots\nlisten = 127.0.0.1:8080\nbogus = 1\nno equals sign\n", f);
  fclose(f);
  setenv("RELAY_LOG_FORMAT", "xml", 1);
  struct config_arg bad[] = {{"shutdown_grace_s", "-1"}};
  struct collected got = {0};
  CHECK(config_build_all(&c, path, bad, 1, collect, &got) == 6 && got.n == 6, "six errors: %d", got.n);
  CHECK(strstr(got.all, "relayd.conf:1: '[relayd]': sections are not supported") != NULL, "a section is an error");
  CHECK(strstr(got.all, "relayd.conf:2: workers: 'lots'") != NULL, "line 2");
  CHECK(strstr(got.all, "relayd.conf:4: unknown setting 'bogus'") != NULL, "line 4");
  CHECK(strstr(got.all, "relayd.conf:5: expected 'key = value'") != NULL, "line 5");
  CHECK(strstr(got.all, "environment RELAY_LOG_FORMAT: log_format: 'xml'") != NULL, "the environment");
  CHECK(strstr(got.all, "command line: shutdown_grace_s: '-1'") != NULL, "the command line");
  CHECK(strcmp(c.listen, "127.0.0.1:8080") == 0 && c.source[key("listen")] == CONFIG_SRC_FILE &&
        c.line[key("listen")] == 3, "good lines between bad ones still count, with their line");
  CHECK(config_build(&c, path, bad, 1, err, sizeof err) < 0 && strstr(err, "(and 5 more: relayd --check-config lists them)"),
        "config_build names the first and counts the rest: %s", err);
  unsetenv("RELAY_LOG_FORMAT");
  unlink(path);
  rmdir(dir);

  /* no password is ever formatted */
  config_set_from(&c, "db", "postgres://relay:s3cret@db:5432/relay", CONFIG_SRC_FILE, err, sizeof err);
  CHECK(strcmp(fmt(&c, "db"), "postgres://relay:***@db:5432/relay") == 0, "URL password hidden: %s", fmt(&c, "db"));
  config_set_from(&c, "db", "postgres://db:5432/relay?user=r&password=s3cret", CONFIG_SRC_FILE, err, sizeof err);
  CHECK(!strstr(fmt(&c, "db"), "s3cret"), "query password hidden: %s", fmt(&c, "db"));
  config_set_from(&c, "db", "host=db password=s3cret dbname=relay", CONFIG_SRC_FILE, err, sizeof err);
  CHECK(strcmp(fmt(&c, "db"), "host=db password=*** dbname=relay") == 0, "conninfo password hidden: %s", fmt(&c, "db"));
  config_set_from(&c, "db", "sqlite:/var/lib/relay/relay.db", CONFIG_SRC_FILE, err, sizeof err);
  CHECK(strcmp(fmt(&c, "db"), "sqlite:/var/lib/relay/relay.db") == 0, "a plain path is shown as it is");
  return tap_done();
}
