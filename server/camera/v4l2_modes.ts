// Copyright 2026 the camwire authors. MIT license.
/**
 * What a V4L2 camera offers, read with VIDIOC_ENUM_FMT, _FRAMESIZES and
 * _FRAMEINTERVALS: its formats, each with its sizes and frame rates. A
 * size or rate the driver gives as a range (STEPWISE or CONTINUOUS: the
 * Pi's bcm2835 camera takes any size from 32x32 to 2592x1944 in steps of
 * 2, at any rate from 1 to 90 fps; many capture cards and SoC ISPs do the
 * same) is kept as a range, so that the mode choice can ask for exactly
 * the size it wants.
 *
 * @module
 */

import { ABI } from "./v4l2_abi.ts";
import {
  fourccCode,
  fourccName,
  type V4l2Calls,
  V4l2Error,
} from "./v4l2_call.ts";

/** Sizes a driver takes as a range: any size from `min` to `max` by `step`. */
export interface SizeRange {
  min: { width: number; height: number };
  max: { width: number; height: number };
  /** 1x1 for a CONTINUOUS range. */
  step: { width: number; height: number };
}

/** Frame rates a driver takes as a range, in fps (may be fractional). */
export interface RateRange {
  min: number;
  max: number;
}

/**
 * One pixel format and size, and its frame rates, as the camera offers it.
 * A format whose sizes are a range is one mode: its largest size, with
 * `sizes` set.
 */
export interface V4l2Mode {
  /** FourCC, e.g. `MJPG`, `YUYV`. */
  fourcc: string;
  /** The size; for a range, its largest (the sensor's whole picture). */
  width: number;
  height: number;
  /** Discrete frame rates offered, fastest first (empty with `rates`). */
  fps: number[];
  /** Any size in this range (STEPWISE or CONTINUOUS frame sizes). */
  sizes?: SizeRange;
  /** Any rate in this range (STEPWISE or CONTINUOUS frame intervals). */
  rates?: RateRange;
}

/** The most entries read of each list: a driver that never ends is cut. */
const MAX_FORMATS = 64;
const MAX_SIZES = 256;
const MAX_RATES = 64;

/**
 * Every mode a camera offers.
 *
 * @param device The open camera.
 * @param bufferType V4L2_BUF_TYPE_VIDEO_CAPTURE or its `_MPLANE` twin.
 * @returns The modes, format by format in the driver's order.
 * @throws {V4l2Error} When an enumeration fails other than by ending.
 */
export function readModes(device: V4l2Calls, bufferType: number): V4l2Mode[] {
  const modes: V4l2Mode[] = [];
  for (const fourcc of formats(device, bufferType)) {
    const { discrete, range } = sizes(device, fourcc);
    if (range !== undefined) {
      const { width, height } = range.max;
      modes.push({
        fourcc,
        width,
        height,
        ...rates(device, fourcc, width, height),
        sizes: range,
      });
    }
    for (const [width, height] of discrete) {
      modes.push({
        fourcc,
        width,
        height,
        ...rates(device, fourcc, width, height),
      });
    }
  }
  return modes;
}

function formats(device: V4l2Calls, bufferType: number): string[] {
  const found: string[] = [];
  for (let index = 0; index < MAX_FORMATS; index++) {
    const desc = new Uint8Array(ABI["sizeof v4l2_fmtdesc"]);
    const view = new DataView(desc.buffer);
    view.setUint32(ABI["v4l2_fmtdesc.index"], index, true);
    view.setUint32(ABI["v4l2_fmtdesc.type"], bufferType, true);
    const rc = device.ioctl("VIDIOC_ENUM_FMT", desc);
    if (rc === -22) break; // EINVAL: past the last one
    if (rc < 0) throw new V4l2Error("VIDIOC_ENUM_FMT", -rc, device.path);
    found.push(
      fourccName(view.getUint32(ABI["v4l2_fmtdesc.pixelformat"], true)),
    );
  }
  return found;
}

function sizes(
  device: V4l2Calls,
  fourcc: string,
): { discrete: [number, number][]; range?: SizeRange } {
  const discrete: [number, number][] = [];
  for (let index = 0; index < MAX_SIZES; index++) {
    const e = new Uint8Array(ABI["sizeof v4l2_frmsizeenum"]);
    const view = new DataView(e.buffer);
    view.setUint32(ABI["v4l2_frmsizeenum.index"], index, true);
    view.setUint32(
      ABI["v4l2_frmsizeenum.pixel_format"],
      fourccCode(fourcc),
      true,
    );
    const rc = device.ioctl("VIDIOC_ENUM_FRAMESIZES", e);
    if (rc === -22) break;
    if (rc < 0) {
      throw new V4l2Error("VIDIOC_ENUM_FRAMESIZES", -rc, device.path);
    }
    const type = view.getUint32(ABI["v4l2_frmsizeenum.type"], true);
    if (type === ABI.V4L2_FRMSIZE_TYPE_DISCRETE) {
      const at = ABI["v4l2_frmsizeenum.discrete"];
      discrete.push([view.getUint32(at, true), view.getUint32(at + 4, true)]);
      continue;
    }
    // STEPWISE or CONTINUOUS: one answer, the whole range.
    const at = ABI["v4l2_frmsizeenum.stepwise"];
    const field = (name: keyof typeof STEPWISE) =>
      view.getUint32(at + ABI[STEPWISE[name]], true);
    const continuous = type === ABI.V4L2_FRMSIZE_TYPE_CONTINUOUS;
    return {
      discrete,
      range: {
        min: { width: field("minWidth"), height: field("minHeight") },
        max: { width: field("maxWidth"), height: field("maxHeight") },
        step: continuous ? { width: 1, height: 1 } : {
          width: Math.max(1, field("stepWidth")),
          height: Math.max(1, field("stepHeight")),
        },
      },
    };
  }
  return { discrete };
}

const STEPWISE = {
  minWidth: "v4l2_frmsize_stepwise.min_width",
  maxWidth: "v4l2_frmsize_stepwise.max_width",
  stepWidth: "v4l2_frmsize_stepwise.step_width",
  minHeight: "v4l2_frmsize_stepwise.min_height",
  maxHeight: "v4l2_frmsize_stepwise.max_height",
  stepHeight: "v4l2_frmsize_stepwise.step_height",
} as const;

/** fps of an interval fraction (seconds per frame), to 1/100. */
function fpsOf(numerator: number, denominator: number): number {
  return Math.round(denominator / numerator * 100) / 100;
}

function rates(
  device: V4l2Calls,
  fourcc: string,
  width: number,
  height: number,
): { fps: number[]; rates?: RateRange } {
  const found: number[] = [];
  for (let index = 0; index < MAX_RATES; index++) {
    const e = new Uint8Array(ABI["sizeof v4l2_frmivalenum"]);
    const view = new DataView(e.buffer);
    view.setUint32(ABI["v4l2_frmivalenum.index"], index, true);
    view.setUint32(
      ABI["v4l2_frmivalenum.pixel_format"],
      fourccCode(fourcc),
      true,
    );
    view.setUint32(ABI["v4l2_frmivalenum.width"], width, true);
    view.setUint32(ABI["v4l2_frmivalenum.height"], height, true);
    const rc = device.ioctl("VIDIOC_ENUM_FRAMEINTERVALS", e);
    if (rc < 0) break; // EINVAL past the last; some drivers list none
    const type = view.getUint32(ABI["v4l2_frmivalenum.type"], true);
    if (type === ABI.V4L2_FRMIVAL_TYPE_DISCRETE) {
      const at = ABI["v4l2_frmivalenum.discrete"];
      const num = view.getUint32(at, true);
      const den = view.getUint32(at + 4, true);
      if (num > 0) found.push(fpsOf(num, den));
      continue;
    }
    // STEPWISE or CONTINUOUS: the shortest interval is the fastest rate.
    const at = ABI["v4l2_frmivalenum.stepwise"];
    const fraction = (field: "min" | "max") => {
      const offset = at + ABI[`v4l2_frmival_stepwise.${field}`];
      return [view.getUint32(offset, true), view.getUint32(offset + 4, true)];
    };
    const [minNum = 0, minDen = 0] = fraction("min");
    const [maxNum = 0, maxDen = 0] = fraction("max");
    if (minNum === 0 || maxNum === 0) break;
    return {
      fps: [],
      rates: { min: fpsOf(maxNum, maxDen), max: fpsOf(minNum, minDen) },
    };
  }
  return { fps: [...new Set(found)].sort((a, b) => b - a) };
}
