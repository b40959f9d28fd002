// Copyright 2026 the camwire authors. MIT license.
/**
 * Video4Linux2 through FFI: {@linkcode V4l2Device}, one open camera: what
 * it is, setting a mode, and streaming frames through mmap'ed buffers,
 * single- or multi-planar. Every call goes through the one libc binding
 * (server/sys/libc.ts); the numbers are in server/camera/v4l2_abi.ts, the
 * errors in v4l2_call.ts; what the camera offers is read by v4l2_modes.ts,
 * its controls by v4l2_controls.ts.
 *
 * @module
 */

import { errno, type Libc, libcUnavailable, openLibc } from "../sys/libc.ts";
import { CamwireError } from "../../common/cli.ts";
import { ABI } from "./v4l2_abi.ts";
import { stampableBuffer } from "../../common/jpeg.ts";
import {
  type AbiName,
  cString,
  cText,
  fourccCode,
  fourccName,
  type V4l2Calls,
  V4l2Error,
} from "./v4l2_call.ts";
import { readModes, type V4l2Mode } from "./v4l2_modes.ts";
import { readControls, setControl, type V4l2Control } from "./v4l2_controls.ts";

export { ABI };
export {
  ERRNO_NAMES,
  explainErrno,
  fourccCode,
  fourccName,
  V4l2Error,
} from "./v4l2_call.ts";
export type { RateRange, SizeRange, V4l2Mode } from "./v4l2_modes.ts";
export type { V4l2Control } from "./v4l2_controls.ts";

/** From <fcntl.h>, <sys/mman.h> and <poll.h> (Linux). */
const O_RDWR = 2;
const O_NONBLOCK = 0o4000;
const O_CLOEXEC = 0o2000000;
const PROT_READ = 1;
const PROT_WRITE = 2;
const MAP_SHARED = 1;
const POLLIN = 1;
const POLLERR = 8;
const POLLHUP = 16;

/** What VIDIOC_QUERYCAP tells. */
export interface V4l2Identity {
  /** The camera's name, e.g. `HD Webcam C270`. */
  card: string;
  /** The kernel driver, e.g. `uvcvideo`. */
  driver: string;
  busInfo: string;
  /**
   * Whether this node captures video and can stream through mmap: its
   * own capabilities (`device_caps`), not the whole device's.
   */
  canCapture: boolean;
  /** Whether it does so through the multi-planar API. */
  multiplanar: boolean;
  /**
   * Whether it is a metadata node (a UVC camera's second /dev/videoN):
   * it captures metadata, not video.
   */
  metadata: boolean;
}

/** A frame copied out of the camera's buffer. */
export interface V4l2Frame {
  /** The payload; a multi-planar frame's planes one after the other. */
  bytes: Uint8Array;
  /** The driver flagged the buffer as damaged (V4L2_BUF_FLAG_ERROR). */
  damaged: boolean;
  sequence: number;
}

/** What {@linkcode V4l2Device.setMode} set. */
export interface V4l2Format {
  fourcc: string;
  width: number;
  height: number;
  /** Bytes of the first plane's image. */
  sizeImage: number;
  /** Planes per buffer (1 but for multi-planar formats such as NV12M). */
  planes: number;
}

/** How many mmap'ed buffers to ask for: enough to never miss a frame. */
const BUFFERS = 4;

/**
 * Each ioctl request as the bigint FFI takes, made once: `BigInt()` per
 * call allocated two of them per frame.
 */
const REQUESTS = new Map<AbiName, bigint>();

function request(name: AbiName): bigint {
  let code = REQUESTS.get(name);
  if (code === undefined) REQUESTS.set(name, code = BigInt(ABI[name]));
  return code;
}

/** One plane of a mmap'ed buffer. */
interface MappedPlane {
  pointer: Deno.PointerValue;
  length: number;
}

/**
 * One open V4L2 camera. Open with {@linkcode V4l2Device.open}, read what
 * it offers, set a mode, {@linkcode V4l2Device.stream}, take frames with
 * {@linkcode V4l2Device.nextFrame}; {@linkcode V4l2Device.close} unmaps
 * every buffer and closes the fd, whatever state it is in. A node that
 * captures through the multi-planar API (VIDEO_CAPTURE_MPLANE: Rockchip,
 * Allwinner, i.MX and other SoC capture nodes) is driven through it: its
 * format as `v4l2_pix_format_mplane`, each plane of each buffer mmap'ed,
 * the planes of a frame copied out one after the other.
 */
export class V4l2Device implements V4l2Calls {
  readonly path: string;
  #lib: Libc;
  #fd: number;
  #multiplanar: boolean | undefined;
  #planes = 1;
  #buffers: MappedPlane[][] = [];
  #streaming = false;
  #polling: Promise<number> | null = null;
  #pollFds = new Uint8Array(8);
  #pollView = new DataView(this.#pollFds.buffer);
  #buffer = new Uint8Array(ABI["sizeof v4l2_buffer"]);
  #bufferView = new DataView(this.#buffer.buffer);
  /** The `v4l2_plane` array a multi-planar buffer points at. */
  #planeArray = new Uint8Array(ABI["sizeof v4l2_plane"] * ABI.VIDEO_MAX_PLANES);

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
      throw new Error(
        `V4L2 cannot be used here: ${libcUnavailable() ?? "no libc"}`,
      );
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

  /**
   * One ioctl on the camera, retried on EINTR.
   *
   * @returns The result, or minus errno.
   */
  ioctl(name: AbiName, arg: Uint8Array): number {
    if (this.#fd < 0) throw new V4l2Error(name, 9, this.path); // EBADF
    while (true) {
      const rc = this.#lib.symbols.ioctl(this.#fd, request(name), arg);
      if (rc >= 0) return rc;
      const code = errno();
      if (code !== 4) return -code; // retry on EINTR
    }
  }

  #must(name: AbiName, arg: Uint8Array): void {
    const rc = this.ioctl(name, arg);
    if (rc < 0) throw new V4l2Error(name, -rc, this.path);
  }

  /** VIDIOC_QUERYCAP: what the device node is. */
  identify(): V4l2Identity {
    const cap = new Uint8Array(ABI["sizeof v4l2_capability"]);
    this.#must("VIDIOC_QUERYCAP", cap);
    const view = new DataView(cap.buffer);
    let caps = view.getUint32(ABI["v4l2_capability.capabilities"], true);
    // `capabilities` are the whole device's: a UVC camera's metadata node
    // says VIDEO_CAPTURE there too. Only `device_caps` are this node's.
    if (caps & ABI.V4L2_CAP_DEVICE_CAPS) {
      caps = view.getUint32(ABI["v4l2_capability.device_caps"], true);
    }
    const streams = (caps & ABI.V4L2_CAP_STREAMING) !== 0;
    const single = (caps & ABI.V4L2_CAP_VIDEO_CAPTURE) !== 0;
    const multi = (caps & ABI.V4L2_CAP_VIDEO_CAPTURE_MPLANE) !== 0;
    // A node offering both is driven through the single-planar API.
    this.#multiplanar = multi && !single;
    return {
      driver: cText(cap, ABI["v4l2_capability.driver"], 16),
      card: cText(cap, ABI["v4l2_capability.card"], 32),
      busInfo: cText(cap, ABI["v4l2_capability.bus_info"], 32),
      canCapture: streams && (single || multi),
      multiplanar: this.#multiplanar,
      metadata: !single && !multi &&
        (caps & ABI.V4L2_CAP_META_CAPTURE) !== 0,
    };
  }

  /** Whether the node is multi-planar (asks QUERYCAP the first time). */
  get #isMultiplanar(): boolean {
    if (this.#multiplanar === undefined) this.identify();
    return this.#multiplanar!;
  }

  /** The buffer type of every call: single- or multi-planar capture. */
  get #bufferType(): number {
    return this.#isMultiplanar
      ? ABI.V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE
      : ABI.V4L2_BUF_TYPE_VIDEO_CAPTURE;
  }

  /**
   * VIDIOC_ENUM_FMT, _FRAMESIZES and _FRAMEINTERVALS: every mode offered
   * (see server/camera/v4l2_modes.ts; ranges are kept as ranges).
   */
  modes(): V4l2Mode[] {
    return readModes(this, this.#bufferType);
  }

  /**
   * The camera's controls with their ranges, menus and current values
   * (see server/camera/v4l2_controls.ts).
   */
  controls(): V4l2Control[] {
    return readControls(this);
  }

  /**
   * VIDIOC_S_CTRL of one control.
   *
   * @returns The value the driver kept (it may round it to its step).
   * @throws {V4l2Error} When the driver refuses it.
   */
  setControl(id: number, value: number): number {
    return setControl(this, id, value);
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
  ): V4l2Format {
    const format = new Uint8Array(ABI["sizeof v4l2_format"]);
    const view = new DataView(format.buffer);
    const type = this.#bufferType;
    view.setUint32(ABI["v4l2_format.type"], type, true);
    const set = this.#isMultiplanar
      ? setPixMp(view, fourcc, width, height)
      : setPix(view, fourcc, width, height);
    this.#must("VIDIOC_S_FMT", format);
    const parm = new Uint8Array(ABI["sizeof v4l2_streamparm"]);
    const pview = new DataView(parm.buffer);
    const capture = ABI["v4l2_streamparm.parm"];
    pview.setUint32(0, type, true);
    // timeperframe = 1000 / (fps * 1000): keeps 29.97-style rates exact
    pview.setUint32(capture + ABI["v4l2_captureparm.timeperframe"], 1000, true);
    pview.setUint32(
      capture + ABI["v4l2_captureparm.timeperframe"] + 4,
      Math.round(fps * 1000),
      true,
    );
    // Not every driver sets a rate (EINVAL, ENOTTY): the mode stands anyway.
    this.ioctl("VIDIOC_S_PARM", parm);
    const result = set();
    this.#planes = result.planes;
    return result;
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
    return this.ioctl("VIDIOC_S_CTRL", control) >= 0;
  }

  /** VIDIOC_REQBUFS, QUERYBUF + mmap, QBUF each, VIDIOC_STREAMON. */
  stream(): void {
    const req = new Uint8Array(ABI["sizeof v4l2_requestbuffers"]);
    const rview = new DataView(req.buffer);
    rview.setUint32(ABI["v4l2_requestbuffers.count"], BUFFERS, true);
    rview.setUint32(ABI["v4l2_requestbuffers.type"], this.#bufferType, true);
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
      const mapped: MappedPlane[] = [];
      this.#buffers.push(mapped);
      for (const { length, offset } of this.#planesOf(buf)) {
        mapped.push({ pointer: this.#map(length, offset), length });
      }
    }
    for (let index = 0; index < count; index++) {
      this.#must("VIDIOC_QBUF", this.#bufferArg(index));
    }
    this.#must("VIDIOC_STREAMON", this.#typeArg());
    this.#streaming = true;
  }

  #map(length: number, offset: number): Deno.PointerValue {
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
    return pointer;
  }

  /**
   * The planes of a buffer the driver described (QUERYBUF, DQBUF): for a
   * single-planar node the buffer itself, its payload from 0.
   */
  #planesOf(
    buf: Uint8Array,
  ): { length: number; offset: number; used: number; dataOffset: number }[] {
    const view = new DataView(buf.buffer);
    if (!this.#isMultiplanar) {
      return [{
        length: view.getUint32(ABI["v4l2_buffer.length"], true),
        offset: view.getUint32(ABI["v4l2_buffer.m"], true),
        used: view.getUint32(ABI["v4l2_buffer.bytesused"], true),
        dataOffset: 0,
      }];
    }
    const count = Math.min(
      view.getUint32(ABI["v4l2_buffer.length"], true),
      ABI.VIDEO_MAX_PLANES,
    );
    const planes = new DataView(this.#planeArray.buffer);
    const size = ABI["sizeof v4l2_plane"];
    return Array.from({ length: count }, (_, p) => ({
      length: planes.getUint32(p * size + ABI["v4l2_plane.length"], true),
      offset: planes.getUint32(p * size + ABI["v4l2_plane.m"], true),
      used: planes.getUint32(p * size + ABI["v4l2_plane.bytesused"], true),
      dataOffset: planes.getUint32(
        p * size + ABI["v4l2_plane.data_offset"],
        true,
      ),
    }));
  }

  #bufferArg(index: number): Uint8Array {
    const buf = this.#buffer.fill(0);
    const view = this.#bufferView;
    view.setUint32(ABI["v4l2_buffer.index"], index, true);
    view.setUint32(ABI["v4l2_buffer.type"], this.#bufferType, true);
    view.setUint32(ABI["v4l2_buffer.memory"], ABI.V4L2_MEMORY_MMAP, true);
    if (this.#isMultiplanar) {
      // m.planes points at the array; length is its number of entries.
      this.#planeArray.fill(0);
      const address = Deno.UnsafePointer.value(
        Deno.UnsafePointer.of(this.#planeArray),
      );
      view.setBigUint64(ABI["v4l2_buffer.m"], BigInt(address), true);
      view.setUint32(ABI["v4l2_buffer.length"], this.#planes, true);
    }
    return buf;
  }

  #typeArg(): Uint8Array {
    return new Uint8Array(new Uint32Array([this.#bufferType]).buffer);
  }

  /**
   * Waits up to `timeoutMs` for a frame (poll, off the event loop), then
   * dequeues it, copies it out and queues its buffer again.
   *
   * @returns The frame, or `null` when none came in time.
   * @throws {V4l2Error} When the camera fails (ENODEV when unplugged).
   */
  async nextFrame(timeoutMs: number): Promise<V4l2Frame | null> {
    const fds = this.#pollView;
    fds.setInt32(0, this.#fd, true);
    fds.setInt16(4, POLLIN, true);
    fds.setInt16(6, 0, true);
    const polling = this.#lib.symbols.poll(this.#pollFds, 1n, timeoutMs);
    this.#polling = polling;
    let ready: number;
    try {
      ready = await polling;
    } finally {
      this.#polling = null;
    }
    if (this.#fd < 0) return null; // closed while waiting
    const revents = fds.getInt16(6, true);
    if (ready <= 0 && !(revents & (POLLERR | POLLHUP))) return null;
    const buf = this.#bufferArg(0);
    const rc = this.ioctl("VIDIOC_DQBUF", buf);
    if (rc === -11) return null; // EAGAIN: a spurious wake
    if (rc < 0) throw new V4l2Error("VIDIOC_DQBUF", -rc, this.path);
    const view = this.#bufferView;
    const index = view.getUint32(ABI["v4l2_buffer.index"], true);
    const flags = view.getUint32(ABI["v4l2_buffer.flags"], true);
    const sequence = view.getUint32(ABI["v4l2_buffer.sequence"], true);
    const mapped = this.#buffers[index];
    if (mapped === undefined) {
      throw new V4l2Error("VIDIOC_DQBUF", 22, this.path);
    }
    // Copy out before the buffer goes back to the driver: one plane (the
    // usual case, an MJPEG camera's) straight into the frame's buffer.
    const bytes = mapped.length === 1 && !this.#isMultiplanar
      ? copyPlane(
        mapped[0]!,
        view.getUint32(ABI["v4l2_buffer.bytesused"], true),
      )
      : copyOut(mapped, this.#planesOf(buf));
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
      this.ioctl("VIDIOC_STREAMOFF", this.#typeArg());
      this.#streaming = false;
    }
    for (const planes of this.#buffers) {
      for (const { pointer, length } of planes) {
        this.#lib.symbols.munmap(pointer, BigInt(length));
      }
    }
    this.#buffers = [];
    this.#lib.symbols.close(this.#fd);
    this.#fd = -1;
  }
}

/**
 * The payload of a single-planar buffer, never past its mapping, in a
 * buffer the capture stamp can be written into without a copy.
 */
function copyPlane(plane: MappedPlane, used: number): Uint8Array {
  const bytes = stampableBuffer(Math.min(used, plane.length));
  if (bytes.length > 0) Deno.UnsafePointerView.copyInto(plane.pointer!, bytes);
  return bytes;
}

/**
 * The payload of a dequeued buffer, its planes one after the other (NV12
 * in two planes becomes NV12 in one), each from its data offset to its
 * bytesused, never past the mapping.
 */
function copyOut(
  mapped: MappedPlane[],
  planes: { used: number; dataOffset: number }[],
): Uint8Array {
  const parts = planes.map(({ used, dataOffset }, p) => {
    const plane = mapped[p];
    const end = Math.min(used, plane?.length ?? 0);
    if (plane === undefined || end <= dataOffset) return new Uint8Array(0);
    return new Uint8Array(
      Deno.UnsafePointerView.getArrayBuffer(plane.pointer!, end, dataOffset),
    );
  });
  if (parts.length === 1) return parts[0]!.slice();
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/**
 * Fills a single-planar S_FMT argument.
 *
 * @returns What reads back the format the driver set.
 */
function setPix(
  view: DataView,
  fourcc: string,
  width: number,
  height: number,
): () => V4l2Format {
  const pix = ABI["v4l2_format.fmt"];
  view.setUint32(pix + ABI["v4l2_pix_format.width"], width, true);
  view.setUint32(pix + ABI["v4l2_pix_format.height"], height, true);
  view.setUint32(
    pix + ABI["v4l2_pix_format.pixelformat"],
    fourccCode(fourcc),
    true,
  );
  view.setUint32(pix + ABI["v4l2_pix_format.field"], ABI.V4L2_FIELD_ANY, true);
  return () => ({
    fourcc: fourccName(
      view.getUint32(pix + ABI["v4l2_pix_format.pixelformat"], true),
    ),
    width: view.getUint32(pix + ABI["v4l2_pix_format.width"], true),
    height: view.getUint32(pix + ABI["v4l2_pix_format.height"], true),
    sizeImage: view.getUint32(pix + ABI["v4l2_pix_format.sizeimage"], true),
    planes: 1,
  });
}

/**
 * Fills a multi-planar S_FMT argument (`v4l2_pix_format_mplane`; the
 * driver says how many planes).
 *
 * @returns What reads back the format the driver set.
 */
function setPixMp(
  view: DataView,
  fourcc: string,
  width: number,
  height: number,
): () => V4l2Format {
  const mp = ABI["v4l2_format.fmt"];
  view.setUint32(mp + ABI["v4l2_pix_format_mplane.width"], width, true);
  view.setUint32(mp + ABI["v4l2_pix_format_mplane.height"], height, true);
  view.setUint32(
    mp + ABI["v4l2_pix_format_mplane.pixelformat"],
    fourccCode(fourcc),
    true,
  );
  view.setUint32(
    mp + ABI["v4l2_pix_format_mplane.field"],
    ABI.V4L2_FIELD_ANY,
    true,
  );
  return () => ({
    fourcc: fourccName(
      view.getUint32(mp + ABI["v4l2_pix_format_mplane.pixelformat"], true),
    ),
    width: view.getUint32(mp + ABI["v4l2_pix_format_mplane.width"], true),
    height: view.getUint32(mp + ABI["v4l2_pix_format_mplane.height"], true),
    sizeImage: view.getUint32(
      mp + ABI["v4l2_pix_format_mplane.plane_fmt"] +
        ABI["v4l2_plane_pix_format.sizeimage"],
      true,
    ),
    planes: Math.max(
      1,
      Math.min(
        view.getUint8(mp + ABI["v4l2_pix_format_mplane.num_planes"]),
        ABI.VIDEO_MAX_PLANES,
      ),
    ),
  });
}

/**
 * Lists the V4L2 device nodes, `/dev/video0` first.
 *
 * @param dir Where the nodes are (tests: a folder of emulated cameras).
 * @returns Paths of every `videoN` there, by number.
 * @throws {CamwireError} When Deno may not read /dev (no -A).
 */
export function videoNodes(dir = "/dev"): string[] {
  const nodes: number[] = [];
  try {
    for (const entry of Deno.readDirSync(dir)) {
      const m = /^video(\d+)$/.exec(entry.name);
      if (m) nodes.push(Number(m[1]));
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) {
      throw new CamwireError(
        "Cannot list the cameras: Deno lets only -A read /dev (run with -A, or name one: --list-devices --device /dev/video0)",
      );
    }
    // No /dev to read: no cameras.
  }
  return nodes.sort((a, b) => a - b).map((n) => `${dir}/video${n}`);
}
