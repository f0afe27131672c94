/* config: see config.h. */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

enum cfg_kind { CFG_STR, CFG_INT };

struct cfg_entry {
  const char *key;
  enum cfg_kind kind;
  size_t off;
  size_t size;             /* strings: buffer size */
  int64_t min, max;        /* integers */
  const char *help;
};

#define STR(k, f, h) {k, CFG_STR, offsetof(struct config, f), sizeof(((struct config *)0)->f), 0, 0, h}
#define INT(k, f, lo, hi, h) {k, CFG_INT, offsetof(struct config, f), 0, lo, hi, h}

static const struct cfg_entry config_table[] = {
    STR("listen", listen, "HOST:PORT to serve the HTTP API on (127.0.0.1:8080)"),
    STR("db", db, "database URL: sqlite:PATH (sqlite:data/relay.db)"),
    STR("admin_socket", admin_socket, "path of the admin Unix socket (data/admin.sock)"),
    INT("workers", workers, 0, 256, "worker threads, 0 = one per core (0)"),
    INT("max_body_bytes", max_body_bytes, 1024, 1LL << 30, "largest request body accepted (33554432)"),
    INT("max_connections", max_connections, 16, 1000000, "client connections at once (65536)"),
    INT("connect_timeout_ms", connect_timeout_ms, 1, 600000, "upstream connect timeout (10000)"),
    INT("request_timeout_s", request_timeout_s, 0, 86400,
        "whole non-streaming upstream call, 0 = no limit (600)"),
    INT("stream_idle_timeout_s", stream_idle_timeout_s, 1, 86400,
        "longest silence from an upstream stream (300)"),
    INT("shutdown_grace_s", shutdown_grace_s, 0, 3600,
        "on SIGTERM, how long in-flight requests may finish (30)"),
    STR("log_level", log_level, "error, warn, info or debug (info)"),
};

void config_defaults(struct config *c)
{
  memset(c, 0, sizeof *c);
  snprintf(c->listen, sizeof c->listen, "127.0.0.1:8080");
  snprintf(c->db, sizeof c->db, "sqlite:data/relay.db");
  snprintf(c->admin_socket, sizeof c->admin_socket, "data/admin.sock");
  c->workers = 0;
  c->max_body_bytes = 32 << 20;
  c->max_connections = 65536;
  c->connect_timeout_ms = 10000;
  c->request_timeout_s = 600;
  c->stream_idle_timeout_s = 300;
  c->shutdown_grace_s = 30;
  snprintf(c->log_level, sizeof c->log_level, "info");
}

int config_set(struct config *c, const char *key, const char *value, char *err, size_t errlen)
{
  char norm[64];
  size_t i;
  for (i = 0; key[i] && i < sizeof norm - 1; i++)
    norm[i] = key[i] == '-' ? '_' : key[i];
  norm[i] = '\0';
  for (size_t k = 0; k < sizeof config_table / sizeof config_table[0]; k++) {
    const struct cfg_entry *e = &config_table[k];
    if (strcmp(e->key, norm) != 0)
      continue;
    if (e->kind == CFG_STR) {
      if (strlen(value) >= e->size) {
        snprintf(err, errlen, "%s: value longer than %zu characters", e->key, e->size - 1);
        return -1;
      }
      snprintf((char *)c + e->off, e->size, "%s", value);
      return 0;
    }
    int64_t v;
    if (parse_int64(value, &v) < 0 || v < e->min || v > e->max) {
      snprintf(err, errlen, "%s: '%s' is not an integer from %lld to %lld", e->key, value,
               (long long)e->min, (long long)e->max);
      return -1;
    }
    *(int64_t *)((char *)c + e->off) = v;
    return 0;
  }
  snprintf(err, errlen, "unknown setting '%s'", key);
  return -1;
}

static char *trim(char *s)
{
  while (isspace((unsigned char)*s))
    s++;
  char *e = s + strlen(s);
  while (e > s && isspace((unsigned char)e[-1]))
    *--e = '\0';
  return s;
}

int config_load_file(struct config *c, const char *path, char *err, size_t errlen)
{
  FILE *f = fopen(path, "r");
  if (!f) {
    snprintf(err, errlen, "%s: cannot open: %m", path);
    return -1;
  }
  char line[2048];
  int lineno = 0;
  while (fgets(line, sizeof line, f)) {
    lineno++;
    if (!strchr(line, '\n') && !feof(f)) {
      snprintf(err, errlen, "%s:%d: line too long", path, lineno);
      fclose(f);
      return -1;
    }
    char *s = trim(line);
    if (!*s || *s == '#' || *s == ';' || *s == '[')
      continue;
    char *eq = strchr(s, '=');
    if (!eq) {
      snprintf(err, errlen, "%s:%d: expected 'key = value'", path, lineno);
      fclose(f);
      return -1;
    }
    *eq = '\0';
    char *key = trim(s), *val = trim(eq + 1);
    size_t vl = strlen(val);
    if (vl >= 2 && val[0] == '"' && val[vl - 1] == '"') {
      val[vl - 1] = '\0';
      val++;
    }
    char e2[256];
    if (config_set(c, key, val, e2, sizeof e2) < 0) {
      snprintf(err, errlen, "%s:%d: %s", path, lineno, e2);
      fclose(f);
      return -1;
    }
  }
  fclose(f);
  return 0;
}

void config_usage(void *file)
{
  FILE *f = file;
  for (size_t k = 0; k < sizeof config_table / sizeof config_table[0]; k++) {
    char opt[64];
    size_t i;
    for (i = 0; config_table[k].key[i] && i < sizeof opt - 1; i++)
      opt[i] = config_table[k].key[i] == '_' ? '-' : config_table[k].key[i];
    opt[i] = '\0';
    fprintf(f, "  --%-24s %s\n", opt, config_table[k].help);
  }
}
