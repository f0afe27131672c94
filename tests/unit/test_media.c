/* Unit tests of media.c's pure parts: JSON request checks of each kind, the dall-e image
 * multipliers, the multipart model rename, channel and price refusals, reading answers (usage in
 * each shape, image counts, durations, search units, Responses stream events) and the charges. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../relayd/media.h"
#include "../../relayd/mediareq.h"
#include "tap.h"

/* parses a JSON request of kind k (no connection needed for JSON kinds) */
static int parse(enum media_kind k, const char *body, struct oai_request *rq, struct media_req *mq, char *err,
                 size_t errlen, const char **param)
{
  cJSON *root = NULL;
  int st = media_parse_request(NULL, k, "application/json", body, strlen(body), &root, rq, mq, err, errlen, param);
  cJSON_Delete(root);
  return st;
}

static void test_requests(void)
{
  struct oai_request rq;
  struct media_req mq;
  char err[256];
  const char *param;
  /* /v1/responses is a format of its own now (format_responses.c, tests/unit/test_format.c) */
  CHECK(parse(MEDIA_IMAGE_GEN, "{\"model\":\"dall-e-3\",\"prompt\":\"p\",\"stream\":true}", &rq, &mq, err,
              sizeof err, &param) == 400 && strcmp(param, "stream") == 0, "no media kind streams (%s)", err);
  CHECK(parse(MEDIA_IMAGE_GEN, "{\"model\":\"dall-e-3\",\"prompt\":\"p\",\"n\":3,\"size\":\"1024x1792\","
              "\"quality\":\"hd\"}", &rq, &mq, err, sizeof err, &param) == 0 &&
            mq.n == 3 && mq.image_mult == 3.0, "images: n and the dall-e-3 hd 1024x1792 multiplier 2 x 1.5");
  CHECK(parse(MEDIA_IMAGE_GEN, "{\"model\":\"dall-e-2\",\"prompt\":\"p\",\"size\":\"1792x1024\"}", &rq, &mq, err,
              sizeof err, &param) == 400 && strcmp(param, "size") == 0, "images: a size dall-e-2 does not make");
  CHECK(parse(MEDIA_IMAGE_GEN, "{\"model\":\"m\",\"prompt\":\"p\",\"n\":1.5}", &rq, &mq, err, sizeof err, &param) ==
            400 && strcmp(param, "n") == 0, "images: n must be an integer");
  CHECK(parse(MEDIA_IMAGE_GEN, "{\"model\":\"m\",\"prompt\":\"p\",\"stream\":true}", &rq, &mq, err, sizeof err,
              &param) == 400, "images: no streaming");
  CHECK(parse(MEDIA_SPEECH, "{\"model\":\"tts-1\",\"input\":\"h\xc3\xa9llo\",\"voice\":\"alloy\"}", &rq, &mq, err,
              sizeof err, &param) == 0 && mq.input_chars == 5, "speech: characters are code points (%lld)",
        (long long)mq.input_chars);
  CHECK(parse(MEDIA_SPEECH, "{\"model\":\"tts-1\",\"input\":\"x\"}", &rq, &mq, err, sizeof err, &param) == 400 &&
            strcmp(param, "voice") == 0, "speech: voice is required");
  CHECK(parse(MEDIA_MODERATION, "{\"input\":[\"abcd\",\"efgh\"]}", &rq, &mq, err, sizeof err, &param) == 0 &&
            strcmp(rq.model, "omni-moderation-latest") == 0 && !mq.model_in_body,
        "moderations: the model defaults to omni-moderation-latest");
  CHECK(parse(MEDIA_RERANK, "{\"model\":\"r\",\"query\":\"q\",\"documents\":[\"a\",{\"text\":\"b\"}],\"top_n\":1}",
              &rq, &mq, err, sizeof err, &param) == 0 && mq.documents == 2, "rerank: strings and {text} documents");
  CHECK(parse(MEDIA_RERANK, "{\"model\":\"r\",\"query\":\"q\",\"documents\":[{\"x\":1}]}", &rq, &mq, err,
              sizeof err, &param) == 400 && strcmp(param, "documents") == 0, "rerank: a document without text");
  cJSON *root = NULL;
  CHECK(media_parse_request(NULL, MEDIA_IMAGE_GEN, "multipart/form-data; boundary=x", "--x--\r\n", 7, &root, &rq, &mq,
                            err, sizeof err, &param) == 415, "a JSON endpoint refuses a form with 415");
  CHECK(media_parse_request(NULL, MEDIA_TRANSCRIBE, "application/json", "{}", 2, &root, &rq, &mq, err, sizeof err,
                            &param) == 415, "a multipart endpoint refuses JSON with 415");
}

static void test_images(void)
{
  char err[128];
  CHECK(media_image_multiplier("dall-e-2", "256x256", NULL, err, sizeof err) == 1.0, "dall-e-2 256x256: 1");
  CHECK(media_image_multiplier("dall-e-2", NULL, NULL, err, sizeof err) == 1.25, "dall-e-2 default 1024x1024: 1.25");
  CHECK(media_image_multiplier("dall-e-3", "1024x1024", "hd", err, sizeof err) == 2.0, "dall-e-3 hd 1024: 2");
  CHECK(media_image_multiplier("dall-e-3", "1792x1024", "standard", err, sizeof err) == 2.0, "dall-e-3 1792: 2");
  CHECK(media_image_multiplier("dall-e-3", "256x256", NULL, err, sizeof err) < 0, "dall-e-3 256: refused");
  CHECK(media_image_multiplier("flux-pro", "999x1", "hd", err, sizeof err) == 1.0, "other models: 1");
  CHECK(media_image_tokens("1024x1024", "low") == 272 && media_image_tokens("1536x1024", "medium") == 1584 &&
            media_image_tokens(NULL, NULL) == 4160, "gpt-image-1 output tokens per size and quality");
}

static void test_form(void)
{
  char b[64];
  CHECK(media_form_boundary("multipart/form-data; boundary=abc-123", b, sizeof b) == 0 && strcmp(b, "abc-123") == 0,
        "boundary");
  CHECK(media_form_boundary("multipart/form-data; charset=x; boundary=\"q;t\"", b, sizeof b) == 0 &&
            strcmp(b, "q;t") == 0, "quoted boundary");
  CHECK(media_form_boundary("multipart/form-data", b, sizeof b) < 0, "no boundary");
  CHECK(media_form_boundary("multipart/form-data; xboundary=a", b, sizeof b) < 0, "boundary= inside another name");
  static const char body[] = "--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\n"
                             "name=\"model\"\r\n\r\nalias\r\n--X\r\n"
                             "--B\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nalias\r\n--B--\r\n";
  size_t len = sizeof body - 1, outlen = 0;
  char *out = media_form_replace_field(body, len, "B", "model", "alias", "gpt-real", &outlen);
  char *want = malloc(len + 8);
  const char *at = strstr(body + 60, "alias\r\n--B--");
  size_t pre = (size_t)(at - body);
  memcpy(want, body, pre);
  strcpy(want + pre, "gpt-real\r\n--B--\r\n");
  CHECK(out && outlen == strlen(want) && memcmp(out, want, outlen) == 0,
        "rename: only the model part's value changes (file bytes that look like it stay)");
  free(out);
  free(want);
  CHECK(!media_form_replace_field(body, len, "B", "model", "other", "x", &outlen), "rename: the value must match");
  static const char twice[] = "--B\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\na\r\n"
                              "--B\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\na\r\n--B--\r\n";
  CHECK(!media_form_replace_field(twice, sizeof twice - 1, "B", "model", "a", "x", &outlen), "rename: exactly one part");
}

static void test_refusals(void)
{
  CHECK(media_channel_refusal(MEDIA_RERANK, API_MEDIA, provider_find("cohere")) == NULL &&
            media_channel_refusal(MEDIA_NONE, API_CHAT, provider_find("cohere")) != NULL,
        "cohere: rerank only");
  CHECK(media_channel_refusal(MEDIA_NONE, API_EMBEDDINGS, provider_find("jina")) == NULL &&
            media_channel_refusal(MEDIA_IMAGE_GEN, API_MEDIA, provider_find("jina")) != NULL,
        "jina: rerank and embeddings");
  CHECK(media_channel_refusal(MEDIA_SPEECH, API_MEDIA, provider_find("anthropic")) != NULL &&
            media_channel_refusal(MEDIA_NONE, API_CHAT, provider_find("anthropic")) == NULL,
        "anthropic: chat only");
  CHECK(media_channel_refusal(MEDIA_RERANK, API_MEDIA, provider_find("azure")) != NULL &&
            media_channel_refusal(MEDIA_TRANSCRIBE, API_MEDIA, provider_find("azure")) == NULL,
        "azure: no rerank");
  struct price img = {.has_fixed = true, .fixed_price = 0.04, .unit = PRICE_PER_IMAGE};
  struct price sec = {.has_fixed = true, .fixed_price = 0.0001, .unit = PRICE_PER_SECOND};
  struct price call = {.has_fixed = true, .fixed_price = 0.1, .unit = PRICE_PER_CALL};
  CHECK(!media_price_refusal(MEDIA_IMAGE_EDIT, &img) && media_price_refusal(MEDIA_MODERATION, &img),
        "per image: images only");
  CHECK(!media_price_refusal(MEDIA_TRANSLATE, &sec) && media_price_refusal(MEDIA_SPEECH, &sec),
        "per second: transcriptions and translations only");
  CHECK(!media_price_refusal(MEDIA_RERANK, &call) && !media_price_refusal(MEDIA_SPEECH, &call), "per call: any");
  CHECK(price_unit_parse("search") == PRICE_PER_SEARCH && price_unit_parse("minute") < 0 &&
            strcmp(price_unit_name(PRICE_PER_SECOND), "second") == 0, "unit names");
}

static void test_answers_and_charges(void)
{
  struct media_result res;
  struct oai_request rq = {.max_tokens = -1, .prompt_estimate = 3};
  struct media_req mq = {.kind = MEDIA_IMAGE_GEN, .n = 1, .image_mult = 1};
  struct usage u;
  const char *src;
  struct price gpt4o = {.model_ratio = 1.25, .completion_ratio = 4, .cache_ratio = 0.5};
  static const char resp[] = "{\"output\":[{\"content\":[{\"type\":\"output_text\",\"text\":\"abcdefgh\"}]}],"
                             "\"usage\":{\"input_tokens\":20,\"input_tokens_details\":{\"cached_tokens\":8},"
                             "\"output_tokens\":10}}";
  /* a token-priced image model (gpt-image-1) answers usage in the Responses shape */
  media_read_response(MEDIA_IMAGE_GEN, resp, strlen(resp), "application/json", &res);
  CHECK(res.has_tokens && res.tokens.prompt_tokens == 20 && res.tokens.cached_tokens == 8 &&
            res.tokens.completion_tokens == 10, "usage in the input_tokens shape");
  /* (12 + 8*0.5 + 10*4) * 1.25 = 70 */
  CHECK(media_charge(&mq, &rq, &gpt4o, 1, QUOTA_ROUND_UP, &res, &u, &src) == 70 && strcmp(src, "upstream") == 0,
        "charge from usage");

  struct media_req img = {.kind = MEDIA_IMAGE_GEN, .n = 2, .image_mult = 3};
  struct price d3 = {.has_fixed = true, .fixed_price = 0.04, .unit = PRICE_PER_IMAGE};
  static const char images[] = "{\"data\":[{\"url\":\"a\"}]}";
  media_read_response(MEDIA_IMAGE_GEN, images, strlen(images), "application/json", &res);
  CHECK(media_charge(&img, &rq, &d3, 1, QUOTA_ROUND_UP, &res, &u, &src) == 60000, "images: the images returned x multiplier");
  CHECK(media_reserve(&img, &rq, &d3, 1, 0) == 120000, "images: reserve n x multiplier");

  struct media_req au = {.kind = MEDIA_TRANSCRIBE, .n = 1, .image_mult = 1, .file_bytes = 10000};
  struct price w = {.has_fixed = true, .fixed_price = 0.0001, .unit = PRICE_PER_SECOND};
  static const char tr[] = "{\"text\":\"hi\",\"usage\":{\"type\":\"duration\",\"seconds\":12}}";
  media_read_response(MEDIA_TRANSCRIBE, tr, strlen(tr), "application/json", &res);
  CHECK(res.has_seconds && media_charge(&au, &rq, &w, 1, QUOTA_ROUND_UP, &res, &u, &src) == 600, "transcription: usage.seconds");
  static const char vj[] = "{\"duration\":4.2,\"text\":\"x\"}";
  media_read_response(MEDIA_TRANSCRIBE, vj, strlen(vj), "application/json", &res);
  CHECK(media_charge(&au, &rq, &w, 2, QUOTA_ROUND_UP, &res, &u, &src) == 500, "verbose_json duration rounds up, group ratio 2");
  media_read_response(MEDIA_TRANSCRIBE, "0123456789012345678901234567890", 31, "text/plain", &res);
  CHECK(media_charge(&au, &rq, &w, 1, QUOTA_ROUND_UP, &res, &u, &src) == 150 && strcmp(src, "local") == 0,
        "text answers: 31 characters -> 3 seconds, local");
  CHECK(media_reserve(&au, &rq, &w, 1, 0) == 700, "transcription reserve: 10000 bytes at 750 B/s -> 14 s");

  struct media_req rr = {.kind = MEDIA_RERANK, .n = 1, .image_mult = 1, .documents = 250};
  struct price co = {.has_fixed = true, .fixed_price = 0.002, .unit = PRICE_PER_SEARCH};
  static const char cohere[] = "{\"results\":[],\"meta\":{\"billed_units\":{\"search_units\":3}}}";
  media_read_response(MEDIA_RERANK, cohere, strlen(cohere), "application/json", &res);
  CHECK(media_charge(&rr, &rq, &co, 1, QUOTA_ROUND_UP, &res, &u, &src) == 3000, "cohere: billed search units");
  media_read_response(MEDIA_RERANK, "{\"results\":[]}", 14, "application/json", &res);
  CHECK(media_charge(&rr, &rq, &co, 1, QUOTA_ROUND_UP, &res, &u, &src) == 3000 && strcmp(src, "local") == 0,
        "no billed units: ceil(250/100)");
  struct price jina = {.model_ratio = 2, .completion_ratio = 1, .cache_ratio = 1};
  static const char jn[] = "{\"usage\":{\"total_tokens\":40,\"prompt_tokens\":40},\"results\":[]}";
  media_read_response(MEDIA_RERANK, jn, strlen(jn), "application/json", &res);
  CHECK(media_charge(&rr, &rq, &jina, 1, QUOTA_ROUND_UP, &res, &u, &src) == 80, "jina: tokens x ratio");

  static const char huge[] = "{\"results\":[],\"meta\":{\"billed_units\":{\"search_units\":1e300}}}";
  media_read_response(MEDIA_RERANK, huge, strlen(huge), "application/json", &res);
  CHECK(!res.has_search, "an absurd search_units is not believed (no double -> int64 overflow)");
  static const char hsec[] = "{\"text\":\"x\",\"usage\":{\"type\":\"duration\",\"seconds\":1e300}}";
  media_read_response(MEDIA_TRANSCRIBE, hsec, strlen(hsec), "application/json", &res);
  CHECK(!res.has_seconds, "an absurd duration is not believed");
  struct price dear = {.has_fixed = true, .fixed_price = 1000000, .unit = PRICE_PER_SECOND};
  CHECK(billing_fixed(&dear, 1000, 1e12) == 1000000000000000LL, "a fixed charge is capped inside int64");

  struct media_req sp = {.kind = MEDIA_SPEECH, .n = 1, .image_mult = 1, .input_chars = 11};
  struct price tts = {.model_ratio = 7.5, .completion_ratio = 1, .cache_ratio = 1};
  media_read_response(MEDIA_SPEECH, "\xff\xfb", 2, "audio/mpeg", &res);
  CHECK(media_charge(&sp, &rq, &tts, 1, QUOTA_ROUND_UP, &res, &u, &src) == 83 && u.prompt_tokens == 11 && strcmp(src, "request") == 0,
        "speech: 11 characters x 7.5 = 82.5 -> 83");
}

int main(void)
{
  test_requests();
  test_images();
  test_form();
  test_refusals();
  test_answers_and_charges();
  return tap_done();
}
