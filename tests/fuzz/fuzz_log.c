/* fuzz_log: common/log.c's lines from typed fields (log_fields_line_as), in both formats. Input:
 * first byte = format (bit 0: JSON) , then the message (length byte + bytes), then fields, each a
 * type byte (string, text, number text, integer, boolean), a length (two bytes) and that many
 * value bytes (an integer's value is taken from up to 8 of them). Keys are k0, k1, ... (plus one
 * key from the input, checked only for well-formedness). Asserts: one line of at most
 * LOG_LINE_MAX bytes; it parses (cJSON, or tests/unit/logcheck.h's logfmt reader); the message and
 * every field come back with its type and value (bytes that are not UTF-8 as U+FFFD; a string cut,
 * or a field left out, only when the line says truncated). */
#include "fuzz_common.h"

#include <stdio.h>

#include "log.h"
#include "../unit/logcheck.h"

#define FAIL() abort()

static size_t take(const uint8_t **d, size_t *n, size_t want)
{
  size_t k = want < *n ? want : *n;
  *d += k;
  *n -= k;
  return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 2)
    return 0;
  bool json = data[0] & 1;
  data++, size--;
  size_t mlen = data[0];
  data++, size--;
  const char *msg = (const char *)data;
  mlen = take(&data, &size, mlen);
  char *msgz = malloc(mlen + 1);     /* log.c takes the message as a C string */
  memcpy(msgz, msg, mlen);
  msgz[mlen] = '\0';
  struct log_field f[LOG_FIELDS_MAX];
  char keys[LOG_FIELDS_MAX][16];
  size_t nf = 0;
  char rawkey[12] = "";
  while (size >= 3 && nf < LOG_FIELDS_MAX - 1) {
    enum log_field_type t = (enum log_field_type)(data[0] % 5);
    size_t len = (size_t)data[1] << 8 | data[2];
    data += 3, size -= 3;
    const char *v = (const char *)data;
    len = take(&data, &size, len);
    snprintf(keys[nf], sizeof keys[nf], "k%zu", nf);
    f[nf] = (struct log_field){.key = keys[nf], .type = t, .str = v, .str_len = len};
    if (t == LOG_INT || t == LOG_BOOL) {
      long long x = 0;
      memcpy(&x, v, len < sizeof x ? len : sizeof x);
      f[nf].num = t == LOG_BOOL ? (x & 1) : x;
    }
    nf++;
  }
  /* one more field whose key is the input's last bytes (any bytes: log.c keeps [A-Za-z0-9_.-]) */
  size_t rk = size < sizeof rawkey - 1 ? size : sizeof rawkey - 1;
  memcpy(rawkey, data, rk);
  rawkey[rk] = '\0';
  f[nf++] = (struct log_field){.key = rawkey, .type = LOG_INT, .num = 1};

  char line[LOG_LINE_MAX + 1];
  size_t n = log_fields_line_as(line, sizeof line, json, LOG_INFO, msgz, f, nf);
  if (n == 0 || n > LOG_LINE_MAX || line[n - 1] != '\n' || memchr(line, '\n', n - 1))
    FAIL();
  char *exp = malloc(3 * 65536 + 3 * 256 + 1);
  char *mexp = malloc(3 * 256 + 1);
  lc_expected((const unsigned char *)msgz, strlen(msgz), mexp);
  if (json) {
    cJSON *o = cJSON_ParseWithLength(line, n);
    if (!o || !cJSON_IsObject(o))
      FAIL();
    bool tr = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "truncated"));
    const char *m = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "msg"));
    if (!m || !(strcmp(m, mexp) == 0 || (tr && strncmp(m, mexp, strlen(m)) == 0)))
      FAIL();
    for (size_t i = 0; i + 1 < nf; i++) {
      const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, f[i].key);
      if (!v) {
        if (!tr)
          FAIL();
        continue;
      }
      size_t en = lc_expected((const unsigned char *)f[i].str, f[i].str_len, exp);
      switch (f[i].type) {
      case LOG_INT:
        if (!cJSON_IsNumber(v) || v->valuedouble != (double)f[i].num)
          FAIL();
        break;
      case LOG_BOOL:
        if (!cJSON_IsBool(v) || cJSON_IsTrue(v) != (f[i].num != 0))
          FAIL();
        break;
      case LOG_NUM:
        if (cJSON_IsNumber(v))
          break;                    /* a valid JSON number, written as it was */
        /* fall through */
      default: {
        if (!cJSON_IsString(v))
          FAIL();
        size_t gn = strlen(v->valuestring);
        size_t cmp = memchr(exp, 0, en) ? strlen(exp) : en;   /* cJSON's string ends at a NUL */
        if (!(gn == cmp && memcmp(v->valuestring, exp, gn) == 0) &&
            !(tr && gn < cmp && memcmp(v->valuestring, exp, gn) == 0))
          FAIL();
      }
      }
    }
    cJSON_Delete(o);
  } else {
    struct lc_line l;
    if (!lc_read(line, n - 1, &l))
      FAIL();
    const struct lc_pair *t = lc_get(&l, "truncated");
    bool tr = t && !t->quoted && strcmp(t->val, "true") == 0;
    const struct lc_pair *m = lc_get(&l, "msg");
    if (!m || !m->quoted || !(strcmp(m->val, mexp) == 0 || (tr && strncmp(m->val, mexp, m->val_len) == 0)))
      FAIL();
    for (size_t i = 0; i + 1 < nf; i++) {
      const struct lc_pair *p = lc_get(&l, f[i].key);
      if (!p) {
        if (!tr)
          FAIL();
        continue;
      }
      size_t en = lc_expected((const unsigned char *)f[i].str, f[i].str_len, exp);
      char num[32];
      switch (f[i].type) {
      case LOG_INT:
        snprintf(num, sizeof num, "%lld", f[i].num);
        if (p->quoted || strcmp(p->val, num) != 0)
          FAIL();
        break;
      case LOG_BOOL:
        if (p->quoted || strcmp(p->val, f[i].num ? "true" : "false") != 0)
          FAIL();
        break;
      case LOG_STR:
        if (!p->quoted)
          FAIL();               /* a string is always quoted: "5" is not 5 */
        /* fall through */
      default:
        if (!(p->val_len == en && memcmp(p->val, exp, en) == 0) &&
            !(tr && p->quoted && p->val_len < en && memcmp(p->val, exp, p->val_len) == 0))
          FAIL();
        /* a bare value is never ambiguous: no number, boolean or empty text for a string */
        if (!p->quoted && f[i].type == LOG_TEXT &&
            (p->val_len == 0 || strcmp(p->val, "true") == 0 || strcmp(p->val, "false") == 0))
          FAIL();
      }
    }
    lc_free(&l);
  }
  free(exp);
  free(mexp);
  free(msgz);
  return 0;
}
