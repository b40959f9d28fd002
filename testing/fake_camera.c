// Copyright 2026 the camwire authors. MIT license.
//
// An emulated V4L2 camera at the libc boundary, FOR TESTS ONLY. There is no
// V4L2 in this kernel and no camera on the machines camwire is tested on,
// so this library stands in for both: camwire opens it in place of libc
// (CAMWIRE_LIBC=/path/fake_camera.so, see server/sys/libc.ts), or ffmpeg gets
// it through LD_PRELOAD, and it defines open, open64, close, ioctl, poll,
// mmap, mmap64 and munmap. Every other symbol, and every call on a path or
// fd that is not a fake camera, goes to the real libc.
//
// A fake camera is a regular file whose first line is
// "camwire-fake-camera", then key=value lines (testing/fake_camera.ts
// writes them):
//
//   card=NAME                 what VIDIOC_QUERYCAP reports
//   mode=FOURCC WxH FPS [FILE] a mode; MJPG modes take their JPEGs from
//                             FILE (u32 little-endian length + JPEG, again
//                             and again; a FIFO is read live, one record
//                             per frame, as it comes); raw modes (YUYV)
//                             are painted here
//   strip_dht=1               JPEGs lose their Huffman tables (as many UVC
//                             cameras send them)
//   truncate_every=N          every Nth frame is cut short (no EOI)
//   open_errno=N              open() fails with errno N (16: EBUSY)
//   unplug_after=N            after N frames, poll reports POLLERR and
//                             DQBUF fails with ENODEV (each open counts anew:
//                             the camera is "plugged back in")
//   stall_after=N             after N frames, no frame is ever ready
//   fail_ioctl=REQUEST ERRNO  that ioctl request (decimal) fails with ERRNO
//   trace=1                   print every call on the fake to stderr
//
// The device fd is a real memfd named "camwire-fake-camera:<file name>",
// so that leaked fds show in /proc/self/fd and leaked buffer mappings in
// /proc/self/maps, exactly as a real device's would.

#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/videodev2.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

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

static cam_t cams[MAX_CAMS];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static int (*real_open)(const char *, int, ...);
static int (*real_close)(int);
static int (*real_ioctl)(int, unsigned long, ...);
static int (*real_poll)(struct pollfd *, nfds_t, int);
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

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void sleep_ns(uint64_t ns) {
  struct timespec ts = {ns / 1000000000ull, ns % 1000000000ull};
  nanosleep(&ts, NULL);
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

static void free_frames(cam_t *c) {
  for (int i = 0; i < c->nframes; i++) free(c->frames[i].data);
  c->nframes = 0;
  free(c->pending.data);
  c->pending.data = NULL;
  if (c->live_fd >= 0) real_close(c->live_fd);
  c->live_fd = -1;
}

// Loads the JPEGs of the mode set: all of a file, or none of a FIFO.
static void load_frames(cam_t *c) {
  free_frames(c);
  mode_t_ *m = &c->modes[c->mode];
  if (m->file[0] == 0) return;
  int fd = real_open(m->file, O_RDONLY | O_CLOEXEC);
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
  strcpy(c->card, "Emulated Camera");
  snprintf(c->path, sizeof c->path, "%s", path);
  while (fgets(line, sizeof line, f) != NULL) {
    line[strcspn(line, "\n")] = 0;
    char *value = strchr(line, '=');
    if (value == NULL) continue;
    *value++ = 0;
    if (strcmp(line, "card") == 0) {
      snprintf(c->card, sizeof c->card, "%s", value);
    } else if (strcmp(line, "mode") == 0 && c->nmodes < MAX_MODES) {
      mode_t_ *m = &c->modes[c->nmodes];
      char fourcc[8] = {0};
      m->file[0] = 0;
      if (sscanf(value, "%4s %ux%u %u %511s", fourcc, &m->width, &m->height,
                 &m->fps, m->file) >= 4) {
        m->fourcc = fourcc_of(fourcc);
        c->nmodes++;
      }
    } else if (strcmp(line, "strip_dht") == 0) {
      c->strip_dht = atoi(value);
    } else if (strcmp(line, "truncate_every") == 0) {
      c->truncate_every = atoi(value);
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
    }
  }
  fclose(f);
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
  const char *base = strrchr(path, '/');
  char name[256];
  snprintf(name, sizeof name, "camwire-fake-camera:%s", base ? base + 1 : path);
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

static const char *request_name(unsigned long r) {
  switch (r) {
    case VIDIOC_QUERYCAP: return "QUERYCAP";
    case VIDIOC_ENUM_FMT: return "ENUM_FMT";
    case VIDIOC_ENUM_FRAMESIZES: return "ENUM_FRAMESIZES";
    case VIDIOC_ENUM_FRAMEINTERVALS: return "ENUM_FRAMEINTERVALS";
    case VIDIOC_G_FMT: return "G_FMT";
    case VIDIOC_S_FMT: return "S_FMT";
    case VIDIOC_G_PARM: return "G_PARM";
    case VIDIOC_S_PARM: return "S_PARM";
    case VIDIOC_REQBUFS: return "REQBUFS";
    case VIDIOC_QUERYBUF: return "QUERYBUF";
    case VIDIOC_QBUF: return "QBUF";
    case VIDIOC_DQBUF: return "DQBUF";
    case VIDIOC_STREAMON: return "STREAMON";
    case VIDIOC_STREAMOFF: return "STREAMOFF";
    default: return "?";
  }
}

// Distinct FourCCs in mode order.
static int formats(cam_t *c, uint32_t *out) {
  int n = 0;
  for (int i = 0; i < c->nmodes; i++) {
    int seen = 0;
    for (int j = 0; j < n; j++) seen |= out[j] == c->modes[i].fourcc;
    if (!seen) out[n++] = c->modes[i].fourcc;
  }
  return n;
}

static void set_pix(cam_t *c, struct v4l2_pix_format *pix) {
  mode_t_ *m = &c->modes[c->mode];
  pix->width = m->width;
  pix->height = m->height;
  pix->pixelformat = m->fourcc;
  pix->field = V4L2_FIELD_NONE;
  int raw = m->fourcc != V4L2_PIX_FMT_MJPEG;
  pix->bytesperline = raw ? m->width * 2 : 0;
  pix->sizeimage = m->width * m->height * 2;
  pix->colorspace = raw ? V4L2_COLORSPACE_SRGB : V4L2_COLORSPACE_JPEG;
}

static int closest_mode(cam_t *c, struct v4l2_pix_format *pix) {
  int best = -1;
  long best_cost = 0;
  for (int i = 0; i < c->nmodes; i++) {
    if (c->modes[i].fourcc != pix->pixelformat) continue;
    long cost = labs((long)c->modes[i].width - pix->width) +
                labs((long)c->modes[i].height - pix->height);
    if (best < 0 || cost < best_cost) best = i, best_cost = cost;
  }
  // Like a real driver: an unknown format becomes the first one offered.
  return best < 0 ? 0 : best;
}

// Paints the next frame into buffer `index`; returns its bytesused.
static uint32_t fill(cam_t *c, uint32_t index, uint32_t *flags) {
  mode_t_ *m = &c->modes[c->mode];
  uint8_t *out = malloc(c->bufsize);
  uint32_t used = 0;
  *flags = 0;
  if (m->fourcc == V4L2_PIX_FMT_MJPEG) {
    frame_t *f = NULL;
    if (c->live_fd >= 0) {
      f = &c->pending;
    } else if (c->nframes > 0) {
      f = &c->frames[c->next_frame++ % c->nframes];
    }
    if (f != NULL && f->data != NULL) {
      used = f->size < c->bufsize ? f->size : c->bufsize;
      memcpy(out, f->data, used);
    }
    if (c->live_fd >= 0) {
      free(c->pending.data);
      c->pending.data = NULL;
    }
    if (c->truncate_every > 0 &&
        c->sequence % c->truncate_every == (uint32_t)c->truncate_every - 1) {
      used = used * 6 / 10;  // cut mid-scan: no EOI
    }
  } else {
    // YUYV: a gray ramp that moves one pixel a frame, neutral chroma.
    used = m->width * m->height * 2;
    for (uint32_t y = 0; y < m->height; y++) {
      uint8_t *row = out + y * m->width * 2;
      for (uint32_t x = 0; x < m->width; x++) {
        row[2 * x] = (uint8_t)(x + y + c->sequence);
        row[2 * x + 1] = 128;
      }
    }
  }
  pwrite(c->fd, out, used, (off_t)index * c->bufsize);
  free(out);
  return used;
}

// Whether a frame can be dequeued now; reads a live record if one waits.
static int frame_ready(cam_t *c) {
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

static int any_queued(cam_t *c) {
  for (uint32_t i = 0; i < c->nbufs; i++) {
    if (c->queued[i]) return 1;
  }
  return 0;
}

static int unplugged(cam_t *c) {
  return c->unplug_after > 0 && c->sequence >= (uint32_t)c->unplug_after;
}

static int dqbuf(cam_t *c, struct v4l2_buffer *b) {
  if (!c->streaming) return EINVAL;
  if (unplugged(c)) return ENODEV;
  while (!any_queued(c) || !frame_ready(c)) {
    if (c->nonblock) return EAGAIN;
    pthread_mutex_unlock(&lock);
    sleep_ns(2000000);
    pthread_mutex_lock(&lock);
    if (!c->streaming) return EINVAL;
    if (unplugged(c)) return ENODEV;
  }
  uint32_t index = 0;
  while (!c->queued[index]) index++;
  uint32_t flags;
  uint32_t used = fill(c, index, &flags);
  c->queued[index] = 0;
  uint64_t period = 1000000000ull / c->modes[c->mode].fps;
  uint64_t now = now_ns();
  // A camera that was not asked for frames in time skips ahead.
  c->next_due_ns = c->next_due_ns + period < now ? now + period
                                                 : c->next_due_ns + period;
  memset(b, 0, sizeof *b);
  b->index = index;
  b->type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
  b->memory = V4L2_MEMORY_MMAP;
  b->bytesused = used;
  b->flags = flags | V4L2_BUF_FLAG_MAPPED | V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC;
  b->field = V4L2_FIELD_NONE;
  b->timestamp.tv_sec = now / 1000000000ull;
  b->timestamp.tv_usec = now % 1000000000ull / 1000;
  b->sequence = c->sequence++;
  b->m.offset = index * c->bufsize;
  b->length = c->bufsize;
  return 0;
}

static int fake_ioctl(cam_t *c, unsigned long r, void *arg) {
  if (c->fail_request != 0 && r == c->fail_request) return c->fail_errno;
  switch (r) {
    case VIDIOC_QUERYCAP: {
      struct v4l2_capability *cap = arg;
      memset(cap, 0, sizeof *cap);
      strcpy((char *)cap->driver, "fakecam");
      snprintf((char *)cap->card, sizeof cap->card, "%s", c->card);
      strcpy((char *)cap->bus_info, "platform:fakecam");
      cap->version = 0x060100;
      cap->device_caps = V4L2_CAP_VIDEO_CAPTURE | V4L2_CAP_STREAMING;
      cap->capabilities = cap->device_caps | V4L2_CAP_DEVICE_CAPS;
      return 0;
    }
    case VIDIOC_ENUM_FMT: {
      struct v4l2_fmtdesc *d = arg;
      uint32_t list[MAX_MODES];
      int n = formats(c, list);
      if (d->type != V4L2_BUF_TYPE_VIDEO_CAPTURE || d->index >= (uint32_t)n) {
        return EINVAL;
      }
      uint32_t fourcc = list[d->index];
      memset(&d->flags, 0, sizeof *d - 8);
      d->pixelformat = fourcc;
      d->flags = fourcc == V4L2_PIX_FMT_MJPEG ? V4L2_FMT_FLAG_COMPRESSED : 0;
      strcpy((char *)d->description,
             fourcc == V4L2_PIX_FMT_MJPEG ? "Motion-JPEG" : "YUYV 4:2:2");
      return 0;
    }
    case VIDIOC_ENUM_FRAMESIZES: {
      struct v4l2_frmsizeenum *e = arg;
      uint32_t k = 0;
      for (int i = 0; i < c->nmodes; i++) {
        if (c->modes[i].fourcc != e->pixel_format) continue;
        if (k++ == e->index) {
          e->type = V4L2_FRMSIZE_TYPE_DISCRETE;
          e->discrete.width = c->modes[i].width;
          e->discrete.height = c->modes[i].height;
          return 0;
        }
      }
      return EINVAL;
    }
    case VIDIOC_ENUM_FRAMEINTERVALS: {
      struct v4l2_frmivalenum *e = arg;
      for (int i = 0; i < c->nmodes; i++) {
        mode_t_ *m = &c->modes[i];
        if (m->fourcc != e->pixel_format || m->width != e->width ||
            m->height != e->height) {
          continue;
        }
        // Each mode offers its rate and half of it, as UVC cameras do.
        if (e->index > 1) return EINVAL;
        e->type = V4L2_FRMIVAL_TYPE_DISCRETE;
        e->discrete.numerator = 1;
        e->discrete.denominator = e->index == 0 ? m->fps : m->fps / 2;
        return 0;
      }
      return EINVAL;
    }
    case VIDIOC_G_FMT:
    case VIDIOC_S_FMT:
    case VIDIOC_TRY_FMT: {
      struct v4l2_format *f = arg;
      if (f->type != V4L2_BUF_TYPE_VIDEO_CAPTURE) return EINVAL;
      if (r != VIDIOC_G_FMT) {
        if (c->streaming) return EBUSY;
        int mode = closest_mode(c, &f->fmt.pix);
        if (r == VIDIOC_TRY_FMT) {
          int saved = c->mode;
          c->mode = mode;
          set_pix(c, &f->fmt.pix);
          c->mode = saved;
          return 0;
        }
        c->mode = mode;
      }
      set_pix(c, &f->fmt.pix);
      return 0;
    }
    case VIDIOC_G_PARM:
    case VIDIOC_S_PARM: {
      struct v4l2_streamparm *p = arg;
      if (p->type != V4L2_BUF_TYPE_VIDEO_CAPTURE) return EINVAL;
      memset(&p->parm, 0, sizeof p->parm);
      p->parm.capture.capability = V4L2_CAP_TIMEPERFRAME;
      p->parm.capture.timeperframe.numerator = 1;
      p->parm.capture.timeperframe.denominator = c->modes[c->mode].fps;
      return 0;
    }
    case VIDIOC_G_INPUT: {
      *(int *)arg = 0;
      return 0;
    }
    case VIDIOC_S_INPUT:
      return *(int *)arg == 0 ? 0 : EINVAL;
    case VIDIOC_ENUMINPUT: {
      struct v4l2_input *in = arg;
      if (in->index != 0) return EINVAL;
      memset(in, 0, sizeof *in);
      strcpy((char *)in->name, "Camera 1");
      in->type = V4L2_INPUT_TYPE_CAMERA;
      return 0;
    }
    case VIDIOC_REQBUFS: {
      struct v4l2_requestbuffers *q = arg;
      if (q->type != V4L2_BUF_TYPE_VIDEO_CAPTURE ||
          q->memory != V4L2_MEMORY_MMAP) {
        return EINVAL;
      }
      if (c->streaming) return EBUSY;
      uint32_t n = q->count > MAX_BUFS ? MAX_BUFS : q->count;
      mode_t_ *m = &c->modes[c->mode];
      long page = sysconf(_SC_PAGESIZE);
      c->bufsize = (m->width * m->height * 2 + page - 1) / page * page;
      c->nbufs = n;
      memset(c->queued, 0, sizeof c->queued);
      if (ftruncate(c->fd, (off_t)n * c->bufsize) != 0) return ENOMEM;
      if (n > 0) load_frames(c);
      q->count = n;
      q->capabilities = V4L2_BUF_CAP_SUPPORTS_MMAP;
      return 0;
    }
    case VIDIOC_QUERYBUF:
    case VIDIOC_QBUF: {
      struct v4l2_buffer *b = arg;
      if (b->type != V4L2_BUF_TYPE_VIDEO_CAPTURE || b->index >= c->nbufs) {
        return EINVAL;
      }
      if (r == VIDIOC_QBUF) {
        if (c->queued[b->index]) return EINVAL;
        c->queued[b->index] = 1;
      }
      b->memory = V4L2_MEMORY_MMAP;
      b->m.offset = b->index * c->bufsize;
      b->length = c->bufsize;
      b->flags = V4L2_BUF_FLAG_MAPPED | (c->queued[b->index] ? V4L2_BUF_FLAG_QUEUED : 0);
      return 0;
    }
    case VIDIOC_DQBUF:
      return dqbuf(c, arg);
    case VIDIOC_STREAMON:
      if (c->nbufs == 0) return EINVAL;
      c->streaming = 1;
      c->next_due_ns = now_ns() + 1000000000ull / c->modes[c->mode].fps;
      return 0;
    case VIDIOC_STREAMOFF:
      c->streaming = 0;
      memset(c->queued, 0, sizeof c->queued);
      return 0;
    case VIDIOC_S_CTRL:
    case VIDIOC_G_CTRL:
    case VIDIOC_QUERYCTRL:
    case VIDIOC_G_STD:
    default:
      return ENOTTY;
  }
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
  int code = fake_ioctl(c, request, arg);
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
    int ok = c->bufsize > 0 && off % c->bufsize == 0 &&
             (uint64_t)off / c->bufsize < c->nbufs && len <= c->bufsize;
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
