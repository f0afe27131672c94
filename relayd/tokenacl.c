/* tokenacl: see tokenacl.h. */
#include "tokenacl.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>

#include "util.h"

int cidr_parse(const char *s, struct cidr *out)
{
  char addr[64];
  const char *slash = strchr(s, '/');
  size_t n = slash ? (size_t)(slash - s) : strlen(s);
  if (n == 0 || n >= sizeof addr)
    return -1;
  memcpy(addr, s, n);
  addr[n] = '\0';
  memset(out, 0, sizeof *out);
  if (inet_pton(AF_INET, addr, out->addr) == 1) {
    out->family = AF_INET;
    out->prefix = 32;
  } else if (inet_pton(AF_INET6, addr, out->addr) == 1) {
    out->family = AF_INET6;
    out->prefix = 128;
  } else {
    return -1;
  }
  if (slash) {
    int64_t p;
    if (parse_int64(slash + 1, &p) < 0 || p < 0 || p > out->prefix)
      return -1;
    out->prefix = (int)p;
  }
  return 0;
}

static bool prefix_match(const unsigned char *a, const unsigned char *b, int bits)
{
  int whole = bits / 8, rest = bits % 8;
  if (memcmp(a, b, (size_t)whole) != 0)
    return false;
  if (rest == 0)
    return true;
  unsigned char mask = (unsigned char)(0xff << (8 - rest));
  return (a[whole] & mask) == (b[whole] & mask);
}

bool cidr_list_allows(const struct cidr *nets, size_t nnets, const struct sockaddr *sa)
{
  if (nnets == 0)
    return true;
  if (!sa)
    return false;
  unsigned char v4[4], v6[16];
  bool have4 = false, have6 = false;
  if (sa->sa_family == AF_INET) {
    memcpy(v4, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    have4 = true;
  } else if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
    memcpy(v6, &s6->sin6_addr, 16);
    have6 = true;
    if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
      memcpy(v4, v6 + 12, 4);
      have4 = true;
    }
  }
  for (size_t i = 0; i < nnets; i++) {
    const struct cidr *c = &nets[i];
    if (c->family == AF_INET && have4 && prefix_match(v4, c->addr, c->prefix))
      return true;
    if (c->family == AF_INET6 && have6 && prefix_match(v6, c->addr, c->prefix))
      return true;
  }
  return false;
}

bool name_list_allows(char *const *names, size_t n, const char *name)
{
  if (n == 0)
    return true;
  for (size_t i = 0; i < n; i++)
    if (strcmp(names[i], name) == 0)
      return true;
  return false;
}
