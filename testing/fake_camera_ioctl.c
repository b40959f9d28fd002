// Copyright 2026 the camwire authors. MIT license.
//
// The emulated camera's V4L2 requests (FOR TESTS ONLY; see fake_camera.c):
// what each ioctl on a fake camera's fd answers, as a driver would.

#include "fake_camera.h"  // first: it defines _GNU_SOURCE

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *request_name(unsigned long r) {
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

int fake_ioctl(cam_t *c, unsigned long r, void *arg) {
  if (c->fail_request != 0 && r == c->fail_request) return c->fail_errno;
  switch (r) {
    case VIDIOC_QUERYCAP: {
      struct v4l2_capability *cap = arg;
      memset(cap, 0, sizeof *cap);
      snprintf((char *)cap->driver, sizeof cap->driver, "%s", c->driver);
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
