// Copyright 2026 the camwire authors. MIT license.
/**
 * What every V4L2 module here shares: one ioctl on an open device
 * ({@linkcode V4l2Calls}), the error a failed call becomes
 * ({@linkcode V4l2Error}), and the conversions of FourCCs and C strings.
 * The device itself is server/camera/v4l2.ts; what it offers,
 * v4l2_modes.ts; its controls, v4l2_controls.ts.
 *
 * @module
 */

import type { ABI } from "./v4l2_abi.ts";

/** An ioctl request's name in {@linkcode ABI}. */
export type AbiName = keyof typeof ABI;

/** The calls the V4L2 modules make on an open device. */
export interface V4l2Calls {
  /** The device's path, for error messages. */
  readonly path: string;
  /**
   * One ioctl, retried on EINTR.
   *
   * @param name The request, e.g. `VIDIOC_ENUM_FMT`.
   * @param arg Its argument, read and written in place.
   * @returns The result (>= 0), or minus errno.
   */
  ioctl(name: AbiName, arg: Uint8Array): number;
}

/** errno names camwire explains, from <errno.h>. */
export const ERRNO_NAMES: Record<number, string> = {
  1: "EPERM",
  2: "ENOENT",
  4: "EINTR",
  5: "EIO",
  6: "ENXIO",
  11: "EAGAIN",
  12: "ENOMEM",
  13: "EACCES",
  16: "EBUSY",
  19: "ENODEV",
  22: "EINVAL",
  25: "ENOTTY",
  28: "ENOSPC",
};

/** Errors that mean "this camera cannot be had now", not a driver quirk. */
const UNAVAILABLE = new Set([2, 6, 13, 16, 19]);

/** A V4L2 call failed: which call, and errno. */
export class V4l2Error extends Error {
  /** e.g. `VIDIOC_S_FMT`, `open`. */
  readonly call: string;
  readonly errno: number;

  /**
   * @param call The failing call.
   * @param code Its errno.
   * @param device The device path, for the message.
   */
  constructor(call: string, code: number, device: string) {
    super(`${device}: ${call} failed: ${explainErrno(code)}`);
    this.name = "V4l2Error";
    this.call = call;
    this.errno = code;
  }

  /**
   * Whether the camera is busy, forbidden or gone (EBUSY, EACCES, ENOENT,
   * ENODEV, ENXIO): errors no other backend would get past, as opposed to
   * a request this driver rejects.
   */
  get unavailable(): boolean {
    return UNAVAILABLE.has(this.errno);
  }
}

/**
 * Names an errno and says what it means for a camera.
 *
 * @param code errno.
 * @returns e.g. `EBUSY: in use by another program`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(explainErrno(13), "EACCES: no permission (add the user to the video group)");
 * ```
 */
export function explainErrno(code: number): string {
  const name = ERRNO_NAMES[code] ?? `errno ${code}`;
  switch (code) {
    case 16:
      return `${name}: in use by another program`;
    case 13:
      return `${name}: no permission (add the user to the video group)`;
    case 2:
      return `${name}: no such device`;
    case 19:
    case 6:
      return `${name}: the camera is gone (unplugged?)`;
    case 5:
      return `${name}: I/O error (unplugged, or a USB fault)`;
    case 25:
      return `${name}: not a V4L2 device`;
    default:
      return name;
  }
}

/** Converts a FourCC string to the u32 V4L2 uses. */
export function fourccCode(fourcc: string): number {
  let code = 0;
  for (let i = 3; i >= 0; i--) code = (code << 8) | fourcc.charCodeAt(i);
  return code >>> 0;
}

/** Converts V4L2's u32 pixel format to its FourCC string. */
export function fourccName(code: number): string {
  let name = "";
  for (let i = 0; i < 4; i++) {
    name += String.fromCharCode((code >> 8 * i) & 0xff);
  }
  return name.trimEnd();
}

/** A string as a NUL-terminated C string. */
export function cString(text: string): Uint8Array {
  return new TextEncoder().encode(text + "\0");
}

/** A NUL-terminated C string in a fixed-size field, as text. */
export function cText(bytes: Uint8Array, at: number, size: number): string {
  const field = bytes.subarray(at, at + size);
  const end = field.indexOf(0);
  return new TextDecoder().decode(end === -1 ? field : field.subarray(0, end));
}
