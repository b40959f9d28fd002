// Copyright 2026 the camwire authors. MIT license.
/**
 * Which of a camera's modes to capture, pure: for `--width W` and `--fps
 * F`, the camera's MJPEG at exactly W wide and at least F fps is passed
 * through untouched (no ffmpeg at all); else MJPEG at the smallest size at
 * least W wide is only scaled by ffmpeg; else a raw format (YUYV, …) at the
 * smallest size at least W wide that reaches F fps is scaled and encoded.
 * `--input-format` and `--input-size` narrow the choice. A driver that
 * takes any size in a range (the Pi's bcm2835 camera: 32x32 to 2592x1944
 * in steps of 2, its JPEGs encoded by the VideoCore) is asked for exactly
 * W wide at the sensor's aspect (its largest size's), rounded to its step,
 * so that its JPEGs pass through instead of ffmpeg scaling 2592x1944; a
 * range of rates gives `--fps` itself, within it. Also the names of pixel
 * formats for users, V4L2 and ffmpeg, and how modes are listed.
 *
 * Why MJPEG first: a USB 2 camera sends YUYV at 640×480 at 30 fps only by
 * filling most of the bus (18 MB/s), and many cameras offer 5–10 fps at
 * larger YUYV sizes, where their MJPEG reaches 30.
 *
 * @module
 */

import { CamwireError } from "../../common/cli.ts";
import type { SizeRange, V4l2Mode } from "./v4l2_modes.ts";

/** A pixel format camwire can capture: its names for users, V4L2, ffmpeg. */
export interface PixelFormat {
  /** What `--input-format` takes, e.g. `mjpeg`, `yuyv`. */
  name: string;
  /** V4L2 FourCCs, e.g. `MJPG`. */
  fourccs: string[];
  /** ffmpeg's `-input_format` (and rawvideo `-pix_fmt`), e.g. `yuyv422`. */
  ffmpeg: string;
  /** Bytes per pixel of a raw frame; 0 for compressed formats. */
  bytesPerPixel: number;
}

/** Every pixel format camwire captures, MJPEG first. */
export const PIXEL_FORMATS: PixelFormat[] = [
  {
    name: "mjpeg",
    fourccs: ["MJPG", "JPEG"],
    ffmpeg: "mjpeg",
    bytesPerPixel: 0,
  },
  { name: "yuyv", fourccs: ["YUYV"], ffmpeg: "yuyv422", bytesPerPixel: 2 },
  { name: "uyvy", fourccs: ["UYVY"], ffmpeg: "uyvy422", bytesPerPixel: 2 },
  // NM12 is NV12 in two planes (multi-planar nodes): the capture puts the
  // planes one after the other, which is NV12 in one.
  {
    name: "nv12",
    fourccs: ["NV12", "NM12"],
    ffmpeg: "nv12",
    bytesPerPixel: 1.5,
  },
  { name: "yuv420", fourccs: ["YU12"], ffmpeg: "yuv420p", bytesPerPixel: 1.5 },
  { name: "rgb24", fourccs: ["RGB3"], ffmpeg: "rgb24", bytesPerPixel: 3 },
  { name: "bgr24", fourccs: ["BGR3"], ffmpeg: "bgr24", bytesPerPixel: 3 },
  { name: "gray", fourccs: ["GREY"], ffmpeg: "gray", bytesPerPixel: 1 },
];

/**
 * The pixel format of a V4L2 FourCC.
 *
 * @returns It, or `undefined` for one camwire does not capture (H264, …).
 */
export function formatOf(fourcc: string): PixelFormat | undefined {
  return PIXEL_FORMATS.find((f) => f.fourccs.includes(fourcc));
}

/**
 * The pixel format of an `--input-format` value.
 *
 * @returns It, or `undefined` for an unknown name.
 */
export function formatNamed(name: string): PixelFormat | undefined {
  const lower = name.toLowerCase();
  return PIXEL_FORMATS.find((f) =>
    f.name === lower || f.ffmpeg === lower || f.fourccs.includes(name)
  );
}

/** How a chosen mode's frames reach viewers. */
export type CapturePath = "passthrough" | "scale" | "encode";

/** What {@linkcode chooseMode} decided. */
export interface ModeChoice {
  mode: V4l2Mode;
  format: PixelFormat;
  /** The rate to ask the camera for. */
  fps: number;
  path: CapturePath;
}

/** What the user asked for. */
export interface ModeRequest {
  /** `--width`. */
  width: number;
  /** `--fps`. */
  fps: number;
  /** `--input-format`, a {@linkcode PixelFormat} name. */
  inputFormat?: string | undefined;
  /** `--input-size`. */
  inputSize?: { width: number; height: number } | undefined;
}

/** The camera offers nothing that fits the request: names what it offers. */
export class ModeError extends CamwireError {
  /** @param message What was asked, and what the camera offers. */
  constructor(message: string) {
    super(message);
    this.name = "ModeError";
  }
}

/**
 * Chooses the mode to capture (see the module doc for the order).
 *
 * @param modes What the camera offers (`V4l2Device.modes()`).
 * @param request `--width`, `--fps`, `--input-format`, `--input-size`.
 * @returns The mode, the rate to ask for, and the path its frames take.
 * @throws {ModeError} When no offered mode fits `--input-format` and
 * `--input-size`, or the camera offers no format camwire captures.
 *
 * @example The camera's own 320-wide MJPEG is passed through
 * ```ts
 * import assert from "node:assert/strict";
 * const modes = [
 *   { fourcc: "YUYV", width: 640, height: 480, fps: [30] },
 *   { fourcc: "MJPG", width: 640, height: 480, fps: [30] },
 *   { fourcc: "MJPG", width: 320, height: 240, fps: [30, 15] },
 * ];
 * const choice = chooseMode(modes, { width: 320, fps: 30 });
 * assert.equal(choice.path, "passthrough");
 * assert.equal(choice.mode.width, 320);
 * assert.equal(chooseMode(modes, { width: 400, fps: 30 }).path, "scale");
 * ```
 */
export function chooseMode(
  modes: V4l2Mode[],
  request: ModeRequest,
): ModeChoice {
  const { width, fps, inputFormat, inputSize } = request;
  const wanted = inputFormat === undefined
    ? undefined
    : formatNamed(inputFormat);
  const largest = [...modes].sort((a, b) => area(b) - area(a))[0];
  const aspect = largest === undefined ? 4 / 3 : largest.width / largest.height;
  // A range of sizes offers the one asked for: --input-size if it is in
  // the range, else --width wide at the sensor's aspect.
  const offered = modes.flatMap((m): V4l2Mode[] => {
    if (m.sizes === undefined) return [m];
    const size = inputSize === undefined
      ? fitRange(m.sizes, width, aspect)
      : inRange(m.sizes, inputSize)
      ? inputSize
      : undefined;
    return size === undefined ? [] : [{ ...m, ...size }];
  });
  const usable = offered.filter((m) => {
    const format = formatOf(m.fourcc);
    if (format === undefined) return false;
    if (wanted !== undefined && format !== wanted) return false;
    return inputSize === undefined ||
      (m.width === inputSize.width && m.height === inputSize.height);
  });
  if (usable.length === 0) {
    const asked = [
      inputFormat === undefined ? "" : `--input-format ${inputFormat}`,
      inputSize === undefined
        ? ""
        : `--input-size ${inputSize.width}x${inputSize.height}`,
    ].filter(Boolean).join(" ");
    throw new ModeError(
      `The camera offers no ${
        asked || "format camwire can capture"
      }; it offers: ${describeModes(modes) || "nothing"}`,
    );
  }
  const reaches = (m: V4l2Mode) =>
    m.rates !== undefined
      ? m.rates.max >= fps
      : m.fps.length === 0 || m.fps[0]! >= fps;
  const mjpeg = usable.filter((m) => formatOf(m.fourcc)!.bytesPerPixel === 0);
  const raw = usable.filter((m) => formatOf(m.fourcc)!.bytesPerPixel !== 0);
  const sameAspect = (m: V4l2Mode) =>
    Math.abs(m.width / m.height - aspect) < 0.01 ? 1 : 0;
  // Those that reach the rate first, then the narrowest; at equal width
  // the sensor's own aspect (the whole picture, not a crop), then the
  // smallest; at equal size MJPG before JPEG (the Pi's bcm2835 camera
  // encodes JPEG from its stills port, MJPG from its video port).
  const stills = (m: V4l2Mode) => Number(m.fourcc === "JPEG");
  const bySize = (a: V4l2Mode, b: V4l2Mode) =>
    Number(reaches(b)) - Number(reaches(a)) || a.width - b.width ||
    sameAspect(b) - sameAspect(a) || area(a) - area(b) ||
    stills(a) - stills(b);

  const exact = mjpeg.filter((m) => m.width === width && reaches(m))
    .sort(bySize)[0];
  if (exact) return decided(exact, fps, "passthrough");
  const wideMjpeg = mjpeg.filter((m) => m.width >= width).sort(bySize)[0];
  if (wideMjpeg && (reaches(wideMjpeg) || raw.every((m) => !reaches(m)))) {
    return decided(wideMjpeg, fps, "scale");
  }
  const wideRaw = raw.filter((m) => m.width >= width && reaches(m))
    .sort(bySize)[0];
  if (wideRaw) return decided(wideRaw, fps, "encode");
  if (wideMjpeg) return decided(wideMjpeg, fps, "scale");
  // Nothing as wide as asked: the widest there is, scaled up; MJPEG and
  // modes that reach the rate first.
  const widest = [...usable].sort((a, b) =>
    Number(reaches(b)) - Number(reaches(a)) || b.width - a.width ||
    formatOf(a.fourcc)!.bytesPerPixel - formatOf(b.fourcc)!.bytesPerPixel
  )[0]!;
  const isMjpeg = formatOf(widest.fourcc)!.bytesPerPixel === 0;
  return decided(widest, fps, isMjpeg ? "scale" : "encode");
}

function area(m: V4l2Mode): number {
  return m.width * m.height;
}

/**
 * The size of a range nearest `width` wide at `aspect` (width / height),
 * each side rounded to the range's step and kept within it.
 *
 * @example The Pi's bcm2835 camera asked for 320 px wide
 * ```ts
 * import assert from "node:assert/strict";
 * const range = {
 *   min: { width: 32, height: 32 },
 *   max: { width: 2592, height: 1944 },
 *   step: { width: 2, height: 2 },
 * };
 * assert.deepEqual(fitRange(range, 320, 2592 / 1944), { width: 320, height: 240 });
 * assert.deepEqual(fitRange(range, 9000, 4 / 3), { width: 2592, height: 1944 });
 * ```
 */
export function fitRange(
  range: SizeRange,
  width: number,
  aspect: number,
): { width: number; height: number } {
  const side = (value: number, min: number, max: number, step: number) => {
    const clamped = Math.min(Math.max(value, min), max);
    const stepped = min + Math.round((clamped - min) / step) * step;
    return stepped > max ? stepped - step : stepped;
  };
  const { min, max, step } = range;
  const w = side(width, min.width, max.width, step.width);
  return {
    width: w,
    height: side(w / aspect, min.height, max.height, step.height),
  };
}

/** Whether a range offers exactly this size. */
function inRange(
  range: SizeRange,
  size: { width: number; height: number },
): boolean {
  const { min, max, step } = range;
  return size.width >= min.width && size.width <= max.width &&
    size.height >= min.height && size.height <= max.height &&
    (size.width - min.width) % step.width === 0 &&
    (size.height - min.height) % step.height === 0;
}

/**
 * The rate to ask for: within a range, `fps` itself (or its nearest end);
 * among discrete rates, the slowest at or above `fps`, else the fastest.
 */
function decided(mode: V4l2Mode, fps: number, path: CapturePath): ModeChoice {
  const format = formatOf(mode.fourcc)!;
  if (mode.rates !== undefined) {
    const rate = Math.min(Math.max(fps, mode.rates.min), mode.rates.max);
    return { mode, format, fps: rate, path };
  }
  const atLeast = mode.fps.filter((r) => r >= fps);
  const rate = mode.fps.length === 0
    ? fps
    : atLeast.length > 0
    ? Math.min(...atLeast)
    : mode.fps[0]!;
  return { mode, format, fps: rate, path };
}

/**
 * Lists modes for people, grouped by format.
 *
 * @param modes What a camera offers.
 * @returns e.g. `MJPEG 320x240 (30, 15 fps), 640x480 (30, 15 fps); YUYV
 * 640x480 (30 fps)`; a range of sizes as `MJPEG 32x32–2592x1944 step 2x2,
 * 1–90 fps`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const text = describeModes([
 *   { fourcc: "MJPG", width: 320, height: 240, fps: [30, 15] },
 *   { fourcc: "YUYV", width: 640, height: 480, fps: [30] },
 * ]);
 * assert.equal(text, "MJPEG 320x240 (30, 15 fps); YUYV 640x480 (30 fps)");
 * const pi = describeModes([{
 *   fourcc: "MJPG", width: 2592, height: 1944, fps: [],
 *   sizes: {
 *     min: { width: 32, height: 32 },
 *     max: { width: 2592, height: 1944 },
 *     step: { width: 2, height: 2 },
 *   },
 *   rates: { min: 1, max: 90 },
 * }]);
 * assert.equal(pi, "MJPEG 32x32–2592x1944 step 2x2, 1–90 fps");
 * ```
 */
export function describeModes(modes: V4l2Mode[]): string {
  const groups = new Map<string, string[]>();
  for (const m of modes) {
    const name = formatLabel(m.fourcc);
    const rates = m.rates !== undefined
      ? `${m.rates.min}–${m.rates.max} fps`
      : m.fps.length === 0
      ? ""
      : `${m.fps.join(", ")} fps`;
    let text: string;
    if (m.sizes !== undefined) {
      const { min, max, step } = m.sizes;
      const stepText = step.width === 1 && step.height === 1
        ? ""
        : ` step ${step.width}x${step.height}`;
      text =
        `${min.width}x${min.height}–${max.width}x${max.height}${stepText}` +
        (rates ? `, ${rates}` : "");
    } else {
      text = `${m.width}x${m.height}` + (rates ? ` (${rates})` : "");
    }
    groups.set(name, [...(groups.get(name) ?? []), text]);
  }
  return [...groups].map(([name, sizes]) => `${name} ${sizes.join(", ")}`)
    .join("; ");
}

/**
 * `MJPEG`, `YUYV`, … for a FourCC; the FourCC itself for a second FourCC
 * of a format (`JPEG` beside `MJPG`, `NM12`: NV12 in two planes).
 */
export function formatLabel(fourcc: string): string {
  const format = formatOf(fourcc);
  if (format === undefined || format.fourccs[0] !== fourcc) return fourcc;
  return format.name.toUpperCase();
}

/**
 * One line naming the camera, its mode and what happens to its frames, as
 * the server logs it at start.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const mode = { fourcc: "MJPG", width: 320, height: 240, fps: [30] };
 * const choice = chooseMode([mode], { width: 320, fps: 30 });
 * assert.equal(
 *   describeChoice("/dev/video0", "HD Webcam C270", choice, 320),
 *   'camera /dev/video0 "HD Webcam C270": MJPEG 320x240 at 30 fps, passed through',
 * );
 * ```
 */
export function describeChoice(
  device: string,
  card: string,
  choice: ModeChoice,
  width: number,
): string {
  const { mode, fps, path } = choice;
  const what = path === "passthrough"
    ? "passed through"
    : path === "scale"
    ? `scaled to ${width} px wide by ffmpeg`
    : `scaled to ${width} px wide and encoded by ffmpeg`;
  return `camera ${device} "${card}": ${
    formatLabel(mode.fourcc)
  } ${mode.width}x${mode.height} at ${fps} fps, ${what}`;
}
