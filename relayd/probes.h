/*
 * probes: /healthz and /readyz for load balancers and orchestrators, answered at the gate (the
 * first request of a connection, before libmicrohttpd and relay.c see it): no key, no log row, no
 * access log line, no billing, no metrics by status; a few hundred bytes and no lock.
 *   GET|HEAD /healthz  200 {"status":"ok"} while the process runs its workers (liveness).
 *   GET|HEAD /readyz   200 {"status":"ready"} when relayd serves: a snapshot is loaded, the node
 *                      lease is held (PostgreSQL and SQLite alike: lease.h), the admin verb drain is
 *                      not in force, it is not stopping, and the log writer's buffer is not full;
 *                      otherwise 503 {"status":"not_ready","reason":R} with R one of no_snapshot,
 *                      lease_lost, draining, stopping, log_buffer_full.
 * A query string is allowed (/readyz?verbose); other methods and paths are not probes. Answers
 * carry Connection: close and Cache-Control: no-store.
 * Callers: worker.c (the gate's probe callback). Never: touches the database or a snapshot's
 * contents, allocates beyond the answer buffer, or answers any other path.
 */
#ifndef RELAY_PROBES_H
#define RELAY_PROBES_H

#include <stdbool.h>
#include <stddef.h>

struct buf;

enum probe_kind { PROBE_NONE, PROBE_HEALTHZ, PROBE_READYZ };

/* Which probe a request line's method and target ask for (pure). */
enum probe_kind probe_match(const char *method, size_t method_len, const char *target, size_t target_len);

/* The whole HTTP answer of probe kind into out (status line, headers, JSON body unless head).
 * draining and stopping are the worker's flags. Returns the status sent. */
unsigned probe_answer(enum probe_kind kind, bool head, bool draining, bool stopping, struct buf *out);

#endif
