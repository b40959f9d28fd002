// Copyright 2026 the camwire authors. MIT license.
//
// The emulated camera's frames (FOR TESTS ONLY; see fake_camera.c): JPEGs
// read from records (a file, or a FIFO live), raw pictures painted here,
// and when the next one is due.

#include "fake_camera.h"  // first: it defines _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

void sleep_ns(uint64_t ns) {
  struct timespec ts = {ns / 1000000000ull, ns % 1000000000ull};
  nanosleep(&ts, NULL);
}

// Removes every DHT segment before the first SOS, in place.
static uint32_t strip_dht(uint8_t *p, uint32_t n) {
  uint32_t in = 2, out = 2;
  while (in + 4 <= n && p[in] == 0xff) {
    uint8_t code = p[in + 1];
    uint32_t len = 2 + ((p[in + 2] << 8) | p[in + 3]);
    if (code == 0xda) break;
    if (code != 0xc4) {
      memmove(p + out, p + in, len);
      out += len;
    }
    in += len;
  }
  memmove(p + out, p + in, n - in);
  return out + (n - in);
}

static int read_full(int fd, void *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, (char *)buf + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    got += r;
  }
  return 0;
}

// Reads one record (u32 length + JPEG) from fd into *frame.
static int read_record(cam_t *c, int fd, frame_t *frame) {
  uint32_t size;
  if (read_full(fd, &size, 4) != 0 || size == 0 || size > 64 << 20) return -1;
  frame->data = malloc(size);
  if (read_full(fd, frame->data, size) != 0) {
    free(frame->data);
    frame->data = NULL;
    return -1;
  }
  frame->size = c->strip_dht ? strip_dht(frame->data, size) : size;
  return 0;
}

void free_frames(cam_t *c) {
  for (int i = 0; i < c->nframes; i++) free(c->frames[i].data);
  c->nframes = 0;
  free(c->pending.data);
  c->pending.data = NULL;
  if (c->live_fd >= 0) real_close(c->live_fd);
  c->live_fd = -1;
}

// Loads the JPEGs of the format set: all of a file, or none of a FIFO.
void load_frames(cam_t *c) {
  free_frames(c);
  if (c->file[0] == 0) return;
  int fd = real_open(c->file, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  struct stat st;
  fstat(fd, &st);
  if (S_ISFIFO(st.st_mode)) {
    c->live_fd = fd;
    return;
  }
  while (c->nframes < MAX_FRAMES &&
         read_record(c, fd, &c->frames[c->nframes]) == 0) {
    c->nframes++;
  }
  real_close(fd);
}

// The next JPEG (or none), as the camera delivers it: cut short every
// truncate_every-th frame, flagged damaged every error_every-th whole one.
static uint32_t next_jpeg(cam_t *c, uint8_t *out, uint32_t room,
                          uint32_t *flags) {
  uint32_t used = 0;
  frame_t *f = NULL;
  if (c->live_fd >= 0) {
    f = &c->pending;
  } else if (c->nframes > 0) {
    f = &c->frames[c->next_frame++ % c->nframes];
  }
  if (f != NULL && f->data != NULL) {
    used = f->size < room ? f->size : room;
    memcpy(out, f->data, used);
  }
  if (c->live_fd >= 0) {
    free(c->pending.data);
    c->pending.data = NULL;
  }
  if (c->truncate_every > 0 &&
      c->sequence % c->truncate_every == (uint32_t)c->truncate_every - 1) {
    used = used * 6 / 10;  // cut mid-scan: no EOI
  } else if (c->error_every > 0 &&
             c->sequence % c->error_every == (uint32_t)c->error_every - 1) {
    *flags |= V4L2_BUF_FLAG_ERROR;  // whole, but the driver says damaged
  }
  return used;
}

// A raw picture: a gray ramp that moves one pixel a frame, neutral chroma.
// Returns its size.
static uint32_t paint(cam_t *c, uint8_t *out) {
  uint32_t w = c->width, h = c->height, seq = c->sequence;
  if (c->fourcc == V4L2_PIX_FMT_YUYV) {
    for (uint32_t y = 0; y < h; y++) {
      uint8_t *row = out + y * w * 2;
      for (uint32_t x = 0; x < w; x++) {
        row[2 * x] = (uint8_t)(x + y + seq);
        row[2 * x + 1] = 128;
      }
    }
    return w * h * 2;
  }
  uint32_t size = 0;
  for (uint32_t p = 0; p < c->nplanes; p++) size += c->plane_size[p];
  if (c->plane_size[0] * 2 == w * h * 3 || c->nplanes == 2) {
    // 4:2:0 (NV12, YU12, ...): the Y plane, then chroma.
    for (uint32_t y = 0; y < h; y++) {
      for (uint32_t x = 0; x < w; x++) out[y * w + x] = (uint8_t)(x + y + seq);
    }
    memset(out + w * h, 128, size - w * h);
    return size;
  }
  for (uint32_t i = 0; i < size; i++) out[i] = (uint8_t)(i + seq);
  return size;
}

// Puts the next frame into buffer `index`, plane by plane; sets each
// plane's bytesused in used[] and the buffer's flags.
uint32_t fill(cam_t *c, uint32_t index, uint32_t *flags, uint32_t *used) {
  uint32_t total = 0;
  for (uint32_t p = 0; p < c->nplanes; p++) total += c->plane_size[p];
  uint8_t *out = malloc(total);
  *flags = 0;
  uint32_t size;
  if (c->fourcc == V4L2_PIX_FMT_MJPEG || c->fourcc == V4L2_PIX_FMT_JPEG) {
    size = next_jpeg(c, out, c->plane_size[0], flags);
  } else {
    size = paint(c, out);
  }
  // Plane by plane: a JPEG fills the first; NV12M's Y, then its UV.
  uint32_t from = 0, at = index * c->bufsize;
  for (uint32_t p = 0; p < c->nplanes; p++) {
    uint32_t n = size - from < c->plane_size[p] ? size - from : c->plane_size[p];
    pwrite(c->fd, out + from, n, (off_t)at);
    used[p] = n;
    from += n;
    at += c->plane_stride[p];
  }
  free(out);
  return size;
}

// Whether a frame can be dequeued now; reads a live record if one waits.
int frame_ready(cam_t *c) {
  if (c->stall_after > 0 && c->sequence >= (uint32_t)c->stall_after) return 0;
  if (c->live_fd >= 0) {
    if (c->pending.data != NULL) return 1;
    struct pollfd p = {c->live_fd, POLLIN, 0};
    if (real_poll(&p, 1, 0) == 1) {
      if (read_record(c, c->live_fd, &c->pending) != 0) return 0;
      return 1;
    }
    return 0;
  }
  return now_ns() >= c->next_due_ns;
}

int any_queued(cam_t *c) {
  for (uint32_t i = 0; i < c->nbufs; i++) {
    if (c->queued[i]) return 1;
  }
  return 0;
}

int unplugged(cam_t *c) {
  return c->unplug_after > 0 && c->sequence >= (uint32_t)c->unplug_after;
}

// stamp=1: puts "camera t=<Unix ms>" as a COM segment after the SOI of
// the JPEG just dequeued into buffer b, and grows its bytesused.
void stamp_buffer(cam_t *c, struct v4l2_buffer *b) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  char text[48];
  int t = snprintf(text, sizeof text, "camera t=%.3f",
                   ts.tv_sec * 1e3 + ts.tv_nsec / 1e6);
  uint32_t used = b->bytesused, grow = 4 + (uint32_t)t;
  if (used < 4 || used + grow > c->bufsize) return;
  uint8_t *jpeg = malloc(used + grow);
  off_t at = (off_t)b->index * c->bufsize;
  // Read it in after room for the stamp, then write SOI and the stamp
  // over that room and the JPEG's own SOI.
  if (pread(c->fd, jpeg + grow, used, at) != (ssize_t)used ||
      jpeg[grow] != 0xff || jpeg[grow + 1] != 0xd8) {
    free(jpeg);
    return;
  }
  uint8_t head[6] = {0xff, 0xd8, 0xff, 0xfe, (uint8_t)((t + 2) >> 8),
                     (uint8_t)(t + 2)};
  memcpy(jpeg, head, sizeof head);
  memcpy(jpeg + sizeof head, text, (size_t)t);
  if (pwrite(c->fd, jpeg, used + grow, at) == (ssize_t)(used + grow)) {
    b->bytesused = used + grow;
  }
  free(jpeg);
}
