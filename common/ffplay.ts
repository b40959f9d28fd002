// Copyright 2026 the camwire authors. MIT license.
/**
 * The ffplay window that shows a live MJPEG pipe, fed newest-first: the
 * client's window and the server's `--preview` are the same window.
 *
 * @module
 */

import { CamwireError } from "./cli.ts";
import { endProcess, words } from "./child.ts";
import { LatestFrameSender } from "./latest.ts";

/**
 * Arguments for an ffplay window that shows a live MJPEG pipe with the
 * least delay. ffplay assumes 25 fps for a piped MJPEG; a 30 fps stream
 * then queues frames without end, so timestamps come from the wall clock.
 *
 * @param title Window title.
 * @returns ffplay's argument list, reading from stdin.
 */
export function ffplayArgs(title: string): string[] {
  return [
    ...words("-hide_banner -loglevel error -fflags nobuffer -flags low_delay"),
    // -autoexit: should we die without closing it, the window goes too.
    ...words("-framedrop -autoexit -probesize 32 -analyzeduration 0"),
    ...words("-use_wallclock_as_timestamps 1 -window_title"),
    title,
    ...words("-f mjpeg -i pipe:0"),
  ];
}

/** There is no display to open a window on. */
export class NoDisplayError extends CamwireError {
  constructor() {
    super(
      "Cannot open a window: no display (DISPLAY and WAYLAND_DISPLAY are unset)",
    );
    this.name = "NoDisplayError";
  }
}

/** ffplay is not installed. */
export class FfplayMissingError extends CamwireError {
  constructor() {
    super("ffplay not found: install ffmpeg, which includes it");
    this.name = "FfplayMissingError";
  }
}

/**
 * SDL's video drivers for ffplay: X11 or Wayland only. With neither
 * `DISPLAY` nor `WAYLAND_DISPLAY`, this ffplay falls back to another
 * driver and runs forever showing nothing (measured over SSH); limited to
 * these two, a missing or broken display makes it exit 1 at once.
 */
const SDL_VIDEO_DRIVERS = "x11,wayland";

/**
 * Tells whether a window can open: on Linux (and other X11/Wayland
 * systems) a display must be named in the environment.
 *
 * @param env The environment.
 * @param os The operating system.
 * @returns Whether there is a display.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(hasDisplay({}, "linux"), false);
 * assert.equal(hasDisplay({ DISPLAY: ":0" }, "linux"), true);
 * assert.equal(hasDisplay({}, "windows"), true);
 * ```
 */
export function hasDisplay(
  env: Record<string, string | undefined>,
  os: typeof Deno.build.os,
): boolean {
  if (os === "windows" || os === "darwin") return true;
  return Boolean(env.DISPLAY || env.WAYLAND_DISPLAY);
}

/** Options of {@linkcode FfplayWindow.open}. */
export interface FfplayWindowOptions {
  /** The ffplay program. @default {"ffplay"} */
  program?: string;
  /** Where ffplay's own messages go. @default {"inherit"} */
  stderr?: "inherit" | "null";
  /** The environment that names the display. @default {Deno.env.toObject()} */
  env?: Record<string, string | undefined>;
}

/**
 * An ffplay window showing JPEGs newest-first: while ffplay still reads
 * one frame, newer ones replace the waiting one, so the picture is never
 * late and memory never grows.
 */
export class FfplayWindow {
  #child: Deno.ChildProcess;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #sender: LatestFrameSender;
  /** Settles with ffplay's exit status: the window was closed, or failed. */
  readonly ended: Promise<Deno.CommandStatus>;

  private constructor(child: Deno.ChildProcess) {
    this.#child = child;
    const writer = child.stdin.getWriter();
    this.#writer = writer;
    this.#sender = new LatestFrameSender(async (bytes) => {
      await writer.write(bytes);
      return bytes.length;
    }, () => {});
    this.ended = child.status;
  }

  /**
   * Opens a window.
   *
   * @param title Window title.
   * @param options The program and where its messages go.
   * @returns The window.
   * @throws {NoDisplayError} When there is no display.
   * @throws {FfplayMissingError} When ffplay is not installed.
   */
  static open(title: string, options: FfplayWindowOptions = {}): FfplayWindow {
    const env = options.env ?? Deno.env.toObject();
    if (!hasDisplay(env, Deno.build.os)) throw new NoDisplayError();
    try {
      return new FfplayWindow(
        new Deno.Command(options.program ?? "ffplay", {
          args: ffplayArgs(title),
          clearEnv: true,
          env: {
            ...definedOnly(env),
            SDL_VIDEODRIVER: env.SDL_VIDEODRIVER ?? SDL_VIDEO_DRIVERS,
          },
          stdin: "piped",
          stdout: "null",
          stderr: options.stderr ?? "inherit",
        }).spawn(),
      );
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) throw new FfplayMissingError();
      throw error;
    }
  }

  /** Shows a JPEG: now if ffplay is idle, else as the next one. */
  show(jpeg: Uint8Array): void {
    this.#sender.offer(jpeg);
  }

  /** ffplay's process id. */
  get pid(): number {
    return this.#child.pid;
  }

  /** Frames replaced by a newer one before ffplay could take them. */
  get dropped(): number {
    return this.#sender.skipped;
  }

  /** Closes the window and waits for ffplay to end. */
  async close(): Promise<void> {
    await endProcess(this.#child);
    await this.#writer.close().catch(() => {});
  }
}

/** The variables that are set. */
function definedOnly(
  env: Record<string, string | undefined>,
): Record<string, string> {
  const set: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (value !== undefined) set[name] = value;
  }
  return set;
}
