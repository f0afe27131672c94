/* limitwait: see limitwait.h. */
#include "limitwait.h"

#include <stdatomic.h>

#include "request.h"

static _Atomic int64_t waiting;

int64_t limitwait_waiting(void)
{
  return atomic_load_explicit(&waiting, memory_order_relaxed);
}

bool limitwait_begin(struct request *r, int64_t retry_ms)
{
  const struct snap_options *o = &r->snap->opt;
  if (o->channel_limit_wait_ms <= 0)
    return false;
  uint64_t now = now_us_mono();
  if (!r->lw_deadline_us)
    r->lw_deadline_us = now + (uint64_t)o->channel_limit_wait_ms * 1000u;
  if (now >= r->lw_deadline_us)
    return false;
  /* one more place in the queue, unless it is full */
  int64_t cur = atomic_load_explicit(&waiting, memory_order_relaxed);
  do {
    if (cur >= o->channel_limit_queue)
      return false;
  } while (!atomic_compare_exchange_weak_explicit(&waiting, &cur, cur + 1, memory_order_relaxed,
                                                  memory_order_relaxed));
  uint64_t at = now + (uint64_t)(retry_ms > 0 ? retry_ms : 1) * 1000u;
  r->lw_retry_us = at < r->lw_deadline_us ? at : r->lw_deadline_us;
  r->lw_waits++;
  r->phase = PH_LIMIT_WAIT;
  r->suspended = true;
  MHD_suspend_connection(r->conn);
  return true;
}

void limitwait_forget(struct request *r)
{
  if (r->phase != PH_LIMIT_WAIT)
    return;
  atomic_fetch_sub_explicit(&waiting, 1, memory_order_relaxed);
  r->phase = PH_LIMIT_RETRY;
}

void limitwait_tick(struct request *r, uint64_t now_us)
{
  if (r->phase != PH_LIMIT_WAIT || (now_us < r->lw_retry_us && !worker_stopping(r->w)))
    return;
  limitwait_forget(r);     /* PH_LIMIT_RETRY: front.c routes it again (admit_retry) */
  if (r->suspended) {
    r->suspended = false;
    worker_resume(r->w, r->conn);
  }
}
