// Copyright 2026 the camwire authors. MIT license.
//
// The emulated camera's controls (FOR TESTS ONLY; see fake_camera.c for the
// control= and menu= keys): VIDIOC_QUERYCTRL and VIDIOC_QUERY_EXT_CTRL
// (with V4L2_CTRL_FLAG_NEXT_CTRL), VIDIOC_QUERYMENU, VIDIOC_G_CTRL and
// VIDIOC_S_CTRL, answered as the kernel's control framework does: class
// headers and disabled controls are listed, an integer is clamped to its
// range and step, a menu index without an item is EINVAL, a read-only
// control EACCES. Values are kept per device file, so that a second open
// (the server's GET /controls beside its capture) sees what the first set.

#include "fake_camera.h"  // first: it defines _GNU_SOURCE

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Values set, per device file, for the whole process.
static struct {
  char path[512];
  uint32_t id[MAX_CTRLS];
  int32_t value[MAX_CTRLS];
  int n;
} saved[MAX_CAMS];

static uint32_t type_named(const char *name) {
  if (strcmp(name, "int") == 0) return V4L2_CTRL_TYPE_INTEGER;
  if (strcmp(name, "bool") == 0) return V4L2_CTRL_TYPE_BOOLEAN;
  if (strcmp(name, "menu") == 0) return V4L2_CTRL_TYPE_MENU;
  if (strcmp(name, "intmenu") == 0) return V4L2_CTRL_TYPE_INTEGER_MENU;
  if (strcmp(name, "button") == 0) return V4L2_CTRL_TYPE_BUTTON;
  if (strcmp(name, "int64") == 0) return V4L2_CTRL_TYPE_INTEGER64;
  if (strcmp(name, "class") == 0) return V4L2_CTRL_TYPE_CTRL_CLASS;
  return 0;
}

int parse_control(cam_t *c, const char *value) {
  if (c->nctrls >= MAX_CTRLS) return -1;
  ctrl_t *k = &c->ctrls[c->nctrls];
  char type[16] = {0};
  int name_at = 0;
  memset(k, 0, sizeof *k);
  if (sscanf(value, "%x %15s %d %d %d %d %u %n", &k->id, type, &k->min,
             &k->max, &k->step, &k->def, &k->flags, &name_at) < 7 ||
      name_at == 0 || (k->type = type_named(type)) == 0) {
    return -1;
  }
  snprintf(k->name, sizeof k->name, "%s", value + name_at);
  k->value = k->def;
  c->nctrls++;
  return 0;
}

int parse_menu(cam_t *c, const char *value) {
  if (c->nmenus >= MAX_MENUS) return -1;
  menu_t *m = &c->menus[c->nmenus];
  int name_at = 0;
  if (sscanf(value, "%x %u %n", &m->id, &m->index, &name_at) < 2 ||
      name_at == 0) {
    return -1;
  }
  snprintf(m->name, sizeof m->name, "%s", value + name_at);
  c->nmenus++;
  return 0;
}

// Keeps the values of c's controls for the next open of its file.
void save_controls(cam_t *c) {
  int slot = -1;
  for (int i = 0; i < MAX_CAMS && slot < 0; i++) {
    if (strcmp(saved[i].path, c->path) == 0) slot = i;
  }
  for (int i = 0; i < MAX_CAMS && slot < 0; i++) {
    if (saved[i].path[0] == 0) slot = i;
  }
  if (slot < 0) return;
  snprintf(saved[slot].path, sizeof saved[slot].path, "%s", c->path);
  saved[slot].n = c->nctrls;
  for (int i = 0; i < c->nctrls; i++) {
    saved[slot].id[i] = c->ctrls[i].id;
    saved[slot].value[i] = c->ctrls[i].value;
  }
}

// Gives c's controls the values a former open of its file set.
void restore_controls(cam_t *c) {
  for (int i = 0; i < MAX_CAMS; i++) {
    if (strcmp(saved[i].path, c->path) != 0) continue;
    for (int j = 0; j < saved[i].n; j++) {
      for (int k = 0; k < c->nctrls; k++) {
        if (c->ctrls[k].id == saved[i].id[j]) {
          c->ctrls[k].value = saved[i].value[j];
        }
      }
    }
  }
}

// The control with this id, or with NEXT_CTRL the first one after it.
static ctrl_t *find(cam_t *c, uint32_t id) {
  uint32_t next = id & (V4L2_CTRL_FLAG_NEXT_CTRL | V4L2_CTRL_FLAG_NEXT_COMPOUND);
  id &= ~(V4L2_CTRL_FLAG_NEXT_CTRL | V4L2_CTRL_FLAG_NEXT_COMPOUND);
  ctrl_t *found = NULL;
  for (int i = 0; i < c->nctrls; i++) {
    ctrl_t *k = &c->ctrls[i];
    if (next ? k->id > id && (found == NULL || k->id < found->id)
             : k->id == id) {
      found = k;
    }
  }
  return found;
}

static int has_item(cam_t *c, ctrl_t *k, int32_t index) {
  for (int i = 0; i < c->nmenus; i++) {
    if (c->menus[i].id == k->id && c->menus[i].index == (uint32_t)index) {
      return 1;
    }
  }
  return 0;
}

// What S_CTRL makes of a value, or an errno.
static int validate(cam_t *c, ctrl_t *k, int32_t *value) {
  if (k->flags & V4L2_CTRL_FLAG_DISABLED) return EINVAL;
  if (k->type == V4L2_CTRL_TYPE_CTRL_CLASS) return EACCES;
  if (k->flags & V4L2_CTRL_FLAG_READ_ONLY) return EACCES;
  switch (k->type) {
    case V4L2_CTRL_TYPE_BOOLEAN:
      *value = *value != 0;
      return 0;
    case V4L2_CTRL_TYPE_MENU:
    case V4L2_CTRL_TYPE_INTEGER_MENU:
      return *value < k->min || *value > k->max || !has_item(c, k, *value)
                 ? EINVAL
                 : 0;
    case V4L2_CTRL_TYPE_BUTTON:
      *value = 0;
      return 0;
    default: {
      // As the framework's ROUND_TO_RANGE: clamp, then the nearest step.
      int64_t v = *value < k->min ? k->min : *value > k->max ? k->max : *value;
      int64_t step = k->step > 0 ? k->step : 1;
      v = k->min + (v - k->min + step / 2) / step * step;
      *value = (int32_t)(v > k->max ? v - step : v);
      return 0;
    }
  }
}

int control_ioctl(cam_t *c, unsigned long r, void *arg) {
  switch (r) {
    case VIDIOC_QUERYCTRL: {
      struct v4l2_queryctrl *q = arg;
      ctrl_t *k = find(c, q->id);
      if (k == NULL) return EINVAL;
      memset(q, 0, sizeof *q);
      q->id = k->id;
      q->type = k->type;
      snprintf((char *)q->name, sizeof q->name, "%s", k->name);
      q->minimum = k->min;
      q->maximum = k->max;
      q->step = k->step;
      q->default_value = k->def;
      q->flags = k->flags;
      return 0;
    }
    case VIDIOC_QUERY_EXT_CTRL: {
      if (!c->ext_ctrls) return ENOTTY;
      struct v4l2_query_ext_ctrl *q = arg;
      ctrl_t *k = find(c, q->id);
      if (k == NULL) return EINVAL;
      memset(q, 0, sizeof *q);
      q->id = k->id;
      q->type = k->type;
      snprintf(q->name, sizeof q->name, "%s", k->name);
      q->minimum = k->min;
      q->maximum = k->max;
      q->step = k->step;
      q->default_value = k->def;
      q->flags = k->flags;
      q->elem_size = 4;
      q->elems = 1;
      return 0;
    }
    case VIDIOC_QUERYMENU: {
      struct v4l2_querymenu *m = arg;
      ctrl_t *k = find(c, m->id);
      if (k == NULL || (k->type != V4L2_CTRL_TYPE_MENU &&
                        k->type != V4L2_CTRL_TYPE_INTEGER_MENU)) {
        return EINVAL;
      }
      for (int i = 0; i < c->nmenus; i++) {
        menu_t *item = &c->menus[i];
        if (item->id != m->id || item->index != m->index) continue;
        if ((int32_t)m->index < k->min || (int32_t)m->index > k->max) break;
        memset(m->name, 0, sizeof m->name);
        if (k->type == V4L2_CTRL_TYPE_INTEGER_MENU) {
          m->value = atoll(item->name);
        } else {
          snprintf((char *)m->name, sizeof m->name, "%s", item->name);
        }
        return 0;
      }
      return EINVAL;
    }
    case VIDIOC_G_CTRL: {
      struct v4l2_control *g = arg;
      ctrl_t *k = find(c, g->id);
      if (k == NULL || (k->flags & V4L2_CTRL_FLAG_DISABLED) ||
          k->type == V4L2_CTRL_TYPE_CTRL_CLASS) {
        return EINVAL;
      }
      if (k->flags & V4L2_CTRL_FLAG_WRITE_ONLY) return EACCES;
      g->value = k->value;
      return 0;
    }
    case VIDIOC_S_CTRL: {
      struct v4l2_control *s = arg;
      ctrl_t *k = find(c, s->id);
      if (k == NULL) return EINVAL;
      int32_t value = s->value;
      int code = validate(c, k, &value);
      if (code != 0) return code;
      k->value = value;
      s->value = value;
      save_controls(c);
      return 0;
    }
    default:
      return ENOTTY;
  }
}
