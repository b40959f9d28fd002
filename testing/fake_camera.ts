// Copyright 2026 the camwire authors. MIT license.
/**
 * The emulated camera for tests (and benches): builds testing/fake_camera.c
 * (with fake_camera_ioctl.c and fake_camera_frames.c) and testing/v4l2_abi.c with gcc into a temporary directory once per
 * process, makes the JPEG frames a fake camera serves (ffmpeg's testsrc2,
 * encoded with the standard Huffman tables as UVC cameras do), and writes
 * fake camera device files. A fake stands in here because nothing real
 * can run: there is no V4L2 in this kernel and no camera on these
 * machines. See testing/fake_camera.c for what it emulates.
 *
 * ```ts ignore
 * const cam = await FakeCameras.create();
 * const device = await cam.device({ modes: [{ fourcc: "MJPG", width: 320, height: 240, fps: 30 }] });
 * // CAMWIRE_LIBC=cam.library deno run -A server.ts --device <device>
 * ```
 *
 * @module
 */

import { type Libc, SYMBOLS } from "../server/sys/libc.ts";

const HERE = new URL(".", import.meta.url).pathname;

let buildDir: Promise<string> | undefined;

/** A directory for this process's builds, removed when it exits. */
function scratch(): Promise<string> {
  buildDir ??= Deno.makeTempDir({ prefix: "camwire-fake-camera-" }).then(
    (dir) => {
      globalThis.addEventListener("unload", () => {
        try {
          Deno.removeSync(dir, { recursive: true });
        } catch {
          // Gone already.
        }
      });
      return dir;
    },
  );
  return buildDir;
}

const built = new Map<string, Promise<string>>();

/**
 * The machine a build is for: this one, or 64-bit ARM (built with
 * `aarch64-linux-gnu-gcc`, run under `qemu-aarch64-static`; see
 * e2e/aarch64_test.ts).
 */
export type Arch = "native" | "aarch64";

/** Runs gcc (or the aarch64 cross gcc); throws with its output when it fails. */
async function gcc(args: string[], arch: Arch): Promise<void> {
  const compiler = arch === "aarch64" ? "aarch64-linux-gnu-gcc" : "gcc";
  const { code, stderr } = await new Deno.Command(compiler, {
    args,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  if (code !== 0) {
    throw new Error(
      `${compiler} ${args.join(" ")} failed:\n${
        new TextDecoder().decode(stderr)
      }`,
    );
  }
}

/** The emulated camera's C files, built together into one library. */
const FAKE_CAMERA_SOURCES = [
  "fake_camera.c",
  "fake_camera_ioctl.c",
  "fake_camera_controls.c",
  "fake_camera_frames.c",
];

/**
 * Builds `testing/fake_camera.c` (and the files it shares
 * `fake_camera.h` with) as a shared library, once per process and arch.
 *
 * @returns Its path: give it as `CAMWIRE_LIBC`, or to `Deno.dlopen`.
 */
export function buildFakeCamera(arch: Arch = "native"): Promise<string> {
  return once(`fake_camera-${arch}.so`, async (out) => {
    await gcc([
      ...["-shared", "-fPIC", "-O2", "-Wall", "-Werror", "-o", out],
      ...FAKE_CAMERA_SOURCES.map((file) => HERE + file),
      "-ldl",
      "-lpthread",
    ], arch);
  });
}

/**
 * Builds `testing/v4l2_abi.c`, once per process and arch.
 *
 * @returns The program's path; it prints the ABI as JSON.
 */
export function buildAbiProbe(arch: Arch = "native"): Promise<string> {
  return once(`v4l2_abi-${arch}`, async (out) => {
    await gcc(["-Wall", "-Werror", "-o", out, HERE + "v4l2_abi.c"], arch);
  });
}

function once(
  name: string,
  build: (out: string) => Promise<void>,
): Promise<string> {
  let result = built.get(name);
  if (result === undefined) {
    result = scratch().then(async (dir) => {
      const out = `${dir}/${name}`;
      await build(out);
      return out;
    });
    built.set(name, result);
  }
  return result;
}

/** One mode a fake camera offers. */
export interface FakeMode {
  /** Any FourCC; NM12 (NV12 in two planes) only with `mplane`. */
  fourcc: string;
  width: number;
  height: number;
  fps: number;
  /**
   * MJPG: where its JPEGs come from (u32 LE length + JPEG records; a FIFO
   * is read live). @default {frames made with ffmpeg at this size}
   */
  frames?: string;
}

/**
 * A format that takes any size in a range (the Pi's bcm2835 camera:
 * stepwise 32x32 to 2592x1944, step 2x2).
 */
export interface FakeRange {
  fourcc: string;
  type: "stepwise" | "continuous";
  min: [width: number, height: number];
  max: [width: number, height: number];
  /** @default {[1, 1]} */
  step?: [width: number, height: number];
}

/** A fraction of a second: [numerator, denominator]. */
export type Fraction = [number, number];

/** One control (see testing/fake_camera_controls.c). */
export interface FakeControl {
  id: number;
  type: "int" | "bool" | "menu" | "intmenu" | "button" | "int64" | "class";
  /** What QUERYCTRL reports, e.g. `White Balance, Automatic`. */
  name: string;
  min?: number;
  max?: number;
  step?: number;
  default?: number;
  /** V4L2_CTRL_FLAG_* bits: 1 disabled, 4 read-only, 16 inactive. */
  flags?: number;
  /** Menu items by index (holes are left out). */
  menu?: Record<number, string>;
}

/** How a fake camera behaves (see testing/fake_camera.c). */
export interface FakeCameraConfig {
  /** QUERYCAP's driver (at most 15 bytes). @default {"fakecam"} */
  driver?: string;
  /** QUERYCAP's card (at most 31 bytes). @default {"Emulated Camera"} */
  card?: string;
  modes: FakeMode[];
  /** Formats whose sizes are a range. */
  ranges?: FakeRange[];
  /**
   * Sizes to make MJPG frames of for the range formats (the size camwire
   * will ask for; others deliver empty buffers).
   */
  frameSizes?: [width: number, height: number][];
  /** The rate of a range format until S_PARM sets one. @default {30} */
  fps?: number;
  /** Every size offers this range of intervals (seconds per frame). */
  intervals?: {
    type: "stepwise" | "continuous";
    min: Fraction;
    max: Fraction;
    step?: Fraction;
  };
  /** A multi-planar node (VIDEO_CAPTURE_MPLANE). */
  mplane?: boolean;
  /** A UVC metadata node: device_caps META_CAPTURE only. */
  meta?: boolean;
  controls?: FakeControl[];
  /** No VIDIOC_QUERY_EXT_CTRL (ENOTTY): QUERYCTRL only. */
  noExtCtrls?: boolean;
  /** Every Nth whole frame is flagged V4L2_BUF_FLAG_ERROR. */
  errorEvery?: number;
  /** JPEGs lose their Huffman tables. */
  stripDht?: boolean;
  /** Every Nth frame is cut short. */
  truncateEvery?: number;
  /** open() fails with this errno (16: EBUSY, 13: EACCES). */
  openErrno?: number;
  /** After N frames: POLLERR and ENODEV (unplugged). */
  unplugAfter?: number;
  /** After N frames: never another one (stall). */
  stallAfter?: number;
  /** This ioctl request fails with this errno. */
  failIoctl?: [request: number, errno: number];
  /** Print every call on the fake to stderr. */
  trace?: boolean;
  /**
   * Each JPEG dequeued carries a COM segment `camera t=<Unix ms>` after
   * SOI, written at DQBUF (for benches: latency from the camera on).
   */
  stamp?: boolean;
}

/** errno values for {@linkcode FakeCameraConfig}. */
export const EBUSY = 16;
export const EACCES = 13;

/**
 * Fake cameras in one temporary directory: their device files and frames.
 * Dispose of it (`await using`) to remove them.
 */
export class FakeCameras implements AsyncDisposable {
  /** The built emulated camera library (give as `CAMWIRE_LIBC`). */
  readonly library: string;
  readonly dir: string;
  #count = 0;
  #frames = new Map<string, Promise<string>>();

  private constructor(library: string, dir: string) {
    this.library = library;
    this.dir = dir;
  }

  /**
   * Builds the library (once per process) and makes a directory.
   *
   * @param arch What the library is built for. @default {"native"}
   */
  static async create(arch: Arch = "native"): Promise<FakeCameras> {
    const library = await buildFakeCamera(arch);
    const dir = await Deno.makeTempDir({ prefix: "camwire-cameras-" });
    return new FakeCameras(library, dir);
  }

  /**
   * Writes a fake camera's device file.
   *
   * @returns Its path (`<dir>/videoN`), to pass as `--device`.
   */
  async device(config: FakeCameraConfig): Promise<string> {
    const lines = ["camwire-fake-camera"];
    if (config.driver) lines.push(`driver=${config.driver}`);
    if (config.card) lines.push(`card=${config.card}`);
    for (const m of config.modes) {
      const frames = m.fourcc === "MJPG" || m.fourcc === "JPEG"
        ? m.frames ?? await this.frames(m.width, m.height)
        : "";
      lines.push(`mode=${m.fourcc} ${m.width}x${m.height} ${m.fps} ${frames}`);
    }
    for (const r of config.ranges ?? []) {
      const [sw, sh] = r.step ?? [1, 1];
      lines.push(
        `range=${r.fourcc} ${r.type} ${r.min.join("x")} ${
          r.max.join("x")
        } ${sw}x${sh}`,
      );
    }
    for (const [width, height] of config.frameSizes ?? []) {
      lines.push(
        `frames=${width}x${height} ${await this.frames(width, height)}`,
      );
    }
    if (config.fps) lines.push(`fps=${config.fps}`);
    const ivals = config.intervals;
    if (ivals) {
      const fractions = [ivals.min, ivals.max, ivals.step ?? [1, 1]];
      lines.push(
        `intervals=${ivals.type} ${
          fractions.map((f) => f.join("/")).join(" ")
        }`,
      );
    }
    if (config.mplane) lines.push("mplane=1");
    if (config.meta) lines.push("meta=1");
    for (const c of config.controls ?? []) {
      const numbers = [c.min ?? 0, c.max ?? 0, c.step ?? 0, c.default ?? 0];
      lines.push(
        `control=${c.id.toString(16)} ${c.type} ${numbers.join(" ")} ${
          c.flags ?? 0
        } ${c.name}`,
      );
      for (const [index, name] of Object.entries(c.menu ?? {})) {
        lines.push(`menu=${c.id.toString(16)} ${index} ${name}`);
      }
    }
    if (config.noExtCtrls) lines.push("ext_ctrls=0");
    if (config.errorEvery) lines.push(`error_every=${config.errorEvery}`);
    if (config.stripDht) lines.push("strip_dht=1");
    if (config.truncateEvery) {
      lines.push(`truncate_every=${config.truncateEvery}`);
    }
    if (config.openErrno) lines.push(`open_errno=${config.openErrno}`);
    if (config.unplugAfter) lines.push(`unplug_after=${config.unplugAfter}`);
    if (config.stallAfter) lines.push(`stall_after=${config.stallAfter}`);
    if (config.failIoctl) {
      lines.push(`fail_ioctl=${config.failIoctl.join(" ")}`);
    }
    if (config.trace) lines.push("trace=1");
    if (config.stamp) lines.push("stamp=1");
    const path = `${this.dir}/video${this.#count++}`;
    await Deno.writeTextFile(path, lines.join("\n") + "\n");
    return path;
  }

  /**
   * 30 frames of ffmpeg's testsrc2 at this size, encoded at -q:v 5 with
   * the standard Huffman tables, as records (made once per size).
   *
   * @returns The records file.
   */
  frames(width: number, height: number): Promise<string> {
    const key = `${width}x${height}`;
    let file = this.#frames.get(key);
    if (file === undefined) {
      file = makeFrameRecords(
        `testsrc2=size=${key}:rate=30`,
        30,
        `${this.dir}/frames-${key}.bin`,
      );
      this.#frames.set(key, file);
    }
    return file;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}

/**
 * Encodes `count` frames of an ffmpeg lavfi source as JPEGs with the
 * standard Huffman tables and writes them as fake-camera records.
 *
 * @returns `out`.
 */
export async function makeFrameRecords(
  lavfi: string,
  count: number,
  out: string,
): Promise<string> {
  const { code, stdout, stderr } = await new Deno.Command("ffmpeg", {
    args: [
      ...["-hide_banner", "-loglevel", "error", "-nostdin"],
      ...["-f", "lavfi", "-i", lavfi, "-frames:v", String(count)],
      ...["-c:v", "mjpeg", "-huffman", "default", "-q:v", "5"],
      ...["-f", "mjpeg", "pipe:1"],
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (code !== 0) {
    throw new Error(`ffmpeg failed: ${new TextDecoder().decode(stderr)}`);
  }
  await Deno.writeFile(out, toRecords(splitJpegs(stdout)));
  return out;
}

/** Cuts ffmpeg's MJPEG output at each EOI (its JPEGs hold no FF D9 inside). */
export function splitJpegs(bytes: Uint8Array): Uint8Array[] {
  const jpegs: Uint8Array[] = [];
  let start = 0;
  for (let i = 0; i + 1 < bytes.length; i++) {
    if (bytes[i] === 0xff && bytes[i + 1] === 0xd9) {
      jpegs.push(bytes.subarray(start, i + 2));
      start = i + 2;
    }
  }
  return jpegs;
}

/** JPEGs as records: u32 little-endian length, then the bytes. */
export function toRecords(jpegs: Uint8Array[]): Uint8Array {
  const total = jpegs.reduce((n, j) => n + 4 + j.length, 0);
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  let at = 0;
  for (const jpeg of jpegs) {
    view.setUint32(at, jpeg.length, true);
    out.set(jpeg, at + 4);
    at += 4 + jpeg.length;
  }
  return out;
}

/** The JPEGs of records made by {@linkcode toRecords}. */
export function fromRecords(records: Uint8Array): Uint8Array[] {
  const view = new DataView(records.buffer, records.byteOffset);
  const jpegs: Uint8Array[] = [];
  for (let at = 0; at + 4 <= records.length;) {
    const length = view.getUint32(at, true);
    jpegs.push(records.subarray(at + 4, at + 4 + length));
    at += 4 + length;
  }
  return jpegs;
}

/**
 * What a process holds of fake cameras now: fds pointing at one, and
 * mappings of one's buffers (from /proc/PID/fd and /proc/PID/maps).
 *
 * @param pid The process, this one by default.
 * @param under Only cameras whose path starts so (a {@linkcode FakeCameras}'
 * `dir`, or one camera's path): tests running beside each other in one
 * process each count their own.
 */
export function fakeCameraHoldings(
  pid: number | "self" = "self",
  under = "",
): { fds: number; mappings: number } {
  const marker = `/memfd:camwire-fake-camera:${under}`;
  let fds = 0;
  for (const entry of Deno.readDirSync(`/proc/${pid}/fd`)) {
    try {
      const target = Deno.readLinkSync(`/proc/${pid}/fd/${entry.name}`);
      if (target.includes(marker)) fds++;
    } catch {
      // Closed meanwhile (the directory's own fd).
    }
  }
  const maps = Deno.readTextFileSync(`/proc/${pid}/maps`);
  const mappings = maps.split("\n")
    .filter((line) => line.includes(marker)).length;
  return { fds, mappings };
}

/**
 * Opens the emulated camera library as camwire's libc binding, for a test
 * in this process (`using lib = openFakeLibc(cameras.library)`).
 */
export function openFakeLibc(library: string): Libc & Disposable {
  const lib = Deno.dlopen(library, SYMBOLS);
  return Object.assign(lib, { [Symbol.dispose]: () => lib.close() });
}
