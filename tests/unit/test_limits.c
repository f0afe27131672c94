/* Unit tests of relayd/limits.c (token buckets shared by threads, settle, undo, headers' views,
 * duration format) and health_classify / health_stream_event (which upstream answers are account
 * errors, which stream events are errors) and health_redact. */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "../../relayd/health.h"
#include "../../relayd/limits.h"
#include "tap.h"

static struct snap_limit one(const char *model, int64_t rpm, int64_t tpm, char scope, int64_t id)
{
  struct snap_limit l = {.model = model, .rpm = rpm, .tpm = tpm, .st = limits_state(scope, id, model)};
  return l;
}

static struct snap_limits list_of(struct snap_limit *items, size_t n)
{
  struct snap_limits ls = {.items = items, .n = n};
  return ls;
}

static void test_requests(void)
{
  struct snap_limit l = one("", 3, 0, 't', 1);
  struct snap_limits ls = list_of(&l, 1);
  struct limit_hold h;
  struct limit_refusal why;
  for (int i = 0; i < 3; i++) {
    bool ok = limits_admit(&ls, NULL, "m", 10, 60, &h, &why);
    CHECK(ok && h.req.set && h.req.limit == 3 && h.req.remaining == 2 - i,
          "request %d of 3 admitted, remaining %lld", i + 1, (long long)h.req.remaining);
    limits_settle(&h, 10);
  }
  CHECK(!limits_admit(&ls, NULL, "m", 10, 60, &h, &why) && why.kind == LIMIT_REQUESTS && why.limit == 3 &&
            why.scope == LIMIT_TOKEN && why.retry_after_ms > 19000 && why.retry_after_ms <= 20000,
        "the 4th is refused, retry after one refill (60 s / 3): %lld ms", (long long)why.retry_after_ms);
  /* a limit on another model does not apply */
  struct snap_limit lm = one("gpt-4o", 1, 0, 'u', 1);
  struct snap_limits us = list_of(&lm, 1);
  CHECK(limits_admit(NULL, &us, "gpt-4o-mini", 1, 60, &h, &why), "a per-model limit leaves other models");
  CHECK(limits_admit(NULL, &us, "gpt-4o", 1, 60, &h, &why), "its model: the first passes");
  CHECK(!limits_admit(NULL, &us, "gpt-4o", 1, 60, &h, &why) && why.scope == LIMIT_USER, "and the second not");
}

static void test_tokens(void)
{
  struct snap_limit l = one("", 0, 1000, 't', 2);
  struct snap_limits ls = list_of(&l, 1);
  struct limit_hold h;
  struct limit_refusal why;
  CHECK(!limits_admit(&ls, NULL, "m", 1001, 60, &h, &why) && why.retry_after_ms == -1 && why.kind == LIMIT_TOKENS,
        "larger than the limit: never");
  CHECK(limits_admit(&ls, NULL, "m", 600, 60, &h, &why) && h.tok.remaining == 400, "600 of 1000 taken");
  limits_settle(&h, 100);      /* used 100: 500 come back */
  CHECK(limits_admit(&ls, NULL, "m", 800, 60, &h, &why), "after settle 900 are free: 800 fits");
  limits_settle(&h, 800);
  CHECK(!limits_admit(&ls, NULL, "m", 200, 60, &h, &why), "900 used: 200 does not fit");
  CHECK(limits_admit(&ls, NULL, "m", 50, 60, &h, &why), "50 does");
  limits_undo(&h);
  CHECK(limits_admit(&ls, NULL, "m", 100, 60, &h, &why), "undo gave the 50 back: 100 fits");
  limits_settle(&h, 3000);     /* used far more than estimated: a debt */
  CHECK(!limits_admit(&ls, NULL, "m", 1, 60, &h, &why), "in debt: even 1 token waits");
}

static void test_both_or_nothing(void)
{
  struct snap_limit t = one("", 5, 0, 't', 3);
  struct snap_limit u = one("", 1, 0, 'u', 3);
  struct snap_limits ts = list_of(&t, 1), us = list_of(&u, 1);
  struct limit_hold h;
  struct limit_refusal why;
  CHECK(limits_admit(&ts, &us, "m", 1, 60, &h, &why) && h.req.remaining == 0, "the tightest limit is reported");
  CHECK(!limits_admit(&ts, &us, "m", 1, 60, &h, &why) && why.scope == LIMIT_USER, "the user's limit refuses");
  /* the token's bucket was given back: 4 more fit once the user has no limit */
  int n = 0;
  while (limits_admit(&ts, NULL, "m", 1, 60, &h, &why))
    n++;
  CHECK(n == 4, "a refusal takes nothing from the other limits: %d more", n);
}

struct race {
  struct snap_limits *ls;
  _Atomic int admitted;
};

static void *racer(void *arg)
{
  struct race *r = arg;
  struct limit_hold h;
  struct limit_refusal why;
  for (int i = 0; i < 2000; i++)
    if (limits_admit(r->ls, NULL, "m", 1, 3600, &h, &why))
      atomic_fetch_add(&r->admitted, 1);
  return NULL;
}

static void test_threads(void)
{
  struct snap_limit l = one("", 1000, 0, 't', 4);
  struct snap_limits ls = list_of(&l, 1);
  struct race r = {.ls = &ls};
  pthread_t th[4];
  for (int i = 0; i < 4; i++)
    pthread_create(&th[i], NULL, racer, &r);
  for (int i = 0; i < 4; i++)
    pthread_join(th[i], NULL);
  /* 8000 attempts within a fraction of the hour's first refill (3.6 s per request) */
  CHECK(atomic_load(&r.admitted) >= 1000 && atomic_load(&r.admitted) <= 1001,
        "4 threads, 8000 attempts, a limit of 1000: %d admitted", atomic_load(&r.admitted));
}

static void test_format(void)
{
  char b[32];
  limits_format_duration(20, b, sizeof b);
  CHECK(strcmp(b, "20ms") == 0, "20ms: %s", b);
  limits_format_duration(1500, b, sizeof b);
  CHECK(strcmp(b, "1.5s") == 0, "1.5s: %s", b);
  limits_format_duration(2000, b, sizeof b);
  CHECK(strcmp(b, "2s") == 0, "2s: %s", b);
  limits_format_duration(360000, b, sizeof b);
  CHECK(strcmp(b, "6m0s") == 0, "6m0s: %s", b);
  limits_format_duration(3723000, b, sizeof b);
  CHECK(strcmp(b, "1h2m3s") == 0, "1h2m3s: %s", b);
}

static void test_classify(void)
{
  CHECK(health_classify(200, "", 0, NULL) == OUTCOME_OK, "2xx ok");
  CHECK(health_classify(401, "", 0, NULL) == OUTCOME_ACCOUNT, "401 account");
  CHECK(health_classify(403, "", 0, NULL) == OUTCOME_ACCOUNT, "403 account");
  CHECK(health_classify(500, "", 0, NULL) == OUTCOME_FAIL, "500 failure");
  CHECK(health_classify(429, "", 0, NULL) == OUTCOME_FAIL, "429 failure");
  CHECK(health_classify(0, NULL, 0, NULL) == OUTCOME_FAIL, "no answer failure");
  const char *b1 = "{\"error\":{\"message\":\"context too long\",\"type\":\"invalid_request_error\"}}";
  CHECK(health_classify(400, b1, strlen(b1), NULL) == OUTCOME_CLIENT, "a client's 400");
  const char *b2 = "{\"error\":{\"message\":\"x\",\"type\":\"insufficient_quota\",\"code\":null}}";
  CHECK(health_classify(400, b2, strlen(b2), NULL) == OUTCOME_ACCOUNT, "type insufficient_quota");
  const char *b3 = "{\"error\":{\"code\":400,\"message\":\"API key not valid. Please pass a valid API key.\","
                   "\"status\":\"INVALID_ARGUMENT\",\"details\":[{\"reason\":\"API_KEY_INVALID\"}]}}";
  CHECK(health_classify(400, b3, strlen(b3), NULL) == OUTCOME_ACCOUNT, "Gemini's bad key (400 API_KEY_INVALID)");
  const char *b4 = "{\"error\":{\"message\":\"Your plan was Suspended by ops\",\"code\":\"Plan_Suspended\"}}";
  CHECK(health_classify(400, b4, strlen(b4), NULL) == OUTCOME_CLIENT, "no keyword: a client error");
  CHECK(health_classify(400, b4, strlen(b4), "quota gone, plan_suspended ") == OUTCOME_ACCOUNT,
        "a configured keyword names the code (whole, case-insensitive)");
  CHECK(health_classify(400, b4, strlen(b4), "suspended by ops, plan") == OUTCOME_CLIENT,
        "a keyword never matches the message, nor a part of the code");
  /* issue #18: a client's words quoted back never disable a channel */
  const char *b5 = "{\"error\":{\"message\":\"Unrecognized request argument supplied: balance\","
                   "\"type\":\"invalid_request_error\",\"param\":null,\"code\":null}}";
  CHECK(health_classify(400, b5, strlen(b5), "balance,credit") == OUTCOME_CLIENT, "an echoed field: a client error");
  const char *b6 = "{\"error\":{\"message\":\"You exceeded your current quota, please check your plan and billing "
                   "details.\",\"type\":\"insufficient_quota\",\"param\":null,\"code\":\"insufficient_quota\"}}";
  CHECK(health_classify(429, b6, strlen(b6), NULL) == OUTCOME_ACCOUNT, "429 insufficient_quota is the account");
  const char *b7 = "{\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\",\"message\":\"Your credit "
                   "balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase "
                   "credits.\"}}";
  CHECK(health_classify(400, b7, strlen(b7), NULL) == OUTCOME_ACCOUNT, "Anthropic's no-credit 400");
  const char *b8 = "{\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\",\"message\":\"Your credit "
                   "balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase "
                   "credits.: Extra inputs are not permitted\"}}";
  CHECK(health_classify(400, b8, strlen(b8), NULL) == OUTCOME_CLIENT, "a field named like it, quoted: a client error");
  const char *b9 = "{\"error\":\"credit balance API_KEY_INVALID\"}";
  CHECK(health_classify(400, b9, strlen(b9), NULL) == OUTCOME_CLIENT, "error as a string: a client error");
  CHECK(health_classify(400, "not json", 8, NULL) == OUTCOME_CLIENT, "not JSON: a client error");

  /* in-stream events */
  char d[160];
  const char *e1 = "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\","
                   "\"message\":\"Overloaded\"}}\n\n";
  CHECK(health_stream_event(e1, strlen(e1), NULL, d, sizeof d) == OUTCOME_FAIL, "Anthropic overloaded event");
  CHECK(strstr(d, "overloaded_error: Overloaded") != NULL, "its detail");
  const char *e2 = "data: {\"choices\":[{\"delta\":{\"content\":\"\\\"error\\\": balance\"}}]}\n\n";
  CHECK(health_stream_event(e2, strlen(e2), NULL, d, sizeof d) == OUTCOME_OK, "content quoting \"error\"");
  const char *e3 = "data: {\"error\":{\"code\":500,\"message\":\"x\",\"status\":\"INTERNAL\"}}\r\n\r\n";
  CHECK(health_stream_event(e3, strlen(e3), NULL, d, sizeof d) == OUTCOME_FAIL, "Gemini error frame");
  const char *e4 = "event: response.failed\ndata: {\"type\":\"response.failed\",\"response\":{\"error\":"
                   "{\"code\":\"insufficient_quota\",\"message\":\"q\"}}}\n\n";
  CHECK(health_stream_event(e4, strlen(e4), NULL, d, sizeof d) == OUTCOME_ACCOUNT, "Responses failed: quota");
  const char *e5 = "data: {\"error\":{\"message\":\"bad\",\"type\":\"invalid_request_error\"}}\n\n";
  CHECK(health_stream_event(e5, strlen(e5), NULL, d, sizeof d) == OUTCOME_CLIENT, "a client's error, told late");
  /* the screen (one pass for 'r'): "response.failed" with no "error" anywhere, "error" at the
   * event's first and last bytes, and bytes past the event's length not read */
  const char *e7 = "data: {\"type\":\"response.failed\"}\n\n";
  CHECK(health_stream_event(e7, strlen(e7), NULL, d, sizeof d) == OUTCOME_FAIL, "response.failed, no error");
  const char *e8 = "data: {\"error\":{}}";
  CHECK(health_stream_event(e8 + 8, 7, NULL, d, sizeof d) == OUTCOME_OK, "error at the first bytes: not JSON");
  const char *e9 = "event: error\ndata: {\"message\":\"Overloaded\"}\n\nevent: error";
  CHECK(health_stream_event(e9, strlen(e9) - 13, NULL, d, sizeof d) == OUTCOME_FAIL, "named error");
  const char *e10 = "data: {\"x\":1}\n\n\"error\"";
  CHECK(health_stream_event(e10, strlen(e10) - 7, NULL, d, sizeof d) == OUTCOME_OK, "past the length: not read");
  const char *e6 = "data: [DONE]\n\n";
  CHECK(health_stream_event(e6, strlen(e6), NULL, d, sizeof d) == OUTCOME_OK, "[DONE]");

  char t[] = "key sk-abcdef012345 rejected; sk-abcdef012345";
  size_t n = health_redact(t, strlen(t), "sk-abcdef012345");
  t[n] = '\0';
  CHECK(strcmp(t, "key [redacted] rejected; [redacted]") == 0, "redacted");
  CHECK(health_redact(t, n, "sk-absent-key") == n, "nothing to redact");
}

int main(void)
{
  test_requests();
  test_tokens();
  test_both_or_nothing();
  test_threads();
  test_format();
  test_classify();
  limits_shutdown();
  return tap_done();
}
