/*
 * balpoll: upstream balances in relayd. Its own thread, off every request's path:
 *   - every option balance_poll_interval_s seconds (0: off; the first read one interval after start
 *     or after the option changes) it reads the balance of each channel
 *     whose provider publishes one (provider.h `balance`, common/upbalance.h; a manually disabled
 *     channel is skipped; a key pool is read with its lowest-index key) and hands the figure to the
 *     writer (WOP_BALANCE: table channel_balances, migration 016);
 *   - it re-reads channel_balances on its own read-only connection, so a figure `gwctl channel
 *     balance` stored (or another node polled) shows here too: at each new snapshot, for a scrape
 *     of /metrics when the figures are older than BALPOLL_RELOAD_S (balpoll_refresh), and every
 *     BALPOLL_RELOAD_S seconds while balance_low_threshold is set (the alert watches them);
 *   - a figure below option balance_low_threshold raises the low-balance alert once (a system log
 *     row through the writer, a balance_low webhook, channel_balances.low_fired_time set); a figure
 *     at or above it re-arms the alert.
 * The figures feed /metrics (relayd_channel_balance{channel,currency}) through balpoll_get.
 * It sleeps until its next due poll or reload: with no channel whose provider publishes a balance,
 * or no interval and no threshold, until a new snapshot or a refresh (no timer: issue #26, an idle
 * relayd makes no wake-ups).
 * Callers: main.c (start, stop), metrics.c (refresh, get), admin.c (kick after a reload).
 * Never: writes the database itself (the writer does), runs on a worker, logs or sends a key
 * anywhere but the channel's own upstream.
 */
#ifndef RELAY_BALPOLL_H
#define RELAY_BALPOLL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BALPOLL_RELOAD_S 2
#define BALPOLL_REFRESH_WAIT_MS 500   /* the longest a scrape waits for the re-read it asked for */

/* db_url: the database relayd serves (read-only connection of its own). */
int balpoll_start(const char *db_url, char *err, size_t errlen);
void balpoll_stop(void);
/* A new snapshot was published (admin.c): with no channel that has a balance endpoint the thread
 * sleeps until this. */
void balpoll_kick(void);
/* Before reading the figures (a /metrics scrape): when they were last re-read from the table over
 * BALPOLL_RELOAD_S ago, has the thread re-read them and waits for it (at most
 * BALPOLL_REFRESH_WAIT_MS; then what is there). Never on a worker. */
void balpoll_refresh(void);
/* The last figure known for channel id: true with amount, currency (8 bytes) and its time. */
bool balpoll_get(int64_t channel_id, double *amount, char *currency, int64_t *updated);

#endif
