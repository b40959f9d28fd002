// Copyright 2026 the camwire authors. MIT license.
/**
 * One capture from a V4L2 camera through FFI, in the shape the capture
 * supervisor takes ({@linkcode SupervisedCapture}), so that restarts, the
 * "no signal" frame, stalls, `--on-demand` and publishing work as with
 * ffmpeg. Its frames take the path the mode choice gave: passed through
 * (checked, Huffman tables added; no ffmpeg at all), or fed to an ffmpeg
 * on stdin that scales (MJPEG) or scales and encodes (raw) them.
 *
 * @module
 */

import type { Libc } from "../sys/libc.ts";
import { V4l2Device } from "./v4l2.ts";
import { repairCameraJpeg, wholeLength } from "./jpeg.ts";
import type { ModeChoice } from "./mode.ts";
import { applyControls, type ControlChange } from "./controls.ts";
import { Capture, type SupervisedCapture } from "../capture/capture.ts";
import { type Picture, stdinArgs } from "../capture/ffmpeg.ts";

/** How long one wait for a frame may take before stop() is looked at. */
const POLL_MS = 100;
/** How often dropped frames are logged, at most. */
const DROP_LOG_MS = 10_000;

/** What a {@linkcode CameraCapture} opens and where its frames go. */
export interface CameraCaptureOptions {
  /** The device, e.g. `/dev/video0`. */
  device: string;
  /** The mode and path chosen for it. */
  choice: ModeChoice;
  /** `--width`, for the ffmpeg of the scale path. */
  width: number;
  /** `--quality`: ffmpeg's `-q:v`, or the camera's JPEG quality control. */
  quality: number;
  /** The ffmpeg program, for the scale path. */
  ffmpeg: string;
  /** Publish relays: the scale path's ffmpeg also sends H.264 there. */
  relays: string[];
  /** `--rotate`, `--flip`, `--overlay`, for the ffmpeg of the scale path. */
  picture?: Picture | undefined;
  /** `--control` changes, set after the mode. @default {[]} */
  controls?: ControlChange[] | undefined;
  onFrame: (jpeg: Uint8Array) => void;
  log: (line: string) => void;
  /** libc, or the emulated camera (tests). @default {openLibc()} */
  libc?: Libc | null | undefined;
}

/**
 * A JPEG quality percentage for ffmpeg's `-q:v` (2 best … 31 smallest),
 * roughly: q 2 → 95 %, q 5 → 86 %, q 31 → 10 %.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(jpegQualityPercent(2), 95);
 * assert.equal(jpegQualityPercent(31), 10);
 * ```
 */
export function jpegQualityPercent(q: number): number {
  return Math.round(Math.max(10, Math.min(95, 95 - (q - 2) * 85 / 29)));
}

/** One V4L2 capture (see the module doc). */
export class CameraCapture implements SupervisedCapture {
  readonly label: string;
  readonly firstFrame: Promise<void>;
  readonly ended: Promise<Deno.CommandStatus>;
  #options: CameraCaptureOptions;
  #device: V4l2Device | null = null;
  #scaler: Capture | null = null;
  #stopping = false;
  #signal: Deno.Signal | undefined;
  #failure: Error | undefined;
  #dropped = 0;
  #droppedLogged = 0;
  /** When the last drop line went out: the first drop is logged at once. */
  #droppedLoggedAt = -Infinity;
  #resolveFirst!: () => void;

  /**
   * Opens the camera, sets its mode, starts streaming and starts reading
   * frames. It never throws: a failure (camera busy, unplugged, an ioctl
   * the driver rejects) ends it, with {@linkcode failure} and
   * {@linkcode lastError} saying why.
   */
  constructor(options: CameraCaptureOptions) {
    this.#options = options;
    this.label = `camera ${options.device}`;
    this.firstFrame = new Promise((resolve) => this.#resolveFirst = resolve);
    this.ended = this.#run();
  }

  /** The scale path's ffmpeg; none when frames pass through. */
  get pid(): number | undefined {
    return this.#scaler?.pid;
  }

  get failure(): Error | undefined {
    return this.#failure;
  }

  get lastError(): string {
    return this.#failure?.message ?? this.#scaler?.lastError ?? "";
  }

  /** Frames dropped as truncated or flagged damaged by the driver. */
  get framesDropped(): number {
    return this.#dropped;
  }

  async #run(): Promise<Deno.CommandStatus> {
    const { device: path, choice, libc } = this.#options;
    try {
      const device = V4l2Device.open(path, libc); // undefined: the default
      this.#device = device;
      const { mode, fps } = choice;
      device.setMode(mode.fourcc, mode.width, mode.height, fps);
      if (choice.path === "passthrough") {
        // --quality cannot re-compress a passed-through frame; the camera's
        // own quality control can, where it has one.
        device.setJpegQuality(jpegQualityPercent(this.#options.quality));
      }
      // After the mode: some drivers reset controls on S_FMT.
      applyControls(device, this.#options.controls ?? [], this.#options.log);
      device.stream();
      if (choice.path !== "passthrough") {
        const scaler = this.#startScaler();
        this.#scaler = scaler;
        // An ffmpeg that dies ends this capture: the supervisor restarts both.
        scaler.ended.then((status) => {
          if (this.#stopping) return;
          this.#failure = new Error(
            `ffmpeg exited (${status.signal ?? `code ${status.code}`})` +
              (scaler.lastError ? `: ${scaler.lastError}` : ""),
          );
          this.#stopping = true;
        });
      }
      await this.#readFrames(device);
    } catch (error) {
      if (!this.#stopping) {
        this.#failure = error instanceof Error
          ? error
          : new Error(String(error));
      }
    } finally {
      await this.#device?.close();
      await this.#scaler?.stop();
    }
    if (this.#failure !== undefined) {
      return { success: false, code: 1, signal: null };
    }
    const signal = this.#signal ?? null;
    return { success: signal === null, code: signal === null ? 0 : 1, signal };
  }

  #startScaler(): Capture {
    const { choice, width, quality, ffmpeg, relays, picture, onFrame } =
      this.#options;
    const { mode, format, fps } = choice;
    const args = stdinArgs({
      width,
      fps,
      quality,
      relays,
      picture,
      rawInput: choice.path === "encode"
        ? { pixelFormat: format.ffmpeg, width: mode.width, height: mode.height }
        : undefined,
    });
    return new Capture(ffmpeg, args, "piped", (jpeg) => {
      this.#resolveFirst();
      onFrame(jpeg);
    });
  }

  async #readFrames(device: V4l2Device): Promise<void> {
    const { choice } = this.#options;
    const { mode, format } = choice;
    const rawSize = Math.round(mode.width * mode.height * format.bytesPerPixel);
    while (!this.#stopping) {
      const frame = await device.nextFrame(POLL_MS);
      if (frame === null) continue;
      if (frame.damaged) {
        this.#drop();
        continue;
      }
      if (choice.path === "passthrough") {
        const jpeg = repairCameraJpeg(frame.bytes);
        if (typeof jpeg === "string") {
          this.#drop();
          continue;
        }
        this.#resolveFirst();
        this.#options.onFrame(jpeg);
      } else if (choice.path === "scale") {
        const length = wholeLength(frame.bytes);
        if (length === -1) {
          this.#drop();
          continue;
        }
        this.#scaler!.feed(frame.bytes.subarray(0, length));
      } else {
        if (frame.bytes.length < rawSize) {
          this.#drop();
          continue;
        }
        this.#scaler!.feed(frame.bytes.subarray(0, rawSize));
      }
    }
  }

  #drop(): void {
    this.#dropped++;
    const now = performance.now();
    if (now - this.#droppedLoggedAt < DROP_LOG_MS) return;
    this.#options.log(
      `camwire: dropped ${
        this.#dropped - this.#droppedLogged
      } truncated or damaged frame(s) from ${this.label}`,
    );
    this.#droppedLogged = this.#dropped;
    this.#droppedLoggedAt = now;
  }

  /** Stops streaming, unmaps the buffers, closes the camera (and ffmpeg). */
  async stop(): Promise<void> {
    this.#stopping = true;
    await this.ended;
  }

  /**
   * Ends the capture as a signal would end ffmpeg (the supervisor sends
   * SIGKILL when no frame came for `--stall-timeout`).
   */
  kill(signal: Deno.Signal): void {
    this.#signal ??= signal;
    this.#stopping = true;
    this.#scaler?.kill(signal);
  }
}
