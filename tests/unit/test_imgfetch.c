/* Unit tests of relayd/imgfetch.c over real sockets: the mock upstream (tests/mock_upstream.c,
 * started here on 127.0.0.1) answers every path with a PNG file (its "replay" key), a second one
 * its ordinary JSON; a listening socket that never answers stands for a server too slow. Checked:
 * the address classification; refusal of loopback (by address, also when reached by the name
 * "localhost") without the allowance, and no request reaching the server; the image, its mime type
 * and exact bytes with it; too large; not an image; too slow; schemes other than http(s). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "../../relayd/imgfetch.h"
#include "tap.h"

extern char **environ;

static pid_t spawn_mock(const char *bin, const char *portfile, const char *mock, const char *record)
{
  unlink(portfile);
  char *argv[] = {(char *)bin, "--host", "127.0.0.1", "--port", "0", "--port-file", (char *)portfile,
                  "--record", (char *)record, "--mock", (char *)mock, NULL};
  pid_t pid;
  if (posix_spawn(&pid, bin, NULL, NULL, argv, environ) != 0)
    return -1;
  return pid;
}

static int read_port(const char *portfile)
{
  for (int i = 0; i < 300; i++) {      /* bounded: 30 s */
    FILE *f = fopen(portfile, "r");
    int port = 0;
    if (f) {
      if (fscanf(f, "%d", &port) != 1)
        port = 0;
      fclose(f);
    }
    if (port > 0)
      return port;
    usleep(100000);
  }
  return -1;
}

static size_t file_lines(const char *path)
{
  FILE *f = fopen(path, "r");
  size_t n = 0;
  int c;
  while (f && (c = fgetc(f)) != EOF)
    n += c == '\n';
  if (f)
    fclose(f);
  return n;
}

static bool is_private(const char *ip)
{
  struct sockaddr_storage ss = {0};
  if (strchr(ip, ':')) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
    a->sin6_family = AF_INET6;
    inet_pton(AF_INET6, ip, &a->sin6_addr);
  } else {
    struct sockaddr_in *a = (struct sockaddr_in *)&ss;
    a->sin_family = AF_INET;
    inet_pton(AF_INET, ip, &a->sin_addr);
  }
  return imgfetch_address_private((struct sockaddr *)&ss);
}

int main(void)
{
  static const char *const priv[] = {"127.0.0.1", "127.8.9.10", "10.1.2.3", "172.16.0.1", "172.31.255.255",
                                     "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0", "224.0.0.1",
                                     "255.255.255.255", "::1", "::", "fe80::1", "fd00::1", "fc00::1",
                                     "::ffff:127.0.0.1", "::ffff:10.0.0.1", "64:ff9b::a9fe:a9fe", "ff02::1"};
  static const char *const pub[] = {"8.8.8.8", "1.1.1.1", "172.32.0.1", "192.169.0.1", "100.128.0.1",
                                    "2001:4860:4860::8888", "::ffff:8.8.8.8"};
  size_t bad = 0;
  for (size_t i = 0; i < sizeof priv / sizeof priv[0]; i++)
    if (!is_private(priv[i]))
      printf("# not refused: %s\n", priv[i]), bad++;
  for (size_t i = 0; i < sizeof pub / sizeof pub[0]; i++)
    if (is_private(pub[i]))
      printf("# refused: %s\n", pub[i]), bad++;
  CHECK(bad == 0, "loopback, private, link-local, CGNAT, multicast, mapped and NAT64 forms refused; public ones not");

  const char *build = getenv("BUILD") ? getenv("BUILD") : "build";
  char bin[512], dir[] = "/tmp/relay-imgfetch-XXXXXX";
  snprintf(bin, sizeof bin, "%s/bin/mock-upstream", build);
  if (!mkdtemp(dir))
    return 1;
  /* a small PNG's bytes (its signature and an IHDR are enough for a Content-Type check) */
  char png[600], pf1[600], pf2[600], rec1[600], rec2[600], mock[1200];
  snprintf(png, sizeof png, "%s/img.png", dir);
  snprintf(pf1, sizeof pf1, "%s/port1", dir);
  snprintf(pf2, sizeof pf2, "%s/port2", dir);
  snprintf(rec1, sizeof rec1, "%s/rec1.jsonl", dir);
  snprintf(rec2, sizeof rec2, "%s/rec2.jsonl", dir);
  unsigned char img[3000];
  memcpy(img, "\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16);
  for (size_t i = 16; i < sizeof img; i++)
    img[i] = (unsigned char)(i * 7 + 3);
  FILE *f = fopen(png, "wb");
  fwrite(img, 1, sizeof img, f);
  fclose(f);
  snprintf(mock, sizeof mock, "{\"replay\":{\"file\":\"%s\",\"content_type\":\"image/png\"}}", png);
  pid_t m1 = spawn_mock(bin, pf1, mock, rec1), m2 = spawn_mock(bin, pf2, "{}", rec2);
  int p1 = read_port(pf1), p2 = read_port(pf2);
  CHECK(m1 > 0 && m2 > 0 && p1 > 0 && p2 > 0, "two mock upstreams on 127.0.0.1 (%s)", bin);

  char url[256], err[512];
  struct imgfetch_result r;
  struct imgfetch_opts strict = {.max_bytes = 1 << 20, .timeout_ms = 5000, .allow_private = false};
  struct imgfetch_opts lan = strict;
  lan.allow_private = true;

  snprintf(url, sizeof url, "http://127.0.0.1:%d/cat.png", p1);
  int rc = imgfetch(url, &strict, &r, err, sizeof err);
  CHECK(rc < 0 && strstr(err, "private, loopback or link-local") && strstr(err, "127.0.0.1"),
        "loopback by address refused without the allowance: %s", err);
  snprintf(url, sizeof url, "http://localhost:%d/cat.png", p1);
  rc = imgfetch(url, &strict, &r, err, sizeof err);
  CHECK(rc < 0 && strstr(err, "private, loopback or link-local"), "loopback by name refused (the address is checked): %s",
        err);
  CHECK(file_lines(rec1) == 0, "no request reached the server while refused");

  snprintf(url, sizeof url, "http://127.0.0.1:%d/cat.png", p1);
  rc = imgfetch(url, &lan, &r, err, sizeof err);
  unsigned char dec[4100];
  int dn = rc == 0 ? EVP_DecodeBlock(dec, (unsigned char *)r.b64, (int)r.b64_len) : -1;
  CHECK(rc == 0 && !strcmp(r.mime, "image/png") && r.bytes == sizeof img && dn >= (int)sizeof img &&
            memcmp(dec, img, sizeof img) == 0,
        "with the allowance: the image, image/png, its %zu bytes in base64 (%s)", sizeof img, rc ? err : "ok");
  imgfetch_result_free(&r);
  for (int i = 0; i < 50 && file_lines(rec1) == 0; i++)
    usleep(100000);               /* the mock records after answering: bounded wait */
  CHECK(file_lines(rec1) == 1, "the one allowed fetch is the one request the server saw");

  struct imgfetch_opts small = lan;
  small.max_bytes = 1000;
  rc = imgfetch(url, &small, &r, err, sizeof err);
  CHECK(rc < 0 && strstr(err, "larger than 1000 bytes"), "larger than max_bytes: refused: %s", err);

  snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/models", p2);
  rc = imgfetch(url, &lan, &r, err, sizeof err);
  CHECK(rc < 0 && strstr(err, "not an image"), "an answer that is not an image: refused: %s", err);

  /* a server that accepts and never answers */
  int ls = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t al = sizeof a;
  bind(ls, (struct sockaddr *)&a, sizeof a);
  listen(ls, 4);
  getsockname(ls, (struct sockaddr *)&a, &al);
  snprintf(url, sizeof url, "http://127.0.0.1:%d/slow.png", ntohs(a.sin_port));
  struct imgfetch_opts quick = lan;
  quick.timeout_ms = 300;
  rc = imgfetch(url, &quick, &r, err, sizeof err);
  CHECK(rc < 0 && strstr(err, "within 300 ms"), "a server that never answers: given up after timeout_ms: %s", err);
  close(ls);

  rc = imgfetch("file:///etc/passwd", &lan, &r, err, sizeof err);
  int rc2 = imgfetch("ftp://127.0.0.1/x.png", &lan, &r, err, sizeof err);
  CHECK(rc < 0 && rc2 < 0 && strstr(err, "not an http or https URL"), "file:// and ftp:// refused: %s", err);

  kill(m1, SIGTERM);
  kill(m2, SIGTERM);
  waitpid(m1, NULL, 0);
  waitpid(m2, NULL, 0);
  unlink(png), unlink(pf1), unlink(pf2), unlink(rec1), unlink(rec2);
  rmdir(dir);
  return tap_done();
}
