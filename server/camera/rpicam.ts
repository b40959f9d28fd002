// Copyright 2026 the camwire authors. MIT license.
/**
 * The Raspberry Pi camera (CSI), read through `rpicam-vid` (libcamera): a
 * Pi's /dev/video0 is then the CSI receiver (unicam, rp1-cfe), which lists
 * formats but cannot stream without libcamera's pipeline. What the Pi
 * pipeline's V4L2 nodes look like, the program on PATH, the sensors it
 * lists, its command line, and one capture of it in the shape the capture
 * supervisor takes ({@linkcode SupervisedCapture}).
 *
 * rpicam-vid writes whole JPEGs back to back on stdout (`--codec mjpeg -o
 * -`), already at `--width`: they pass through untouched, with no ffmpeg.
 * It turns by 180° and mirrors itself (`--rotation 180`, `--hflip`,
 * `--vflip`); only a quarter turn, `--overlay` or `--publish` put an
 * ffmpeg behind it, fed its JPEGs on stdin.
 *
 * @module
 */

import {
  Capture,
  SourceOpenError,
  type SupervisedCapture,
} from "../capture/capture.ts";
import { type Picture, stdinArgs } from "../capture/ffmpeg.ts";
import { jpegQualityPercent } from "./capture.ts";
import { message } from "../../common/cli.ts";
import { findProgram, linesOf } from "../../common/child.ts";
import { deadline } from "../../common/time.ts";

/** The program's names, newest first: libcamera-vid until rpicam-apps 1.4. */
export const RPICAM_PROGRAMS = ["rpicam-vid", "libcamera-vid"] as const;

/**
 * Drivers and cards (QUERYCAP) of the nodes of the Pi's camera pipeline:
 * the CSI receivers (unicam on a Pi 0–4, rp1-cfe on a Pi 5), the ISPs
 * (bcm2835-isp, pispbe) and the VideoCore's memory-to-memory codecs
 * (bcm2835-codec-*). Their format lists look usable and are not: unicam
 * takes S_FMT YUYV and REQBUFS, then fails STREAMON with EINVAL.
 */
const PI_PIPELINE = [
  "unicam",
  "rp1-cfe",
  "bcm2835-isp",
  "pispbe",
  "bcm2835-codec",
];

/**
 * Whether a V4L2 node is part of the Pi's camera pipeline (only libcamera
 * streams it), by its driver and card, never by its formats.
 *
 * @param identity QUERYCAP's driver and card.
 * @returns The pipeline name it matched (e.g. `unicam`), or `undefined`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(piPipelineNode({ driver: "unicam", card: "unicam" }), "unicam");
 * assert.equal(piPipelineNode({ driver: "bcm2835-codec", card: "bcm2835-codec-encode" }), "bcm2835-codec");
 * assert.equal(piPipelineNode({ driver: "uvcvideo", card: "HD Pro Webcam C920" }), undefined);
 * ```
 */
export function piPipelineNode(
  identity: { driver: string; card: string },
): string | undefined {
  return PI_PIPELINE.find((name) =>
    identity.driver.startsWith(name) || identity.card.startsWith(name)
  );
}

/**
 * Finds rpicam-vid, or libcamera-vid, on PATH.
 *
 * @param path The PATH to search. @default {the environment's PATH}
 * @returns The program's path, or `undefined` when neither is there.
 */
export function findRpicam(path?: string): string | undefined {
  return findProgram(RPICAM_PROGRAMS, path);
}

/** One camera as `rpicam-vid --list-cameras` lists it. */
export interface Sensor {
  /** `--camera` index. */
  index: number;
  /** The sensor, e.g. `imx219`. */
  model: string;
  /** Its full size, e.g. 3280×2464: the picture's aspect. */
  width: number;
  height: number;
  /** libcamera's id, e.g. `/base/soc/i2c0mux/i2c@1/imx219@10`. */
  id: string;
}

/**
 * Reads `rpicam-vid --list-cameras`: each camera's header line, as
 * `0 : imx219 [3280x2464 10-bit RGGB] (/base/soc/i2c0mux/i2c@1/imx219@10)`
 * (before mid-2023, rpicam-apps commit a4fc174, without the bit depth and
 * Bayer order).
 *
 * @param text Its stdout.
 * @returns The cameras, none for `No cameras available!`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const text = "Available cameras\n-----------------\n" +
 *   "0 : imx708 [4608x2592 10-bit RGGB] (/base/axi/pcie@120000/rp1/i2c@88000/imx708@1a)\n" +
 *   "    Modes: 'SRGGB10_CSI2P' : 1536x864 [120.13 fps - (768, 432)/3072x1728 crop]\n";
 * assert.deepEqual(parseCameraList(text), [{
 *   index: 0, model: "imx708", width: 4608, height: 2592,
 *   id: "/base/axi/pcie@120000/rp1/i2c@88000/imx708@1a",
 * }]);
 * ```
 */
export function parseCameraList(text: string): Sensor[] {
  const sensors: Sensor[] = [];
  const header = /^\s*(\d+)\s*:\s*(\S+)\s*\[(\d+)x(\d+)[^\]]*\]\s*\(([^)]*)\)/;
  for (const line of text.split("\n")) {
    const m = header.exec(line);
    if (m === null) continue;
    sensors.push({
      index: Number(m[1]),
      model: m[2]!,
      width: Number(m[3]),
      height: Number(m[4]),
      id: m[5]!,
    });
  }
  return sensors;
}

/** How long `--list-cameras` may take (libcamera starts in about 1 s). */
const LIST_TIMEOUT_MS = 10_000;

/**
 * Runs `PROGRAM --list-cameras`.
 *
 * @param program rpicam-vid (or libcamera-vid), as {@linkcode findRpicam}
 * found it.
 * @returns The cameras it lists; none when it lists none.
 * @throws {Error} When it fails or takes more than 10 s: its last line.
 */
export async function listSensors(program: string): Promise<Sensor[]> {
  const child = new Deno.Command(program, {
    args: ["--list-cameras"],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stdout = new Response(child.stdout).text();
  const stderr = (async () => {
    let last = "";
    for await (const line of linesOf(child.stderr)) {
      if (line.trim() !== "") last = line.trim();
    }
    return last;
  })();
  const status = await deadline(child.status, LIST_TIMEOUT_MS, undefined);
  if (status === undefined) {
    child.kill("SIGKILL");
    await Promise.all([child.status, stdout, stderr]);
    throw new Error(`${program} --list-cameras gave no answer within 10 s`);
  }
  const [text, last] = await Promise.all([stdout, stderr]);
  if (!status.success) {
    throw new Error(
      `${program} --list-cameras failed (${
        status.signal ?? `code ${status.code}`
      })${last ? `: ${last}` : ""}`,
    );
  }
  return parseCameraList(text);
}

/**
 * The frame height for `--width` that keeps the sensor's aspect, even (as
 * libjpeg's 4:2:0 and ffmpeg want): asked of rpicam-vid, it frames what
 * the whole sensor sees; another aspect would crop it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const imx219 = { index: 0, model: "imx219", width: 3280, height: 2464, id: "" };
 * assert.equal(heightFor(320, imx219), 240);
 * assert.equal(heightFor(320, { ...imx219, width: 4608, height: 2592 }), 180);
 * ```
 */
export function heightFor(width: number, sensor: Sensor): number {
  return Math.max(2, Math.round(width * sensor.height / sensor.width / 2) * 2);
}

/** What rpicam-vid itself does to the picture: a half turn and mirrors. */
export interface RpicamPicture {
  rotation: 0 | 180;
  hflip: boolean;
  vflip: boolean;
}

/**
 * The picture options rpicam-vid can apply itself, so that its JPEGs still
 * pass through: `--rotate 180` and `--flip`. A quarter turn (rpicam-vid
 * says "transforms requiring transpose not supported") and `--overlay`
 * need ffmpeg.
 *
 * @returns Its own flags, or `undefined` when ffmpeg must do it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(rpicamPicture({ rotate: 180, flip: "h" }), { rotation: 180, hflip: true, vflip: false });
 * assert.equal(rpicamPicture({ rotate: 90 }), undefined);
 * ```
 */
export function rpicamPicture(
  picture: Picture | undefined,
): RpicamPicture | undefined {
  const rotate = picture?.rotate ?? 0;
  if ((rotate !== 0 && rotate !== 180) || picture?.overlay !== undefined) {
    return undefined;
  }
  return {
    rotation: rotate,
    hflip: picture?.flip?.includes("h") ?? false,
    vflip: picture?.flip?.includes("v") ?? false,
  };
}

/** What {@linkcode rpicamArgs} asks of rpicam-vid. */
export interface RpicamRequest {
  width: number;
  height: number;
  fps: number;
  /** libjpeg's quality, 1–100 (`-q`). */
  qualityPercent: number;
  /** Its own half turn and mirrors. @default {none} */
  picture?: RpicamPicture | undefined;
}

/**
 * rpicam-vid's arguments: MJPEG at exactly the size asked, to stdout,
 * flushed after every frame (`--flush`: a pipe is otherwise written in
 * 4 KiB blocks, holding a frame back), no preview window, forever.
 *
 * @returns The arguments (without the program).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(
 *   rpicamArgs({ width: 320, height: 240, fps: 30, qualityPercent: 86 }).join(" "),
 *   "--codec mjpeg --width 320 --height 240 --framerate 30 -q 86 -t 0 -n --flush -o -",
 * );
 * ```
 */
export function rpicamArgs(request: RpicamRequest): string[] {
  const { width, height, fps, qualityPercent, picture } = request;
  const args = [
    ...["--codec", "mjpeg"],
    ...["--width", String(width), "--height", String(height)],
    ...["--framerate", String(fps)],
    ...["-q", String(qualityPercent)],
    ...["-t", "0", "-n", "--flush", "-o", "-"],
  ];
  if (picture?.rotation === 180) args.push("--rotation", "180");
  if (picture?.hflip) args.push("--hflip");
  if (picture?.vflip) args.push("--vflip");
  return args;
}

/** What a {@linkcode RpicamCapture} runs. */
export interface RpicamCaptureOptions {
  /** rpicam-vid (or libcamera-vid). */
  program: string;
  /** Its arguments, from {@linkcode rpicamArgs}. */
  args: string[];
  /**
   * An ffmpeg to feed its JPEGs to on stdin (a quarter turn, `--overlay`,
   * `--publish`); without one, they pass through.
   */
  encoder?: { program: string; args: string[] } | undefined;
  onFrame: (jpeg: Uint8Array) => void;
}

/**
 * One run of rpicam-vid, and of the ffmpeg behind it when there is one:
 * when either ends, both end, and the supervisor restarts them.
 */
export class RpicamCapture implements SupervisedCapture {
  readonly label = "rpicam-vid";
  readonly firstFrame: Promise<void>;
  readonly ended: Promise<Deno.CommandStatus>;
  #camera: Capture;
  #encoder: Capture | null = null;
  /** Whichever of the two ended first. */
  #first: Capture | null = null;

  /**
   * Starts rpicam-vid (and ffmpeg).
   *
   * @throws {Error} When a program cannot be spawned.
   */
  constructor(options: RpicamCaptureOptions) {
    let resolveFirst!: () => void;
    this.firstFrame = new Promise((resolve) => resolveFirst = resolve);
    const deliver = (jpeg: Uint8Array) => {
      resolveFirst();
      options.onFrame(jpeg);
    };
    const encoder = options.encoder;
    if (encoder !== undefined) {
      this.#encoder = new Capture(
        encoder.program,
        encoder.args,
        "piped",
        deliver,
      );
    }
    try {
      this.#camera = new Capture(
        options.program,
        options.args,
        "null",
        (jpeg) => {
          // A slow ffmpeg gets the newest frame, not a queue of old ones.
          if (this.#encoder !== null) this.#encoder.feed(jpeg);
          else deliver(jpeg);
        },
      );
    } catch (error) {
      this.#encoder?.kill("SIGKILL");
      throw error;
    }
    this.ended = this.#run();
  }

  async #run(): Promise<Deno.CommandStatus> {
    const parts = [this.#camera, ...this.#encoder ? [this.#encoder] : []];
    const [first, status] = await Promise.race(
      parts.map((part) => part.ended.then((s) => [part, s] as const)),
    );
    this.#first = first;
    await Promise.all(parts.map((part) => part.stop()));
    return status;
  }

  /** The ffmpeg behind rpicam-vid; none when its JPEGs pass through. */
  get pid(): number | undefined {
    return this.#encoder?.pid;
  }

  /** The last line of whichever ended first (rpicam-vid's, else ffmpeg's). */
  get lastError(): string {
    const first = this.#first ?? this.#camera;
    const which = first === this.#encoder ? "ffmpeg: " : "";
    return first.lastError ? which + first.lastError : "";
  }

  /** Ends both and waits for their output to drain. */
  async stop(): Promise<void> {
    await Promise.all([this.#camera.stop(), this.#encoder?.stop()]);
    await this.ended;
  }

  /** Signals both (the supervisor's SIGKILL on a stall). */
  kill(signal: Deno.Signal): void {
    this.#camera.kill(signal);
    this.#encoder?.kill(signal);
  }
}

/** What {@linkcode rpicamBackend} needs to know (camera.ts's settings). */
export interface RpicamSettings {
  /** `--device`, for messages when auto came here from it. */
  device: string;
  width: number;
  fps: number;
  /** `--quality`, ffmpeg's 2–31: rpicam-vid gets it as a percentage. */
  quality: number;
  ffmpeg: string;
  /** Publish relays: ffmpeg must encode H.264 from rpicam-vid's JPEGs. */
  relays: string[];
  picture?: Picture | undefined;
  inputFormat?: string | undefined;
  inputSize?: { width: number; height: number } | undefined;
  log: (line: string) => void;
  /**
   * Where to look for rpicam-vid, as a PATH (tests give a folder of a
   * stand-in's). @default {the environment's PATH}
   */
  searchPath?: string | undefined;
}

/** What the capture supervisor runs for the Pi camera. */
export interface RpicamBackend {
  fps: number;
  /** The line logged at start. */
  line: string;
  /** The source's name in `/stats`. */
  source: string;
  launch: (onFrame: (jpeg: Uint8Array) => void) => SupervisedCapture;
}

/**
 * The Raspberry Pi camera through rpicam-vid: its JPEGs at `--width` and
 * the sensor's aspect (camera 0, the one rpicam-vid opens), passed through
 * unless ffmpeg must turn, label or publish them.
 *
 * @param reason Why `--capture auto` came here (logged, and named in
 * errors), or `undefined` for `--capture rpicam`.
 * @throws {SourceOpenError} When rpicam-vid is not installed, fails, or
 * lists no camera.
 */
export async function rpicamBackend(
  settings: RpicamSettings,
  reason: string | undefined,
): Promise<RpicamBackend> {
  const cannot = (why: string) =>
    new SourceOpenError(
      reason === undefined
        ? `Cannot open the Raspberry Pi camera: ${why}`
        : `Cannot open camera ${settings.device}: ${
          reason.replace(`${settings.device} `, "")
        }; ${why}`,
    );
  const program = findRpicam(settings.searchPath);
  if (program === undefined) {
    throw cannot(
      "rpicam-vid is not installed (sudo apt install rpicam-apps), or not on PATH",
    );
  }
  let sensors: Sensor[];
  try {
    sensors = await listSensors(program);
  } catch (error) {
    throw cannot(message(error));
  }
  const sensor = sensors[0];
  if (sensor === undefined) {
    throw cannot(
      `${program} --list-cameras lists no camera (is the ribbon cable in, and seated the right way round?)`,
    );
  }
  const { width, fps, quality, relays, picture, log } = settings;
  if (reason !== undefined) {
    log(`camwire: ${reason}: reading it through ${program}`);
  }
  if (settings.inputFormat !== undefined || settings.inputSize !== undefined) {
    log(
      "camwire: warning: --input-format and --input-size do nothing with rpicam-vid (it chooses the sensor mode for --width)",
    );
  }
  const height = heightFor(width, sensor);
  const own = rpicamPicture(picture);
  const passthrough = own !== undefined && relays.length === 0;
  const args = rpicamArgs({
    width,
    height,
    fps,
    qualityPercent: jpegQualityPercent(quality),
    picture: passthrough ? own : undefined,
  });
  // rpicam-vid's JPEGs are already --width wide: ffmpeg only turns,
  // labels or publishes them.
  const encoder = passthrough ? undefined : {
    program: settings.ffmpeg,
    args: stdinArgs({
      width,
      fps,
      quality,
      relays,
      picture,
    }),
  };
  return {
    fps,
    line:
      `Raspberry Pi camera ${sensor.model} (${sensor.width}x${sensor.height}) through ${program}: MJPEG ${width}x${height} at ${fps} fps, ${
        passthrough ? "passed through" : "re-encoded by ffmpeg"
      }`,
    source: `Raspberry Pi camera ${sensor.model} (rpicam-vid)`,
    launch: (onFrame) => new RpicamCapture({ program, args, encoder, onFrame }),
  };
}
