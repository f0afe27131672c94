/* Unit tests of relayd/tokenizer.c: token counts of varied text (English, CJK, code, emoji,
 * whitespace runs, numbers, contractions, scripts with combining marks, random mixes of the
 * characters the pre-tokenizer regex treats specially) against tiktoken itself: the npm package
 * that ships the data (dist/tokenizer) is run under node in this test, not numbers written here.
 * Then: a running count over deltas equals the whole count; model families; missing data; and
 * hostile text (10 MB of one character, of each kind) is counted within the module's bounds.
 * Needs `make tokenizer-data` (RELAY_TOKENIZER_DIR, default $BUILD/share/tokenizer) and node. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "../../relayd/billing.h"
#include "../../relayd/tokenizer.h"
#include "tap.h"

#define NTEXTS_MAX 512

static char *texts[NTEXTS_MAX];
static size_t ntexts;

static void add(const char *s)
{
  if (ntexts < NTEXTS_MAX)
    texts[ntexts++] = strdup(s);
}

static uint64_t rng = 0x9E3779B97F4A7C15ULL;
static uint32_t next_rand(void)
{
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (uint32_t)(rng >> 11);
}

static void build_texts(void)
{
  add("Hello, world! This is a plain English sentence, with punctuation; and numbers: 12345678.");
  add("I'm sure they'll say we've DONE it, but YOU'RE wrong -- it's 'quoted' and he'd KNOW.");
  add("人工智能正在改变世界。東京は日本の首都です。한국어 텍스트도 있습니다.");
  add("int main(void) {\n    for (int i = 0; i < 10; i++) {\n        printf(\"%d\\n\", i);\n    }\n    return 0;\n}\n");
  add("def f(x):\n\treturn [y**2 for y in range(x) if y % 3 == 0]  # comment\n\n\n");
  add("Emoji: 😀😃😄 👩‍👩‍👧‍👦 🇯🇵 🏳️‍🌈 ❤️ and text after.");
  add("   leading spaces, trailing spaces   \n\n\n   \t\t  mixed\r\n\r\nCRLF lines\r\n");
  add("                                                                                 x");
  add("\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n");
  add("Ünïcödé wïth dïäcrïtïcs, café, naïve, Ångström; combining: e\xcc\x81 a\xcc\x80 o\xcc\x88");
  add("مرحبا بالعالم. हिन्दी पाठ का उदाहरण। Привет, мир! Γειά σου Κόσμε.");
  add("Numbers 1 12 123 1234 12345 3.14159 1e10 0x1F 1,000,000 ٣٤٥ ५६७");
  add("URLs https://example.com/path?q=1&r=two#frag and e-mail a.b@c.org, paths /usr/local/bin/");
  add("<|endoftext|> special tokens are plain text here <|fim_prefix|>");
  add("{\"json\": [1, 2, {\"nested\": true}], \"s\": \"a\\\"b\"}");
  add("CamelCaseIdentifiersLikeThisOne and snake_case_ones and SCREAMING_CASE_TOO");
  add("a\u00a0non-breaking\u2009thin\u3000ideographic\u2028line\xc2\x85next\u200bzero-width space");
  add("");
  add("x");
  char big[4000];
  size_t n = 0;
  for (int i = 0; i < 300; i++)
    big[n++] = (char)('a' + i % 26);
  big[n] = '\0';
  add(big);                       /* one long word: many merges */
  char *spaces = malloc(65537);
  memset(spaces, ' ', 65536);
  spaces[65536] = '\0';
  add(spaces);                    /* one TOKENIZER_MAX_PIECE of whitespace */
  free(spaces);
  /* random mixes of the characters the regexes split on */
  static const char *const alphabet[] = {"a", "Z", "é", "ß", "中", "😀", " ", "  ", "\n", "\r\n", "\t", "1", "42",
                                         "'s", "'LL", ".", ",", "!", "?", "/", "-", "_", "\"", "(", ")", "\u00a0",
                                         "\u3000", "ǅ", "ʰ", "\xcc\x81", "٣", "Ⅻ", "<|", "|>", "'", "A", "bc", "DEF"};
  size_t na = sizeof alphabet / sizeof alphabet[0];
  for (int t = 0; t < 300; t++) {
    n = 0;
    size_t len = 1 + next_rand() % 60;
    for (size_t k = 0; k < len; k++) {
      const char *a = alphabet[next_rand() % na];
      size_t al = strlen(a);
      memcpy(big + n, a, al);
      n += al;
    }
    big[n] = '\0';
    add(big);
  }
}

/* Counts of every text by tiktoken under node, or NULL. */
static cJSON *reference(void)
{
  const char *mods = "dist/tokenizer/node_modules";
  char file[] = "/tmp/relay-tok-XXXXXX";
  int fd = mkstemp(file);
  if (fd < 0)
    return NULL;
  cJSON *arr = cJSON_CreateArray();
  for (size_t i = 0; i < ntexts; i++)
    cJSON_AddItemToArray(arr, cJSON_CreateString(texts[i]));
  char *js = cJSON_PrintUnformatted(arr);
  cJSON_Delete(arr);
  size_t jl = strlen(js);
  int ok = write(fd, js, jl) == (ssize_t)jl;
  close(fd);
  free(js);
  cJSON *res = NULL;
  if (ok) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "node tests/unit/tiktoken_ref.cjs %s %s", file, mods);
    FILE *p = popen(cmd, "r");
    if (p) {
      static char out[1 << 20];
      size_t got = fread(out, 1, sizeof out - 1, p);
      out[got] = '\0';
      pclose(p);
      res = cJSON_Parse(out);
    }
  }
  unlink(file);
  return res;
}

static void test_against_tiktoken(struct tokenizer *enc[2], const char *names[2])
{
  cJSON *ref = reference();
  CHECK(ref != NULL, "tiktoken ran under node (dist/tokenizer/node_modules: make tokenizer-data)");
  for (int e = 0; e < 2; e++) {
    const cJSON *counts = cJSON_GetObjectItemCaseSensitive(ref, names[e]);
    size_t bad = 0, shown = 0;
    long long total = 0;
    for (size_t i = 0; i < ntexts; i++) {
      const cJSON *c = cJSON_GetArrayItem(counts, (int)i);
      int64_t got = tokenizer_count(enc[e], texts[i], strlen(texts[i]));
      total += got;
      if (!cJSON_IsNumber(c) || (int64_t)c->valuedouble != got) {
        bad++;
        if (shown++ < 3)
          printf("# %s: text %zu: relay %lld, tiktoken %g: \"%s\"\n", names[e], i, (long long)got,
                 cJSON_IsNumber(c) ? c->valuedouble : -1.0, texts[i]);
      }
    }
    CHECK(ref && cJSON_GetArraySize(counts) == (int)ntexts && bad == 0,
          "%s: %zu texts counted as tiktoken counts them (%lld tokens; %zu differ)", names[e], ntexts, total, bad);
  }
  cJSON_Delete(ref);
}

static void test_request(struct tokenizer *enc)
{
  /* a request's text in each format: the same words, the same count; data and ids not counted */
  const char *words = "Summarize the following paragraph in two sentences, please.";
  int64_t want = tokenizer_count(enc, words, strlen(words));
  char body[1024];
  static const char *const fmt[] = {
      "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"%s\"}]}",
      "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"%s\"},"
      "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAAB\"}}]}]}",
      "{\"model\":\"x\",\"max_tokens\":9,\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"%s\"}]}]}",
      "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"%s\"},{\"inlineData\":{\"mimeType\":\"image/png\","
      "\"data\":\"iVBORw0KGgoAAAANSUhEUg\"}}]}]}",
      "{\"model\":\"gpt-5\",\"input\":\"%s\"}",
  };
  size_t bad = 0;
  for (size_t i = 0; i < sizeof fmt / sizeof fmt[0]; i++) {
    snprintf(body, sizeof body, fmt[i], words);
    if (tokenizer_count_request(enc, body, strlen(body)) != want)
      bad++;
  }
  CHECK(bad == 0, "a request's text counts the same in OpenAI, Anthropic, Gemini and Responses bodies (%lld tokens)",
        (long long)want);
  CHECK(tokenizer_count_request(enc, "not json", 8) == -1, "a body that is not JSON: -1");
}

static void test_running(struct tokenizer *enc)
{
  /* tok_count over deltas of several sizes: the same total as the whole text */
  tokenizer_setup(getenv("RELAY_TOKENIZER_DIR") ? getenv("RELAY_TOKENIZER_DIR") : "build/share/tokenizer");
  size_t bad = 0;
  char whole[1 << 16];
  size_t wl = 0;
  for (size_t i = 0; i < ntexts && wl + strlen(texts[i]) < sizeof whole; i++) {
    memcpy(whole + wl, texts[i], strlen(texts[i]));
    wl += strlen(texts[i]);
  }
  int64_t want = tokenizer_count(enc, whole, wl);
  static const size_t steps[] = {1, 3, 7, 64, 1000, 5000, 1 << 16};
  for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
    struct tok_count c;
    tok_count_init(&c, "gpt-4o-mini");
    for (size_t off = 0; off < wl; off += steps[s])
      tok_count_add(&c, whole + off, wl - off < steps[s] ? wl - off : steps[s]);
    if (tok_count_total(&c) != want || strcmp(tok_count_source(&c), "o200k_base") != 0)
      bad++;
    tok_count_free(&c);
  }
  CHECK(bad == 0, "a running count over deltas of 1 to 65536 bytes equals the whole text's (%lld tokens)",
        (long long)want);
  struct tok_count c;
  tok_count_init(&c, "claude-sonnet-4-5");
  tok_count_add(&c, "0123456789", 10);
  CHECK(tok_count_total(&c) == 3 && strcmp(tok_count_source(&c), "chars/4") == 0,
        "a model without a published encoding: characters/4, said so");
  tok_count_free(&c);
  CHECK(!strcmp(tokenizer_encoding_for_model("gpt-5-mini"), "o200k_base") &&
            !strcmp(tokenizer_encoding_for_model("o3-pro"), "o200k_base") &&
            !strcmp(tokenizer_encoding_for_model("openai/gpt-4o"), "o200k_base") &&
            !strcmp(tokenizer_encoding_for_model("gpt-4-turbo"), "cl100k_base") &&
            !strcmp(tokenizer_encoding_for_model("gpt-3.5-turbo"), "cl100k_base") &&
            !tokenizer_encoding_for_model("gemini-2.5-pro"),
        "model families: gpt-5, o3, gpt-4o -> o200k_base; gpt-4, gpt-3.5 -> cl100k_base; gemini none");
  CHECK(tokenizer_setup("/nonexistent/tokenizer") == 0 && tokenizer_for_model("gpt-4o") == NULL,
        "missing data: no encoding loaded, characters/4");
  tok_count_init(&c, "gpt-4o");
  tok_count_add(&c, "abcdefgh", 8);
  CHECK(tok_count_total(&c) == 2 && strcmp(tok_count_source(&c), "chars/4") == 0,
        "missing data: a gpt-4o count falls back to characters/4");
  tok_count_free(&c);
  tokenizer_teardown();
  char err[256];
  CHECK(tokenizer_load("tests/unit/tiktoken_ref.cjs", "x", err, sizeof err) == NULL && err[0],
        "a file that is not an encoder is refused: %s", err);
}

static void test_hostile(struct tokenizer *enc)
{
  /* 10 MB (2 MB) of one character: a single regex piece, merged in 64 KiB slices; no count is compared
   * with tiktoken (whose own merge is quadratic here): it must finish, with a count in range */
  static const char *const ch[] = {"a", " ", "1", "\n", "中", "😀", ".", "'"};
  size_t n = 10u << 20;
  char *s = malloc(n + 8);
  for (size_t k = 0; k < sizeof ch / sizeof ch[0]; k++) {
    size_t cl = strlen(ch[k]), len = 0, lim = k < 2 ? n : n / 5;     /* 10 MB of 'a' and ' ', 2 MB of the rest */
    while (len + cl <= lim) {
      memcpy(s + len, ch[k], cl);
      len += cl;
    }
    int64_t got = tokenizer_count(enc, s, len);
    if (k == 1) {
      /* whitespace: past PCRE2's match limit, matched in 64 KiB windows (not characters/4): 160
       * times the count of 65536 spaces, which tiktoken itself agrees with above */
      int64_t one = tokenizer_count(enc, s, TOKENIZER_MAX_PIECE);
      CHECK(got == (int64_t)(len / TOKENIZER_MAX_PIECE) * one, "10 MB of spaces: %lld tokens = %zu x %lld", (long long)got,
            len / TOKENIZER_MAX_PIECE, (long long)one);
    }
    CHECK(got > 0 && got <= (int64_t)len, "a run of '%s' (%zu bytes): %lld tokens", ch[k][0] == '\n' ? "\\n" : ch[k],
          len, (long long)got);
  }
  /* the running count over the same in 16-byte deltas stays linear too */
  memset(s, 'a', n);
  struct tok_count c = {0};
  c.t = enc;
  buf_init(&c.tail, TOKENIZER_MAX_PIECE + 4096 + (1 << 20));
  c.scan_at = 4096;
  for (size_t off = 0; off < n; off += 16)
    tok_count_add(&c, s + off, 16);
  int64_t run = tok_count_total(&c), whole = tokenizer_count(enc, s, n);
  CHECK(run == whole, "10 MB of 'a' in 16-byte deltas: %lld tokens, as counted whole (%lld)", (long long)run,
        (long long)whole);
  tok_count_free(&c);
  free(s);
}

static void test_log_row(void)
{
  /* the log row's billing JSON names the counter */
  struct usage u = {.prompt_tokens = 10, .completion_tokens = 7};
  struct billing_explain ex = {.usage = &u, .usage_source = "local", .counter = "o200k_base", .group = "default",
                               .group_ratio = 1};
  char out[1024];
  billing_explain_json(&ex, out, sizeof out);
  cJSON *j = cJSON_Parse(out);
  CHECK(!strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "counter")) ?: "", "o200k_base") &&
            !strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "usage_source")) ?: "", "local"),
        "the billing JSON of a log row says which counter counted: %s", out);
  cJSON_Delete(j);
  ex.counter = NULL;
  ex.usage_source = "upstream";
  billing_explain_json(&ex, out, sizeof out);
  j = cJSON_Parse(out);
  CHECK(j && !cJSON_GetObjectItemCaseSensitive(j, "counter"), "no counter when the upstream's usage was billed");
  cJSON_Delete(j);
}

int main(void)
{
  test_log_row();
  const char *dir = getenv("RELAY_TOKENIZER_DIR");
  char def[512];
  if (!dir) {
    snprintf(def, sizeof def, "%s/share/tokenizer", getenv("BUILD") ? getenv("BUILD") : "build");
    dir = def;
  }
  const char *names[2] = {"o200k_base", "cl100k_base"};
  struct tokenizer *enc[2];
  for (int e = 0; e < 2; e++) {
    char path[1024], err[512] = "";
    snprintf(path, sizeof path, "%s/%s.json", dir, names[e]);
    enc[e] = tokenizer_load(path, names[e], err, sizeof err);
    CHECK(enc[e] != NULL, "%s loaded from %s (make tokenizer-data) %s", names[e], dir, err);
  }
  if (!enc[0] || !enc[1])
    return tap_done();
  CHECK(tokenizer_vocab(enc[0]) > 199000 && tokenizer_vocab(enc[1]) > 100000, "vocabularies: %zu and %zu ranks",
        tokenizer_vocab(enc[0]), tokenizer_vocab(enc[1]));
  build_texts();
  test_against_tiktoken(enc, names);
  test_request(enc[0]);
  test_running(enc[0]);
  test_hostile(enc[0]);
  for (int e = 0; e < 2; e++)
    tokenizer_free(enc[e]);
  for (size_t i = 0; i < ntexts; i++)
    free(texts[i]);
  return tap_done();
}
