/*
 * metrics: the Prometheus endpoint. GET /metrics on its own listener (metrics_listen) served by a
 * small libmicrohttpd daemon with its own thread, in the text exposition format 0.0.4: HELP and
 * TYPE for every family, escaped label values, histograms as cumulative _bucket{le} series with
 * le="+Inf", _sum and _count.
 * A scrape sums the workers' counters (stats_merge: each worker's stats lock held for a copy, as
 * the admin `stats` verb does) and reads the snapshot for channel names and states; a worker
 * never waits for a scrape beyond that copy and never formats anything for it.
 * Callers: main.c (start after the workers, stop before them). Never: touches the database;
 * exposes a key, a user name or a token name (labels are model, channel, status, reason, scope).
 */
#ifndef RELAY_METRICS_H
#define RELAY_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct worker;
struct metrics;

/* Listens on listen (HOST:PORT, port 0 = any) and serves. NULL with err on failure. */
struct metrics *metrics_start(const char *listen, struct worker *workers, int nworkers,
                              int64_t started_at, char *err, size_t errlen);
/* The address actually bound (HOST:PORT). */
const char *metrics_address(const struct metrics *m);
void metrics_stop(struct metrics *m);
/* The exposition text; the caller frees it. */
char *metrics_render(struct worker *workers, int nworkers, int64_t started_at, size_t *len);

#endif
