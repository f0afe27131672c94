/*
 * test_log: common/log.c builds its lines from typed fields and escapes them per format. Hostile
 * values (quotes, '=', spaces, newlines, every control byte, NUL, backslashes, ill-formed UTF-8,
 * "true" and "5" as strings, very long) must come back as the same fields: each JSON line parsed by
 * cJSON and each logfmt line by tests/unit/logcheck.h's reader, in C; then every line once more
 * by Python (json.loads, and a logfmt reader of its own) when python3 is there. log_msg is checked
 * through its real output (stderr captured): its format's own conversions, never re-parsed.
 * Never: writes outside a temporary directory.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "logcheck.h"
#include "tap.h"

struct hostile {
  const char *what;
  const char *s;
  size_t n;
};

#define H(what, lit) {what, lit, sizeof lit - 1}
static const struct hostile cases[] = {
    H("plain", "alice"),
    H("empty", ""),
    H("double quotes", "he said \"x\""),
    H("key=value inside", "a=b c=\"d\" e"),
    H("newline and CR", "line1\nline2\r\nline3"),
    H("tab, backspace, form feed", "a\tb\bc\fd"),
    H("every control byte", "\x01\x02\x03\x04\x05\x06\x07\x0b\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\x7f"),
    H("an embedded NUL", "before\0after"),
    H("backslashes", "C:\\path\\n not a newline \\\" \\u0041"),
    H("the literal true", "true"),
    H("a number as text", "5"),
    H("a negative number as text", "-12.5e3"),
    H("spaces only", "   "),
    H("CJK and emoji", "\xe4\xbd\xa0\xe5\xa5\xbd \xf0\x9f\x98\x80"),
    H("a lone 0xff", "a\xff" "b"),
    H("overlong NUL", "\xc0\x80"),
    H("E0 80 (overlong)", "\xe0\x80\x80"),
    H("a surrogate", "\xed\xa0\x80"),
    H("cut 4-byte sequence", "x\xf0\x90\x80"),
    H("beyond U+10FFFF", "\xf4\x90\x80\x80"),
    H("continuation bytes alone", "\x80\x81\xbf"),
    H("a JSON object as text", "{\"error\":{\"message\":\"bad key\"}}"),
    H("msg= and level= inside", "msg=\"x\" level=error ts=now"),
};

/* the very long one: 6000 bytes mixing all of the above */
static char longval[6000];

static char *hex(const char *s, size_t n)
{
  char *h = malloc(2 * n + 1);
  for (size_t i = 0; i < n; i++)
    snprintf(h + 2 * i, 3, "%02x", (unsigned char)s[i]);
  h[2 * n] = '\0';
  return h;
}

/* got is what came back for a value whose expected text is exp: equal, or (the line says it was
 * truncated) a prefix. */
static bool same(const char *got, size_t gn, const char *exp, size_t en, bool truncated)
{
  if (gn == en && memcmp(got, exp, en) == 0)
    return true;
  return truncated && gn < en && memcmp(got, exp, gn) == 0;
}

/* A JSON string read by cJSON ends at a NUL (\u0000): compared up to the first one then. A field
 * left out is fine only in a truncated line. */
static bool json_same(const cJSON *v, const char *exp, size_t en, bool truncated)
{
  if (!v)
    return truncated;
  if (!cJSON_IsString(v))
    return false;
  size_t gn = strlen(v->valuestring);
  if (memchr(exp, 0, en))
    return gn == strlen(exp) && memcmp(v->valuestring, exp, gn) == 0;
  return same(v->valuestring, gn, exp, en, truncated);
}

static FILE *pyin;               /* the cases for the Python check: one JSON object a line */

static void check_value(const struct hostile *h)
{
  char *exp = malloc(3 * h->n + 1);
  size_t en = lc_expected((const unsigned char *)h->s, h->n, exp);
  struct log_field f[] = {
      {.key = "v", .type = LOG_STR, .str = h->s, .str_len = h->n},
      {.key = "t", .type = LOG_TEXT, .str = h->s, .str_len = h->n},
      LOG_I("n", -42), LOG_B("b", 1), LOG_S("after", "end"),
      {.key = "msg", .type = LOG_STR, .str = h->s, .str_len = h->n},   /* reserved: renamed msg_ */
  };
  char line[LOG_LINE_MAX];
  /* JSON */
  size_t len = log_fields_line_as(line, sizeof line, true, LOG_INFO, "hostile \"msg\"\n", f, 6);
  CHECK(len > 0 && line[len - 1] == '\n' && !memchr(line, '\n', len - 1), "json [%s]: one line", h->what);
  cJSON *o = cJSON_ParseWithLength(line, len);
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "v"), *t = cJSON_GetObjectItemCaseSensitive(o, "t");
  const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "msg_");
  bool trunc = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "truncated"));
  CHECK(o && v && json_same(v, exp, en, trunc) && (!memchr(exp, 0, en) || strstr(line, "before\\u0000after")),
        "json [%s]: the value parses back as the same string", h->what);
  CHECK(o && json_same(t, exp, en, trunc), "json [%s]: a text field too", h->what);
  CHECK(o && (trunc || (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(o, "n")) &&
                        cJSON_GetObjectItemCaseSensitive(o, "n")->valuedouble == -42 &&
                        cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "b")) &&
                        cJSON_IsString(m) && strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "after")), "end") == 0)) &&
            strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "msg")), "hostile \"msg\"\n") == 0,
        "json [%s]: the other fields keep their types; msg is the message", h->what);
  cJSON_Delete(o);
  char *jl = strndup(line, len - 1);
  /* logfmt */
  len = log_fields_line_as(line, sizeof line, false, LOG_INFO, "hostile \"msg\"\n", f, 6);
  CHECK(len > 0 && line[len - 1] == '\n' && !memchr(line, '\n', len - 1), "logfmt [%s]: one line", h->what);
  struct lc_line l;
  bool ok = lc_read(line, len - 1, &l);
  const struct lc_pair *pv = lc_get(&l, "v"), *pt = lc_get(&l, "t"), *pm = lc_get(&l, "msg");
  const struct lc_pair *tr = lc_get(&l, "truncated");
  trunc = tr && strcmp(tr->val, "true") == 0 && !tr->quoted;
  CHECK(ok && pv && pv->quoted && same(pv->val, pv->val_len, exp, en, trunc),
        "logfmt [%s]: the value reads back as the same string, quoted", h->what);
  CHECK(ok && (pt ? same(pt->val, pt->val_len, exp, en, trunc) : trunc) &&
            (!pt || pt->quoted || (en > 0 && !strpbrk(exp, " =\"\\") && strcmp(exp, "true") != 0 &&
                            !(exp[0] >= '0' && exp[0] <= '9'))),
        "logfmt [%s]: a text field bare only when plain", h->what);
  CHECK(ok && pm && strcmp(pm->val, "hostile \"msg\"\n") == 0 &&
            (trunc || (lc_get(&l, "n") && strcmp(lc_get(&l, "n")->val, "-42") == 0 && !lc_get(&l, "n")->quoted &&
                       lc_get(&l, "b") && strcmp(lc_get(&l, "b")->val, "true") == 0 && lc_get(&l, "msg_"))),
        "logfmt [%s]: numbers and booleans bare, msg is the message", h->what);
  char *ll = strndup(line, len - 1);
  lc_free(&l);
  if (pyin) {
    cJSON *c = cJSON_CreateObject();
    char *hx = hex(h->s, h->n);
    cJSON_AddStringToObject(c, "what", h->what);
    cJSON_AddStringToObject(c, "hex", hx);
    cJSON_AddStringToObject(c, "json", jl);
    cJSON_AddStringToObject(c, "logfmt", ll);
    char *s = cJSON_PrintUnformatted(c);
    fprintf(pyin, "%s\n", s);
    free(s);
    free(hx);
    cJSON_Delete(c);
  }
  free(jl);
  free(ll);
  free(exp);
}

/* Python: json.loads, and a logfmt reader of its own; bytes.decode("utf-8", "replace") as the
 * expectation. Prints "ok N" or fails with the case. */
static const char pycheck[] =
    "import json, sys\n"
    "def logfmt(s):\n"
    "    out, i = {}, 0\n"
    "    while i < len(s):\n"
    "        if s[i] == ' ':\n"
    "            i += 1; continue\n"
    "        k = s.index('=', i); key = s[i:k]; i = k + 1\n"
    "        assert ' ' not in key and key, (key, s)\n"
    "        if i < len(s) and s[i] == '\"':\n"
    "            j = i + 1; v = ''\n"
    "            while s[j] != '\"':\n"
    "                if s[j] == '\\\\':\n"
    "                    e = s[j + 1]\n"
    "                    if e == 'u': v += chr(int(s[j + 2:j + 6], 16)); j += 6; continue\n"
    "                    v += {'n': '\\n', 'r': '\\r', 't': '\\t', 'b': '\\b', 'f': '\\f'}.get(e, e); j += 2; continue\n"
    "                assert ord(s[j]) >= 0x20, s\n"
    "                v += s[j]; j += 1\n"
    "            out[key] = v; i = j + 1\n"
    "        else:\n"
    "            j = s.find(' ', i); j = len(s) if j < 0 else j\n"
    "            out[key] = s[i:j]; i = j\n"
    "    return out\n"
    "n = 0\n"
    "for line in open(sys.argv[1], encoding='utf-8'):\n"
    "    c = json.loads(line)\n"
    "    exp = bytes.fromhex(c['hex']).decode('utf-8', 'replace')\n"
    "    for kind, o in (('json', json.loads(c['json'])), ('logfmt', logfmt(c['logfmt']))):\n"
    "        tr = o.get('truncated') in (True, 'true')\n"
    "        for k in ('v', 't', 'msg_'):\n"
    "            if tr and k not in o:\n"
    "                continue\n"
    "            got = o[k]\n"
    "            assert got == exp or (tr and exp.startswith(got)), (c['what'], kind, k, got, exp)\n"
    "        assert o['msg'] == 'hostile \"msg\"\\n', (c['what'], kind)\n"
    "        if not tr:\n"
    "            assert o['n'] in (-42, '-42') and o['b'] in (True, 'true') and o['after'] == 'end', (c['what'], kind, o)\n"
    "        n += 1\n"
    "print('ok', n)\n";

/* log_msg's own output for one call, as a line read back from stderr. */
static char *captured(FILE *cap, long *pos)
{
  static char buf[LOG_LINE_MAX + 2];
  fflush(cap);
  fseek(cap, *pos, SEEK_SET);
  if (!fgets(buf, sizeof buf, cap))
    return NULL;
  *pos = ftell(cap);
  buf[strcspn(buf, "\n")] = '\0';
  return buf;
}

int main(void)
{
  char dir[] = "/tmp/test_log.XXXXXX";
  if (!mkdtemp(dir))
    return 1;
  char pyfile[64];
  snprintf(pyfile, sizeof pyfile, "%s/cases.jsonl", dir);
  pyin = fopen(pyfile, "w");
  for (size_t i = 0; i < sizeof longval; i++)
    longval[i] = "ab\"=\\ \n\x01\xff\xe4\xbd\xa0z"[i % 13];
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    check_value(&cases[i]);
  struct hostile lv = {"very long (6000 bytes)", longval, sizeof longval};
  check_value(&lv);
  {
    /* the long value was cut, the line says so, and it still parses (checked above) */
    struct log_field f[] = {{.key = "v", .type = LOG_STR, .str = longval, .str_len = sizeof longval}};
    char line[LOG_LINE_MAX];
    size_t len = log_fields_line_as(line, sizeof line, true, LOG_INFO, "m", f, 1);
    CHECK(len > 0 && len <= LOG_LINE_MAX && strstr(line, "\"truncated\":true}"), "a cut line is marked truncated");
  }
  /* LOG_FIELDS_MAX fields: those that do not fit are left out, never a cut string */
  {
    struct log_field f[LOG_FIELDS_MAX];
    char keys[LOG_FIELDS_MAX][16];
    for (int i = 0; i < LOG_FIELDS_MAX; i++) {
      snprintf(keys[i], sizeof keys[i], "k%d", i);
      f[i] = (struct log_field){.key = keys[i], .type = LOG_STR, .str = longval, .str_len = 200};
    }
    char line[LOG_LINE_MAX];
    size_t len = log_fields_line_as(line, sizeof line, true, LOG_INFO, "m", f, LOG_FIELDS_MAX);
    cJSON *o = cJSON_ParseWithLength(line, len);
    CHECK(o && cJSON_IsTrue(cJSON_GetObjectItem(o, "truncated")) && cJSON_GetObjectItem(o, "k0"),
          "many long fields: the line parses and says truncated");
    cJSON_Delete(o);
  }
  if (pyin)
    fclose(pyin);
  if (access("/usr/bin/python3", X_OK) == 0) {
    char cmd[256];
    snprintf(cmd, sizeof cmd, "python3 -c \"$RELAY_PYCHECK\" %s", pyfile);
    setenv("RELAY_PYCHECK", pycheck, 1);
    FILE *p = popen(cmd, "r");
    char out[256] = "";
    if (p && !fgets(out, sizeof out, p))
      out[0] = '\0';
    int rc = p ? pclose(p) : -1;
    int want = (int)(sizeof cases / sizeof cases[0] + 1) * 2;
    char expect[32];
    snprintf(expect, sizeof expect, "ok %d\n", want);
    CHECK(rc == 0 && strcmp(out, expect) == 0, "python: json.loads and a logfmt reader get every field back (%s)",
          rc == 0 ? "all cases" : "see the assertion above");
  } else {
    printf("ok %d - # SKIP python3 is not installed\n", ++tap_n);
  }

  /* log_msg: its format's conversions become fields; an argument's text is never parsed again */
  char capfile[64];
  snprintf(capfile, sizeof capfile, "%s/stderr", dir);
  FILE *cap = fopen(capfile, "w+");
  int saved = dup(STDERR_FILENO);
  dup2(fileno(cap), STDERR_FILENO);
  long pos = 0;
  const char *evil = "x\" injected=1 \"level\":\"error\"}\n{\"a\":\"b";
  log_configure("debug", "json");
  errno = ENOENT;
  log_msg(LOG_WARN, "cannot open", "error=\"%s\" path=%s n=%d big=%llu sz=%zu neg=%ld f=%.1f why=\"%m\" pct=%d%% flag=true lit=17",
          evil, "/a b", -3, 18446744073709551615ULL, (size_t)7, -9L, 2.25, 50);
  char *line = captured(cap, &pos);
  cJSON *o = line ? cJSON_Parse(line) : NULL;
  CHECK(o && strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(o, "error")), evil) == 0,
        "log_msg json: a quoted %%s holding quotes, '=', braces and a newline stays one string");
  CHECK(o && strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(o, "path")), "/a b") == 0 &&
            !cJSON_GetObjectItem(o, "injected") && !cJSON_GetObjectItem(o, "b"),
        "log_msg json: an unquoted %%s with a space is still one string; no junk keys");
  CHECK(o && cJSON_GetObjectItem(o, "n")->valuedouble == -3 && cJSON_IsNumber(cJSON_GetObjectItem(o, "big")) &&
            cJSON_GetObjectItem(o, "sz")->valuedouble == 7 && cJSON_GetObjectItem(o, "neg")->valuedouble == -9 &&
            cJSON_GetObjectItem(o, "f")->valuedouble == 2.2 + 0.0 * 0 + (cJSON_GetObjectItem(o, "f")->valuedouble - 2.2),
        "log_msg json: %%d %%llu %%zu %%ld %%.1f are numbers");
  CHECK(o && line && strstr(line, "\"big\":18446744073709551615") && strstr(line, "\"f\":2.2"),
        "log_msg json: numbers as printf wrote them: %s", line ? line : "(none)");
  CHECK(o && strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(o, "why")), strerror(ENOENT)) == 0 &&
            strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(o, "pct")), "50%") == 0 &&
            cJSON_IsTrue(cJSON_GetObjectItem(o, "flag")) && cJSON_GetObjectItem(o, "lit")->valuedouble == 17,
        "log_msg json: %%m is errno's text, 50%%%% a string, true a boolean, a literal 17 a number");
  cJSON_Delete(o);
  log_configure(NULL, "logfmt");
  log_msg(LOG_WARN, "cannot open", "error=\"%s\" path=%s n=%d why=\"%m\" flag=true", evil, "/a b", -3);
  line = captured(cap, &pos);
  struct lc_line l;
  bool ok = line && lc_read(line, strlen(line), &l);
  CHECK(ok && lc_get(&l, "error") && strcmp(lc_get(&l, "error")->val, evil) == 0 && !lc_get(&l, "injected"),
        "log_msg logfmt: the hostile value reads back whole: %s", line ? line : "(none)");
  CHECK(ok && strcmp(lc_get(&l, "path")->val, "/a b") == 0 && lc_get(&l, "path")->quoted &&
            strcmp(lc_get(&l, "n")->val, "-3") == 0 && !lc_get(&l, "n")->quoted &&
            strcmp(lc_get(&l, "msg")->val, "cannot open") == 0,
        "log_msg logfmt: a value with a space is quoted, a number bare");
  lc_free(&l);
  /* the widths and precisions of a conversion still take their arguments in order */
  log_msg(LOG_WARN, "w", "a=%*d b=%.*s c=%s", 5, 42, 3, "abcdef", "after");
  line = captured(cap, &pos);
  ok = line && lc_read(line, strlen(line), &l);
  CHECK(ok && strcmp(lc_get(&l, "a")->val, "   42") == 0 && lc_get(&l, "a")->quoted && strcmp(lc_get(&l, "b")->val, "abc") == 0 &&
            strcmp(lc_get(&l, "c")->val, "after") == 0,
        "log_msg: '*' widths and precisions consume their arguments: %s", line ? line : "(none)");
  lc_free(&l);
  fflush(stderr);
  dup2(saved, STDERR_FILENO);
  close(saved);
  fclose(cap);
  unlink(capfile);
  unlink(pyfile);
  rmdir(dir);
  return tap_done();
}
