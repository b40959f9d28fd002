// Copyright 2026 the camwire authors. MIT license.
/**
 * Video4Linux2 through FFI: {@linkcode V4l2Device}, one open camera: what
 * it is, the modes it offers, setting one, and streaming frames through
 * mmap'ed buffers. Every call goes through the one libc binding
 * (server/sys/libc.ts); the numbers are in server/camera/v4l2_abi.ts.
 *
 * @module
 */

import { errno, type Libc, openLibc } from "../sys/libc.ts";
import { ABI } from "./v4l2_abi.ts";

export { ABI };

/** From <fcntl.h>, <sys/mman.h>, <poll.h> and <errno.h> (Linux). */
const O_RDWR = 2;
const O_NONBLOCK = 0o4000;
const O_CLOEXEC = 0o2000000;
const PROT_READ = 1;
const PROT_WRITE = 2;
const MAP_SHARED = 1;
const POLLIN = 1;
const POLLERR = 8;
const POLLHUP = 16;

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

/** What VIDIOC_QUERYCAP tells. */
export interface V4l2Identity {
  /** The camera's name, e.g. `HD Webcam C270`. */
  card: string;
  /** The kernel driver, e.g. `uvcvideo`. */
  driver: string;
  busInfo: string;
  /** Whether it captures video and can stream through mmap. */
  canCapture: boolean;
}

/** One pixel format, size and its frame rates, as the camera offers it. */
export interface V4l2Mode {
  /** FourCC, e.g. `MJPG`, `YUYV`. */
  fourcc: string;
  width: number;
  height: number;
  /** Frame rates offered, fastest first (fps, may be fractional). */
  fps: number[];
}

/** A frame copied out of the camera's buffer. */
export interface V4l2Frame {
  bytes: Uint8Array;
  /** The driver flagged the buffer as damaged (V4L2_BUF_FLAG_ERROR). */
  damaged: boolean;
  sequence: number;
}

/** How many mmap'ed buffers to ask for: enough to never miss a frame. */
const BUFFERS = 4;

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

/**
 * One open V4L2 camera. Open with {@linkcode V4l2Device.open}, read what
 * it offers, set a mode, {@linkcode V4l2Device.stream}, take frames with
 * {@linkcode V4l2Device.nextFrame}; {@linkcode V4l2Device.close} unmaps
 * every buffer and closes the fd, whatever state it is in.
 */
export class V4l2Device {
  readonly path: string;
  #lib: Libc;
  #fd: number;
  #buffers: { pointer: Deno.PointerValue; length: number }[] = [];
  #streaming = false;
  #polling: Promise<number> | null = null;
  #pollFds = new Uint8Array(8);
  #buffer = new Uint8Array(ABI["sizeof v4l2_buffer"]);

  private constructor(lib: Libc, path: string, fd: number) {
    this.#lib = lib;
    this.path = path;
    this.#fd = fd;
  }

  /**
   * Opens a camera, nonblocking (frames are awaited with `poll`).
   *
   * @param path e.g. `/dev/video0`.
   * @param lib libc, or the emulated camera (tests).
   * @throws {V4l2Error} When `open` fails (EBUSY, EACCES, ENOENT, …).
   * @throws {Error} When there is no libc to call (not Linux, no FFI).
   */
  static open(path: string, lib: Libc | null = openLibc()): V4l2Device {
    if (lib === null) {
      throw new Error("V4L2 needs Linux and --allow-ffi");
    }
    const fd = lib.symbols.open(
      cString(path),
      O_RDWR | O_NONBLOCK | O_CLOEXEC,
    );
    if (fd < 0) throw new V4l2Error("open", errno(), path);
    return new V4l2Device(lib, path, fd);
  }

  /** The file descriptor, -1 once closed. */
  get fd(): number {
    return this.#fd;
  }

  #ioctl(name: keyof typeof ABI, arg: Uint8Array): number {
    if (this.#fd < 0) throw new V4l2Error(name, 9, this.path); // EBADF
    while (true) {
      const rc = this.#lib.symbols.ioctl(this.#fd, BigInt(ABI[name]), arg);
      if (rc >= 0) return rc;
      const code = errno();
      if (code !== 4) return -code; // retry on EINTR
    }
  }

  #must(name: keyof typeof ABI, arg: Uint8Array): void {
    const rc = this.#ioctl(name, arg);
    if (rc < 0) throw new V4l2Error(name, -rc, this.path);
  }

  /** VIDIOC_QUERYCAP: what the device is. */
  identify(): V4l2Identity {
    const cap = new Uint8Array(ABI["sizeof v4l2_capability"]);
    this.#must("VIDIOC_QUERYCAP", cap);
    const view = new DataView(cap.buffer);
    let caps = view.getUint32(ABI["v4l2_capability.capabilities"], true);
    if (caps & ABI.V4L2_CAP_DEVICE_CAPS) {
      caps = view.getUint32(ABI["v4l2_capability.device_caps"], true);
    }
    const want = ABI.V4L2_CAP_VIDEO_CAPTURE | ABI.V4L2_CAP_STREAMING;
    return {
      driver: cText(cap, ABI["v4l2_capability.driver"], 16),
      card: cText(cap, ABI["v4l2_capability.card"], 32),
      busInfo: cText(cap, ABI["v4l2_capability.bus_info"], 32),
      canCapture: (caps & want) === want,
    };
  }

  /**
   * VIDIOC_ENUM_FMT, _FRAMESIZES and _FRAMEINTERVALS: every mode offered.
   * A size or rate given as a range (stepwise) is listed by its largest
   * size and fastest rate, which is what camwire would ask for.
   */
  modes(): V4l2Mode[] {
    const modes: V4l2Mode[] = [];
    for (const fourcc of this.#formats()) {
      for (const [width, height] of this.#sizes(fourcc)) {
        modes.push({
          fourcc,
          width,
          height,
          fps: this.#rates(fourcc, width, height),
        });
      }
    }
    return modes;
  }

  #formats(): string[] {
    const formats: string[] = [];
    for (let index = 0; index < 64; index++) {
      const desc = new Uint8Array(ABI["sizeof v4l2_fmtdesc"]);
      const view = new DataView(desc.buffer);
      view.setUint32(ABI["v4l2_fmtdesc.index"], index, true);
      view.setUint32(
        ABI["v4l2_fmtdesc.type"],
        ABI.V4L2_BUF_TYPE_VIDEO_CAPTURE,
        true,
      );
      const rc = this.#ioctl("VIDIOC_ENUM_FMT", desc);
      if (rc === -22) break; // EINVAL: past the last one
      if (rc < 0) throw new V4l2Error("VIDIOC_ENUM_FMT", -rc, this.path);
      formats.push(
        fourccName(view.getUint32(ABI["v4l2_fmtdesc.pixelformat"], true)),
      );
    }
    return formats;
  }

  #sizes(fourcc: string): [number, number][] {
    const sizes: [number, number][] = [];
    for (let index = 0; index < 256; index++) {
      const e = new Uint8Array(ABI["sizeof v4l2_frmsizeenum"]);
      const view = new DataView(e.buffer);
      view.setUint32(ABI["v4l2_frmsizeenum.index"], index, true);
      view.setUint32(
        ABI["v4l2_frmsizeenum.pixel_format"],
        fourccCode(fourcc),
        true,
      );
      const rc = this.#ioctl("VIDIOC_ENUM_FRAMESIZES", e);
      if (rc === -22) break;
      if (rc < 0) {
        throw new V4l2Error("VIDIOC_ENUM_FRAMESIZES", -rc, this.path);
      }
      const at = ABI["v4l2_frmsizeenum.discrete"];
      if (
        view.getUint32(ABI["v4l2_frmsizeenum.type"], true) ===
          ABI.V4L2_FRMSIZE_TYPE_DISCRETE
      ) {
        sizes.push([view.getUint32(at, true), view.getUint32(at + 4, true)]);
      } else {
        // stepwise: min_width, max_width, step_width, min_height, max_height
        sizes.push([
          view.getUint32(at + 4, true),
          view.getUint32(at + 16, true),
        ]);
        break;
      }
    }
    return sizes;
  }

  #rates(fourcc: string, width: number, height: number): number[] {
    const rates: number[] = [];
    for (let index = 0; index < 64; index++) {
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
      const rc = this.#ioctl("VIDIOC_ENUM_FRAMEINTERVALS", e);
      if (rc < 0) break; // EINVAL past the last; some drivers list none
      // discrete, or stepwise whose first fraction is the shortest interval
      const at = ABI["v4l2_frmivalenum.discrete"];
      const num = view.getUint32(at, true);
      const den = view.getUint32(at + 4, true);
      if (num > 0) rates.push(Math.round(den / num * 100) / 100);
      if (
        view.getUint32(ABI["v4l2_frmivalenum.type"], true) !==
          ABI.V4L2_FRMIVAL_TYPE_DISCRETE
      ) break;
    }
    return [...new Set(rates)].sort((a, b) => b - a);
  }

  /**
   * VIDIOC_S_FMT, then VIDIOC_S_PARM for the frame rate (when the driver
   * takes one).
   *
   * @returns The size and format the driver actually set.
   */
  setMode(
    fourcc: string,
    width: number,
    height: number,
    fps: number,
  ): { fourcc: string; width: number; height: number; sizeImage: number } {
    const format = new Uint8Array(ABI["sizeof v4l2_format"]);
    const view = new DataView(format.buffer);
    const pix = ABI["v4l2_format.fmt"];
    view.setUint32(
      ABI["v4l2_format.type"],
      ABI.V4L2_BUF_TYPE_VIDEO_CAPTURE,
      true,
    );
    view.setUint32(pix + ABI["v4l2_pix_format.width"], width, true);
    view.setUint32(pix + ABI["v4l2_pix_format.height"], height, true);
    view.setUint32(
      pix + ABI["v4l2_pix_format.pixelformat"],
      fourccCode(fourcc),
      true,
    );
    view.setUint32(
      pix + ABI["v4l2_pix_format.field"],
      ABI.V4L2_FIELD_ANY,
      true,
    );
    this.#must("VIDIOC_S_FMT", format);
    const parm = new Uint8Array(ABI["sizeof v4l2_streamparm"]);
    const pview = new DataView(parm.buffer);
    const capture = ABI["v4l2_streamparm.parm"];
    pview.setUint32(0, ABI.V4L2_BUF_TYPE_VIDEO_CAPTURE, true);
    // timeperframe = 1000 / (fps * 1000): keeps 29.97-style rates exact
    pview.setUint32(capture + ABI["v4l2_captureparm.timeperframe"], 1000, true);
    pview.setUint32(
      capture + ABI["v4l2_captureparm.timeperframe"] + 4,
      Math.round(fps * 1000),
      true,
    );
    // Not every driver sets a rate (EINVAL, ENOTTY): the mode stands anyway.
    this.#ioctl("VIDIOC_S_PARM", parm);
    return {
      fourcc: fourccName(
        view.getUint32(pix + ABI["v4l2_pix_format.pixelformat"], true),
      ),
      width: view.getUint32(pix + ABI["v4l2_pix_format.width"], true),
      height: view.getUint32(pix + ABI["v4l2_pix_format.height"], true),
      sizeImage: view.getUint32(pix + ABI["v4l2_pix_format.sizeimage"], true),
    };
  }

  /**
   * VIDIOC_S_CTRL of the JPEG quality, where the camera has the control.
   *
   * @returns Whether the camera took it.
   */
  setJpegQuality(percent: number): boolean {
    const control = new Uint8Array(ABI["sizeof v4l2_control"]);
    const view = new DataView(control.buffer);
    view.setUint32(0, ABI.V4L2_CID_JPEG_COMPRESSION_QUALITY, true);
    view.setInt32(4, percent, true);
    return this.#ioctl("VIDIOC_S_CTRL", control) >= 0;
  }

  /** VIDIOC_REQBUFS, QUERYBUF + mmap, QBUF each, VIDIOC_STREAMON. */
  stream(): void {
    const req = new Uint8Array(ABI["sizeof v4l2_requestbuffers"]);
    const rview = new DataView(req.buffer);
    rview.setUint32(ABI["v4l2_requestbuffers.count"], BUFFERS, true);
    rview.setUint32(
      ABI["v4l2_requestbuffers.type"],
      ABI.V4L2_BUF_TYPE_VIDEO_CAPTURE,
      true,
    );
    rview.setUint32(
      ABI["v4l2_requestbuffers.memory"],
      ABI.V4L2_MEMORY_MMAP,
      true,
    );
    this.#must("VIDIOC_REQBUFS", req);
    const count = rview.getUint32(ABI["v4l2_requestbuffers.count"], true);
    if (count < 2) throw new V4l2Error("VIDIOC_REQBUFS", 12, this.path);
    for (let index = 0; index < count; index++) {
      const buf = this.#bufferArg(index);
      this.#must("VIDIOC_QUERYBUF", buf);
      const view = new DataView(buf.buffer);
      const length = view.getUint32(ABI["v4l2_buffer.length"], true);
      const offset = view.getUint32(ABI["v4l2_buffer.m"], true);
      const pointer = this.#lib.symbols.mmap(
        null,
        BigInt(length),
        PROT_READ | PROT_WRITE,
        MAP_SHARED,
        this.#fd,
        BigInt(offset),
      );
      // MAP_FAILED is (void *)-1.
      if (
        pointer === null || Deno.UnsafePointer.value(pointer) === -1n ||
        Deno.UnsafePointer.value(pointer) === 0xffffffffffffffffn
      ) {
        throw new V4l2Error("mmap", errno(), this.path);
      }
      this.#buffers.push({ pointer, length });
    }
    for (let index = 0; index < count; index++) {
      this.#must("VIDIOC_QBUF", this.#bufferArg(index));
    }
    this.#must("VIDIOC_STREAMON", this.#typeArg());
    this.#streaming = true;
  }

  #bufferArg(index: number): Uint8Array {
    const buf = this.#buffer.fill(0);
    const view = new DataView(buf.buffer);
    view.setUint32(ABI["v4l2_buffer.index"], index, true);
    view.setUint32(
      ABI["v4l2_buffer.type"],
      ABI.V4L2_BUF_TYPE_VIDEO_CAPTURE,
      true,
    );
    view.setUint32(ABI["v4l2_buffer.memory"], ABI.V4L2_MEMORY_MMAP, true);
    return buf;
  }

  #typeArg(): Uint8Array {
    return new Uint8Array(
      new Uint32Array([ABI.V4L2_BUF_TYPE_VIDEO_CAPTURE]).buffer,
    );
  }

  /**
   * Waits up to `timeoutMs` for a frame (poll, off the event loop), then
   * dequeues it, copies it out and queues its buffer again.
   *
   * @returns The frame, or `null` when none came in time.
   * @throws {V4l2Error} When the camera fails (ENODEV when unplugged).
   */
  async nextFrame(timeoutMs: number): Promise<V4l2Frame | null> {
    const fds = new DataView(this.#pollFds.buffer);
    fds.setInt32(0, this.#fd, true);
    fds.setInt16(4, POLLIN, true);
    fds.setInt16(6, 0, true);
    this.#polling = this.#lib.symbols.poll(this.#pollFds, 1n, timeoutMs);
    const ready = await this.#polling.finally(() => this.#polling = null);
    if (this.#fd < 0) return null; // closed while waiting
    const revents = fds.getInt16(6, true);
    if (ready <= 0 && !(revents & (POLLERR | POLLHUP))) return null;
    const buf = this.#bufferArg(0);
    const rc = this.#ioctl("VIDIOC_DQBUF", buf);
    if (rc === -11) return null; // EAGAIN: a spurious wake
    if (rc < 0) throw new V4l2Error("VIDIOC_DQBUF", -rc, this.path);
    const view = new DataView(buf.buffer);
    const index = view.getUint32(ABI["v4l2_buffer.index"], true);
    const used = view.getUint32(ABI["v4l2_buffer.bytesused"], true);
    const flags = view.getUint32(ABI["v4l2_buffer.flags"], true);
    const sequence = view.getUint32(ABI["v4l2_buffer.sequence"], true);
    const mapped = this.#buffers[index];
    if (mapped === undefined) {
      throw new V4l2Error("VIDIOC_DQBUF", 22, this.path);
    }
    // Copy out before the buffer goes back to the driver.
    const bytes = used === 0 ? new Uint8Array(0) : new Uint8Array(
      Deno.UnsafePointerView.getArrayBuffer(
        mapped.pointer!,
        Math.min(used, mapped.length),
      ).slice(0),
    );
    this.#must("VIDIOC_QBUF", this.#bufferArg(index));
    return {
      bytes,
      damaged: (flags & ABI.V4L2_BUF_FLAG_ERROR) !== 0,
      sequence,
    };
  }

  /**
   * Stops streaming, unmaps every buffer and closes the fd. Safe to call
   * in any state and more than once; waits for a poll in flight first, so
   * that no worker thread polls a closed (or reused) fd number.
   */
  async close(): Promise<void> {
    await this.#polling?.catch(() => {});
    this.closeNow();
  }

  /** {@linkcode close} without waiting: only when no poll is in flight. */
  closeNow(): void {
    if (this.#fd < 0) return;
    if (this.#streaming) {
      this.#ioctl("VIDIOC_STREAMOFF", this.#typeArg());
      this.#streaming = false;
    }
    for (const { pointer, length } of this.#buffers) {
      this.#lib.symbols.munmap(pointer, BigInt(length));
    }
    this.#buffers = [];
    this.#lib.symbols.close(this.#fd);
    this.#fd = -1;
  }
}

function cString(text: string): Uint8Array {
  return new TextEncoder().encode(text + "\0");
}

function cText(bytes: Uint8Array, at: number, size: number): string {
  const field = bytes.subarray(at, at + size);
  const end = field.indexOf(0);
  return new TextDecoder().decode(end === -1 ? field : field.subarray(0, end));
}

/**
 * Lists the V4L2 device nodes, `/dev/video0` first.
 *
 * @returns Paths of every `/dev/videoN`, by number.
 */
export function videoNodes(): string[] {
  const nodes: number[] = [];
  try {
    for (const entry of Deno.readDirSync("/dev")) {
      const m = /^video(\d+)$/.exec(entry.name);
      if (m) nodes.push(Number(m[1]));
    }
  } catch {
    // No /dev to read: no cameras.
  }
  return nodes.sort((a, b) => a - b).map((n) => `/dev/video${n}`);
}
