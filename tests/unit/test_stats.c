/* Unit tests of relayd/stats.c's bounds (issue #18): names the snapshot does not know count under
 * "other", odd statuses under 0, and a worker's table never holds more than STATS_MAX_KEYS entries
 * plus the few overflow ones, whatever keys arrive; nothing is lost (the totals add up). */
#include <stdio.h>
#include <string.h>

#include "../../relayd/stats.h"
#include "tap.h"

static struct req_event ev_of(const char *model, bool known, int64_t channel, int status)
{
  struct req_event ev;
  memset(&ev, 0, sizeof ev);
  snprintf(ev.model, sizeof ev.model, "%s", model);
  ev.model_known = known;
  ev.channel_id = channel;
  ev.status = status;
  ev.prompt_tokens = 2;
  ev.elapsed_us = 1000;
  return ev;
}

static uint64_t requests_of(struct worker_stats *ws, const char *key)
{
  const struct stat_entry *e = strmap_get(&ws->entries, key);
  return e ? e->requests : 0;
}

int main(void)
{
  struct worker_stats ws;
  stats_init(&ws);

  /* unknown names: one "other" entry however many */
  for (int i = 0; i < 5000; i++) {
    char m[64];
    snprintf(m, sizeof m, "gpt-4o-thinking-%d", i);
    struct req_event ev = ev_of(m, false, 1, 200);
    stats_record(&ws, &ev, false);
  }
  CHECK(ws.entries.count == 3, "5,000 unknown names: 3 entries (c1, mother, rother/1/200), got %zu",
        ws.entries.count);
  CHECK(requests_of(&ws, "mother") == 5000, "'other' counts them all");
  CHECK(requests_of(&ws, "rother\x1f" "1\x1f" "200") == 5000, "and by channel and status");

  /* a known name keeps its own; a status outside 100..599 counts as 0 */
  struct req_event k = ev_of("gpt-4o", true, 1, 99999);
  stats_record(&ws, &k, true);
  CHECK(requests_of(&ws, "mgpt-4o") == 1 && requests_of(&ws, "rgpt-4o\x1f" "1\x1f" "0") == 1,
        "known model: its own entries; status 99999 counted as 0");

  /* the same channel, model and status again (stats_record's remembered entries), then another
   * status, then the first again: each record in its own entries */
  struct req_event a = ev_of("gpt-4o", true, 2, 200), b = ev_of("gpt-4o", true, 2, 500);
  stats_record(&ws, &a, false);
  stats_record(&ws, &a, false);
  stats_record(&ws, &b, true);
  stats_record(&ws, &a, false);
  CHECK(requests_of(&ws, "rgpt-4o\x1f" "2\x1f" "200") == 3 && requests_of(&ws, "rgpt-4o\x1f" "2\x1f" "500") == 1 &&
            requests_of(&ws, "mgpt-4o") == 5 && requests_of(&ws, "c2") == 4,
        "repeated and interleaved keys: 3 x 200, 1 x 500, 5 for the model, 4 for channel 2");

  /* known names past the bound fold into the overflow entries; the table stays bounded */
  int n = 3 * STATS_MAX_KEYS;
  for (int i = 0; i < n; i++) {
    char m[64];
    snprintf(m, sizeof m, "priced-%d", i);
    struct req_event ev = ev_of(m, true, 1 + i % 7, 200 + i % 5);
    stats_record(&ws, &ev, false);
  }
  CHECK(ws.entries.count <= STATS_MAX_KEYS + 3, "%d known names: %zu entries (bound %d + overflow)", n,
        ws.entries.count, STATS_MAX_KEYS);
  uint64_t total = 0;
  for (size_t i = 0; i < ws.entries.nslots; i++) {
    void *v;
    const char *key = strmap_slot(&ws.entries, i, &v);
    if (key && key[0] == 'm')
      total += ((const struct stat_entry *)v)->requests;
  }
  CHECK(total == 5000 + 1 + 4 + (uint64_t)n, "no request lost: model entries sum to %llu", (unsigned long long)total);
  struct worker_stats *all[] = {&ws};
  CHECK(stats_overflow(all, 1) > 0, "overflow counted: %llu", (unsigned long long)stats_overflow(all, 1));
  /* a record that goes to the overflow entries is counted as one every time, also when the same
   * keys come again (their entries are not remembered as the keys' own) */
  struct req_event late = ev_of("priced-late", true, 3, 200);
  uint64_t o0 = stats_overflow(all, 1);
  stats_record(&ws, &late, false);
  uint64_t o1 = stats_overflow(all, 1);
  stats_record(&ws, &late, false);
  uint64_t o2 = stats_overflow(all, 1);
  CHECK(o1 > o0 && o2 - o1 == o1 - o0, "the same overflowing keys twice: overflow +%llu then +%llu",
        (unsigned long long)(o1 - o0), (unsigned long long)(o2 - o1));

  /* a full table still serves the channel gauges: +1 and -1 meet in the same entry */
  stats_channel_busy(&ws, 424242, +1);
  stats_upstream_done(&ws, 424242, 100);
  int64_t inflight = 0;
  for (size_t i = 0; i < ws.entries.nslots; i++) {
    void *v;
    const char *key = strmap_slot(&ws.entries, i, &v);
    if (key && key[0] == 'c')
      inflight += ((const struct stat_entry *)v)->in_flight;
  }
  CHECK(inflight == 0, "in_flight balances on a full table: %lld", (long long)inflight);
  stats_free(&ws);
  return tap_done();
}
