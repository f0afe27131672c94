/*
 * tokenizer-bench: what counting tokens with relayd/tokenizer.c costs, per KB of text, as ratios
 * to work relay already does on the same text (absolute times move with the shared machine).
 *
 *   tokenizer-bench [--dir DIR] [--kb N] [--only KIND] [--json]
 *
 * For each kind of text (English prose, C code, CJK, emoji, JSON-ish, a run of one letter) it
 * builds N KB (default 256), then times, in the same process and interleaved, three repeats each:
 *   bpe     tokenizer_count (o200k_base) over the text
 *   chars   the characters/4 count it replaces (a strlen: adapt_text_chars' own cost)
 *   json    cJSON_Parse of the text as one JSON string ({"content":"..."}), which relay pays for
 *           every response it reads
 * and prints bpe/json and bpe/chars (medians), tokens per KB, and us/KB for the record.
 * DIR: the encoder files (default build/share/tokenizer: make tokenizer-data).
 * Exit status: 0, or 2 when the data cannot be loaded.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "../relayd/tokenizer.h"

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_d(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static const struct {
  const char *name;
  const char *unit;
} kinds[] = {
    {"english", "The quick brown fox jumps over the lazy dog, and then it's off to the races again. "},
    {"code", "for (size_t i = 0; i < n; i++) {\n    if (p[i] == '\\n') { count += 1; }\n}\n"},
    {"cjk", "人工智能正在改变世界。東京は日本の首都です。한국어 텍스트. "},
    {"emoji", "Great job 👍🎉 see you 😀😀 🇯🇵 "},
    {"json", "{\"id\": 1234, \"name\": \"widget\", \"tags\": [\"a\", \"b\"], \"price\": 9.99} "},
    {"one-letter", "a"},
};

int main(int argc, char **argv)
{
  const char *dir = "build/share/tokenizer";
  size_t kb = 256;
  int json = 0;
  const char *only = NULL;
  static const struct option opts[] = {{"dir", 1, 0, 'd'}, {"kb", 1, 0, 'k'}, {"json", 0, 0, 'j'},
                                       {"only", 1, 0, 'o'}, {0, 0, 0, 0}};
  for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
    if (c == 'd')
      dir = optarg;
    else if (c == 'k')
      kb = (size_t)strtoul(optarg, NULL, 10);
    else if (c == 'j')
      json = 1;
    else if (c == 'o')
      only = optarg;
    else
      return 2;
  }
  if (kb == 0 || kb > 65536)
    kb = 256;
  char path[1024], err[512];
  snprintf(path, sizeof path, "%s/o200k_base.json", dir);
  struct tokenizer *t = tokenizer_load(path, "o200k_base", err, sizeof err);
  if (!t) {
    fprintf(stderr, "tokenizer-bench: %s\n", err);
    return 2;
  }
  size_t len = kb * 1024;
  char *text = malloc(len + 1), *doc = malloc(len * 2 + 64);
  if (json)
    printf("[");
  else
    printf("%-11s %10s %10s %12s %10s\n", "text", "bpe/json", "bpe/chars", "tokens/KB", "bpe us/KB");
  int first = 1;
  for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
    if (only && strcmp(only, kinds[k].name) != 0)
      continue;
    size_t ul = strlen(kinds[k].unit), n = 0;
    while (n + ul <= len) {
      memcpy(text + n, kinds[k].unit, ul);
      n += ul;
    }
    text[n] = '\0';
    cJSON *s = cJSON_CreateString(text);
    char *lit = cJSON_PrintUnformatted(s);
    snprintf(doc, len * 2 + 64, "{\"content\":%s}", lit);
    free(lit);
    cJSON_Delete(s);
    double tb[3], tc[3], tj[3];
    int64_t tokens = 0;
    volatile size_t sink = 0;
    for (int r = 0; r < 3; r++) {
      double t0 = now_s();
      tokens = tokenizer_count(t, text, n);
      double t1 = now_s();
      for (int i = 0; i < 100; i++)
        sink += strlen(text + (i & 1));
      double t2 = now_s();
      cJSON *j = cJSON_Parse(doc);
      double t3 = now_s();
      cJSON_Delete(j);
      tb[r] = t1 - t0;
      tc[r] = (t2 - t1) / 100;
      tj[r] = t3 - t2;
    }
    (void)sink;
    qsort(tb, 3, sizeof tb[0], cmp_d);
    qsort(tc, 3, sizeof tc[0], cmp_d);
    qsort(tj, 3, sizeof tj[0], cmp_d);
    double per_kb = tb[1] / ((double)n / 1024) * 1e6, tpk = (double)tokens / ((double)n / 1024);
    if (json)
      printf("%s{\"text\":\"%s\",\"bytes\":%zu,\"tokens\":%lld,\"bpe_over_json\":%.2f,\"bpe_over_chars\":%.1f,"
             "\"tokens_per_kb\":%.1f,\"bpe_us_per_kb\":%.2f}",
             first ? "" : ",", kinds[k].name, n, (long long)tokens, tb[1] / tj[1], tb[1] / tc[1], tpk, per_kb);
    else
      printf("%-11s %10.2f %10.1f %12.1f %10.2f\n", kinds[k].name, tb[1] / tj[1], tb[1] / tc[1], tpk, per_kb);
    first = 0;
  }
  if (json)
    printf("]\n");
  free(text);
  free(doc);
  tokenizer_free(t);
  return 0;
}
