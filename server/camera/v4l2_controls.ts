// Copyright 2026 the camwire authors. MIT license.
/**
 * A V4L2 camera's controls (brightness, exposure, focus, white balance,
 * power-line frequency, …): listed as v4l2-ctl lists them, read and set.
 *
 * - Listing: VIDIOC_QUERY_EXT_CTRL with V4L2_CTRL_FLAG_NEXT_CTRL |
 *   NEXT_COMPOUND, each answer's id with those flags asking for the next;
 *   VIDIOC_QUERYCTRL the same way where the driver has no QUERY_EXT_CTRL
 *   (ENOTTY: kernels before 3.17). Class headers ("User Controls") and
 *   disabled controls are skipped. Menu items with VIDIOC_QUERYMENU, each
 *   index from the minimum to the maximum, holes (EINVAL) skipped.
 * - Names: v4l-utils' rule (`name2var` in v4l2-ctl), see
 *   {@linkcode controlName}; the names Linux used before 5.16 (`exposure_auto`
 *   for `auto_exposure`, …) are aliases by control ID
 *   ({@linkcode CONTROL_ALIASES}), both ways.
 * - Values: VIDIOC_G_CTRL and VIDIOC_S_CTRL.
 *
 * @module
 */

import { ABI } from "./v4l2_abi.ts";
import { cText, type V4l2Calls, V4l2Error } from "./v4l2_call.ts";

/** A control's type, as camwire lists it. */
export type ControlType = "int" | "bool" | "menu" | "intmenu" | "button";

/** One control of a camera. */
export interface V4l2Control {
  /** The control ID, e.g. 0x00980900 for brightness. */
  id: number;
  /** As v4l2-ctl names it, e.g. `white_balance_automatic`. */
  name: string;
  /** As the driver names it, e.g. `White Balance, Automatic`. */
  label: string;
  type: ControlType;
  min: number;
  max: number;
  step: number;
  default: number;
  /** The current value; undefined where it cannot be read (a button). */
  value: number | undefined;
  /** Read-only: it cannot be set. */
  readOnly: boolean;
  /** Inactive: set, it takes effect only once another control allows it. */
  inactive: boolean;
  /** A menu's items by index (an intmenu's: their numbers, as text). */
  menu?: { index: number; name: string }[];
}

/** Types camwire lists; others (strings, 64-bit, compound) are left out. */
const TYPES: Record<number, ControlType> = {
  [ABI.V4L2_CTRL_TYPE_INTEGER]: "int",
  [ABI.V4L2_CTRL_TYPE_BOOLEAN]: "bool",
  [ABI.V4L2_CTRL_TYPE_MENU]: "menu",
  [ABI.V4L2_CTRL_TYPE_INTEGER_MENU]: "intmenu",
  [ABI.V4L2_CTRL_TYPE_BUTTON]: "button",
};

/** The most controls and menu items read: a driver that never ends is cut. */
const MAX_CONTROLS = 1024;
const MAX_MENU_ITEMS = 256;

/**
 * The control IDs of the names UVC cameras had before Linux 5.16 and have
 * since (pi-notes §5: commit 70fa906d, "use the framework's names"):
 * `--control` takes either on a camera that has the other.
 */
export const CONTROL_ALIASES: Record<string, number> = {
  "white_balance_temperature_auto": 0x0098090c,
  "white_balance_component_auto": 0x0098090c,
  "white_balance_automatic": 0x0098090c,
  "exposure_auto": 0x009a0901,
  "auto_exposure": 0x009a0901,
  "exposure_absolute": 0x009a0902,
  "exposure_time_absolute": 0x009a0902,
  "exposure_auto_priority": 0x009a0903,
  "exposure_dynamic_framerate": 0x009a0903,
  "focus_auto": 0x009a090c,
  "focus_automatic_continuous": 0x009a090c,
  "hue_auto": 0x00980919,
  "hue_automatic": 0x00980919,
};

/**
 * A control's name as v4l2-ctl derives it from the driver's (v4l-utils
 * `name2var`): each letter or digit lowercased, one `_` for each run of
 * anything else between two of them, none at either end.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(controlName("White Balance, Automatic"), "white_balance_automatic");
 * assert.equal(controlName("Exposure (Absolute)"), "exposure_absolute");
 * assert.equal(controlName("Focus (absolute)"), "focus_absolute");
 * ```
 */
export function controlName(label: string): string {
  let name = "";
  let gap = false;
  for (const char of label) {
    if (/^[A-Za-z0-9]$/.test(char)) {
      if (gap) name += "_";
      gap = false;
      name += char.toLowerCase();
    } else if (name.length > 0) {
      gap = true;
    }
  }
  return name;
}

/**
 * Every control of a camera, with its current value.
 *
 * @throws {V4l2Error} When listing fails other than by ending.
 */
export function readControls(device: V4l2Calls): V4l2Control[] {
  const controls: V4l2Control[] = [];
  const next = ABI.V4L2_CTRL_FLAG_NEXT_CTRL | ABI.V4L2_CTRL_FLAG_NEXT_COMPOUND;
  let extended = true;
  let id = next;
  for (let n = 0; n < MAX_CONTROLS; n++) {
    let found = extended ? queryExt(device, id) : query(device, id);
    if (found === "ENOTTY" && extended) {
      extended = false;
      id = ABI.V4L2_CTRL_FLAG_NEXT_CTRL;
      found = query(device, id);
    }
    if (typeof found === "string") break; // past the last (or none at all)
    id = (found.id | (extended ? next : ABI.V4L2_CTRL_FLAG_NEXT_CTRL)) >>> 0;
    const type = TYPES[found.type];
    if (
      type === undefined || (found.flags & ABI.V4L2_CTRL_FLAG_DISABLED) !== 0
    ) continue; // class headers, disabled, and types camwire cannot set
    const control: V4l2Control = {
      id: found.id,
      name: controlName(found.label),
      label: found.label,
      type,
      min: found.min,
      max: found.max,
      step: found.step,
      default: found.default,
      value: readValue(device, found.id, found.flags),
      readOnly: (found.flags & ABI.V4L2_CTRL_FLAG_READ_ONLY) !== 0,
      inactive: (found.flags & ABI.V4L2_CTRL_FLAG_INACTIVE) !== 0,
    };
    if (type === "menu" || type === "intmenu") {
      control.menu = menuItems(device, control);
    }
    controls.push(control);
  }
  return controls;
}

/** A control as QUERYCTRL or QUERY_EXT_CTRL describes it. */
interface Queried {
  id: number;
  type: number;
  label: string;
  min: number;
  max: number;
  step: number;
  default: number;
  flags: number;
}

function queryExt(device: V4l2Calls, id: number): Queried | "ENOTTY" | "end" {
  const q = new Uint8Array(ABI["sizeof v4l2_query_ext_ctrl"]);
  const view = new DataView(q.buffer);
  view.setUint32(ABI["v4l2_query_ext_ctrl.id"], id, true);
  const rc = device.ioctl("VIDIOC_QUERY_EXT_CTRL", q);
  if (rc === -25) return "ENOTTY";
  if (rc < 0) return "end";
  const s64 = (field: "minimum" | "maximum" | "step" | "default_value") =>
    Number(view.getBigInt64(ABI[`v4l2_query_ext_ctrl.${field}`], true));
  return {
    id: view.getUint32(ABI["v4l2_query_ext_ctrl.id"], true),
    type: view.getUint32(ABI["v4l2_query_ext_ctrl.type"], true),
    label: cText(q, ABI["v4l2_query_ext_ctrl.name"], 32),
    min: s64("minimum"),
    max: s64("maximum"),
    step: s64("step"),
    default: s64("default_value"),
    flags: view.getUint32(ABI["v4l2_query_ext_ctrl.flags"], true),
  };
}

function query(device: V4l2Calls, id: number): Queried | "ENOTTY" | "end" {
  const q = new Uint8Array(ABI["sizeof v4l2_queryctrl"]);
  const view = new DataView(q.buffer);
  view.setUint32(ABI["v4l2_queryctrl.id"], id, true);
  const rc = device.ioctl("VIDIOC_QUERYCTRL", q);
  if (rc === -25) return "ENOTTY";
  if (rc < 0) return "end";
  const s32 = (field: "minimum" | "maximum" | "step" | "default_value") =>
    view.getInt32(ABI[`v4l2_queryctrl.${field}`], true);
  return {
    id: view.getUint32(ABI["v4l2_queryctrl.id"], true),
    type: view.getUint32(ABI["v4l2_queryctrl.type"], true),
    label: cText(q, ABI["v4l2_queryctrl.name"], 32),
    min: s32("minimum"),
    max: s32("maximum"),
    step: s32("step"),
    default: s32("default_value"),
    flags: view.getUint32(ABI["v4l2_queryctrl.flags"], true),
  };
}

function menuItems(
  device: V4l2Calls,
  control: V4l2Control,
): { index: number; name: string }[] {
  const items: { index: number; name: string }[] = [];
  const last = Math.min(control.max, control.min + MAX_MENU_ITEMS - 1);
  for (let index = control.min; index <= last; index++) {
    const m = new Uint8Array(ABI["sizeof v4l2_querymenu"]);
    const view = new DataView(m.buffer);
    view.setUint32(ABI["v4l2_querymenu.id"], control.id, true);
    view.setUint32(ABI["v4l2_querymenu.index"], index, true);
    if (device.ioctl("VIDIOC_QUERYMENU", m) < 0) continue; // a hole
    const name = control.type === "intmenu"
      ? String(view.getBigInt64(ABI["v4l2_querymenu.value"], true))
      : cText(m, ABI["v4l2_querymenu.name"], 32);
    items.push({ index, name });
  }
  return items;
}

function readValue(
  device: V4l2Calls,
  id: number,
  flags: number,
): number | undefined {
  if (flags & ABI.V4L2_CTRL_FLAG_WRITE_ONLY) return undefined;
  const control = new Uint8Array(ABI["sizeof v4l2_control"]);
  const view = new DataView(control.buffer);
  view.setUint32(ABI["v4l2_control.id"], id, true);
  if (device.ioctl("VIDIOC_G_CTRL", control) < 0) return undefined;
  return view.getInt32(ABI["v4l2_control.value"], true);
}

/**
 * VIDIOC_S_CTRL of one control.
 *
 * @returns The value the driver kept (it may round it to its step).
 * @throws {V4l2Error} When the driver refuses it (EINVAL, EACCES, EBUSY).
 */
export function setControl(
  device: V4l2Calls,
  id: number,
  value: number,
): number {
  const control = new Uint8Array(ABI["sizeof v4l2_control"]);
  const view = new DataView(control.buffer);
  view.setUint32(ABI["v4l2_control.id"], id, true);
  view.setInt32(ABI["v4l2_control.value"], value, true);
  const rc = device.ioctl("VIDIOC_S_CTRL", control);
  if (rc < 0) throw new V4l2Error("VIDIOC_S_CTRL", -rc, device.path);
  return view.getInt32(ABI["v4l2_control.value"], true);
}

/**
 * The camera's control that a name means: its own name, else the control
 * with the ID the name has under the other kernels' naming.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const auto = {
 *   id: 0x009a0901, name: "auto_exposure", label: "Auto Exposure",
 *   type: "menu" as const, min: 0, max: 3, step: 1, default: 3, value: 3,
 *   readOnly: false, inactive: false,
 * };
 * assert.equal(findControl([auto], "exposure_auto"), auto);
 * assert.equal(findControl([auto], "zoom"), undefined);
 * ```
 */
export function findControl(
  controls: V4l2Control[],
  name: string,
): V4l2Control | undefined {
  const own = controls.find((c) => c.name === name);
  if (own !== undefined) return own;
  const id = CONTROL_ALIASES[name];
  return id === undefined ? undefined : controls.find((c) => c.id === id);
}
