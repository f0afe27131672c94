/*
 * tokenacl: a token's allow-lists -- the client addresses (CIDR ranges) and the model names it may
 * use -- parsed and checked. Pure functions over plain arrays: snapshot.c parses a token's ranges
 * at load (cidr_parse); snapshot.h's token_allows_addr / token_allows_model apply them per request.
 * Callers: snapshot (load), auth, admit and selfserve (through snapshot.h), the unit tests.
 * Never: allocates, locks or keeps state.
 */
#ifndef RELAY_TOKENACL_H
#define RELAY_TOKENACL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct cidr {
  int family;                 /* AF_INET or AF_INET6 */
  unsigned char addr[16];
  int prefix;
};

/* Parses "1.2.3.4", "10.0.0.0/8", "::1", "fd00::/8". Returns 0 or -1. */
int cidr_parse(const char *s, struct cidr *out);
/* Whether sa is inside one of the n ranges (true when n is 0: no list, any address; a v4-mapped v6
 * address matches v4 ranges; a NULL sa matches no list). */
bool cidr_list_allows(const struct cidr *nets, size_t n, const struct sockaddr *sa);
/* Whether name is one of the n names (true when n is 0: no list, any name). */
bool name_list_allows(char *const *names, size_t n, const char *name);

#endif
