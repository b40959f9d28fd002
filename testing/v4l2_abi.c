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
  NUM(VIDIOC_G_CTRL);
  NUM(VIDIOC_QUERYCTRL);
  NUM(VIDIOC_QUERY_EXT_CTRL);
  NUM(VIDIOC_QUERYMENU);
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
  OFF(v4l2_frmsizeenum, stepwise);
  OFF(v4l2_frmsize_stepwise, min_width);
  OFF(v4l2_frmsize_stepwise, max_width);
  OFF(v4l2_frmsize_stepwise, step_width);
  OFF(v4l2_frmsize_stepwise, min_height);
  OFF(v4l2_frmsize_stepwise, max_height);
  OFF(v4l2_frmsize_stepwise, step_height);
  SIZE(v4l2_frmivalenum);
  OFF(v4l2_frmivalenum, index);
  OFF(v4l2_frmivalenum, pixel_format);
  OFF(v4l2_frmivalenum, width);
  OFF(v4l2_frmivalenum, height);
  OFF(v4l2_frmivalenum, type);
  OFF(v4l2_frmivalenum, discrete);
  OFF(v4l2_frmivalenum, stepwise);
  OFF(v4l2_frmival_stepwise, min);
  OFF(v4l2_frmival_stepwise, max);
  OFF(v4l2_frmival_stepwise, step);
  SIZE(v4l2_format);
  OFF(v4l2_format, type);
  OFF(v4l2_format, fmt);
  OFF(v4l2_pix_format, width);
  OFF(v4l2_pix_format, height);
  OFF(v4l2_pix_format, pixelformat);
  OFF(v4l2_pix_format, field);
  OFF(v4l2_pix_format, bytesperline);
  OFF(v4l2_pix_format, sizeimage);
  OFF(v4l2_pix_format_mplane, width);
  OFF(v4l2_pix_format_mplane, height);
  OFF(v4l2_pix_format_mplane, pixelformat);
  OFF(v4l2_pix_format_mplane, field);
  OFF(v4l2_pix_format_mplane, plane_fmt);
  OFF(v4l2_pix_format_mplane, num_planes);
  SIZE(v4l2_plane_pix_format);
  OFF(v4l2_plane_pix_format, sizeimage);
  OFF(v4l2_plane_pix_format, bytesperline);
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
  SIZE(v4l2_plane);
  OFF(v4l2_plane, bytesused);
  OFF(v4l2_plane, length);
  OFF(v4l2_plane, m);
  OFF(v4l2_plane, data_offset);
  SIZE(v4l2_control);
  OFF(v4l2_control, id);
  OFF(v4l2_control, value);
  SIZE(v4l2_queryctrl);
  OFF(v4l2_queryctrl, id);
  OFF(v4l2_queryctrl, type);
  OFF(v4l2_queryctrl, name);
  OFF(v4l2_queryctrl, minimum);
  OFF(v4l2_queryctrl, maximum);
  OFF(v4l2_queryctrl, step);
  OFF(v4l2_queryctrl, default_value);
  OFF(v4l2_queryctrl, flags);
  SIZE(v4l2_query_ext_ctrl);
  OFF(v4l2_query_ext_ctrl, id);
  OFF(v4l2_query_ext_ctrl, type);
  OFF(v4l2_query_ext_ctrl, name);
  OFF(v4l2_query_ext_ctrl, minimum);
  OFF(v4l2_query_ext_ctrl, maximum);
  OFF(v4l2_query_ext_ctrl, step);
  OFF(v4l2_query_ext_ctrl, default_value);
  OFF(v4l2_query_ext_ctrl, flags);
  SIZE(v4l2_querymenu);
  OFF(v4l2_querymenu, id);
  OFF(v4l2_querymenu, index);
  OFF(v4l2_querymenu, name);
  OFF(v4l2_querymenu, value);
  NUM(V4L2_BUF_TYPE_VIDEO_CAPTURE);
  NUM(V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE);
  NUM(VIDEO_MAX_PLANES);
  NUM(V4L2_MEMORY_MMAP);
  NUM(V4L2_FIELD_ANY);
  NUM(V4L2_CAP_VIDEO_CAPTURE);
  NUM(V4L2_CAP_VIDEO_CAPTURE_MPLANE);
  NUM(V4L2_CAP_META_CAPTURE);
  NUM(V4L2_CAP_STREAMING);
  NUM(V4L2_CAP_DEVICE_CAPS);
  NUM(V4L2_CAP_TIMEPERFRAME);
  NUM(V4L2_FRMSIZE_TYPE_DISCRETE);
  NUM(V4L2_FRMSIZE_TYPE_CONTINUOUS);
  NUM(V4L2_FRMSIZE_TYPE_STEPWISE);
  NUM(V4L2_FRMIVAL_TYPE_DISCRETE);
  NUM(V4L2_FRMIVAL_TYPE_CONTINUOUS);
  NUM(V4L2_FRMIVAL_TYPE_STEPWISE);
  NUM(V4L2_BUF_FLAG_ERROR);
  NUM(V4L2_CID_JPEG_COMPRESSION_QUALITY);
  NUM(V4L2_CTRL_FLAG_NEXT_CTRL);
  NUM(V4L2_CTRL_FLAG_NEXT_COMPOUND);
  NUM(V4L2_CTRL_FLAG_DISABLED);
  NUM(V4L2_CTRL_FLAG_READ_ONLY);
  NUM(V4L2_CTRL_FLAG_INACTIVE);
  NUM(V4L2_CTRL_FLAG_WRITE_ONLY);
  NUM(V4L2_CTRL_TYPE_INTEGER);
  NUM(V4L2_CTRL_TYPE_BOOLEAN);
  NUM(V4L2_CTRL_TYPE_MENU);
  NUM(V4L2_CTRL_TYPE_BUTTON);
  NUM(V4L2_CTRL_TYPE_INTEGER64);
  NUM(V4L2_CTRL_TYPE_CTRL_CLASS);
  NUM(V4L2_CTRL_TYPE_INTEGER_MENU);
  printf("\n}\n");
  return 0;
}
