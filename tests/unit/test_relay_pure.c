/* Unit tests of relayd's pure modules: billing arithmetic, SSE splitting, OpenAI request
 * inspection and rewriting, address allow-lists, and the util containers. */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <arpa/inet.h>

#include "../../relayd/billing.h"
#include "../../relayd/ledger.h"
#include "../../relayd/reqbound.h"
#include "../../relayd/openai.h"
#include "../../relayd/snapshot.h"
#include "../../relayd/sse.h"
#include "config.h"
#include "keys.h"
#include "tap.h"
#include "util.h"

static void test_billing(void)
{
  struct price p = {.model_ratio = 0.075, .completion_ratio = 4, .cache_ratio = 0.5};
  struct usage u = {.prompt_tokens = 11, .completion_tokens = 5};
  /* (11 + 5*4) * 0.075 * 1 = 2.325 -> 3 */
  CHECK(billing_quota(&p, 1.0, &u, QUOTA_ROUND_UP) == 3, "ratio mode rounds up: %lld", (long long)billing_quota(&p, 1.0, &u, QUOTA_ROUND_UP));
  u = (struct usage){.prompt_tokens = 100, .completion_tokens = 0};
  CHECK(billing_quota(&p, 1.0, &u, QUOTA_ROUND_UP) == 8, "0.075 * 100 = 7.5 -> 8");
  u = (struct usage){.prompt_tokens = 1000, .completion_tokens = 1000};
  CHECK(billing_quota(&p, 2.0, &u, QUOTA_ROUND_UP) == 750, "group ratio multiplies: (1000+4000)*0.075*2 = 750");
  u = (struct usage){.prompt_tokens = 1000, .completion_tokens = 0, .cached_tokens = 400};
  /* (600 + 400*0.5) * 0.075 = 60 */
  CHECK(billing_quota(&p, 1.0, &u, QUOTA_ROUND_UP) == 60, "cached tokens at the cache ratio");
  u = (struct usage){0};
  CHECK(billing_quota(&p, 1.0, &u, QUOTA_ROUND_UP) == 0, "no tokens, no charge");
  struct price tiny = {.model_ratio = 0.0001, .completion_ratio = 1, .cache_ratio = 1};
  u = (struct usage){.prompt_tokens = 1};
  CHECK(billing_quota(&tiny, 1.0, &u, QUOTA_ROUND_UP) == 1, "a positive charge is at least 1");
  struct price fixed = {.has_fixed = true, .fixed_price = 0.02};
  CHECK(billing_quota(&fixed, 1.5, &u, QUOTA_ROUND_UP) == 15000, "fixed price: 0.02 USD * 500000 * 1.5");
  /* quota_rounding half_up (New API): the nearest unit, a half up, from the exact decimal */
  u = (struct usage){.prompt_tokens = 11, .completion_tokens = 5};
  CHECK(billing_quota(&p, 1.0, &u, QUOTA_ROUND_HALF_UP) == 2, "half_up: 2.325 -> 2");
  u = (struct usage){.prompt_tokens = 100, .completion_tokens = 0};
  CHECK(billing_quota(&p, 1.0, &u, QUOTA_ROUND_HALF_UP) == 8, "half_up: 0.075 * 100 = 7.4999.. in binary, 7.5 -> 8");
  u = (struct usage){.prompt_tokens = 1000, .completion_tokens = 1000};
  CHECK(billing_quota(&p, 2.0, &u, QUOTA_ROUND_HALF_UP) == 750, "half_up: a whole amount stays");
  u = (struct usage){.prompt_tokens = 1};
  CHECK(billing_quota(&tiny, 1.0, &u, QUOTA_ROUND_HALF_UP) == 1, "half_up: a positive charge is at least 1");
  CHECK(billing_quota(&fixed, 1.5, &u, QUOTA_ROUND_HALF_UP) == 15000, "half_up: fixed prices are rounded as before");
  u = (struct usage){.prompt_tokens = 37, .completion_tokens = 5};
  CHECK(billing_bound(&p, 1.0, 37, 5) >= billing_quota(&p, 1.0, &u, QUOTA_ROUND_HALF_UP) &&
        billing_bound(&p, 1.0, 37, 5) == billing_quota(&p, 1.0, &u, QUOTA_ROUND_UP),
        "the bound rounds up whatever the option");
  CHECK(quota_rounding_parse("half_up") == QUOTA_ROUND_HALF_UP && quota_rounding_parse("up") == QUOTA_ROUND_UP &&
        quota_rounding_parse("nearest") == -1 && strcmp(quota_rounding_name(QUOTA_ROUND_HALF_UP), "half_up") == 0,
        "rounding names");

  /* a long-context tier (issue #25): above 1000 prompt tokens the whole request takes the tier's
   * ratios; at the threshold itself the base ones */
  struct price lc = {.model_ratio = 1, .completion_ratio = 2, .cache_ratio = 0.5, .cache_write_ratio = 1.25,
                     .cache_write_1h_ratio = 2, .tier_above = 1000, .tier_model_ratio = 2,
                     .tier_completion_ratio = 3, .tier_cache_ratio = 0.25};
  u = (struct usage){.prompt_tokens = 1000, .completion_tokens = 10};
  CHECK(billing_quota(&lc, 1.0, &u, QUOTA_ROUND_UP) == 1020, "at the threshold: base ratios (1000 + 10 x 2) x 1");
  u = (struct usage){.prompt_tokens = 1001, .completion_tokens = 10, .cached_tokens = 400};
  /* (601 + 400 x 0.25 + 10 x 3) x 2 = 1462 */
  CHECK(billing_quota(&lc, 1.0, &u, QUOTA_ROUND_UP) == 1462, "above it: the tier's ratios for every token: %lld",
        (long long)billing_quota(&lc, 1.0, &u, QUOTA_ROUND_UP));
  /* the bound: below the threshold the base price; above it the dearer of base and tier */
  CHECK(billing_bound(&lc, 1.0, 900, 100) == (900 * 2 + 100 * 2), "bound below the threshold: base (input at 2x, the 1h write)");
  CHECK(billing_bound(&lc, 1.0, 2000, 100) == (2000 * 2 + 100 * 3) * 2, "bound above it: the tier's");
  struct price cheap = lc;
  cheap.tier_model_ratio = 0.5;
  cheap.tier_completion_ratio = 1;
  CHECK(billing_bound(&cheap, 1.0, 2000, 100) == 2000 * 2 + 100 * 2, "a cheaper tier never lowers the bound");
  char lcx[1024];
  u = (struct usage){.prompt_tokens = 1001, .completion_tokens = 10};
  billing_explain_json(&(struct billing_explain){.price = &lc, .usage = &u, .group_ratio = 1, .usage_source = "upstream"},
                       lcx, sizeof lcx);
  CHECK(strstr(lcx, "\"tier_above\":1000") && strstr(lcx, "\"model_ratio\":2,"), "the explanation names the tier: %s", lcx);

  struct balance ub, tb;
  atomic_init(&ub.avail, 100);
  atomic_init(&tb.avail, 50);
  int64_t avail = -1;
  CHECK(!ledger_reserve(&ub, &tb, 60, &avail) && avail == 50 && atomic_load(&ub.avail) == 100 &&
            atomic_load(&tb.avail) == 50, "a reservation above the token balance changes nothing");
  CHECK(ledger_reserve(&ub, &tb, 40, &avail) && atomic_load(&ub.avail) == 60 && atomic_load(&tb.avail) == 10,
        "a reservation takes from user and token");
  atomic_init(&tb.spent, 0);
  ledger_settle(&ub, &tb, &tb, 40, 25);
  CHECK(atomic_load(&ub.avail) == 75 && atomic_load(&tb.avail) == 25 && atomic_load(&tb.spent) == 25,
        "settle gives back the difference and counts the charge as spent");
  ledger_settle(&ub, NULL, &tb, 0, 5);
  CHECK(atomic_load(&ub.avail) == 70 && atomic_load(&tb.avail) == 25, "unlimited token: only the user pays");
  atomic_store(&ub.avail, 0);
  CHECK(!ledger_reserve(&ub, NULL, 0, &avail), "an empty balance refuses even a free request");

  /* Anthropic cache writes: 5-minute at 1.25x, 1-hour at 2x input (issue #17) */
  struct price cw = {.model_ratio = 1.5, .completion_ratio = 5, .cache_ratio = 0.1, .cache_write_ratio = 1.25,
                     .cache_write_1h_ratio = 2};
  u = (struct usage){.prompt_tokens = 10000, .cached_tokens = 2000, .cache_write_5m = 4000, .cache_write_1h = 1000,
                     .completion_tokens = 100};
  /* (3000 + 2000*0.1 + 4000*1.25 + 1000*2 + 100*5) * 1.5 = (3000+200+5000+2000+500)*1.5 = 16050 */
  CHECK(billing_quota(&cw, 1.0, &u, QUOTA_ROUND_UP) == 16050, "cache writes at their ratios: %lld", (long long)billing_quota(&cw, 1.0, &u, QUOTA_ROUND_UP));
  u.cache_write_5m = 20000;       /* more writes than prompt: clamped, never negative uncached */
  CHECK(billing_quota(&cw, 1.0, &u, QUOTA_ROUND_UP) == (int64_t)((8000 * 1.25 + 2000 * 0.1 + 500) * 1.5 + 0.5),
        "cache writes are clamped into the prompt: %lld", (long long)billing_quota(&cw, 1.0, &u, QUOTA_ROUND_UP));
  /* the bound prices every input token at the dearest input ratio */
  CHECK(billing_bound(&cw, 1.0, 1000, 100) == (int64_t)((1000 * 2 + 100 * 5) * 1.5),
        "bound: input at max(1, cache ratios), output at the completion ratio: %lld",
        (long long)billing_bound(&cw, 1.0, 1000, 100));
  struct usage any = {.prompt_tokens = 1000, .cached_tokens = 10, .cache_write_5m = 500, .cache_write_1h = 490,
                      .completion_tokens = 100};
  CHECK(billing_quota(&cw, 1.0, &any, QUOTA_ROUND_UP) <= billing_bound(&cw, 1.0, 1000, 100), "a charge within the bounds fits the bound");
}

static void test_usage_counts(void)
{
  const char *bad[] = {"-5", "9223372036854775807", "1e300", "\"12\"", "1.5", "true", "{}", NULL};
  for (int i = 0; bad[i]; i++) {
    char js[96];
    snprintf(js, sizeof js, "{\"prompt_tokens\":%s,\"completion_tokens\":7}", bad[i]);
    cJSON *j = cJSON_Parse(js);
    struct usage u;
    oai_parse_usage(j, &u);
    CHECK(u.bad, "usage count %s is garbage, not 0 (bad=%d)", bad[i], u.bad);
    cJSON_Delete(j);
  }
  cJSON *j = cJSON_Parse("{\"prompt_tokens\":12,\"completion_tokens\":7,\"prompt_tokens_details\":null}");
  struct usage u;
  oai_parse_usage(j, &u);
  CHECK(!u.bad && u.prompt_tokens == 12 && u.completion_tokens == 7, "a good usage with a null detail is read");
  cJSON_Delete(j);
}

static void test_reqbound(void)
{
  char path[160];
  cJSON *j = cJSON_Parse("{\"model\":\"cheap\",\"messages\":[],\"model\":\"pricey\"}");
  CHECK(reqbound_duplicate_key(j, path, sizeof path) && !strcmp(path, "$.model"), "top-level duplicate: %s", path);
  cJSON_Delete(j);
  j = cJSON_Parse("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\",\"text\":\"b\"}]}]}");
  CHECK(reqbound_duplicate_key(j, path, sizeof path) && !strcmp(path, "$.messages[0].content[0].text"),
        "nested duplicate with its path: %s", path);
  cJSON_Delete(j);
  /* a large object is checked by sorting */
  char big[2048] = "{";
  for (int i = 0; i < 40; i++)
    snprintf(big + strlen(big), sizeof big - strlen(big), "\"k%d\":%d,", i, i);
  snprintf(big + strlen(big), sizeof big - strlen(big), "\"k17\":0}");
  j = cJSON_Parse(big);
  CHECK(reqbound_duplicate_key(j, path, sizeof path) && !strcmp(path, "$.k17"), "41 keys, one twice: %s", path);
  cJSON_Delete(j);
  j = cJSON_Parse("{\"a\":{\"x\":1},\"b\":{\"x\":1},\"c\":[{\"x\":1},{\"x\":2}]}");
  CHECK(!reqbound_duplicate_key(j, path, sizeof path) && !path[0], "equal keys in different objects are fine");
  cJSON_Delete(j);

  const char *img = "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":"
                    "{\"url\":\"https://x/y.png\"}}]}]}";
  j = cJSON_Parse(img);
  int64_t b = reqbound_input(j, strlen(img));
  CHECK(b >= REQBOUND_IMAGE_TOKENS && b <= (int64_t)strlen(img) + REQBOUND_IMAGE_TOKENS + REQBOUND_OVERHEAD_TOKENS,
        "an image by URL counts as an image, not as its few bytes: %lld", (long long)b);
  cJSON_Delete(j);
  const char *gem = "{\"contents\":[{\"parts\":[{\"fileData\":{\"mimeType\":\"video/mp4\",\"fileUri\":\"gs://v\"}}]}],"
                    "\"generationConfig\":{\"candidateCount\":3}}";
  j = cJSON_Parse(gem);
  CHECK(reqbound_input(j, strlen(gem)) >= REQBOUND_FILE_TOKENS, "a file by URI counts as a file");
  CHECK(reqbound_choices(j) == 3, "Gemini candidateCount multiplies the output");
  cJSON_Delete(j);
  j = cJSON_Parse("{\"n\":4,\"best_of\":6}");
  CHECK(reqbound_choices(j) == 6, "best_of and n: the larger");
  cJSON_Delete(j);
  j = cJSON_Parse("{\"n\":1e9}");
  CHECK(reqbound_choices(j) == 128, "n is bounded");
  cJSON_Delete(j);
}

static void test_explain(void)
{
  struct price p = {.model_ratio = 1.5, .completion_ratio = 5, .cache_ratio = 0.1, .cache_write_ratio = 1.25,
                    .cache_write_1h_ratio = 2};
  struct usage u = {.prompt_tokens = 100, .cached_tokens = 10, .cache_write_5m = 20, .completion_tokens = 9,
                    .reasoning_tokens = 4};
  char out[1024];
  struct billing_explain e = {.price = &p, .group = "vip\"x", .group_ratio = 0.5, .usage = &u,
                              .usage_source = "upstream", .reserved = 900, .charged = 77, .note = ""};
  billing_explain_json(&e, out, sizeof out);
  cJSON *j = cJSON_Parse(out);
  const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "tokens");
  CHECK(j && cJSON_GetObjectItemCaseSensitive(t, "cache_write_5m")->valuedouble == 20 &&
            cJSON_GetObjectItemCaseSensitive(j, "cache_write_ratio")->valuedouble == 1.25 &&
            !strcmp(cJSON_GetObjectItemCaseSensitive(j, "group")->valuestring, "vip\"x") &&
            cJSON_GetObjectItemCaseSensitive(j, "reserved")->valuedouble == 900,
        "explain: parseable JSON with tokens, ratios, group and reservation: %s", out);
  cJSON_Delete(j);
  /* the log row's bytes as gwctl log explain and log show --json print them: every member, each
   * escaping, an integer past 2^53 and a ratio that needs 17 digits, exactly as the cJSON-era
   * writer wrote them; one byte short of the whole text gives {} */
  struct price lp = {.model_ratio = 0.075, .completion_ratio = 4, .cache_ratio = 0.1, .cache_write_ratio = 1.25,
                     .cache_write_1h_ratio = 2, .audio_ratio = 8, .audio_completion_ratio = 2, .tier_above = 1000,
                     .tier_model_ratio = 0.15, .tier_completion_ratio = 4.5};
  struct usage lu = {.prompt_tokens = 1200, .cached_tokens = 64, .cache_write_5m = 3, .completion_tokens = 30,
                     .reasoning_tokens = 7, .audio_prompt_tokens = 20, .audio_cached_tokens = 10,
                     .audio_completion_tokens = 5};
  struct billing_explain le = {.price = &lp, .group = "vip\"x\n", .group_ratio = 0.3333333333333333, .usage = &lu,
                               .usage_source = "local", .counter = "o200k_base", .api = "anthropic",
                               .reserved = 90071992547409930LL, .charged = -5, .note = "a\\b\tc\x01",
                               .rounding = QUOTA_ROUND_HALF_UP, .requested_model = "gpt-4o",
                               .served_model = "gpt-4o-mini", .cache_hit = true};
  static const char lwant[] =
      "{\"tier_above\":1000,\"mode\":\"ratio\",\"usage_source\":\"local\",\"counter\":\"o200k_base\",\"api\":"
      "\"anthropic\",\"tokens\":{\"prompt\":1200,\"cached\":64,\"cache_write_5m\":3,\"cache_write_1h\":0,"
      "\"completion\":30,\"reasoning\":7,\"audio_prompt\":20,\"audio_cached\":10,\"audio_completion\":5},"
      "\"model_ratio\":0.15,\"completion_ratio\":4.5,\"cache_ratio\":0,\"cache_write_ratio\":1.25,"
      "\"cache_write_1h_ratio\":2,\"rounding\":\"half_up\",\"audio_ratio\":8,\"audio_completion_ratio\":2,"
      "\"requested_model\":\"gpt-4o\",\"served_model\":\"gpt-4o-mini\",\"cache_hit\":true,\"group\":\"vip\\\"x\\n\","
      "\"group_ratio\":0.33333333333333331,\"reserved\":90071992547409936,\"charged\":-5,\"note\":\"a\\\\b\\tc\\u0001\"}";
  billing_explain_json(&le, out, sizeof out);
  CHECK(!strcmp(out, lwant), "explain: every member as written before: %s", out);
  char exact[sizeof lwant];
  billing_explain_json(&le, exact, sizeof exact);
  CHECK(!strcmp(exact, lwant), "explain: a buffer of the text's size holds it whole: %s", exact);
  billing_explain_json(&le, exact, sizeof exact - 1);
  CHECK(!strcmp(exact, "{}"), "explain: one byte short gets {}: %s", exact);
  struct price fp = {.has_fixed = true, .fixed_price = 0.04, .unit = PRICE_PER_IMAGE};
  struct billing_explain fe = {.price = &fp, .group = "default", .group_ratio = 1, .usage = &lu, .units = 2.5,
                               .usage_source = "upstream", .reserved = 100, .charged = 50000};
  billing_explain_json(&fe, out, sizeof out);
  CHECK(!strcmp(out, "{\"mode\":\"fixed\",\"usage_source\":\"upstream\",\"fixed_price\":0.04,\"units\":2.5,\"unit\":"
                     "\"image\",\"group\":\"default\",\"group_ratio\":1,\"reserved\":100,\"charged\":50000}"),
        "explain: a fixed price as written before: %s", out);
  char small[16];
  billing_explain_json(&e, small, sizeof small);
  CHECK(!strcmp(small, "{}"), "explain: a buffer too small gets {} (%s)", small);
  /* numbers are written without printf (relay's own formatter): each parses back to the very
   * same double, and reads as cJSON would print it for the ratios prices use */
  static const double vals[] = {0, 1, 2, 0.1, 0.075, 1.25, 0.001, 37.5, 1e-7, 0.3333333333333333, 2.0 / 3,
                                123456.789, -0.5, 1e15, 9007199254740993.0, 1e300, 5e-324, 0.1 + 0.2};
  static const char *const want[] = {"0", "1", "2", "0.1", "0.075", "1.25", "0.001", "37.5"};
  for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
    struct price q = {.model_ratio = vals[i]};
    struct billing_explain f = {.price = &q, .group_ratio = vals[i], .usage_source = "none"};
    billing_explain_json(&f, out, sizeof out);
    cJSON *k = cJSON_Parse(out);
    const cJSON *mr = cJSON_GetObjectItemCaseSensitive(k, "model_ratio");
    CHECK(cJSON_IsNumber(mr) && mr->valuedouble == vals[i] &&
              cJSON_GetObjectItemCaseSensitive(k, "group_ratio")->valuedouble == vals[i],
          "explain: %.17g round-trips: %s", vals[i], out);
    if (i < sizeof want / sizeof want[0]) {
      char key[64];
      snprintf(key, sizeof key, "\"model_ratio\":%s,", want[i]);
      CHECK(strstr(out, key) != NULL, "explain: %.17g is written %s: %s", vals[i], want[i], out);
    }
    cJSON_Delete(k);
  }
}

/* Audio priced as audio (migration 013): the realtime mock's usage at ratio 2, completion 3, cache
 * 0.5, audio 8, audio completion 2 (tests/bats/16-sdk-realtime.bats works the same numbers). */
static void test_audio(void)
{
  struct price p = {.model_ratio = 2, .completion_ratio = 3, .cache_ratio = 0.5, .cache_write_ratio = 1.25,
                    .cache_write_1h_ratio = 2, .audio_ratio = 8, .audio_completion_ratio = 2};
  struct usage u = {.prompt_tokens = 120, .cached_tokens = 64, .completion_tokens = 30, .audio_prompt_tokens = 20,
                    .audio_cached_tokens = 10, .audio_completion_tokens = 20};
  /* (46 text + 10 audio x 8 + 64 cached x 0.5 + 10 text out x 3 + 20 audio out x 16) x 2 */
  CHECK(billing_quota(&p, 1, &u, QUOTA_ROUND_UP) == 1016, "audio at the audio ratios: %lld (want 1016)",
        (long long)billing_quota(&p, 1, &u, QUOTA_ROUND_UP));
  struct price text = p;
  text.audio_ratio = 1;
  text.audio_completion_ratio = 3;    /* relayd's defaults when the row has none: priced as text */
  CHECK(billing_quota(&text, 1, &u, QUOTA_ROUND_UP) == 356, "unset audio ratios price audio as text: %lld (want 356)",
        (long long)billing_quota(&text, 1, &u, QUOTA_ROUND_UP));
  /* the bound takes the dearest input (audio 8) and output (audio 8 x 2 = 16) ratios */
  CHECK(billing_bound(&p, 1, 4096, 4096) == (4096 * 8 + 4096 * 16) * 2, "bound with audio ratios: %lld",
        (long long)billing_bound(&p, 1, 4096, 4096));
  /* counts that do not add up are clamped into their totals, never billed beyond them */
  struct usage wild = {.prompt_tokens = 10, .completion_tokens = 5, .audio_prompt_tokens = 1000,
                       .audio_cached_tokens = 500, .audio_completion_tokens = 900};
  CHECK(billing_quota(&p, 1, &wild, QUOTA_ROUND_UP) == (10 * 8 + 5 * 16) * 2, "audio counts clamped to the totals: %lld",
        (long long)billing_quota(&p, 1, &wild, QUOTA_ROUND_UP));
}

static void test_sse(void)
{
  const char *s = "data: {\"a\":1}\n\ndata: [DONE]\r\n\r\npartial";
  size_t n = sse_event_len(s, strlen(s));
  CHECK(n == 15, "first event ends after the blank line (%zu)", n);
  size_t m = sse_event_len(s + n, strlen(s + n));
  CHECK(m == 16, "CRLF event boundary (%zu)", m);
  CHECK(sse_event_len(s + n + m, strlen(s + n + m)) == 0, "an incomplete event is not returned");
  const char *d;
  size_t dl;
  CHECK(sse_event_data(s, n, &d, &dl) == 0 && dl == 7 && memcmp(d, "{\"a\":1}", 7) == 0, "data payload");
  CHECK(sse_event_data(": ping\n\n", 8, &d, &dl) == -1, "a comment has no data");
  const char *named = "event: message_start\r\ndata: {}\r\n\r\n";
  CHECK(sse_event_field(named, strlen(named), "event", &d, &dl) == 0 && dl == 13 &&
            memcmp(d, "message_start", 13) == 0, "event name without its CR");
  CHECK(sse_event_field(named, strlen(named), "id", &d, &dl) == -1, "a missing field");
  CHECK(sse_event_field("events: x\n\n", 11, "event", &d, &dl) == -1, "a longer field name does not match");
  const char *ev = "{\"delta\":{\"content\":\"h\\u00e9llo \\\"x\\\"\"},\"content\": \"\xc3\xa9t\xc3\xa9\"}";
  CHECK(sse_count_string_chars(ev, strlen(ev), "content") == 9 + 3,
        "content characters counted with escapes and UTF-8 (%zu)", sse_count_string_chars(ev, strlen(ev), "content"));
  const char *rc = "{\"reasoning_content\":\"abc\"}";
  CHECK(sse_count_string_chars(rc, strlen(rc), "content") == 0, "a longer key is not matched");
}

static void test_openai(void)
{
  struct oai_request rq;
  char err[256];
  const char *param;
  const char *body = "{\"model\":\"m1\",\"messages\":[{\"role\":\"user\",\"content\":\"abcdefgh\"}],"
                     "\"stream\":true,\"max_tokens\":50}";
  cJSON *root = oai_parse_request(API_CHAT, body, strlen(body), &rq, err, sizeof err, &param);
  CHECK(root && strcmp(rq.model, "m1") == 0 && rq.stream && !rq.client_wants_usage && rq.max_tokens == 50,
        "chat request fields");
  CHECK(rq.prompt_estimate == 6, "prompt estimate (8 + 16 chars)/4 = 6: %lld", (long long)rq.prompt_estimate);
  size_t len = 0;
  char *up = oai_upstream_body(root, &rq, "m1", &len);
  CHECK(up && strstr(up, "\"stream_options\":{\"include_usage\":true}") && len == strlen(up),
        "a stream gets include_usage forced: %s", up ? up : "(null)");
  free(up);
  up = oai_upstream_body(root, &rq, "upstream-m", &len);
  CHECK(up && strstr(up, "\"model\":\"upstream-m\""), "model mapping renames the model");
  free(up);
  cJSON_Delete(root);

  /* the forced include_usage spliced into the client's bytes: the same JSON as the tree printed
   * again (cJSON_Compare: members in any order), the client's own bytes kept (a seed past 2^53
   * that a print through a double would change), and only where nothing else changes */
  const char *sb = " \n{\"model\":\"m1\",\"seed\":12345678901234567891,\"stream\":true,"
                   "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]} ";
  root = oai_parse_request(API_CHAT, sb, strlen(sb), &rq, err, sizeof err, &param);
  size_t sl = 0;
  char *sp = root ? oai_usage_spliced(root, &rq, "m1", sb, strlen(sb), &sl) : NULL;
  up = root ? oai_upstream_body(root, &rq, "m1", &len) : NULL;
  cJSON *a = sp ? cJSON_ParseWithLength(sp, sl) : NULL, *pb = up ? cJSON_Parse(up) : NULL;
  CHECK(sp && sl == strlen(sp) && a && pb && cJSON_Compare(a, pb, true) &&
        strstr(sp, "12345678901234567891") && strncmp(sp, sb, strlen(sb) - 2) == 0 &&
        strcmp(sp + strlen(sb) - 2, ",\"stream_options\":{\"include_usage\":true}} ") == 0,
        "include_usage spliced in: %s", sp ? sp : "(null)");
  cJSON_Delete(a);
  cJSON_Delete(pb);
  free(sp);
  free(up);
  cJSON_Delete(root);
  root = oai_parse_request(API_CHAT, sb, strlen(sb), &rq, err, sizeof err, &param);
  CHECK(root && !oai_usage_spliced(root, &rq, "upstream-m", sb, strlen(sb), &sl), "a renamed model: printed");
  cJSON_ReplaceItemInObjectCaseSensitive(root, "model", cJSON_CreateString("m2"));
  CHECK(!oai_usage_spliced(root, &rq, "m1", sb, strlen(sb), &sl), "a tree changed since its parse: printed");
  cJSON_Delete(root);
  const char *tg = "{\"model\":\"m1\",\"stream\":true,\"messages\":[{}]} {\"model\":\"m2\"}";
  root = oai_parse_request(API_CHAT, tg, strlen(tg), &rq, err, sizeof err, &param);
  CHECK(!root || !oai_usage_spliced(root, &rq, "m1", tg, strlen(tg), &sl), "bytes after the object: printed");
  cJSON_Delete(root);
  const char *so = "{\"model\":\"m1\",\"stream\":true,\"stream_options\":{},\"messages\":[{}]}";
  root = oai_parse_request(API_CHAT, so, strlen(so), &rq, err, sizeof err, &param);
  CHECK(root && !oai_usage_spliced(root, &rq, "m1", so, strlen(so), &sl), "stream_options of its own: printed");
  cJSON_Delete(root);
  struct oai_request erq = {.stream = true, .body_end = 2};
  snprintf(erq.model, sizeof erq.model, "m1");
  cJSON *eo = cJSON_Parse("{}");
  CHECK(!oai_usage_spliced(eo, &erq, "m1", "{}", 2, &sl), "no model in the tree: printed");
  cJSON_Delete(eo);
  eo = cJSON_Parse("{\"model\":\"m1\"}");
  erq.body_end = 14;
  sp = oai_usage_spliced(eo, &erq, "m1", "{\"model\":\"m1\"}", 14, &sl);
  a = sp ? cJSON_Parse(sp) : NULL;
  CHECK(a && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(a, "stream_options"), "include_usage")) &&
        cJSON_GetArraySize(a) == 2 && sp && strcmp(sp, "{\"model\":\"m1\",\"stream_options\":{\"include_usage\":true}}") == 0,
        "a one-member object: %s", sp ? sp : "(null)");
  cJSON_Delete(a);
  free(sp);
  erq.stream = false;
  CHECK(!oai_usage_spliced(eo, &erq, "m1", "{\"model\":\"m1\"}", 14, &sl), "not a stream: nothing to add");
  cJSON_Delete(eo);

  body = "{\"model\":\"m1\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}";
  root = oai_parse_request(API_CHAT, body, strlen(body), &rq, err, sizeof err, &param);
  CHECK(root && oai_upstream_body(root, &rq, "m1", &len) == NULL, "nothing to change: the client's bytes go");
  cJSON_Delete(root);

  body = "{\"model\":\"m1\",\"stream\":true,\"stream_options\":{\"include_usage\":true},\"messages\":[{}]}";
  root = oai_parse_request(API_CHAT, body, strlen(body), &rq, err, sizeof err, &param);
  CHECK(root && rq.client_wants_usage && oai_upstream_body(root, &rq, "m1", &len) == NULL,
        "the client asked for usage itself: no rewrite");
  cJSON_Delete(root);

  struct {
    enum api_kind kind;
    const char *body;
    const char *param;
    const char *msg;
  } bad[] = {
      {API_CHAT, "{", NULL, "not valid JSON"},
      {API_CHAT, "[1]", NULL, "must be a JSON object"},
      {API_CHAT, "{\"messages\":[{}]}", "model", "provide a model"},
      {API_CHAT, "{\"model\":5,\"messages\":[{}]}", "model", "non-empty string"},
      {API_CHAT, "{\"model\":\"m\",\"messages\":[]}", "messages", "non-empty array"},
      {API_CHAT, "{\"model\":\"m\",\"messages\":[{}],\"stream\":\"yes\"}", "stream", "true or false"},
      {API_CHAT, "{\"model\":\"m\",\"messages\":[{}],\"max_tokens\":-1}", "max_tokens", "non-negative"},
      {API_EMBEDDINGS, "{\"model\":\"m\"}", "input", "'input' must be"},
      {API_COMPLETIONS, "{\"model\":\"m\",\"prompt\":{}}", "prompt", "'prompt' must be"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    root = oai_parse_request(bad[i].kind, bad[i].body, strlen(bad[i].body), &rq, err, sizeof err, &param);
    CHECK(!root && strstr(err, bad[i].msg) &&
              ((!param && !bad[i].param) || (param && bad[i].param && strcmp(param, bad[i].param) == 0)),
          "bad request %s -> '%s' (param %s)", bad[i].body, err, param ? param : "null");
  }

  cJSON *u = cJSON_Parse("{\"prompt_tokens\":10,\"completion_tokens\":3,\"prompt_tokens_details\":{\"cached_tokens\":4}}");
  struct usage us;
  CHECK(oai_parse_usage(u, &us) == 0 && us.prompt_tokens == 10 && us.completion_tokens == 3 && us.cached_tokens == 4,
        "usage with cached tokens");
  cJSON_Delete(u);
}

static void test_cidr(void)
{
  struct snap_token t = {0};
  struct cidr nets[2];
  CHECK(cidr_parse("10.0.0.0/8", &nets[0]) == 0 && cidr_parse("::1", &nets[1]) == 0, "cidr parse");
  CHECK(cidr_parse("10.0.0.0/33", &nets[0]) == -1 && cidr_parse("bogus", &nets[0]) == -1, "bad cidr refused");
  cidr_parse("10.0.0.0/8", &nets[0]);
  t.nets = nets;
  t.nnets = 2;
  struct sockaddr_in a = {.sin_family = AF_INET};
  inet_pton(AF_INET, "10.2.3.4", &a.sin_addr);
  CHECK(token_allows_addr(&t, (struct sockaddr *)&a), "address inside the range");
  inet_pton(AF_INET, "11.2.3.4", &a.sin_addr);
  CHECK(!token_allows_addr(&t, (struct sockaddr *)&a), "address outside the range");
  struct sockaddr_in6 b = {.sin6_family = AF_INET6};
  inet_pton(AF_INET6, "::ffff:10.9.9.9", &b.sin6_addr);
  CHECK(token_allows_addr(&t, (struct sockaddr *)&b), "v4-mapped v6 address matches the v4 range");
  inet_pton(AF_INET6, "::1", &b.sin6_addr);
  CHECK(token_allows_addr(&t, (struct sockaddr *)&b), "v6 loopback");
}

static void test_util(void)
{
  struct buf b;
  buf_init(&b, 8);
  CHECK(buf_append(&b, "12345678", 8) == 0 && buf_append(&b, "9", 1) == -1 && b.len == 8,
        "a buffer never grows past its cap");
  buf_consume(&b, 3);
  CHECK(b.len == 5 && strcmp(b.data, "45678") == 0, "consume drops the front");
  buf_free(&b);
  buf_init(&b, 100);
  buf_append_json_str(&b, "a\"b\\\n\x01");
  CHECK(strcmp(b.data, "\"a\\\"b\\\\\\n\\u0001\"") == 0, "json string escaping: %s", b.data);
  buf_free(&b);
  struct strmap m;
  strmap_init(&m, 2);
  char keys[100][16];
  for (int i = 0; i < 100; i++) {
    snprintf(keys[i], sizeof keys[i], "k%d", i);
    strmap_put(&m, keys[i], keys[i]);
  }
  int found = 0;
  for (int i = 0; i < 100; i++)
    found += strmap_get(&m, keys[i]) == keys[i];
  CHECK(found == 100 && m.count == 100 && !strmap_get(&m, "k100"), "strmap grows and finds every key");
  strmap_free(&m);
  struct arena a = {0};
  char **items;
  size_t n = split_list(&a, " a, b ,,c ", &items);
  CHECK(n == 3 && strcmp(items[0], "a") == 0 && strcmp(items[2], "c") == 0, "comma lists are trimmed");
  arena_free(&a);
  int64_t v;
  CHECK(parse_int64("42", &v) == 0 && v == 42 && parse_int64("4x", &v) == -1 && parse_int64("", &v) == -1,
        "integer parsing is strict");
  char hx[24], want[24];
  static const unsigned long long hv[] = {0, 1, 0xabc, 0x1000, 0xffffffffffffffffULL};
  int hex_ok = 1;
  for (size_t i = 0; i < sizeof hv / sizeof hv[0]; i++)
    for (int wd = 1; wd <= 12; wd += 5) {
      size_t hn = put_hex(hx, hv[i], wd);
      hex_ok &= (int)hn == snprintf(want, sizeof want, "%0*llx", wd, hv[i]) && memcmp(hx, want, hn) == 0;
    }
  CHECK(hex_ok, "put_hex writes what printf's %%0*llx does");

  char key[64], err[128], hint[KEY_HINT_MAX];
  CHECK(key_generate(key, sizeof key) == 0 && strlen(key) == 51 && key_validate(key, err, sizeof err) == 0,
        "generated keys are valid");
  CHECK(key_validate("sk-shortkey", err, sizeof err) == 0 && key_validate("sk-abc-defgh", err, sizeof err) == -1,
        "a '-' is not allowed in a key (it separates a channel pin)");
  key_hint("sk-abcdefghijkl", hint);
  CHECK(strcmp(hint, "sk-abcd...ijkl") == 0, "key hint");

  struct config c;
  config_defaults(&c);
  CHECK(config_set(&c, "max-body-bytes", "2048", err, sizeof err) == 0 && c.max_body_bytes == 2048,
        "config keys accept '-' for '_'");
  CHECK(config_set(&c, "workers", "-1", err, sizeof err) == -1 && strstr(err, "workers"), "config range check");
  CHECK(config_set(&c, "nope", "1", err, sizeof err) == -1, "unknown config key");
}

int main(void)
{
  test_billing();
  test_usage_counts();
  test_reqbound();
  test_explain();
  test_audio();
  test_sse();
  test_openai();
  test_cidr();
  test_util();
  return tap_done();
}
