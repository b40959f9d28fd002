// Copyright 2026 the camwire authors. MIT license.
/**
 * Recordings with true timing: `client.ts --output cam.mkv` (the JPEGs as
 * they are, MJPEG in Matroska) or `--output cam.mp4` (H.264), through one
 * ffmpeg child.
 *
 * Bare JPEGs back to back carry no time: players assume 25 fps, so a
 * 30 fps stream plays 1.2× slow, and a pause while the server restarts
 * vanishes. Here each JPEG goes to ffmpeg as one part of a
 * `multipart/x-mixed-replace` stream with its Content-Length, which
 * ffmpeg's `mpjpeg` demuxer reads a whole part at a time, and ffmpeg
 * stamps each part with the wall clock as it reads it
 * (`-use_wallclock_as_timestamps 1`): the frame's arrival time, within
 * the pipe's microseconds. (ffmpeg's raw `mjpeg` input would hold each
 * frame until the next one starts, stamping the last frame before a
 * pause at its end.) Frames are never dropped: each write completes
 * before the next frame is read.
 *
 * @module
 */

import { CamwireError, message } from "./cli.ts";
import { endProcess, INSTALL_FFMPEG, linesOf, words } from "./child.ts";
import { multipartPart } from "./multipart.ts";
import type { FrameSink } from "./sinks.ts";

/** A container that keeps the frames' timing. */
export type RecordFormat = "mkv" | "mp4";

/**
 * The recording format a file name asks for, by its extension.
 *
 * @param path The `--output` path.
 * @returns `mkv`, `mp4`, or `undefined` for bare JPEGs (any other name).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(recordFormat("cam.MKV"), "mkv");
 * assert.equal(recordFormat("/tmp/cam.mp4"), "mp4");
 * assert.equal(recordFormat("cam.mjpeg"), undefined);
 * assert.equal(recordFormat("-"), undefined);
 * ```
 */
export function recordFormat(path: string): RecordFormat | undefined {
  const match = /\.(mkv|mp4)$/i.exec(path);
  return match ? match[1]!.toLowerCase() as RecordFormat : undefined;
}

/** The multipart boundary between frames on ffmpeg's stdin. */
const BOUNDARY = "camwireframe";

/**
 * ffmpeg's arguments for a recording: multipart JPEGs on stdin, stamped
 * with the wall clock as read; copied into Matroska, or encoded as H.264
 * into MP4 with every timestamp kept (`-vsync passthrough`: the default
 * for MP4 would force a constant 25 fps, dropping a sixth of a 30 fps
 * stream).
 *
 * @param path The file to write.
 * @param format Its container.
 * @returns The argument list.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const args = recordArgs("cam.mkv", "mkv");
 * const input = args.indexOf("-i");
 * assert.deepEqual(args.slice(input - 2, input + 2), ["-f", "mpjpeg", "-i", "pipe:0"]);
 * assert.equal(args[args.indexOf("-c:v") + 1], "copy");
 * ```
 */
export function recordArgs(path: string, format: RecordFormat): string[] {
  const codec = format === "mkv"
    ? words("-c:v copy -f matroska")
    // yuv420p: what every player decodes; veryfast keeps up on a Pi.
    : words("-c:v libx264 -preset veryfast -pix_fmt yuv420p") // x264
      .concat(words("-vsync passthrough -f mp4"));
  return [
    ...words("-hide_banner -loglevel error -nostdin"),
    ...words("-use_wallclock_as_timestamps 1 -f mpjpeg -i pipe:0 -an"),
    ...codec,
    "-y",
    path,
  ];
}

/** Options of {@linkcode recordSink}. */
export interface RecordOptions {
  /** The ffmpeg program. @default {"ffmpeg"} */
  ffmpeg?: string;
  /** How long closing may take before ffmpeg is killed, in ms. @default {10000} */
  finishMs?: number;
}

/**
 * A sink that records every frame, with its arrival time, into a `.mkv`
 * (the JPEGs copied) or `.mp4` (H.264) file through one ffmpeg. Closing it
 * ends ffmpeg's input, so that ffmpeg writes the file's index: the file is
 * finished and playable however the client stopped (`--frames`,
 * `--seconds`, Ctrl-C, the server gone). ffmpeg runs in its own process
 * group, so a Ctrl-C in the terminal reaches only the client, which then
 * ends the recording in order.
 *
 * @param path The file; it is created (or emptied) at once, so that a
 * path that cannot be written fails before connecting.
 * @param format Its container.
 * @param options The ffmpeg program.
 * @returns The sink; its `failure` tells why ffmpeg failed, if it did.
 * @throws {CamwireError} When the file cannot be created or ffmpeg is
 * missing.
 *
 * @example Record 150 frames (5 s at 30 fps)
 * ```ts ignore
 * const sink = recordSink("cam.mkv", "mkv");
 * await runClient(sink, { frames: 150 });
 * await sink.close();
 * ```
 */
export function recordSink(
  path: string,
  format: RecordFormat,
  options: RecordOptions = {},
): FrameSink {
  try {
    Deno.openSync(path, { write: true, create: true, truncate: true })
      .close();
  } catch (error) {
    throw new CamwireError(
      `Cannot open "${path}" for writing: ${message(error)}`,
    );
  }
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(options.ffmpeg ?? "ffmpeg", {
      args: recordArgs(path, format),
      stdin: "piped",
      stdout: "null",
      stderr: "piped",
      detached: true,
    }).spawn();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new CamwireError(
        `ffmpeg not found, and it records ${path}: ${INSTALL_FFMPEG}`,
      );
    }
    throw error;
  }
  const writer = child.stdin.getWriter();
  let lastError = "";
  const stderrDone = (async () => {
    for await (const line of linesOf(child.stderr)) {
      if (line.trim() !== "") lastError = line.trim();
    }
  })().catch(() => {});
  let closing = false;
  let frames = 0;
  let failure: string | undefined;
  const exited = child.status.then(async (status) => {
    await stderrDone;
    if (status.success) return status;
    if (closing && frames === 0) {
      failure = `Nothing recorded to "${path}": no frame arrived`;
    } else {
      failure = `ffmpeg could not record "${path}" (exit code ${status.code})${
        lastError ? `: ${lastError}` : ""
      }`;
    }
    return status;
  });
  let closed: Promise<void> | undefined;
  return {
    // A write fails only when ffmpeg is gone: `ended` then says why.
    put: (jpeg) => {
      frames++;
      return writer.write(multipartPart(jpeg, BOUNDARY)).catch(() => {});
    },
    ended: exited.then(() => {
      if (!closing && failure === undefined) {
        failure = `ffmpeg stopped recording "${path}" early${
          lastError ? `: ${lastError}` : ""
        }`;
      }
    }),
    dropped: 0,
    get failure() {
      return failure;
    },
    close: () =>
      closed ??= (async () => {
        closing = true;
        // The end of its input makes ffmpeg finish the file.
        await writer.close().catch(() => {});
        const timer = setTimeout(
          () => endProcess(child, exited),
          options.finishMs ?? 10_000,
        );
        await exited;
        clearTimeout(timer);
      })(),
  };
}
