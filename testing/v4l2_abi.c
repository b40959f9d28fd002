// Copyright 2026 the camwire authors. MIT license.
//
// Prints, as one JSON object, every V4L2 ioctl number, struct size, field
// offset and constant that server/camera/v4l2.ts hard-codes, as <linux/videodev2.h>
// (Debian's linux-libc-dev) defines them on this machine. server/camera/v4l2_test.ts
// compiles it with gcc and compares the two, key by key.

#include <linux/videodev2.h>
#include <stddef.h>
#include <stdio.h>

static int first = 1;

static void put(const char *name, unsigned long value) {
  printf("%s\n  \"%s\": %lu", first ? "{" : ",", name, value);
  first = 0;
}

#define NUM(x) put(#x, (unsigned long)(x))
#define SIZE(s) put("sizeof " #s, sizeof(struct s))
#define OFF(s, f) put(#s "." #f, offsetof(struct s, f))

int main(void) {
  NUM(VIDIOC_QUERYCAP);
  NUM(VIDIOC_ENUM_FMT);
  NUM(VIDIOC_S_FMT);
  NUM(VIDIOC_REQBUFS);
  NUM(VIDIOC_QUERYBUF);
  NUM(VIDIOC_QBUF);
  NUM(VIDIOC_DQBUF);
  NUM(VIDIOC_STREAMON);
  NUM(VIDIOC_STREAMOFF);
  NUM(VIDIOC_S_PARM);
  NUM(VIDIOC_S_CTRL);
  NUM(VIDIOC_ENUM_FRAMESIZES);
  NUM(VIDIOC_ENUM_FRAMEINTERVALS);
  SIZE(v4l2_capability);
  OFF(v4l2_capability, driver);
  OFF(v4l2_capability, card);
  OFF(v4l2_capability, bus_info);
  OFF(v4l2_capability, capabilities);
  OFF(v4l2_capability, device_caps);
  SIZE(v4l2_fmtdesc);
  OFF(v4l2_fmtdesc, index);
  OFF(v4l2_fmtdesc, type);
  OFF(v4l2_fmtdesc, flags);
  OFF(v4l2_fmtdesc, description);
  OFF(v4l2_fmtdesc, pixelformat);
  SIZE(v4l2_frmsizeenum);
  OFF(v4l2_frmsizeenum, index);
  OFF(v4l2_frmsizeenum, pixel_format);
  OFF(v4l2_frmsizeenum, type);
  OFF(v4l2_frmsizeenum, discrete);
  SIZE(v4l2_frmivalenum);
  OFF(v4l2_frmivalenum, index);
  OFF(v4l2_frmivalenum, pixel_format);
  OFF(v4l2_frmivalenum, width);
  OFF(v4l2_frmivalenum, height);
  OFF(v4l2_frmivalenum, type);
  OFF(v4l2_frmivalenum, discrete);
  SIZE(v4l2_format);
  OFF(v4l2_format, type);
  OFF(v4l2_format, fmt);
  OFF(v4l2_pix_format, width);
  OFF(v4l2_pix_format, height);
  OFF(v4l2_pix_format, pixelformat);
  OFF(v4l2_pix_format, field);
  OFF(v4l2_pix_format, bytesperline);
  OFF(v4l2_pix_format, sizeimage);
  SIZE(v4l2_streamparm);
  OFF(v4l2_streamparm, parm);
  OFF(v4l2_captureparm, capability);
  OFF(v4l2_captureparm, timeperframe);
  SIZE(v4l2_requestbuffers);
  OFF(v4l2_requestbuffers, count);
  OFF(v4l2_requestbuffers, type);
  OFF(v4l2_requestbuffers, memory);
  SIZE(v4l2_buffer);
  OFF(v4l2_buffer, index);
  OFF(v4l2_buffer, type);
  OFF(v4l2_buffer, bytesused);
  OFF(v4l2_buffer, flags);
  OFF(v4l2_buffer, timestamp);
  OFF(v4l2_buffer, sequence);
  OFF(v4l2_buffer, memory);
  OFF(v4l2_buffer, m);
  OFF(v4l2_buffer, length);
  SIZE(v4l2_control);
  NUM(V4L2_BUF_TYPE_VIDEO_CAPTURE);
  NUM(V4L2_MEMORY_MMAP);
  NUM(V4L2_FIELD_ANY);
  NUM(V4L2_CAP_VIDEO_CAPTURE);
  NUM(V4L2_CAP_STREAMING);
  NUM(V4L2_CAP_DEVICE_CAPS);
  NUM(V4L2_CAP_TIMEPERFRAME);
  NUM(V4L2_FRMSIZE_TYPE_DISCRETE);
  NUM(V4L2_FRMIVAL_TYPE_DISCRETE);
  NUM(V4L2_BUF_FLAG_ERROR);
  NUM(V4L2_CID_JPEG_COMPRESSION_QUALITY);
  printf("\n}\n");
  return 0;
}
