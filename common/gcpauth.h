/*
 * gcpauth: Google Cloud service-account keys and the OAuth 2.0 JWT-bearer grant (RFC 7523) that
 * turns one into an access token, as Google documents it for server-to-server calls
 * (developers.google.com/identity/protocols/oauth2/service-account, "Preparing to make an
 * authorized API call": a JWT signed RS256 with the key's private_key, claims iss = client_email,
 * scope, aud = token_uri, iat, exp at most one hour later, POSTed to token_uri as
 * grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=JWT; the answer is
 * {"access_token","expires_in","token_type"} or {"error","error_description"}).
 *
 * Owns: reading the key JSON (type, client_email, private_key PEM, token_uri, project_id), the
 * signature (OpenSSL EVP), the exchange (one blocking libcurl easy call).
 * Callers: relayd/vertex.c (its refresher thread, never a worker), gwctl (channel add checks a key,
 * channel test fetches a token for its probe).
 * Never: logs or returns the private key or a token in an error message; keeps state between calls.
 */
#ifndef RELAY_GCPAUTH_H
#define RELAY_GCPAUTH_H

#include <stddef.h>
#include <stdint.h>

#define GCP_SCOPE "https://www.googleapis.com/auth/cloud-platform"
#define GCP_TOKEN_MAX 4096       /* an access token longer than this is refused */

struct evp_pkey_st;

struct gcp_sa {
  char client_email[256];
  char project_id[128];        /* "" when the key names none */
  char token_uri[512];
  struct evp_pkey_st *pkey;    /* the RSA private key (owned: gcp_sa_free) */
};

/* Parses a service-account key (the JSON Google's console downloads). 0, or -1 with a reason in err
 * (not JSON, not "type":"service_account", a field missing, a private key OpenSSL cannot read or
 * that is not RSA, a token_uri that is not http(s)). sa is zeroed first; free it with gcp_sa_free
 * either way. */
int gcp_sa_parse(const char *json, struct gcp_sa *sa, char *err, size_t errlen);
void gcp_sa_free(struct gcp_sa *sa);

/* The signed assertion for scope at time now (unix seconds), valid for an hour: malloc'd (caller
 * frees), or NULL with a reason in err. */
char *gcp_jwt(const struct gcp_sa *sa, const char *scope, int64_t now, char *err, size_t errlen);

/* One exchange at sa's token_uri (blocks up to timeout_s). Returns 0 with the token in token and its
 * lifetime in *expires_in (seconds); -1 when no answer came (err: curl's reason); or the HTTP status
 * of a refusal (err: Google's error and error_description, e.g. "invalid_grant: Invalid JWT
 * Signature."), also 502 for an answer without a usable token. */
int gcp_fetch_token(const struct gcp_sa *sa, long timeout_s, char *token, size_t toklen, int64_t *expires_in,
                    char *err, size_t errlen);

#endif
