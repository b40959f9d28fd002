// Copyright 2026 the camwire authors. MIT license.
/**
 * Where the client's frames go: the {@linkcode FrameSink} shape, a file or
 * stdout ({@linkcode fileSink}) and the ffplay window
 * ({@linkcode ffplaySink}). Recordings with timing are in record.ts,
 * pickled pictures in pickle_sink.ts.
 *
 * @module
 */

import { CamwireError, message } from "./cli.ts";
import { FfplayMissingError, FfplayWindow, NoDisplayError } from "./ffplay.ts";

/** Where received JPEGs go. */
export interface FrameSink {
  /** Takes one JPEG; a sink that keeps every frame returns its write. */
  put(jpeg: Uint8Array): Promise<void> | void;
  /** Settles when the sink ends on its own (the window was closed). */
  ended: Promise<void>;
  /** Frames the sink dropped because it fell behind. */
  readonly dropped: number;
  /** Why the sink ended on its own in failure (ffplay could not run). */
  readonly failure?: string | undefined;
  /** Flushes and releases the sink. */
  close(): Promise<void>;
}

/**
 * The stream's output failed: not the server's fault, so never retried.
 * Most often the program reading stdout has ended (`| head`).
 */
export class OutputError extends CamwireError {
  /**
   * @param name Where the stream went, e.g. `stdout` or a file name.
   * @param cause What the write threw.
   */
  constructor(name: string, cause: unknown) {
    super(
      cause instanceof Deno.errors.BrokenPipe
        ? `Cannot write to ${name}: it was closed (whatever read it has ended)`
        : `Cannot write to ${name}: ${message(cause)}`,
    );
    this.name = "OutputError";
  }
}

/**
 * A sink that writes every JPEG back to back (a playable MJPEG stream),
 * losing none: each write completes before the next frame is read.
 *
 * @param writable A file's or stdout's writable stream.
 * @returns The sink.
 *
 * @example Frames go out whole, back to back
 * ```ts
 * import assert from "node:assert/strict";
 * const chunks: Uint8Array[] = [];
 * const sink = fileSink(new WritableStream({ write: (c) => { chunks.push(c); } }));
 * await sink.put(new Uint8Array([0xff, 0xd8, 0xff, 0xd9]));
 * await sink.close();
 * assert.equal(chunks.length, 1);
 * ```
 */
export function fileSink(
  writable: WritableStream<Uint8Array>,
  name = "the output",
): FrameSink {
  const writer = writable.getWriter();
  return {
    put: (jpeg) =>
      writer.write(jpeg).catch((error) => {
        throw new OutputError(name, error);
      }),
    ended: new Promise(() => {}),
    dropped: 0,
    close: () => writer.close().catch(() => {}),
  };
}

/**
 * What to do instead of a window, for the one line a client without a
 * display (or without ffplay) prints.
 */
export const WINDOW_ALTERNATIVES =
  "save the stream with --output FILE (cam.mkv keeps its timing) or watch the server's web page (server.ts --http-port PORT, then http://SERVER:PORT/)";

/**
 * A sink that shows frames in an ffplay window, newest first: when ffplay
 * falls behind, older frames are dropped so the picture is never late.
 *
 * @param title Window title.
 * @param program The ffplay program.
 * @returns The sink.
 * @throws {CamwireError} When there is no display or ffplay is not
 * installed: one line that says what to do instead.
 *
 * @example No display: the message points elsewhere
 * ```ts ignore
 * // With DISPLAY and WAYLAND_DISPLAY unset (Linux):
 * ffplaySink("camwire"); // throws "Cannot open a window: no display ...: save the stream with --output FILE ..."
 * ```
 */
export function ffplaySink(title: string, program = "ffplay"): FrameSink {
  let window: FfplayWindow;
  try {
    // ffplay's own lines (SDL's "XDG_RUNTIME_DIR is invalid", …) would
    // come before camwire's one line that says what to do.
    window = FfplayWindow.open(title, { program, stderr: "null" });
  } catch (error) {
    if (error instanceof NoDisplayError) {
      throw new CamwireError(`${error.message}: ${WINDOW_ALTERNATIVES}`);
    }
    if (error instanceof FfplayMissingError) {
      throw new CamwireError(`${error.message}, or use --output FILE`);
    }
    throw error;
  }
  let closing = false;
  let failure: string | undefined;
  return {
    put: (jpeg) => window.show(jpeg),
    ended: window.ended.then((status) => {
      if (closing || status.success) return; // closed by us, or by the user
      failure = `ffplay failed (exit code ${status.code}): ` +
        "is there a display? Use --output FILE to save the stream instead";
    }),
    get dropped() {
      return window.dropped;
    },
    get failure() {
      return failure;
    },
    close: () => {
      closing = true;
      return window.close();
    },
  };
}
