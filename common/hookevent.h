/*
 * hookevent: the JSON body of one notification (a webhook POST) and the POST itself, in one place so
 * relayd's events (relayd/webhook.h) and `gwctl notify test` send the same shape the same way:
 *   {"event","channel","channel_id","key_index" (a pool key's index, else null),"reason","time"
 *    (unix seconds)[,"balance","currency"]}
 * Callers: relayd/webhook.c, gwctl/cmd_notify.c.
 * Never: takes or writes a key or any other secret (there is no field for one).
 */
#ifndef RELAY_HOOKEVENT_H
#define RELAY_HOOKEVENT_H

#include <curl/curl.h>
#include <stdint.h>

/* The body (cJSON_free() it), or NULL when out of memory. key_index < 0: null; balance NULL: no
 * balance fields. */
char *hookevent_json(const char *event, int64_t channel_id, const char *channel, int key_index, const char *reason,
                     const double *balance, const char *currency, int64_t time);

/* POSTs body (JSON) to url once (http or https only; the answer's body is dropped), as User-Agent
 * agent, within timeout_s seconds, connecting within connect_s (> 0; else libcurl's default);
 * progress, when not NULL, is libcurl's transfer callback (non-zero abandons the POST). Blocks.
 * 0 when the receiver answered 2xx, else -1; *status is the HTTP status (0: none), *rc libcurl's
 * result. */
int hookevent_post(const char *url, const char *body, long timeout_s, long connect_s,
                   curl_xferinfo_callback progress, const char *agent, long *status, CURLcode *rc);

#endif
