// Copyright 2026 the camwire authors. MIT license.
/**
 * `client.ts --pickle`: takes the pickled numpy pictures of a Python
 * tutorial server (or camwire's `--pickle-port`), checks each with
 * {@linkcode unpickleArray} (nothing in a pickle is ever run), encodes
 * them as JPEGs with one ffmpeg, and hands the JPEGs to the usual sink:
 * the window, a file or stdout.
 *
 * @module
 */

import { JpegSplitter } from "../framing.ts";
import { message } from "./cli.ts";
import { endProcess, linesOf, spawn } from "./child.ts";
import { type PixelArray, unpickleArray } from "./pickle.ts";
import { type FrameSink, OutputError } from "./sinks.ts";

/** Largest pickled frame the client takes: a 4K BGR picture is 25 MB. */
export const MAX_PICKLE_SIZE = 64 * 1024 * 1024;

const PIXEL_FORMATS = { 1: "gray", 3: "bgr24", 4: "bgra" } as const;

/**
 * ffmpeg's arguments: raw pictures of one size in, JPEGs out, one per
 * picture (`-fps_mode passthrough`: no frame made up or dropped to fit a
 * rate).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const args = encoderArgs(320, 240, 3);
 * assert.deepEqual(args.slice(args.indexOf("-pix_fmt"), args.indexOf("-i")), [
 *   "-pix_fmt", "bgr24", "-s", "320x240",
 * ]);
 * ```
 */
export function encoderArgs(
  width: number,
  height: number,
  channels: 1 | 3 | 4,
): string[] {
  return [
    ..."-hide_banner -nostdin -loglevel error -f rawvideo".split(" "),
    "-pix_fmt",
    PIXEL_FORMATS[channels],
    "-s",
    `${width}x${height}`,
    ..."-i - -fps_mode passthrough -threads 1 -flush_packets 1".split(" "),
    ..."-c:v mjpeg -pix_fmt yuvj420p -q:v 3 -f mjpeg -".split(" "),
  ];
}

/** One encoder ffmpeg, for pictures of one size. */
interface Encoder {
  key: string;
  child: Deno.ChildProcess;
  writer: WritableStreamDefaultWriter<Uint8Array>;
  /** Settles when its JPEGs have all gone to the sink. */
  done: Promise<void>;
}

/**
 * Wraps a JPEG sink into one that takes pickled pictures. Each `put`
 * unpickles (refusing what is not a sane numpy `uint8` array) and writes
 * the pixels to ffmpeg, whose JPEGs go to `inner` in order; a picture of
 * another size starts a new ffmpeg after the old one has finished.
 *
 * @param inner Where the JPEGs go.
 * @param ffmpeg The ffmpeg program.
 * @returns The sink to give `runClient`.
 * @throws {PickleRefused} From `put`, for what is not a sane picture.
 * @throws {OutputError} From `put`, when ffmpeg is missing or fails.
 *
 * @example
 * ```ts ignore
 * const sink = pickleSink(fileSink(file.writable));
 * await runClient(sink, { port: 9998, pickle: true });
 * await sink.close();
 * ```
 */
export function pickleSink(
  inner: FrameSink,
  ffmpeg = "ffmpeg",
): FrameSink {
  let encoder: Encoder | null = null;
  let failure: string | undefined;

  const start = (picture: PixelArray): Encoder => {
    const { width, height, channels } = picture;
    const child = spawn(ffmpeg, {
      args: encoderArgs(width, height, channels),
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    });
    let lastError = "";
    const errors = (async () => {
      for await (const line of linesOf(child.stderr)) lastError = line;
    })().catch(() => {});
    const jpegs = (async () => {
      const splitter = new JpegSplitter();
      for await (const chunk of child.stdout) {
        for (const jpeg of splitter.push(chunk)) await inner.put(jpeg);
      }
    })();
    const done = Promise.all([jpegs, errors, child.status]).then(
      ([, , status]) => {
        if (!status.success && failure === undefined) {
          failure =
            `ffmpeg could not encode the pictures (exit code ${status.code})${
              lastError ? `: ${lastError}` : ""
            }`;
        }
      },
      (error) => {
        failure ??= `cannot hand on the pictures: ${message(error)}`;
        return endProcess(child);
      },
    );
    return {
      key: `${width}x${height}x${channels}`,
      child,
      writer: child.stdin.getWriter(),
      done,
    };
  };

  const finish = async (old: Encoder) => {
    await old.writer.close().catch(() => {});
    await old.done;
  };

  return {
    async put(pickle) {
      const picture = unpickleArray(pickle);
      const key = `${picture.width}x${picture.height}x${picture.channels}`;
      if (encoder !== null && encoder.key !== key) {
        await finish(encoder);
        encoder = null;
      }
      try {
        encoder ??= start(picture);
      } catch (error) {
        throw new OutputError("the JPEG encoder (ffmpeg)", error);
      }
      try {
        await encoder.writer.write(picture.pixels);
      } catch {
        await encoder.done;
        // Our own encoder, not the server: never a reason to reconnect.
        throw new OutputError(
          "the JPEG encoder (ffmpeg)",
          new Error(failure ?? "it stopped taking pictures"),
        );
      }
    },
    ended: inner.ended,
    get dropped() {
      return inner.dropped;
    },
    get failure() {
      return failure ?? inner.failure;
    },
    async close() {
      // The pictures already written are encoded and handed on first.
      if (encoder !== null) await finish(encoder);
      encoder = null;
      await inner.close();
    },
  };
}
