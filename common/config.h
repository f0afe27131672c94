/*
 * config: relayd's start-up settings, one table (config_table[] in config.c) from which the ini
 * parser, the command line parser and --help all work. An ini file (-c FILE) uses the same key
 * names as the long options (listen = 127.0.0.1:8080); '-' and '_' are interchangeable; lines
 * starting with # or ; are comments; [sections] are accepted and ignored. The command line wins
 * over the file.
 * Runtime options that an administrator changes while relayd runs (retry_times, ...) are not here:
 * they live in the database's options table and arrive by reload.
 * Callers: relayd main. Never: touches the database.
 */
#ifndef RELAY_CONFIG_H
#define RELAY_CONFIG_H

#include <stddef.h>
#include <stdint.h>

struct config {
  char listen[128];            /* HOST:PORT */
  char db[1024];               /* sqlite:PATH */
  char admin_socket[512];
  int64_t workers;             /* 0 = one per core */
  int64_t max_body_bytes;
  int64_t max_connections;
  int64_t connect_timeout_ms;
  int64_t request_timeout_s;   /* whole non-streaming upstream call, 0 = none */
  int64_t stream_idle_timeout_s;
  int64_t shutdown_grace_s;
  char log_level[16];
};

void config_defaults(struct config *c);
/* Loads an ini file over c. Returns 0, or -1 with a message "FILE:LINE: ..." in err. */
int config_load_file(struct config *c, const char *path, char *err, size_t errlen);
/* Sets one key from a string. Returns 0, or -1 with a message in err. */
int config_set(struct config *c, const char *key, const char *value, char *err, size_t errlen);
/* Prints the option list (for --help) to f. */
void config_usage(void *file);

#endif
