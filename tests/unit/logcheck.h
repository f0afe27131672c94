/*
 * logcheck: reads back a line of common/log.c for the tests (tests/unit/test_log.c and
 * tests/fuzz/fuzz_log.c): a logfmt reader (key=value pairs separated by spaces; a value in double
 * quotes with \" \\ \n \r \t \b \f \uXXXX escapes, else bare up to the next space) and the
 * expected text of a string after log.c's rule for bytes that are not UTF-8 (each maximal
 * ill-formed subsequence becomes U+FFFD). Written from the Unicode standard (3.9, table 3-7),
 * independently of log.c, so a mistake in one is caught by the other. Test code only.
 */
#ifndef RELAY_LOGCHECK_H
#define RELAY_LOGCHECK_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define LC_MAX_PAIRS 64

struct lc_pair {
  char key[80];
  char *val;                     /* malloc'd, NUL-terminated (val_len bytes) */
  size_t val_len;
  bool quoted;
};

struct lc_line {
  struct lc_pair p[LC_MAX_PAIRS];
  size_t n;
};

static void lc_free(struct lc_line *l)
{
  for (size_t i = 0; i < l->n; i++)
    free(l->p[i].val);
  l->n = 0;
}

static void lc_utf8(char *out, size_t *n, unsigned cp)
{
  if (cp < 0x80) {
    out[(*n)++] = (char)cp;
  } else if (cp < 0x800) {
    out[(*n)++] = (char)(0xC0 | cp >> 6);
    out[(*n)++] = (char)(0x80 | (cp & 0x3F));
  } else {
    out[(*n)++] = (char)(0xE0 | cp >> 12);
    out[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[(*n)++] = (char)(0x80 | (cp & 0x3F));
  }
}

/* Reads one logfmt line (without its newline). Returns false when it is not well-formed. */
static bool lc_read(const char *s, size_t len, struct lc_line *l)
{
  l->n = 0;
  size_t i = 0;
  while (i < len) {
    if (s[i] == ' ') {
      i++;
      continue;
    }
    if (l->n == LC_MAX_PAIRS)
      return false;
    struct lc_pair *p = &l->p[l->n];
    size_t k = 0;
    while (i < len && s[i] != '=' && s[i] != ' ') {
      if (k + 1 >= sizeof p->key)
        return false;
      p->key[k++] = s[i++];
    }
    p->key[k] = '\0';
    if (k == 0 || i >= len || s[i] != '=')
      return false;
    i++;
    p->val = malloc(len + 1);
    if (!p->val)
      return false;
    l->n++;
    size_t n = 0;
    p->quoted = i < len && s[i] == '"';
    if (!p->quoted) {
      while (i < len && s[i] != ' ') {
        if (s[i] == '"' || s[i] == '=')
          return false;
        p->val[n++] = s[i++];
      }
    } else {
      i++;
      for (;;) {
        if (i >= len)
          return false;            /* no closing quote */
        char c = s[i++];
        if (c == '"')
          break;
        if ((unsigned char)c < 0x20)
          return false;            /* a raw control byte inside quotes */
        if (c != '\\') {
          p->val[n++] = c;
          continue;
        }
        if (i >= len)
          return false;
        c = s[i++];
        switch (c) {
        case '"': case '\\': p->val[n++] = c; break;
        case 'n': p->val[n++] = '\n'; break;
        case 'r': p->val[n++] = '\r'; break;
        case 't': p->val[n++] = '\t'; break;
        case 'b': p->val[n++] = '\b'; break;
        case 'f': p->val[n++] = '\f'; break;
        case 'u': {
          if (i + 4 > len)
            return false;
          unsigned cp = 0;
          for (int d = 0; d < 4; d++) {
            char h = s[i++];
            cp = cp * 16 + (unsigned)(h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10
                                      : h >= 'A' && h <= 'F' ? h - 'A' + 10 : 99);
            if (cp >= 0x10000 * 16)
              return false;
          }
          if (cp > 0xFFFF)
            return false;
          lc_utf8(p->val, &n, cp);
          break;
        }
        default:
          return false;
        }
      }
      if (i < len && s[i] != ' ')
        return false;
    }
    p->val[n] = '\0';
    p->val_len = n;
  }
  return true;
}

static const struct lc_pair *lc_get(const struct lc_line *l, const char *key)
{
  for (size_t i = 0; i < l->n; i++)
    if (strcmp(l->p[i].key, key) == 0)
      return &l->p[i];
  return NULL;
}

/* s[0..n) with every maximal ill-formed subsequence replaced by U+FFFD, into out (3 * n + 1
 * bytes); returns the length. */
static size_t lc_expected(const unsigned char *s, size_t n, char *out)
{
  size_t o = 0;
  for (size_t i = 0; i < n;) {
    unsigned c = s[i];
    /* table 3-7: the well-formed byte sequences */
    size_t want = c < 0x80 ? 1 : (c >= 0xC2 && c <= 0xDF) ? 2 : (c >= 0xE0 && c <= 0xEF) ? 3
                  : (c >= 0xF0 && c <= 0xF4) ? 4 : 0;
    size_t got = 1;
    if (want > 1) {
      unsigned lo2 = c == 0xE0 ? 0xA0 : c == 0xF0 ? 0x90 : 0x80;
      unsigned hi2 = c == 0xED ? 0x9F : c == 0xF4 ? 0x8F : 0xBF;
      while (got < want && i + got < n) {
        unsigned b = s[i + got];
        bool fits = got == 1 ? b >= lo2 && b <= hi2 : b >= 0x80 && b <= 0xBF;
        if (!fits)
          break;
        got++;
      }
    }
    if (want && got == want) {
      memcpy(out + o, s + i, want);
      o += want;
      i += want;
    } else {
      memcpy(out + o, "\xEF\xBF\xBD", 3);
      o += 3;
      i += got;
    }
  }
  out[o] = '\0';
  return o;
}

#endif
