/* auth: see auth.h. */
#include "auth.h"

#include <stdatomic.h>
#include <string.h>

#include "keycache.h"
#include "keys.h"
#include "realtime.h"
#include "request.h"
#include "respond.h"

/* Checks the key and its owner; on refusal queues the error and returns false. */
bool authenticate(struct request *r, enum MHD_Result *ret)
{
  const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
  /* Anthropic's clients send the key as x-api-key, Gemini's as x-goog-api-key or ?key= */
  const char *xkey = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "x-api-key");
  if ((!xkey || !*xkey) && r->client->key_header) {
    xkey = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, r->client->key_header);
    if ((!xkey || !*xkey) && r->client->key_query)
      xkey = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, r->client->key_query);
  }
  char rtkey[KEY_MAX_LEN + 64];
  if ((!h || !*h) && (!xkey || !*xkey) && r->def && r->def->ep == EP_REALTIME &&
      realtime_client_key(r->conn, rtkey, sizeof rtkey))
    xkey = rtkey;      /* Azure's api-key, or the subprotocol of OpenAI's browser clients */
  if ((!h || !*h) && (!xkey || !*xkey)) {
    *ret = fail_now(r, 401, "invalid_request_error", "missing_api_key", NULL,
                    "You didn't provide an API key. Send it in the Authorization header as "
                    "'Authorization: Bearer sk-...' (or as x-api-key).");
    return false;
  }
  if (h && *h && !has_prefix_ci(h, "Bearer ")) {
    *ret = fail_now(r, 401, "invalid_request_error", "invalid_api_key", NULL,
                    "The Authorization header must have the form 'Bearer sk-...'.");
    return false;
  }
  const char *key = h && *h ? h + 7 : xkey;
  while (*key == ' ')
    key++;
  const char *body = key_body(key);
  size_t blen = strlen(body);
  const char *dash = memchr(body, '-', blen);
  size_t klen = dash ? (size_t)(dash - body) : blen;
  if (klen == 0 || klen > KEY_MAX_LEN) {
    *ret = fail_now(r, 401, "invalid_request_error", "invalid_api_key", NULL,
                    "Incorrect API key provided.");
    return false;
  }
  if (dash) {
    int64_t id;
    if (parse_int64(dash + 1, &id) < 0 || id <= 0) {
      *ret = fail_now(r, 401, "invalid_request_error", "invalid_api_key", NULL,
                      "Incorrect API key provided: a channel pin must be 'sk-KEY-CHANNELID' with a "
                      "numeric id.");
      return false;
    }
    r->pin_channel = id;
  }
  /* a key this worker saw on this snapshot skips the digest (keycache.h); else its SHA-256 */
  const struct snap_token *t = keycache_get(r->snap->version, body, klen);
  if (!t) {
    char hash[KEY_HASH_HEX_LEN + 1];
    key_hash(body, klen, hash);
    if ((t = strmap_getn(&r->snap->tokens, hash, KEY_HASH_HEX_LEN)) != NULL)
      keycache_put(r->snap->version, body, klen, t);
  }
  if (!t) {
    *ret = fail_now(r, 401, "invalid_request_error", "invalid_api_key", NULL,
                    "Incorrect API key provided.");
    return false;
  }
  if (t->status != STATUS_ENABLED) {
    const char *why = t->status == STATUS_EXPIRED ? "has expired"
                      : t->status == STATUS_EXHAUSTED ? "has no quota left" : "is disabled";
    *ret = fail_now(r, 401, "invalid_request_error", "invalid_api_key", NULL, "This API key %s.", why);
    return false;
  }
  if (t->expired_time != -1 && t->expired_time < now_unix()) {
    *ret = fail_now(r, 401, "invalid_request_error", "invalid_api_key", NULL, "This API key has expired.");
    return false;
  }
  /* a key with no quota left may still redeem a code and read its usage (selfsvc.h) */
  bool free_ep = r->def && (r->def->ep == EP_REDEEM || r->def->ep == EP_USAGE);
  if (!free_ep && !t->unlimited && atomic_load_explicit(&t->bal->avail, memory_order_relaxed) <= 0) {
    *ret = fail_now(r, 429, "insufficient_quota", "insufficient_quota", NULL,
                    "This API key has no quota left.");
    return false;
  }
  const union MHD_ConnectionInfo *ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  if (!token_allows_addr(t, ci ? ci->client_addr : NULL)) {
    *ret = fail_now(r, 403, "permission_error", "ip_not_allowed", NULL,
                    "This API key may not be used from your address.");
    return false;
  }
  if (t->user->status != STATUS_ENABLED) {
    *ret = fail_now(r, 403, "permission_error", "user_disabled", NULL,
                    "The user that owns this API key is disabled.");
    return false;
  }
  if (!free_ep && atomic_load_explicit(&t->user->bal->avail, memory_order_relaxed) <= 0) {
    *ret = fail_now(r, 429, "insufficient_quota", "insufficient_quota", NULL,
                    "The user that owns this API key has no quota left.");
    return false;
  }
  if (r->pin_channel && t->user->role < ROLE_ADMIN) {
    *ret = fail_now(r, 403, "permission_error", "channel_pin_forbidden", NULL,
                    "Only an administrator's key may pin a channel with sk-KEY-CHANNELID.");
    return false;
  }
  r->token = t;
  return true;
}
