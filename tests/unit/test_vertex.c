/* Unit tests of common/vertexapi.c and common/gcpauth.c: the publisher of a model, the URLs and the
 * names refused in them, Claude's body, the region and project of a channel; a service-account key
 * read (and the ones refused), and the JWT it signs verified with its public key as Google would. */
#include <cjson/cJSON.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "gcpauth.h"
#include "tap.h"
#include "vertexapi.h"

static void test_publisher(void)
{
  const char *name;
  CHECK(vertex_publisher("claude-sonnet-4@20250514", &name) == VERTEX_ANTHROPIC &&
            strcmp(name, "claude-sonnet-4@20250514") == 0,
        "claude-* goes to anthropic");
  CHECK(vertex_publisher("gemini-2.5-flash", &name) == VERTEX_GOOGLE, "anything else to google");
  CHECK(vertex_publisher("anthropic/my-claude", &name) == VERTEX_ANTHROPIC && strcmp(name, "my-claude") == 0,
        "anthropic/NAME names the publisher");
  CHECK(vertex_publisher("google/claude-lookalike", &name) == VERTEX_GOOGLE && strcmp(name, "claude-lookalike") == 0,
        "google/NAME too");
}

static void test_urls(void)
{
  char url[512], err[200];
  CHECK(vertex_url("https://us-east5-aiplatform.googleapis.com", "proj-1", "us-east5", "gemini-2.5-flash", false,
                   url, sizeof url, err, sizeof err) == 0 &&
            strcmp(url, "https://us-east5-aiplatform.googleapis.com/v1/projects/proj-1/locations/us-east5/publishers/"
                        "google/models/gemini-2.5-flash:generateContent") == 0,
        "Gemini: %s", url);
  CHECK(vertex_url("B", "p", "global", "gemini-2.5-flash", true, url, sizeof url, err, sizeof err) == 0 &&
            strcmp(url, "B/v1/projects/p/locations/global/publishers/google/models/gemini-2.5-flash:"
                        "streamGenerateContent?alt=sse") == 0,
        "Gemini stream: %s", url);
  CHECK(vertex_url("B", "p", "us-east5", "claude-sonnet-4@20250514", true, url, sizeof url, err, sizeof err) == 0 &&
            strcmp(url, "B/v1/projects/p/locations/us-east5/publishers/anthropic/models/"
                        "claude-sonnet-4@20250514:streamRawPredict") == 0,
        "Claude stream: %s", url);
  CHECK(vertex_url("B", "p", "us-east5", "anthropic/x", false, url, sizeof url, err, sizeof err) == 0 &&
            strstr(url, "/publishers/anthropic/models/x:rawPredict"),
        "Claude: %s", url);
  static const char *const bad_models[] = { "a/b", "m?x=1", "m#f", "m n", "", "anthropic/" };
  for (size_t i = 0; i < sizeof bad_models / sizeof *bad_models; i++)
    CHECK(vertex_url("B", "p", "r", bad_models[i], false, url, sizeof url, err, sizeof err) < 0,
          "model '%s' refused: %s", bad_models[i], err);
  CHECK(vertex_url("B", "", "r", "m", false, url, sizeof url, err, sizeof err) < 0 && strstr(err, "project"),
        "no project: %s", err);
  CHECK(vertex_url("B", "p", "../x", "m", false, url, sizeof url, err, sizeof err) < 0, "a bad region: %s", err);
  CHECK(vertex_url("B", "P", "r", "m", false, url, sizeof url, err, sizeof err) < 0, "uppercase project refused");
  CHECK(vertex_url("B", "p", "r", "m", false, url, 20, err, sizeof err) < 0, "no room: %s", err);
  CHECK(vertex_default_base("global", url, sizeof url) == 0 && strcmp(url, "https://aiplatform.googleapis.com") == 0,
        "global's endpoint");
  CHECK(vertex_default_base("europe-west4", url, sizeof url) == 0 &&
            strcmp(url, "https://europe-west4-aiplatform.googleapis.com") == 0,
        "a region's endpoint");
  CHECK(vertex_default_base("Europe West", url, sizeof url) < 0, "a bad region has none");
  char region[64], project[64];
  vertex_other("{\"region\":\"us-east5\",\"project\":\"p-1\"}", region, sizeof region, project, sizeof project);
  CHECK(strcmp(region, "us-east5") == 0 && strcmp(project, "p-1") == 0, "other: region and project");
  vertex_other("{\"region\":\"bad/region\"}", region, sizeof region, project, sizeof project);
  CHECK(!*region && !*project, "other: bad names read as none");
  vertex_other("not json", region, sizeof region, project, sizeof project);
  CHECK(!*region && !*project, "other: not JSON");
}

static void test_claude_body(void)
{
  static const char in[] = "{\"model\":\"claude-x\",\"max_tokens\":5,\"stream\":true,\"anthropic_version\":\"old\","
                           "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
  char err[200];
  size_t n = 0;
  char *out = vertex_claude_body(in, sizeof in - 1, &n, err, sizeof err);
  cJSON *j = cJSON_Parse(out);
  CHECK(out && n == strlen(out) && !cJSON_GetObjectItemCaseSensitive(j, "model") &&
            strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "anthropic_version")),
                   VERTEX_ANTHROPIC_VERSION) == 0 &&
            cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "stream")) &&
            cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "messages")) == 1,
        "Claude's body: no model, vertex-2023-10-16, the rest kept: %s", out ? out : err);
  cJSON_Delete(j);
  cJSON_free(out);
  CHECK(vertex_claude_body("[1]", 3, &n, err, sizeof err) == NULL && *err, "a body that is no object: %s", err);
  char *probe = vertex_probe_body("claude-x", err, sizeof err);
  CHECK(probe && strstr(probe, "\"anthropic_version\":\"vertex-2023-10-16\"") && !strstr(probe, "\"model\""),
        "Claude's probe: %s", probe);
  cJSON_free(probe);
  probe = vertex_probe_body("gemini-x", err, sizeof err);
  CHECK(probe && strstr(probe, "\"contents\"") && strstr(probe, "maxOutputTokens"), "Gemini's probe: %s", probe);
  cJSON_free(probe);
}

/* base64url (no padding) decoded; NULL when it is not base64url */
static unsigned char *b64url(const char *s, size_t n, size_t *len)
{
  unsigned char *out = malloc(n + 4);
  unsigned acc = 0;
  int bits = 0;
  *len = 0;
  for (size_t i = 0; out && i < n; i++) {
    const char *abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", *p = strchr(abc, s[i]);
    if (!p || !s[i]) {
      free(out);
      return NULL;
    }
    acc = (acc << 6) | (unsigned)(p - abc);
    if ((bits += 6) >= 8)
      out[(*len)++] = (unsigned char)(acc >> (bits -= 8));
  }
  return out;
}

static char *sa_json(EVP_PKEY *k, const char *token_uri)
{
  BIO *b = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
  char *pem = NULL;
  long n = BIO_get_mem_data(b, &pem);
  cJSON *j = cJSON_CreateObject();
  cJSON_AddStringToObject(j, "type", "service_account");
  cJSON_AddStringToObject(j, "project_id", "proj-1");
  char *p = strndup(pem, (size_t)n);
  cJSON_AddStringToObject(j, "private_key", p);
  free(p);
  cJSON_AddStringToObject(j, "client_email", "sa@proj-1.iam.gserviceaccount.com");
  cJSON_AddStringToObject(j, "token_uri", token_uri);
  char *out = cJSON_Print(j);
  cJSON_Delete(j);
  BIO_free(b);
  return out;
}

static void test_key_and_jwt(void)
{
  EVP_PKEY *k = EVP_RSA_gen(2048);
  char *json = sa_json(k, "https://oauth2.googleapis.com/token"), err[300];
  struct gcp_sa sa;
  CHECK(gcp_sa_parse(json, &sa, err, sizeof err) == 0 && strcmp(sa.project_id, "proj-1") == 0 &&
            strcmp(sa.client_email, "sa@proj-1.iam.gserviceaccount.com") == 0,
        "a service-account key is read: %s", err);
  char *jwt = gcp_jwt(&sa, GCP_SCOPE, 1700000000, err, sizeof err);
  const char *d1 = jwt ? strchr(jwt, '.') : NULL, *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
  size_t hl = 0, cl = 0, sl = 0;
  unsigned char *h = d2 ? b64url(jwt, (size_t)(d1 - jwt), &hl) : NULL;
  unsigned char *c = d2 ? b64url(d1 + 1, (size_t)(d2 - d1 - 1), &cl) : NULL;
  unsigned char *sig = d2 ? b64url(d2 + 1, strlen(d2 + 1), &sl) : NULL;
  cJSON *hj = h ? cJSON_ParseWithLength((const char *)h, hl) : NULL, *cj = c ? cJSON_ParseWithLength((const char *)c, cl) : NULL;
  CHECK(hj && strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(hj, "alg")), "RS256") == 0, "header: RS256");
  CHECK(cj && strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(cj, "iss")), sa.client_email) == 0 &&
            strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(cj, "scope")), GCP_SCOPE) == 0 &&
            strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(cj, "aud")), "https://oauth2.googleapis.com/token") == 0 &&
            cJSON_GetObjectItem(cj, "iat")->valuedouble == 1700000000 &&
            cJSON_GetObjectItem(cj, "exp")->valuedouble == 1700003600,
        "claims: iss, scope, aud = token_uri, iat, exp an hour later");
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  CHECK(sig && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, k) == 1 &&
            EVP_DigestVerify(md, sig, sl, (const unsigned char *)jwt, (size_t)(d2 - jwt)) == 1,
        "the signature verifies with the key's public half");
  EVP_MD_CTX_free(md);
  cJSON_Delete(hj);
  cJSON_Delete(cj);
  free(h);
  free(c);
  free(sig);
  free(jwt);
  gcp_sa_free(&sa);
  free(json);

  /* refused keys */
  json = sa_json(k, "file:///etc/passwd");
  CHECK(gcp_sa_parse(json, &sa, err, sizeof err) < 0 && strstr(err, "token_uri"), "a token_uri not http(s): %s", err);
  gcp_sa_free(&sa);
  free(json);
  CHECK(gcp_sa_parse("sk-plain-key", &sa, err, sizeof err) < 0, "not JSON: %s", err);
  gcp_sa_free(&sa);
  CHECK(gcp_sa_parse("{\"type\":\"authorized_user\"}", &sa, err, sizeof err) < 0 && strstr(err, "service_account"),
        "another credential type: %s", err);
  gcp_sa_free(&sa);
  CHECK(gcp_sa_parse("{\"type\":\"service_account\",\"client_email\":\"a@b\",\"token_uri\":\"https://t\","
                     "\"private_key\":\"-----BEGIN PRIVATE KEY-----\\nnope\\n-----END PRIVATE KEY-----\\n\"}",
                     &sa, err, sizeof err) < 0 && strstr(err, "private_key"),
        "a private key OpenSSL cannot read: %s", err);
  gcp_sa_free(&sa);
  EVP_PKEY *ec = EVP_EC_gen("P-256");
  json = sa_json(ec, "https://t");
  CHECK(gcp_sa_parse(json, &sa, err, sizeof err) < 0 && strstr(err, "RSA"), "an EC key: %s", err);
  gcp_sa_free(&sa);
  free(json);
  EVP_PKEY_free(ec);
  EVP_PKEY_free(k);
}

int main(void)
{
  test_publisher();
  test_urls();
  test_claude_body();
  test_key_and_jwt();
  return tap_done();
}
