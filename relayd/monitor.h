/*
 * monitor: relayd's background thread for slow work that must never run on a worker or block the
 * admin socket:
 *   - periodic channel tests (option channel_test_interval_s): auto-disabled channels, and every
 *     enabled channel too with channel_test_all = 1; a passing test re-enables an auto-disabled
 *     channel (never one an administrator disabled); results (test_time, response_time) and status
 *     changes go to the writer; latencies feed the routing average (health.h);
 *   - budget alerts (table budget_alerts) and quota reminders (option quota_remind_threshold),
 *     checked twice a second against the live balances: once per crossing a log row (through the
 *     writer) and a webhook (webhook.h: queued for its own thread, never posted here);
 *     re-armed when a top-up lifts the subject's quota again.
 * Callers: main.c (start, stop); admin.c (channel_test uses monitor_probe; monitor_kick after a
 * reload: with no alert, no reminder and no test_interval_s the thread sleeps until then). Never: writes the
 * database itself, or holds a lock a worker waits on.
 */
#ifndef RELAY_MONITOR_H
#define RELAY_MONITOR_H

#include <stddef.h>

struct snap_channel;

struct probe_result {
  long status;                 /* HTTP status, 0 when no answer */
  double latency_ms;
  char body[512];              /* start of the body when not 2xx */
  size_t body_len;
  char error[256];             /* curl's error when no answer */
  char model[128];
};

/* The smallest real request of channel c's own API on model (NULL: its test model, else the first):
 * a 5-token "hi" to chat completions (OpenAI-compatible), the deployment path (Azure), Messages
 * (Anthropic) or generateContent (Gemini); a two-document rerank on cohere and jina. Blocks up to
 * timeout_s. Returns 0 with out filled (any status), -1 when no request can be built (the model
 * cannot go in the URL; out->error says why). */
int monitor_probe(const struct snap_channel *c, const char *model, long timeout_s, struct probe_result *out);

int monitor_start(char *err, size_t errlen);
void monitor_stop(void);
/* A new snapshot was published (admin.c): a monitor with nothing to watch (no alert, no
 * test_interval_s) sleeps until this. */
void monitor_kick(void);

#endif
