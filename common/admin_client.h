/*
 * admin_client: the client side of relayd's admin socket (doc/admin-protocol.md, version 1).
 *
 * Owns: connecting to the Unix socket, checking the greeting, and exchanging one JSON line for one
 * JSON line with bounds (requests 64 KiB, answers 8 MiB) and a timeout (5 s) on every read and write.
 * Callers: gwctl (reload after a change), gwtui (live state), tests.
 * Never: retries, blocks without a timeout, or raises SIGPIPE.
 */
#ifndef RELAY_ADMIN_CLIENT_H
#define RELAY_ADMIN_CLIENT_H

#include <cjson/cJSON.h>
#include <stddef.h>

#define ADMIN_PROTOCOL_VERSION 1
#define ADMIN_LINE_MAX (64 * 1024)      /* longest request line, newline included */
#define ADMIN_REPLY_MAX (8 * 1024 * 1024) /* longest answer or event line relayd may send: `stats`
                                           * grows with channels and known models (bounded: stats.h) */
#define ADMIN_TIMEOUT_S 5

/* Connects to the admin socket at path and checks the greeting {"relay_admin":1,...}.
 * Returns the connected fd, or -1 with a message in err (in the user's language: i18n.h; never
 * match its text). When nobody listens at path, errno is ENOENT or ECONNREFUSED after the failure;
 * when relayd refused the connection (admin_group), EACCES. */
int admin_connect(const char *path, char *err, size_t errlen);

/* Sends one request line (a JSON object; the newline is added if missing) and reads one response line.
 * Returns the parsed response object (caller frees with cJSON_Delete), or NULL with a message in err.
 * A {"ok":false,...} answer is returned as is: the caller reads "ok". */
cJSON *admin_call(int fd, const char *cmd_json_line, char *err, size_t errlen);

void admin_close(int fd);

/* Asks the relayd at socket_path to reload its snapshot from the database. Returns 0 when it
 * reloaded, 1 when no daemon is reachable there (no socket path, ENOENT, ECONNREFUSED), -1 when it
 * answered with an error or the exchange failed; err says why for 1 and -1. */
int admin_reload(const char *socket_path, char *err, size_t errlen);
/* admin_reload() that also copies the reloaded relayd's "database_id" (the identity of the database
 * it serves, db_identity(); "" when it does not say) into dbid when it reloaded. */
int admin_reload_db(const char *socket_path, char *dbid, size_t dbidlen, char *err, size_t errlen);

/* admin_reload() for callers that only report. Returns the same 0 / 1 (no daemon: not an error, it
 * loads the database when it starts) / -1. Unless quiet, a -1 is explained in one line on stderr
 * ("PROGRAM: relayd at PATH did not reload: ..."); 1 is never reported. */
int admin_notify_reload(const char *socket_path, int quiet);

#endif
