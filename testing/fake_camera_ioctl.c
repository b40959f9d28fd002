// Copyright 2026 the camwire authors. MIT license.
//
// The emulated camera's V4L2 requests (FOR TESTS ONLY; see fake_camera.c):
// what each ioctl on a fake camera's fd answers, as a driver would:
// identity, formats, sizes and intervals (discrete or ranges), the format
// (single- or multi-planar), buffers and streaming. Controls are in
// fake_camera_controls.c.

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
    case VIDIOC_QUERYCTRL: return "QUERYCTRL";
    case VIDIOC_QUERY_EXT_CTRL: return "QUERY_EXT_CTRL";
    case VIDIOC_QUERYMENU: return "QUERYMENU";
    case VIDIOC_G_CTRL: return "G_CTRL";
    case VIDIOC_S_CTRL: return "S_CTRL";
    default: return "?";
  }
}

static int compressed(uint32_t fourcc) {
  return fourcc == V4L2_PIX_FMT_MJPEG || fourcc == V4L2_PIX_FMT_JPEG ||
         fourcc == V4L2_PIX_FMT_H264;
}

// Bits per pixel of a raw format (a compressed one's buffers hold 16).
static uint32_t bits_per_pixel(uint32_t fourcc) {
  switch (fourcc) {
    case V4L2_PIX_FMT_NV12:
    case V4L2_PIX_FMT_NV21:
    case V4L2_PIX_FMT_NV12M:
    case V4L2_PIX_FMT_YUV420:
    case V4L2_PIX_FMT_YVU420:
      return 12;
    case V4L2_PIX_FMT_RGB24:
    case V4L2_PIX_FMT_BGR24:
      return 24;
    case V4L2_PIX_FMT_BGR32:
    case V4L2_PIX_FMT_XBGR32:
      return 32;
    case V4L2_PIX_FMT_GREY:
      return 8;
    default:
      return 16;
  }
}

static const char *description(uint32_t fourcc) {
  switch (fourcc) {
    case V4L2_PIX_FMT_MJPEG: return "Motion-JPEG";
    case V4L2_PIX_FMT_JPEG: return "JFIF JPEG";
    case V4L2_PIX_FMT_H264: return "H.264";
    case V4L2_PIX_FMT_YUYV: return "YUYV 4:2:2";
    case V4L2_PIX_FMT_NV12: return "Y/UV 4:2:0";
    case V4L2_PIX_FMT_NV12M: return "Y/UV 4:2:0 (N-C)";
    default: return "Raw";
  }
}

static range_t *range_of(cam_t *c, uint32_t fourcc) {
  for (int i = 0; i < c->nranges; i++) {
    if (c->ranges[i].fourcc == fourcc) return &c->ranges[i];
  }
  return NULL;
}

// A size in a range: clamped, then rounded to the step from the minimum.
static uint32_t fit(uint32_t v, uint32_t min, uint32_t max, uint32_t step) {
  if (v < min) v = min;
  if (v > max) v = max;
  uint32_t out = min + (v - min + step / 2) / step * step;
  return out > max ? out - step : out;
}

static int is_size(cam_t *c, uint32_t fourcc, uint32_t w, uint32_t h) {
  range_t *r = range_of(c, fourcc);
  if (r != NULL) {
    return w >= r->minw && w <= r->maxw && h >= r->minh && h <= r->maxh &&
           (w - r->minw) % r->stepw == 0 && (h - r->minh) % r->steph == 0;
  }
  for (int i = 0; i < c->nmodes; i++) {
    mode_t_ *m = &c->modes[i];
    if (m->fourcc == fourcc && m->width == w && m->height == h) return 1;
  }
  return 0;
}

// Sets the format as a driver would take it: an unknown FourCC becomes the
// first one offered; a range format takes the size rounded into its range,
// a discrete one its closest mode (0x0: the first). Also lays out the
// planes and says where the JPEGs come from.
void set_format(cam_t *c, uint32_t fourcc, uint32_t width, uint32_t height) {
  int offered = 0;
  for (int i = 0; i < c->nfmts; i++) offered |= c->fmts[i] == fourcc;
  if (fourcc == V4L2_PIX_FMT_NV12M && !c->mplane) offered = 0;
  if (!offered) fourcc = c->fmts[0];
  c->fourcc = fourcc;
  c->file[0] = 0;
  range_t *r = range_of(c, fourcc);
  if (r != NULL) {
    // Like the bcm2835 camera: 1024x768 until asked for a size.
    if (width == 0) width = 1024, height = 768;
    c->width = fit(width, r->minw, r->maxw, r->stepw);
    c->height = fit(height, r->minh, r->maxh, r->steph);
    c->fps = c->range_fps;
    for (int i = 0; i < c->nsized; i++) {
      if (c->sized[i].width == c->width && c->sized[i].height == c->height) {
        snprintf(c->file, sizeof c->file, "%s", c->sized[i].file);
      }
    }
  } else {
    int best = -1;
    long best_cost = 0;
    for (int i = 0; i < c->nmodes; i++) {
      if (c->modes[i].fourcc != fourcc) continue;
      long cost = width == 0 ? 0
                             : labs((long)c->modes[i].width - (long)width) +
                                   labs((long)c->modes[i].height - (long)height);
      if (best < 0 || cost < best_cost) best = i, best_cost = cost;
    }
    mode_t_ *m = &c->modes[best < 0 ? 0 : best];
    c->width = m->width;
    c->height = m->height;
    c->fps = m->fps;
    snprintf(c->file, sizeof c->file, "%s", m->file);
  }
  uint32_t w = c->width, h = c->height;
  long page = sysconf(_SC_PAGESIZE);
  if (fourcc == V4L2_PIX_FMT_NV12M) {
    c->nplanes = 2;
    c->plane_size[0] = w * h;
    c->plane_size[1] = w * h / 2;
    c->bytesperline[0] = c->bytesperline[1] = w;
  } else {
    c->nplanes = 1;
    c->plane_size[0] = w * h * bits_per_pixel(fourcc) / 8;
    uint32_t bits = bits_per_pixel(fourcc);
    // Planar 4:2:0 formats give the Y plane's line.
    c->bytesperline[0] = compressed(fourcc) ? 0 : bits == 12 ? w : w * bits / 8;
  }
  c->bufsize = 0;
  for (uint32_t p = 0; p < c->nplanes; p++) {
    c->plane_stride[p] = (c->plane_size[p] + page - 1) / page * page;
    c->bufsize += c->plane_stride[p];
  }
}

static void get_pix(cam_t *c, struct v4l2_pix_format *pix) {
  memset(pix, 0, sizeof *pix);
  pix->width = c->width;
  pix->height = c->height;
  pix->pixelformat = c->fourcc;
  pix->field = V4L2_FIELD_NONE;
  pix->bytesperline = c->bytesperline[0];
  pix->sizeimage = c->plane_size[0];
  pix->colorspace =
      compressed(c->fourcc) ? V4L2_COLORSPACE_JPEG : V4L2_COLORSPACE_SRGB;
}

static void get_pix_mp(cam_t *c, struct v4l2_pix_format_mplane *mp) {
  memset(mp, 0, sizeof *mp);
  mp->width = c->width;
  mp->height = c->height;
  mp->pixelformat = c->fourcc;
  mp->field = V4L2_FIELD_NONE;
  mp->num_planes = c->nplanes;
  for (uint32_t p = 0; p < c->nplanes; p++) {
    mp->plane_fmt[p].sizeimage = c->plane_size[p];
    mp->plane_fmt[p].bytesperline = c->bytesperline[p];
  }
  mp->colorspace =
      compressed(c->fourcc) ? V4L2_COLORSPACE_JPEG : V4L2_COLORSPACE_SRGB;
}

// S_FMT, TRY_FMT and G_FMT, single- or multi-planar as the node is.
static int format_ioctl(cam_t *c, unsigned long r, struct v4l2_format *f) {
  if (f->type != buf_type(c) || c->meta) return EINVAL;
  if (r != VIDIOC_G_FMT) {
    if (c->streaming && r == VIDIOC_S_FMT) return EBUSY;
    cam_t *saved = malloc(sizeof *c);  // TRY_FMT puts it all back
    if (saved == NULL) return ENOMEM;
    *saved = *c;
    if (c->mplane) {
      set_format(c, f->fmt.pix_mp.pixelformat, f->fmt.pix_mp.width,
                 f->fmt.pix_mp.height);
    } else {
      set_format(c, f->fmt.pix.pixelformat, f->fmt.pix.width,
                 f->fmt.pix.height);
    }
    if (c->mplane) get_pix_mp(c, &f->fmt.pix_mp);
    else get_pix(c, &f->fmt.pix);
    if (r == VIDIOC_TRY_FMT) *c = *saved;
    free(saved);
    return 0;
  }
  if (c->mplane) get_pix_mp(c, &f->fmt.pix_mp);
  else get_pix(c, &f->fmt.pix);
  return 0;
}

// The rate S_PARM takes: within the intervals offered, else the nearest
// of the discrete ones (the format's rate and half of it).
static uint32_t rate_for(cam_t *c, struct v4l2_fract *tpf) {
  if (tpf->numerator == 0 || tpf->denominator == 0) return c->fps;
  double want = (double)tpf->denominator / tpf->numerator;
  intervals_t *i = &c->intervals;
  if (i->type != 0) {
    double fastest = (double)i->min.denominator / i->min.numerator;
    double slowest = (double)i->max.denominator / i->max.numerator;
    if (want > fastest) want = fastest;
    if (want < slowest) want = slowest;
    return (uint32_t)(want + 0.5) > 0 ? (uint32_t)(want + 0.5) : 1;
  }
  uint32_t full = range_of(c, c->fourcc) ? c->range_fps : 0;
  for (int m = 0; m < c->nmodes && full == 0; m++) {
    mode_t_ *mode = &c->modes[m];
    if (mode->fourcc == c->fourcc && mode->width == c->width &&
        mode->height == c->height) {
      full = mode->fps;
    }
  }
  if (full == 0) return c->fps;
  return want * 4 <= full * 3 && full / 2 > 0 ? full / 2 : full;
}

static int parm_ioctl(cam_t *c, unsigned long r, struct v4l2_streamparm *p) {
  if (p->type != buf_type(c) || c->meta) return EINVAL;
  if (r == VIDIOC_S_PARM) c->fps = rate_for(c, &p->parm.capture.timeperframe);
  memset(&p->parm, 0, sizeof p->parm);
  p->parm.capture.capability = V4L2_CAP_TIMEPERFRAME;
  p->parm.capture.timeperframe.numerator = 1;
  p->parm.capture.timeperframe.denominator = c->fps;
  return 0;
}

static int enum_intervals(cam_t *c, struct v4l2_frmivalenum *e) {
  if (!is_size(c, e->pixel_format, e->width, e->height)) return EINVAL;
  intervals_t *i = &c->intervals;
  if (i->type != 0) {
    if (e->index > 0) return EINVAL;
    e->type = i->type;
    e->stepwise.min = i->min;
    e->stepwise.max = i->max;
    e->stepwise.step = i->step;
    return 0;
  }
  uint32_t fps = range_of(c, e->pixel_format) ? c->range_fps : 0;
  for (int m = 0; m < c->nmodes && fps == 0; m++) {
    mode_t_ *mode = &c->modes[m];
    if (mode->fourcc == e->pixel_format && mode->width == e->width &&
        mode->height == e->height) {
      fps = mode->fps;
    }
  }
  // Each size offers its rate and half of it, as UVC cameras do.
  if (e->index > 1 || fps == 0) return EINVAL;
  e->type = V4L2_FRMIVAL_TYPE_DISCRETE;
  e->discrete.numerator = 1;
  e->discrete.denominator = e->index == 0 ? fps : fps / 2;
  return 0;
}

static int enum_sizes(cam_t *c, struct v4l2_frmsizeenum *e) {
  range_t *r = range_of(c, e->pixel_format);
  if (r != NULL) {
    if (e->index > 0) return EINVAL;
    e->type = r->type;
    e->stepwise.min_width = r->minw;
    e->stepwise.max_width = r->maxw;
    e->stepwise.step_width = r->stepw;
    e->stepwise.min_height = r->minh;
    e->stepwise.max_height = r->maxh;
    e->stepwise.step_height = r->steph;
    return 0;
  }
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

static int enum_formats(cam_t *c, struct v4l2_fmtdesc *d) {
  if (d->type != buf_type(c)) return EINVAL;
  uint32_t fourcc;
  if (c->meta) {
    if (d->index > 0) return EINVAL;
    fourcc = v4l2_fourcc('U', 'V', 'C', 'H');
  } else {
    uint32_t list[MAX_MODES];
    uint32_t n = 0;
    for (int i = 0; i < c->nfmts; i++) {
      // Two planes need the multi-planar API.
      if (c->fmts[i] == V4L2_PIX_FMT_NV12M && !c->mplane) continue;
      list[n++] = c->fmts[i];
    }
    if (d->index >= n) return EINVAL;
    fourcc = list[d->index];
  }
  memset(&d->flags, 0, sizeof *d - 8);
  d->pixelformat = fourcc;
  d->flags = compressed(fourcc) ? V4L2_FMT_FLAG_COMPRESSED : 0;
  snprintf((char *)d->description, sizeof d->description, "%s",
           c->meta ? "UVC Payload Header Metadata" : description(fourcc));
  return 0;
}

static int is_mplane_type(uint32_t type) {
  return type == V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE;
}

// Where buffer `index`'s planes are, in the buffer or its planes array.
static int describe_buffer(cam_t *c, struct v4l2_buffer *b) {
  b->memory = V4L2_MEMORY_MMAP;
  b->flags = V4L2_BUF_FLAG_MAPPED |
             (c->queued[b->index] ? V4L2_BUF_FLAG_QUEUED : 0);
  if (!c->mplane) {
    b->m.offset = b->index * c->bufsize;
    b->length = c->plane_size[0];
    return 0;
  }
  // As videobuf2: the array must hold every plane, and at most 8.
  if (b->m.planes == NULL || b->length < c->nplanes ||
      b->length > VIDEO_MAX_PLANES) {
    return EINVAL;
  }
  uint32_t at = b->index * c->bufsize;
  for (uint32_t p = 0; p < c->nplanes; p++) {
    struct v4l2_plane *plane = &b->m.planes[p];
    memset(plane, 0, sizeof *plane);
    plane->length = c->plane_size[p];
    plane->m.mem_offset = at;
    at += c->plane_stride[p];
  }
  b->length = c->nplanes;
  return 0;
}

static int dqbuf(cam_t *c, struct v4l2_buffer *b) {
  if (b->type != buf_type(c)) return EINVAL;
  if (c->mplane && (b->m.planes == NULL || b->length < c->nplanes)) {
    return EINVAL;
  }
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
  uint32_t flags, used[MAX_PLANES] = {0};
  fill(c, index, &flags, used);
  c->queued[index] = 0;
  uint64_t period = 1000000000ull / c->fps;
  uint64_t now = now_ns();
  // A camera that was not asked for frames in time skips ahead.
  c->next_due_ns = c->next_due_ns + period < now ? now + period
                                                 : c->next_due_ns + period;
  struct v4l2_plane *planes = c->mplane ? b->m.planes : NULL;
  memset(b, 0, sizeof *b);
  b->index = index;
  b->type = buf_type(c);
  b->field = V4L2_FIELD_NONE;
  b->timestamp.tv_sec = now / 1000000000ull;
  b->timestamp.tv_usec = now % 1000000000ull / 1000;
  b->sequence = c->sequence++;
  if (planes != NULL) b->m.planes = planes, b->length = c->nplanes;
  describe_buffer(c, b);
  b->flags = flags | V4L2_BUF_FLAG_MAPPED | V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC;
  if (c->mplane) {
    // Multi-planar: the payload is per plane; the buffer's own is unused.
    for (uint32_t p = 0; p < c->nplanes; p++) b->m.planes[p].bytesused = used[p];
  } else {
    b->bytesused = used[0];
  }
  return 0;
}

static int reqbufs(cam_t *c, struct v4l2_requestbuffers *q) {
  if (q->type != buf_type(c) || c->meta || q->memory != V4L2_MEMORY_MMAP) {
    return EINVAL;
  }
  if (c->streaming) return EBUSY;
  uint32_t n = q->count > MAX_BUFS ? MAX_BUFS : q->count;
  c->nbufs = n;
  memset(c->queued, 0, sizeof c->queued);
  if (ftruncate(c->fd, (off_t)n * c->bufsize) != 0) return ENOMEM;
  if (n > 0) load_frames(c);
  q->count = n;
  q->capabilities = V4L2_BUF_CAP_SUPPORTS_MMAP;
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
      if (c->meta) {
        // As uvc_metadata.c: the device's capabilities (its video node's
        // included), and this node's own.
        cap->device_caps = V4L2_CAP_META_CAPTURE | V4L2_CAP_STREAMING;
        cap->capabilities = V4L2_CAP_DEVICE_CAPS | V4L2_CAP_STREAMING |
                            V4L2_CAP_VIDEO_CAPTURE | V4L2_CAP_META_CAPTURE;
        return 0;
      }
      cap->device_caps = (c->mplane ? V4L2_CAP_VIDEO_CAPTURE_MPLANE
                                    : V4L2_CAP_VIDEO_CAPTURE) |
                         V4L2_CAP_STREAMING;
      cap->capabilities = cap->device_caps | V4L2_CAP_DEVICE_CAPS;
      return 0;
    }
    case VIDIOC_ENUM_FMT:
      return enum_formats(c, arg);
    case VIDIOC_ENUM_FRAMESIZES:
      return c->meta ? EINVAL : enum_sizes(c, arg);
    case VIDIOC_ENUM_FRAMEINTERVALS:
      return c->meta ? EINVAL : enum_intervals(c, arg);
    case VIDIOC_G_FMT:
    case VIDIOC_S_FMT:
    case VIDIOC_TRY_FMT:
      return format_ioctl(c, r, arg);
    case VIDIOC_G_PARM:
    case VIDIOC_S_PARM:
      return parm_ioctl(c, r, arg);
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
    case VIDIOC_REQBUFS:
      return reqbufs(c, arg);
    case VIDIOC_QUERYBUF:
    case VIDIOC_QBUF: {
      struct v4l2_buffer *b = arg;
      if (b->type != buf_type(c) || b->index >= c->nbufs) return EINVAL;
      if (r == VIDIOC_QBUF) {
        if (c->queued[b->index]) return EINVAL;
        if (is_mplane_type(b->type) &&
            (b->m.planes == NULL || b->length < c->nplanes)) {
          return EINVAL;
        }
        c->queued[b->index] = 1;
      }
      return describe_buffer(c, b);
    }
    case VIDIOC_DQBUF:
      return dqbuf(c, arg);
    case VIDIOC_STREAMON:
      if (*(uint32_t *)arg != buf_type(c) || c->nbufs == 0) return EINVAL;
      c->streaming = 1;
      c->next_due_ns = now_ns() + 1000000000ull / c->fps;
      return 0;
    case VIDIOC_STREAMOFF:
      if (*(uint32_t *)arg != buf_type(c)) return EINVAL;
      c->streaming = 0;
      memset(c->queued, 0, sizeof c->queued);
      return 0;
    case VIDIOC_QUERYCTRL:
    case VIDIOC_QUERY_EXT_CTRL:
    case VIDIOC_QUERYMENU:
    case VIDIOC_G_CTRL:
    case VIDIOC_S_CTRL:
      return control_ioctl(c, r, arg);
    case VIDIOC_G_STD:
    default:
      return ENOTTY;
  }
}
