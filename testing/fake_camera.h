// Copyright 2026 the camwire authors. MIT license.
//
// What the emulated camera's files share (FOR TESTS ONLY; see
// fake_camera.c for what it emulates and its keys): one fake camera's
// state, the lock over all of them, and the real libc calls.
//
//   fake_camera.c           the libc interposition and the config file
//   fake_camera_ioctl.c     the V4L2 requests: formats, sizes, buffers
//   fake_camera_controls.c  the V4L2 requests on controls
//   fake_camera_frames.c    the frames: JPEG records, raw pictures, pacing

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
#define MAX_CTRLS 48
#define MAX_MENUS 64
#define MAX_PLANES 2

typedef struct {
  uint32_t fourcc, width, height, fps;
  char file[512];
} mode_t_;

// A format whose sizes are a range (range=), as one ENUM_FRAMESIZES answer.
typedef struct {
  uint32_t fourcc, type;  // V4L2_FRMSIZE_TYPE_STEPWISE or _CONTINUOUS
  uint32_t minw, minh, maxw, maxh, stepw, steph;
} range_t;

// Where the JPEGs of one size come from (frames=).
typedef struct {
  uint32_t width, height;
  char file[512];
} sized_frames_t;

// The frame intervals every size offers (intervals=); type 0: each mode's
// own rate and half of it, as discrete intervals.
typedef struct {
  uint32_t type;  // 0, V4L2_FRMIVAL_TYPE_STEPWISE or _CONTINUOUS
  struct v4l2_fract min, max, step;
} intervals_t;

// A control (control=) and its menu items (menu=).
typedef struct {
  uint32_t id, type, flags;
  char name[32];
  int32_t min, max, step, def, value;
} ctrl_t;

typedef struct {
  uint32_t id, index;
  char name[32];
} menu_t;

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
  range_t ranges[MAX_MODES];
  int nranges;
  sized_frames_t sized[MAX_MODES];
  int nsized;
  uint32_t fmts[MAX_MODES];  // every FourCC offered, in config order
  int nfmts;
  intervals_t intervals;
  uint32_t range_fps;  // the rate of a range format until S_PARM
  int mplane, meta, ext_ctrls, error_every;
  ctrl_t ctrls[MAX_CTRLS];
  int nctrls;
  menu_t menus[MAX_MENUS];
  int nmenus;
  int strip_dht, truncate_every, unplug_after, stall_after, trace, nonblock;
  int stamp;  // stamp=1: DQBUF writes its time into the JPEG
  unsigned long fail_request;
  int fail_errno;
  // The format set (S_FMT), its rate (S_PARM), where its JPEGs come from,
  // and its planes: each plane of each buffer is a page-aligned slice of
  // the memfd, buffer by buffer.
  uint32_t fourcc, width, height, fps;
  char file[512];
  uint32_t nplanes, plane_size[MAX_PLANES], bytesperline[MAX_PLANES];
  uint32_t plane_stride[MAX_PLANES];  // plane_size rounded up to pages
  uint32_t bufsize, nbufs;  // bufsize: one buffer, every plane
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

// fake_camera.c
uint32_t buf_type(cam_t *c);

// fake_camera_frames.c
uint64_t now_ns(void);
void sleep_ns(uint64_t ns);
void free_frames(cam_t *c);
void load_frames(cam_t *c);
uint32_t fill(cam_t *c, uint32_t index, uint32_t *flags, uint32_t *used);
int frame_ready(cam_t *c);
int any_queued(cam_t *c);
int unplugged(cam_t *c);
void stamp_buffer(cam_t *c, struct v4l2_buffer *b);

// fake_camera_ioctl.c
int fake_ioctl(cam_t *c, unsigned long r, void *arg);
const char *request_name(unsigned long r);
void set_format(cam_t *c, uint32_t fourcc, uint32_t width, uint32_t height);

// fake_camera_controls.c
int control_ioctl(cam_t *c, unsigned long r, void *arg);
int parse_control(cam_t *c, const char *value);
int parse_menu(cam_t *c, const char *value);
void save_controls(cam_t *c);
void restore_controls(cam_t *c);

#endif
