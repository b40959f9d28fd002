/* Copyright 2026 the camwire authors. MIT license.
 *
 * The C-level floor of the fan-out (bench/engine.ts builds it with gcc
 * into a temporary directory; no binary is committed): one thread, an
 * MJPEG stream on stdin (ffmpeg's, the same arguments as camwire's test
 * source), each JPEG stamped as camwire stamps it (a "camwire t=<ms>"
 * comment after SOI) behind a u64 little-endian length, and sent to every
 * viewer with send(2, MSG_DONTWAIT). A viewer whose socket does not take a
 * whole frame finishes it when epoll says it may (EPOLLOUT, edge-triggered,
 * registered once per viewer), and then gets the newest frame: camwire's
 * newest-frame rule, nothing else (no token, no stall timeout, no HTTP).
 * Every viewer gets TCP_NODELAY and the listener TCP_NOTSENT_LOWAT 16 KiB,
 * as camwire's viewers do (--send-queue).
 *
 * It is as lean as that service can be: an earlier floor waited with
 * poll(2) on an array of every viewer with a frame in flight, rebuilt on
 * each wake-up, which at 3,000 viewers cost it more per frame than
 * camwire's own wait (Deno's edge-triggered epoll): camwire measured 1.08x
 * that floor, 1.19x a lean one.
 *
 *   ffmpeg ... -f mjpeg pipe:1 | floor_server PORT
 *
 * Prints "floor: streaming on tcp://127.0.0.1:PORT pid=N" on stderr.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define MAX_FDS 65536
#define MAX_FRAME (1 << 22)

typedef struct {
  unsigned char *bytes;
  size_t length;
  int refs;
} Frame;

typedef struct {
  Frame *cur; /* in flight */
  size_t off;
  Frame *next; /* newest, waiting */
  int at;      /* index in viewers[], -1 when free */
} Client;

static Client clients[MAX_FDS];
static int viewers[MAX_FDS]; /* the fds of every viewer */
static int nviewers;

static void unref(Frame *f) {
  if (f && --f->refs == 0) {
    free(f->bytes);
    free(f);
  }
}

static void drop(int fd) {
  Client *c = &clients[fd];
  unref(c->cur);
  unref(c->next);
  int last = viewers[--nviewers];
  viewers[c->at] = last;
  clients[last].at = c->at;
  *c = (Client){.at = -1};
  close(fd); /* leaves the epoll set with it */
}

/* Sends what the socket takes; returns 0 when done or waiting, -1 when gone. */
static int pump(int fd) {
  Client *c = &clients[fd];
  while (c->cur) {
    ssize_t n = send(fd, c->cur->bytes + c->off, c->cur->length - c->off,
                     MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0) return (errno == EAGAIN || errno == EINTR) ? 0 : -1;
    c->off += (size_t)n;
    if (c->off < c->cur->length) return 0;
    unref(c->cur);
    c->cur = c->next;
    c->next = NULL;
    c->off = 0;
  }
  return 0;
}

static Frame *stamp(const unsigned char *jpeg, size_t length) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  char text[64];
  int t = snprintf(text, sizeof text, "camwire t=%.3f",
                   tv.tv_sec * 1000.0 + tv.tv_usec / 1000.0);
  size_t seg = 4 + (size_t)t; /* FF FE, length (2), text */
  Frame *f = malloc(sizeof *f);
  f->length = 8 + length + seg;
  f->bytes = malloc(f->length);
  f->refs = 1;
  uint64_t payload = length + seg;
  for (int i = 0; i < 8; i++) f->bytes[i] = (unsigned char)(payload >> (8 * i));
  unsigned char *p = f->bytes + 8;
  p[0] = 0xff, p[1] = 0xd8, p[2] = 0xff, p[3] = 0xfe;
  p[4] = (unsigned char)((t + 2) >> 8), p[5] = (unsigned char)(t + 2);
  memcpy(p + 6, text, (size_t)t);
  memcpy(p + 6 + t, jpeg + 2, length - 2);
  return f;
}

static void deliver(Frame *f) {
  for (int i = 0; i < nviewers; i++) {
    int fd = viewers[i];
    Client *c = &clients[fd];
    f->refs++;
    if (c->cur) {
      unref(c->next);
      c->next = f;
      continue;
    }
    c->cur = f;
    c->off = 0;
    if (pump(fd) < 0) {
      drop(fd);
      i--;
    }
  }
  unref(f);
}

static void watch(int ep, int fd, uint32_t events) {
  struct epoll_event ev = {.events = events, .data.fd = fd};
  epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

int main(int argc, char **argv) {
  int port = argc > 1 ? atoi(argv[1]) : 0;
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int one = 1, lowat = 16384;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  /* The same bound on unsent bytes as camwire's default --send-queue. */
  setsockopt(lfd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat, sizeof lowat);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(lfd, (struct sockaddr *)&a, sizeof a) || listen(lfd, 4096)) {
    perror("floor: listen");
    return 1;
  }
  socklen_t al = sizeof a;
  getsockname(lfd, (struct sockaddr *)&a, &al);
  fcntl(0, F_SETFL, O_NONBLOCK);
  for (int fd = 0; fd < MAX_FDS; fd++) clients[fd].at = -1;
  int ep = epoll_create1(EPOLL_CLOEXEC);
  watch(ep, 0, EPOLLIN);
  watch(ep, lfd, EPOLLIN);
  static unsigned char in[MAX_FRAME];
  size_t have = 0;
  int announced = 0;
  static struct epoll_event events[4096];
  for (;;) {
    int n = epoll_wait(ep, events, 4096, -1);
    if (n < 0 && errno != EINTR) return 1;
    for (int k = 0; k < n; k++) {
      int fd = events[k].data.fd;
      if (fd == lfd) {
        int c;
        while ((c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
          if (c >= MAX_FDS) {
            close(c);
            continue;
          }
          setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          clients[c] = (Client){.at = nviewers};
          viewers[nviewers++] = c;
          watch(ep, c, EPOLLOUT | EPOLLET);
        }
      } else if (fd != 0) {
        if (clients[fd].at < 0) continue; /* dropped earlier in this batch */
        if ((events[k].events & (EPOLLERR | EPOLLHUP)) || pump(fd) < 0) {
          drop(fd);
        }
      }
    }
    for (int k = 0; k < n; k++) {
      if (events[k].data.fd != 0) continue;
      ssize_t r = read(0, in + have, sizeof in - have);
      if (r == 0) return 0;
      if (r > 0) have += (size_t)r;
      /* Cut whole JPEGs: SOI ... EOI (FF D9 only occurs as the marker). */
      size_t start = 0;
      for (;;) {
        unsigned char *soi = memmem(in + start, have - start, "\xff\xd8", 2);
        if (!soi) break;
        unsigned char *eoi = memmem(soi + 2, have - (size_t)(soi + 2 - in),
                                    "\xff\xd9", 2);
        if (!eoi) {
          start = (size_t)(soi - in);
          break;
        }
        deliver(stamp(soi, (size_t)(eoi + 2 - soi)));
        start = (size_t)(eoi + 2 - in);
        if (!announced) {
          announced = 1;
          fprintf(stderr, "floor: streaming on tcp://127.0.0.1:%d pid=%d\n",
                  ntohs(a.sin_port), getpid());
        }
      }
      memmove(in, in + start, have - start);
      have -= start;
      if (have == sizeof in) have = 0;
    }
  }
}
