// Copyright 2026 the camwire authors. MIT license.
//
// What the emulated camera's files share (FOR TESTS ONLY; see
// fake_camera.c for what it emulates and its keys): one fake camera's
// state, the lock over all of them, and the real libc calls.
//
//   fake_camera.c         the libc interposition and the config file
//   fake_camera_ioctl.c   the V4L2 requests
//   fake_camera_frames.c  the frames: JPEG records, raw pictures, pacing

#ifndef CAMWIRE_FAKE_CAMERA_H
#define CAMWIRE_FAKE_CAMERA_H

#define _GNU_SOURCE
#include <linux/videodev2.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#define MAX_MODES 16
#define MAX_CAMS 16
#define MAX_BUFS 8
#define MAX_FRAMES 4096

typedef struct {
  uint32_t fourcc, width, height, fps;
  char file[512];
} mode_t_;

typedef struct {
  uint8_t *data;
  uint32_t size;
} frame_t;

typedef struct {
  int fd;  // the memfd handed out as the device fd; -1 when free
  char path[512];
  char driver[16];
  char card[32];
  mode_t_ modes[MAX_MODES];
  int nmodes;
  int strip_dht, truncate_every, unplug_after, stall_after, trace, nonblock;
  unsigned long fail_request;
  int fail_errno;
  int mode;  // index of the mode set with S_FMT
  uint32_t bufsize, nbufs;
  int queued[MAX_BUFS], done[MAX_BUFS];
  int streaming;
  uint32_t sequence;  // frames delivered
  uint64_t next_due_ns;
  frame_t frames[MAX_FRAMES];
  int nframes, next_frame;
  int live_fd;  // a FIFO of records, or -1
  frame_t pending;  // a live record read but not delivered yet
} cam_t;

// Every fake camera open now; `lock` guards them all.
extern cam_t cams[MAX_CAMS];
extern pthread_mutex_t lock;

// The real libc's calls (fake_camera.c finds them).
extern int (*real_open)(const char *, int, ...);
extern int (*real_close)(int);
extern int (*real_poll)(struct pollfd *, nfds_t, int);

// fake_camera_frames.c
uint64_t now_ns(void);
void sleep_ns(uint64_t ns);
void free_frames(cam_t *c);
void load_frames(cam_t *c);
uint32_t fill(cam_t *c, uint32_t index, uint32_t *flags);
int frame_ready(cam_t *c);
int any_queued(cam_t *c);
int unplugged(cam_t *c);

// fake_camera_ioctl.c
int fake_ioctl(cam_t *c, unsigned long r, void *arg);
const char *request_name(unsigned long r);

#endif
