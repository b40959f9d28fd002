// Copyright 2026 the camwire authors. MIT license.
//
// An emulated V4L2 camera at the libc boundary, FOR TESTS ONLY. There is no
// V4L2 in this kernel and no camera on the machines camwire is tested on,
// so this library stands in for both: camwire opens it in place of libc
// (CAMWIRE_LIBC=/path/fake_camera.so, see server/sys/libc.ts), or ffmpeg gets
// it through LD_PRELOAD, and it defines open, open64, close, ioctl, poll,
// select, pselect, mmap, mmap64 and munmap. Every other symbol, and every
// call on a path or fd that is not a fake camera, goes to the real libc.
// (ustreamer runs on it through LD_PRELOAD too: bench/peer.ts.)
//
// A fake camera is a regular file whose first line is
// "camwire-fake-camera", then key=value lines (testing/fake_camera.ts
// writes them):
//
//   driver=NAME               what VIDIOC_QUERYCAP reports as the driver
//                             (default fakecam; e.g. unicam, uvcvideo,
//                             "bm2835 mmal")
//   card=NAME                 what VIDIOC_QUERYCAP reports as the card
//   mode=FOURCC WxH FPS [FILE] a mode of one size; MJPG modes take their
//                             JPEGs from FILE (u32 little-endian length +
//                             JPEG, again and again; a FIFO is read live,
//                             one record per frame, as it comes); raw modes
//                             (YUYV, NV12, ...) are painted here. Each size
//                             offers FPS and FPS/2 (discrete intervals)
//   range=FOURCC stepwise|continuous MINWxMINH MAXWxMAXH [STEPWxSTEPH]
//                             a format that takes any size in a range,
//                             rounded to the step (as the Pi's bcm2835
//                             camera: stepwise 32x32 2592x1944 2x2); its
//                             JPEGs come from a frames= line of the size set
//   frames=WxH FILE           the JPEG records of that size, for a range=
//                             format (a size without one delivers empty
//                             buffers)
//   fps=N                     the rate of a range= format until S_PARM sets
//                             one (default 30)
//   intervals=stepwise|continuous MIN MAX [STEP]
//                             every size offers this range of frame
//                             intervals instead, each a fraction N/D of a
//                             second (the bcm2835 camera: continuous 1/90
//                             1/1); S_PARM takes any rate in it
//   mplane=1                  a multi-planar node (VIDEO_CAPTURE_MPLANE:
//                             v4l2_pix_format_mplane, m.planes in the
//                             buffers); NM12 (NV12 in two planes, Y then
//                             UV) is then a format too
//   meta=1                    a UVC metadata node: QUERYCAP's capabilities
//                             say VIDEO_CAPTURE (the whole device's), its
//                             device_caps only META_CAPTURE; no video format
//   control=ID TYPE MIN MAX STEP DEFAULT FLAGS NAME
//                             a control (ID in hex, TYPE int, bool, menu,
//                             intmenu, button, int64 or class; FLAGS the
//                             V4L2_CTRL_FLAG_* bits, e.g. 1 disabled, 4
//                             read-only, 16 inactive); its value is kept
//                             across opens of the same file in a process,
//                             as a driver keeps it
//   menu=ID INDEX NAME        an item of a menu control (indexes without
//                             one are holes: QUERYMENU says EINVAL)
//   ext_ctrls=0               no VIDIOC_QUERY_EXT_CTRL (ENOTTY, as before
//                             Linux 3.17): controls through QUERYCTRL only
//   strip_dht=1               JPEGs lose their Huffman tables (as many UVC
//                             cameras send them)
//   truncate_every=N          every Nth frame is cut short (no EOI)
//   error_every=N             every Nth frame that is not cut short is
//                             whole but flagged V4L2_BUF_FLAG_ERROR
//   open_errno=N              open() fails with errno N (16: EBUSY)
//   unplug_after=N            after N frames, poll reports POLLERR and
//                             DQBUF fails with ENODEV (each open counts anew:
//                             the camera is "plugged back in")
//   stall_after=N             after N frames, no frame is ever ready
//   fail_ioctl=REQUEST ERRNO  that ioctl request (decimal) fails with ERRNO
//   trace=1                   print every call on the fake to stderr
//   stamp=1                   each JPEG dequeued carries the time of its
//                             DQBUF: a COM segment "camera t=<Unix ms>"
//                             right after SOI (a server that passes JPEGs
//                             through keeps it: benches read it back)
//
// The device fd is a real memfd named "camwire-fake-camera:<path>",
// so that leaked fds show in /proc/self/fd and leaked buffer mappings in
// /proc/self/maps, exactly as a real device's would.
//
// This file: the libc interposition and the config file. The V4L2
// requests are in fake_camera_ioctl.c and fake_camera_controls.c, the
// frames in fake_camera_frames.c (fake_camera.h: what they share);
// testing/fake_camera.ts builds them into one library.

#include "fake_camera.h"  // first: it defines _GNU_SOURCE

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <unistd.h>

cam_t cams[MAX_CAMS];
pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

int (*real_open)(const char *, int, ...);
int (*real_close)(int);
static int (*real_ioctl)(int, unsigned long, ...);
int (*real_poll)(struct pollfd *, nfds_t, int);
static void *(*real_mmap)(void *, size_t, int, int, int, off_t);
static int (*real_munmap)(void *, size_t);

static void *real(const char *name) {
  void *fn = dlsym(RTLD_NEXT, name);
  if (fn == NULL) {
    void *libc = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
    if (libc == NULL) libc = dlopen("libc.so.6", RTLD_LAZY);
    fn = dlsym(libc, name);
  }
  return fn;
}

static void init(void) {
  if (real_open != NULL) return;
  real_close = real("close");
  real_ioctl = real("ioctl");
  real_poll = real("poll");
  real_mmap = real("mmap");
  real_munmap = real("munmap");
  real_open = real("open");
  for (int i = 0; i < MAX_CAMS; i++) cams[i].fd = -1;
}

static cam_t *cam_of(int fd) {
  if (fd < 0) return NULL;
  for (int i = 0; i < MAX_CAMS; i++) {
    if (cams[i].fd == fd) return &cams[i];
  }
  return NULL;
}

static uint32_t fourcc_of(const char *s) {
  return v4l2_fourcc(s[0], s[1], s[2], s[3]);
}

// The buffer type of the node: video, multi-planar video, or metadata.
uint32_t buf_type(cam_t *c) {
  return c->meta     ? V4L2_BUF_TYPE_META_CAPTURE
         : c->mplane ? V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE
                     : V4L2_BUF_TYPE_VIDEO_CAPTURE;
}

static void offer_format(cam_t *c, uint32_t fourcc) {
  for (int i = 0; i < c->nfmts; i++) {
    if (c->fmts[i] == fourcc) return;
  }
  if (c->nfmts < MAX_MODES) c->fmts[c->nfmts++] = fourcc;
}

static int parse_fraction(const char *s, struct v4l2_fract *f) {
  return sscanf(s, "%u/%u", &f->numerator, &f->denominator) == 2 &&
                 f->denominator > 0
             ? 0
             : -1;
}

static void parse_range(cam_t *c, const char *value) {
  if (c->nranges >= MAX_MODES) return;
  range_t *r = &c->ranges[c->nranges];
  char fourcc[8] = {0}, type[16] = {0};
  r->stepw = r->steph = 1;
  int n = sscanf(value, "%4s %15s %ux%u %ux%u %ux%u", fourcc, type, &r->minw,
                 &r->minh, &r->maxw, &r->maxh, &r->stepw, &r->steph);
  if (n < 6 || r->stepw == 0 || r->steph == 0) return;
  r->fourcc = fourcc_of(fourcc);
  r->type = strcmp(type, "continuous") == 0 ? V4L2_FRMSIZE_TYPE_CONTINUOUS
                                            : V4L2_FRMSIZE_TYPE_STEPWISE;
  offer_format(c, r->fourcc);
  c->nranges++;
}

static void parse_intervals(cam_t *c, const char *value) {
  char type[16] = {0}, min[32] = {0}, max[32] = {0}, step[32] = "1/1";
  if (sscanf(value, "%15s %31s %31s %31s", type, min, max, step) < 3) return;
  intervals_t *i = &c->intervals;
  if (parse_fraction(min, &i->min) || parse_fraction(max, &i->max) ||
      parse_fraction(step, &i->step)) {
    return;
  }
  i->type = strcmp(type, "continuous") == 0 ? V4L2_FRMIVAL_TYPE_CONTINUOUS
                                            : V4L2_FRMIVAL_TYPE_STEPWISE;
}

static int parse_config(cam_t *c, const char *path) {
  FILE *f = fopen(path, "re");
  if (f == NULL) return -1;
  char line[1024];
  if (fgets(line, sizeof line, f) == NULL ||
      strncmp(line, "camwire-fake-camera", 19) != 0) {
    fclose(f);
    return -1;
  }
  memset(c, 0, sizeof *c);
  c->live_fd = -1;
  c->ext_ctrls = 1;
  c->range_fps = 30;
  strcpy(c->driver, "fakecam");
  strcpy(c->card, "Emulated Camera");
  snprintf(c->path, sizeof c->path, "%s", path);
  while (fgets(line, sizeof line, f) != NULL) {
    line[strcspn(line, "\n")] = 0;
    char *value = strchr(line, '=');
    if (value == NULL) continue;
    *value++ = 0;
    if (strcmp(line, "driver") == 0) {
      snprintf(c->driver, sizeof c->driver, "%s", value);
    } else if (strcmp(line, "card") == 0) {
      snprintf(c->card, sizeof c->card, "%s", value);
    } else if (strcmp(line, "mode") == 0 && c->nmodes < MAX_MODES) {
      mode_t_ *m = &c->modes[c->nmodes];
      char fourcc[8] = {0};
      m->file[0] = 0;
      if (sscanf(value, "%4s %ux%u %u %511s", fourcc, &m->width, &m->height,
                 &m->fps, m->file) >= 4 &&
          m->fps > 0) {
        m->fourcc = fourcc_of(fourcc);
        offer_format(c, m->fourcc);
        c->nmodes++;
      }
    } else if (strcmp(line, "range") == 0) {
      parse_range(c, value);
    } else if (strcmp(line, "frames") == 0 && c->nsized < MAX_MODES) {
      sized_frames_t *s = &c->sized[c->nsized];
      if (sscanf(value, "%ux%u %511s", &s->width, &s->height, s->file) == 3) {
        c->nsized++;
      }
    } else if (strcmp(line, "fps") == 0) {
      c->range_fps = atoi(value) > 0 ? atoi(value) : 30;
    } else if (strcmp(line, "intervals") == 0) {
      parse_intervals(c, value);
    } else if (strcmp(line, "mplane") == 0) {
      c->mplane = atoi(value);
    } else if (strcmp(line, "meta") == 0) {
      c->meta = atoi(value);
    } else if (strcmp(line, "control") == 0) {
      parse_control(c, value);
    } else if (strcmp(line, "menu") == 0) {
      parse_menu(c, value);
    } else if (strcmp(line, "ext_ctrls") == 0) {
      c->ext_ctrls = atoi(value);
    } else if (strcmp(line, "strip_dht") == 0) {
      c->strip_dht = atoi(value);
    } else if (strcmp(line, "truncate_every") == 0) {
      c->truncate_every = atoi(value);
    } else if (strcmp(line, "error_every") == 0) {
      c->error_every = atoi(value);
    } else if (strcmp(line, "open_errno") == 0) {
      c->fd = atoi(value);  // read back by open() below
    } else if (strcmp(line, "unplug_after") == 0) {
      c->unplug_after = atoi(value);
    } else if (strcmp(line, "stall_after") == 0) {
      c->stall_after = atoi(value);
    } else if (strcmp(line, "fail_ioctl") == 0) {
      sscanf(value, "%lu %d", &c->fail_request, &c->fail_errno);
    } else if (strcmp(line, "trace") == 0) {
      c->trace = atoi(value);
    } else if (strcmp(line, "stamp") == 0) {
      c->stamp = atoi(value);
    }
  }
  fclose(f);
  restore_controls(c);
  // As a driver starts: in its first format, at its first size.
  if (c->nfmts > 0) set_format(c, c->fmts[0], 0, 0);
  return 0;
}

// Whether path is a fake camera: a regular file named video* that starts
// with the magic line. Anything else is the real libc's.
static int is_fake(const char *path) {
  const char *base = strrchr(path, '/');
  base = base == NULL ? path : base + 1;
  if (strncmp(base, "video", 5) != 0) return 0;
  struct stat st;
  if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) return 0;
  int fd = real_open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char head[19];
  ssize_t n = read(fd, head, sizeof head);
  real_close(fd);
  return n == sizeof head && memcmp(head, "camwire-fake-camera", 19) == 0;
}

static int open_fake(const char *path, int flags) {
  pthread_mutex_lock(&lock);
  cam_t *c = NULL;
  for (int i = 0; i < MAX_CAMS && c == NULL; i++) {
    if (cams[i].fd == -1) c = &cams[i];
  }
  if (c == NULL || parse_config(c, path) != 0) {
    if (c != NULL) c->fd = -1;
    pthread_mutex_unlock(&lock);
    errno = ENOMEM;
    return -1;
  }
  int open_errno = c->fd;
  if (open_errno != 0) {
    c->fd = -1;
    pthread_mutex_unlock(&lock);
    if (c->trace) fprintf(stderr, "fake camera: open %s: errno %d\n", path, open_errno);
    errno = open_errno;
    return -1;
  }
  // The whole path, so that a test can tell its own cameras' fds and
  // mappings from those of tests running beside it (memfd names hold 249
  // bytes at most: snprintf cuts a longer one).
  char name[250];
  snprintf(name, sizeof name, "camwire-fake-camera:%s", path);
  c->fd = memfd_create(name, MFD_CLOEXEC);
  c->nonblock = (flags & O_NONBLOCK) != 0;
  int fd = c->fd;
  if (c->trace) fprintf(stderr, "fake camera: open %s = %d\n", path, fd);
  pthread_mutex_unlock(&lock);
  return fd;
}

int open(const char *path, int flags, ...) {
  init();
  mode_t mode = 0;
  if (flags & (O_CREAT | __O_TMPFILE)) {
    va_list ap;
    va_start(ap, flags);
    mode = va_arg(ap, mode_t);
    va_end(ap);
  }
  if (is_fake(path)) return open_fake(path, flags);
  return real_open(path, flags, mode);
}

int open64(const char *path, int flags, ...) {
  init();
  mode_t mode = 0;
  if (flags & (O_CREAT | __O_TMPFILE)) {
    va_list ap;
    va_start(ap, flags);
    mode = va_arg(ap, mode_t);
    va_end(ap);
  }
  if (is_fake(path)) return open_fake(path, flags);
  return real_open(path, flags | O_LARGEFILE, mode);
}

int close(int fd) {
  init();
  pthread_mutex_lock(&lock);
  cam_t *c = cam_of(fd);
  if (c != NULL) {
    if (c->trace) fprintf(stderr, "fake camera: close %d\n", fd);
    free_frames(c);
    c->fd = -1;
  }
  pthread_mutex_unlock(&lock);
  return real_close(fd);
}

int ioctl(int fd, unsigned long request, ...) {
  init();
  va_list ap;
  va_start(ap, request);
  void *arg = va_arg(ap, void *);
  va_end(ap);
  pthread_mutex_lock(&lock);
  cam_t *c = cam_of(fd);
  if (c == NULL) {
    pthread_mutex_unlock(&lock);
    return real_ioctl(fd, request, arg);
  }
  // Requests are 32-bit: a caller that passes one as an int (ustreamer)
  // has it sign-extended to 0xffffffff80685600 for VIDIOC_QUERYCAP.
  int code = fake_ioctl(c, (uint32_t)request, arg);
  if (code == 0 && c->stamp && (uint32_t)request == VIDIOC_DQBUF) {
    stamp_buffer(c, arg);
  }
  if (c->trace) {
    fprintf(stderr, "fake camera: ioctl %d %s (0x%lx) = %d\n", fd,
            request_name(request), request, code);
  }
  pthread_mutex_unlock(&lock);
  if (code != 0) {
    errno = code;
    return -1;
  }
  return 0;
}

int poll(struct pollfd *fds, nfds_t n, int timeout) {
  init();
  pthread_mutex_lock(&lock);
  cam_t *c = n == 1 ? cam_of(fds[0].fd) : NULL;
  pthread_mutex_unlock(&lock);
  if (c == NULL) return real_poll(fds, n, timeout);
  uint64_t end = now_ns() + (timeout < 0 ? 3600ull : (uint64_t)timeout) * 1000000ull;
  while (1) {
    pthread_mutex_lock(&lock);
    if (c->fd != fds[0].fd) {  // closed meanwhile
      pthread_mutex_unlock(&lock);
      fds[0].revents = POLLNVAL;
      return 1;
    }
    fds[0].revents = 0;
    if (c->streaming && unplugged(c)) fds[0].revents = POLLERR | POLLHUP;
    else if (c->streaming && any_queued(c) && frame_ready(c)) fds[0].revents = POLLIN;
    pthread_mutex_unlock(&lock);
    if (fds[0].revents != 0) return 1;
    // Sleep until the next frame is due (as a real driver's wait costs no
    // CPU while it waits), or the timeout; a live FIFO is polled for real.
    uint64_t now = now_ns();
    if (now >= end) return 0;
    uint64_t wake = end;
    pthread_mutex_lock(&lock);
    int live = c->live_fd;
    int stalled = c->stall_after > 0 && c->sequence >= (uint32_t)c->stall_after;
    if (c->streaming && live < 0 && !stalled && any_queued(c) &&
        c->next_due_ns < wake) {
      wake = c->next_due_ns;
    }
    pthread_mutex_unlock(&lock);
    if (live >= 0 && !stalled) {
      struct pollfd p = {live, POLLIN, 0};
      real_poll(&p, 1, (int)((end - now) / 1000000) + 1);
    } else {
      uint64_t step = wake > now ? wake - now : 0;
      if (step > 50000000) step = 50000000;  // notice a close within 50 ms
      sleep_ns(step);
    }
  }
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
  init();
  pthread_mutex_lock(&lock);
  cam_t *c = cam_of(fd);
  if (c != NULL) {
    // One plane of one buffer: at its offset, no longer than the plane.
    int ok = 0;
    if (c->bufsize > 0 && off >= 0 && (uint64_t)off / c->bufsize < c->nbufs) {
      uint32_t at = 0;
      for (uint32_t p = 0; p < c->nplanes; p++) {
        if ((uint64_t)off % c->bufsize == at && len <= c->plane_stride[p]) ok = 1;
        at += c->plane_stride[p];
      }
    }
    if (c->trace) fprintf(stderr, "fake camera: mmap %d at %ld: %s\n", fd, (long)off, ok ? "ok" : "EINVAL");
    pthread_mutex_unlock(&lock);
    if (!ok) {
      errno = EINVAL;
      return MAP_FAILED;
    }
    return real_mmap(addr, len, prot, flags, fd, off);
  }
  pthread_mutex_unlock(&lock);
  return real_mmap(addr, len, prot, flags, fd, off);
}

void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
  return mmap(addr, len, prot, flags, fd, off);
}

int munmap(void *addr, size_t len) {
  init();
  return real_munmap(addr, len);
}

// select() and pselect() on one fake camera, as ustreamer waits for frames
// (it selects the device for reading, writing and exceptions): readable
// when poll() above says a frame is ready; readable and writable when the
// camera is unplugged (POLLERR, as Linux maps it); never an exception (no
// events). Sets that hold any other fd go to the real libc.
static int lone_fake(int n, fd_set *r, fd_set *w, fd_set *e) {
  int fake = -1;
  for (int fd = 0; fd < n && fd < FD_SETSIZE; fd++) {
    if (!(r && FD_ISSET(fd, r)) && !(w && FD_ISSET(fd, w)) &&
        !(e && FD_ISSET(fd, e))) {
      continue;
    }
    pthread_mutex_lock(&lock);
    cam_t *c = cam_of(fd);
    pthread_mutex_unlock(&lock);
    if (c == NULL || fake != -1) return -1;
    fake = fd;
  }
  return fake;
}

// poll() above, bound here even where the library is not preloaded (a
// call to poll would reach the real libc's first).
static __typeof__(poll) own_poll __attribute__((alias("poll")));

static int select_fake(int fd, fd_set *r, fd_set *w, fd_set *e, int ms) {
  struct pollfd p = {fd, POLLIN, 0};
  int ready;
  do {
    ready = own_poll(&p, 1, ms);
  } while (ready == 0 && ms < 0);
  int want_r = r && FD_ISSET(fd, r), want_w = w && FD_ISSET(fd, w);
  if (r) FD_ZERO(r);
  if (w) FD_ZERO(w);
  if (e) FD_ZERO(e);
  if (ready <= 0) return ready;
  if (p.revents & POLLNVAL) {
    errno = EBADF;
    return -1;
  }
  int bits = 0;
  if (want_r && (p.revents & (POLLIN | POLLERR | POLLHUP))) {
    FD_SET(fd, r);
    bits++;
  }
  if (want_w && (p.revents & POLLERR)) {
    FD_SET(fd, w);
    bits++;
  }
  return bits;
}

int select(int n, fd_set *r, fd_set *w, fd_set *e, struct timeval *tv) {
  init();
  static int (*real_select)(int, fd_set *, fd_set *, fd_set *,
                            struct timeval *);
  int fd = lone_fake(n, r, w, e);
  if (fd < 0) {
    if (real_select == NULL) real_select = real("select");
    return real_select(n, r, w, e, tv);
  }
  int ms = tv == NULL ? -1 : (int)(tv->tv_sec * 1000 + (tv->tv_usec + 999) / 1000);
  return select_fake(fd, r, w, e, ms);
}

int pselect(int n, fd_set *r, fd_set *w, fd_set *e, const struct timespec *ts,
            const sigset_t *mask) {
  init();
  static int (*real_pselect)(int, fd_set *, fd_set *, fd_set *,
                             const struct timespec *, const sigset_t *);
  int fd = lone_fake(n, r, w, e);
  if (fd < 0) {
    if (real_pselect == NULL) real_pselect = real("pselect");
    return real_pselect(n, r, w, e, ts, mask);
  }
  int ms = ts == NULL ? -1
                      : (int)(ts->tv_sec * 1000 + (ts->tv_nsec + 999999) / 1000000);
  return select_fake(fd, r, w, e, ms);
}
