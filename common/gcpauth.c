/* gcpauth: see gcpauth.h. */
#include "gcpauth.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define TOKEN_ANSWER_MAX ((size_t)64 << 10)

void gcp_sa_free(struct gcp_sa *sa)
{
  EVP_PKEY_free(sa->pkey);
  sa->pkey = NULL;
}

static int copy_field(const cJSON *j, const char *name, char *out, size_t outlen, bool required, char *err,
                      size_t errlen)
{
  const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, name));
  out[0] = '\0';
  if (!v || !*v) {
    if (!required)
      return 0;
    snprintf(err, errlen, "the service-account key has no \"%s\"", name);
    return -1;
  }
  if (strlen(v) >= outlen) {
    snprintf(err, errlen, "the service-account key's \"%s\" is longer than %zu bytes", name, outlen - 1);
    return -1;
  }
  for (const char *p = v; *p; p++)
    if ((unsigned char)*p < 0x21 || *p == 0x7f) {
      snprintf(err, errlen, "the service-account key's \"%s\" holds a space or a control character", name);
      return -1;
    }
  memcpy(out, v, strlen(v) + 1);
  return 0;
}

int gcp_sa_parse(const char *json, struct gcp_sa *sa, char *err, size_t errlen)
{
  memset(sa, 0, sizeof *sa);
  cJSON *j = cJSON_Parse(json ? json : "");
  int rc = -1;
  if (!cJSON_IsObject(j)) {
    snprintf(err, errlen, "the key is not a service-account key (a JSON object from the Google Cloud console)");
    goto out;
  }
  const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "type"));
  if (!type || strcmp(type, "service_account") != 0) {
    snprintf(err, errlen, "the key's \"type\" is not \"service_account\"");
    goto out;
  }
  if (copy_field(j, "client_email", sa->client_email, sizeof sa->client_email, true, err, errlen) < 0 ||
      copy_field(j, "token_uri", sa->token_uri, sizeof sa->token_uri, true, err, errlen) < 0 ||
      copy_field(j, "project_id", sa->project_id, sizeof sa->project_id, false, err, errlen) < 0)
    goto out;
  if (strncmp(sa->token_uri, "https://", 8) != 0 && strncmp(sa->token_uri, "http://", 7) != 0) {
    snprintf(err, errlen, "the key's \"token_uri\" is not an http(s) URL");
    goto out;
  }
  const char *pem = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "private_key"));
  if (!pem || !*pem) {
    snprintf(err, errlen, "the service-account key has no \"private_key\"");
    goto out;
  }
  BIO *bio = BIO_new_mem_buf(pem, (int)strlen(pem));
  sa->pkey = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
  BIO_free(bio);
  if (!sa->pkey) {
    snprintf(err, errlen, "the key's \"private_key\" is not a PEM private key OpenSSL can read");
    goto out;
  }
  if (EVP_PKEY_get_base_id(sa->pkey) != EVP_PKEY_RSA) {
    snprintf(err, errlen, "the key's \"private_key\" is not an RSA key (RS256 needs one)");
    gcp_sa_free(sa);
    goto out;
  }
  rc = 0;
out:
  cJSON_Delete(j);
  return rc;
}

/* base64url without padding (RFC 7515 section 2) of p[0..n) appended to b. */
static int b64url(struct buf *b, const unsigned char *p, size_t n)
{
  size_t cap = 4 * ((n + 2) / 3) + 1;
  unsigned char *t = malloc(cap);
  if (!t)
    return -1;
  int len = EVP_EncodeBlock(t, p, (int)n);
  while (len > 0 && t[len - 1] == '=')
    len--;
  for (int i = 0; i < len; i++)
    t[i] = t[i] == '+' ? '-' : t[i] == '/' ? '_' : t[i];
  int rc = buf_append(b, t, (size_t)len);
  free(t);
  return rc;
}

char *gcp_jwt(const struct gcp_sa *sa, const char *scope, int64_t now, char *err, size_t errlen)
{
  cJSON *claims = cJSON_CreateObject();
  char *cl = NULL;
  if (claims && cJSON_AddStringToObject(claims, "iss", sa->client_email) &&
      cJSON_AddStringToObject(claims, "scope", scope) && cJSON_AddStringToObject(claims, "aud", sa->token_uri) &&
      cJSON_AddNumberToObject(claims, "iat", (double)now) && cJSON_AddNumberToObject(claims, "exp", (double)(now + 3600)))
    cl = cJSON_PrintUnformatted(claims);
  cJSON_Delete(claims);
  struct buf b;
  buf_init(&b, 16384);
  static const char header[] = "{\"alg\":\"RS256\",\"typ\":\"JWT\"}";
  unsigned char sig[1024];
  size_t siglen = sizeof sig;
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  int ok = cl && md && b64url(&b, (const unsigned char *)header, sizeof header - 1) == 0 &&
           buf_append(&b, ".", 1) == 0 && b64url(&b, (const unsigned char *)cl, strlen(cl)) == 0 &&
           EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, sa->pkey) == 1 &&
           EVP_DigestSign(md, NULL, &siglen, (const unsigned char *)b.data, b.len) == 1 && siglen <= sizeof sig &&
           EVP_DigestSign(md, sig, &siglen, (const unsigned char *)b.data, b.len) == 1 &&
           buf_append(&b, ".", 1) == 0 && b64url(&b, sig, siglen) == 0;
  EVP_MD_CTX_free(md);
  cJSON_free(cl);
  if (!ok) {
    snprintf(err, errlen, "cannot sign the token request with the service-account key");
    buf_free(&b);
    return NULL;
  }
  return buf_steal(&b, NULL);
}

static size_t collect(char *p, size_t size, size_t n, void *ud)
{
  struct buf *b = ud;
  return buf_append(b, p, size * n) == 0 ? size * n : 0;
}

int gcp_fetch_token(const struct gcp_sa *sa, long timeout_s, char *token, size_t toklen, int64_t *expires_in,
                    char *err, size_t errlen)
{
  token[0] = '\0';
  *expires_in = 0;
  char *jwt = gcp_jwt(sa, GCP_SCOPE, now_unix(), err, errlen);
  if (!jwt)
    return 502;
  struct buf form, out;
  buf_init(&form, 32768);
  buf_init(&out, TOKEN_ANSWER_MAX);
  /* the assertion is base64url and dots: nothing in it needs percent-encoding */
  buf_appendf(&form, "grant_type=urn%%3Aietf%%3Aparams%%3Aoauth%%3Agrant-type%%3Ajwt-bearer&assertion=%s", jwt);
  OPENSSL_cleanse(jwt, strlen(jwt));
  free(jwt);
  CURL *c = curl_easy_init();
  struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/x-www-form-urlencoded");
  char cerr[CURL_ERROR_SIZE] = "";
  long status = 0;
  CURLcode cc = CURLE_FAILED_INIT;
  if (c && h && form.data) {
    curl_easy_setopt(c, CURLOPT_URL, sa->token_uri);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, form.data);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)form.len);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout_s);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, timeout_s < 10 ? timeout_s : 10L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &out);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "relay/" RELAY_VERSION);
    cc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  }
  curl_slist_free_all(h);
  curl_easy_cleanup(c);
  if (form.data)
    OPENSSL_cleanse(form.data, form.len);
  buf_free(&form);
  if (cc != CURLE_OK) {
    snprintf(err, errlen, "the token endpoint %s is unreachable: %s", sa->token_uri,
             *cerr ? cerr : curl_easy_strerror(cc));
    buf_free(&out);
    return -1;
  }
  cJSON *j = cJSON_ParseWithLength(out.data ? out.data : "", out.len);
  if (out.data)
    OPENSSL_cleanse(out.data, out.len);
  buf_free(&out);
  const char *at = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "access_token"));
  const cJSON *ei = cJSON_GetObjectItemCaseSensitive(j, "expires_in");
  int rc;
  if (status < 200 || status >= 300) {
    const char *e = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "error"));
    const char *d = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "error_description"));
    snprintf(err, errlen, "the token endpoint refused the service-account key (HTTP %ld): %.100s%s%.200s", status,
             e ? e : "no error code", d ? ": " : "", d ? d : "");
    rc = status >= 100 && status <= 599 ? (int)status : 502;
  } else if (!at || !*at || strlen(at) >= toklen || strlen(at) >= GCP_TOKEN_MAX || strpbrk(at, "\r\n \t") ||
             !cJSON_IsNumber(ei) || ei->valuedouble < 1 || ei->valuedouble > 86400 * 7) {
    snprintf(err, errlen, "the token endpoint's answer holds no usable access_token and expires_in");
    rc = 502;
  } else {
    memcpy(token, at, strlen(at) + 1);
    *expires_in = (int64_t)ei->valuedouble;
    rc = 0;
  }
  if (at)
    OPENSSL_cleanse((char *)at, strlen(at));
  cJSON_Delete(j);
  return rc;
}
