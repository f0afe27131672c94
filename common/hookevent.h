/*
 * hookevent: the JSON body of one notification (a webhook POST), in one place so relayd's events
 * (relayd/webhook.h) and `gwctl notify test` send the same shape:
 *   {"event","channel","channel_id","key_index" (a pool key's index, else null),"reason","time"
 *    (unix seconds)[,"balance","currency"]}
 * Callers: relayd/webhook.c, gwctl/cmd_notify.c.
 * Never: takes or writes a key or any other secret (there is no field for one).
 */
#ifndef RELAY_HOOKEVENT_H
#define RELAY_HOOKEVENT_H

#include <stdint.h>

/* The body (cJSON_free() it), or NULL when out of memory. key_index < 0: null; balance NULL: no
 * balance fields. */
char *hookevent_json(const char *event, int64_t channel_id, const char *channel, int key_index, const char *reason,
                     const double *balance, const char *currency, int64_t time);

#endif
