// Copyright 2026 the camwire authors. MIT license.
/**
 * The one ffmpeg that turns the shared JPEGs into raw BGR pictures for
 * `--pickle-port` viewers, each handed on as a whole wire frame: the u64
 * length, then the picture pickled as a numpy array.
 *
 * @module
 */

import { encodeHeader, HEADER_SIZE } from "../../framing.ts";
import { jpegSize } from "../../common/jpeg.ts";
import { endProcess, linesOf, spawn } from "../../common/child.ts";
import { LatestFrameSender } from "../../common/latest.ts";
import { message } from "../../common/cli.ts";
import { multipartPart } from "../../common/multipart.ts";
import { pickleParts } from "../../common/pickle.ts";
import type { JpegSink } from "../viewers/viewers.ts";

/** Multipart boundary of the JPEGs fed to ffmpeg. */
const BOUNDARY = "camwirepickle";

/**
 * ffmpeg's arguments: multipart JPEGs in, raw BGR out at a fixed size.
 *
 * Multipart (`mpjpeg`) parts carry their length, so ffmpeg cuts each JPEG
 * without searching for the next one. `-fps_mode passthrough` keeps one
 * picture per JPEG: rawvideo would otherwise be made constant-rate at
 * ffmpeg's assumed 25 fps, duplicating and dropping pictures. A fixed
 * output size keeps every picture the same number of bytes even if the
 * source changes size.
 *
 * @param width Output width.
 * @param height Output height.
 * @returns The arguments, without the program.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const args = decoderArgs(320, 240);
 * assert.deepEqual(args.slice(-7), ["-s", "320x240", "-pix_fmt", "bgr24", "-f", "rawvideo", "-"]);
 * ```
 */
export function decoderArgs(width: number, height: number): string[] {
  return [
    ..."-hide_banner -nostdin -loglevel error".split(" "),
    ..."-fflags nobuffer -flags low_delay -probesize 32 -analyzeduration 0"
      .split(" "),
    ..."-threads 1 -f mpjpeg -i -".split(" "),
    ..."-fps_mode passthrough -threads 1 -flush_packets 1".split(" "),
    "-s",
    `${width}x${height}`,
    ..."-pix_fmt bgr24 -f rawvideo -".split(" "),
  ];
}

/** Options of {@linkcode BgrDecoder}. */
export interface BgrDecoderOptions {
  /** The ffmpeg program. */
  ffmpeg: string;
  /** Gets each wire frame (length + pickle), shared: it must not be changed. */
  onFrame: (frame: Uint8Array) => void;
  /** Where a failure of ffmpeg is told. */
  log: (line: string) => void;
}

/**
 * Decodes the JPEGs it is shown, newest first, with one ffmpeg started at
 * the first JPEG (whose size it keeps) and ended by `close()`. A JPEG that
 * comes while ffmpeg is still busy replaces the one waiting, so the
 * decoder never falls behind the capture, and holds at most two JPEGs and
 * one picture. ffmpeg hands a picture on one JPEG late (its demuxer waits
 * for the next part): 33 ms at 30 fps.
 *
 * @example Feed it the broadcaster's JPEGs
 * ```ts ignore
 * const decoder = new BgrDecoder({ ffmpeg: "ffmpeg", onFrame: send, log: console.error });
 * broadcaster.jpegSinks.add(decoder);
 * // ... later
 * broadcaster.jpegSinks.delete(decoder);
 * await decoder.close();
 * ```
 */
export class BgrDecoder implements JpegSink {
  #options: BgrDecoderOptions;
  #child: Deno.ChildProcess | null = null;
  #writer: WritableStreamDefaultWriter<Uint8Array> | null = null;
  #sender: LatestFrameSender | null = null;
  #reading: Promise<void> = Promise.resolve();
  #lastError = "";
  #closed = false;
  /** When ffmpeg last failed: it is started again at most once a second. */
  #failedAt = -Infinity;
  /** ffmpeg could not be started, and that was logged. */
  #spawnFailed = false;

  /** @param options ffmpeg, and where pictures and failures go. */
  constructor(options: BgrDecoderOptions) {
    this.#options = options;
  }

  /**
   * Offers a JPEG (with its capture stamp) for decoding.
   *
   * @param jpeg One whole JPEG, shared: it is not changed.
   */
  show(jpeg: Uint8Array): void {
    if (this.#closed) return;
    if (this.#sender === null) {
      if (performance.now() - this.#failedAt < 1000) return;
      const size = jpegSize(jpeg);
      if (size === undefined || !this.#start(size.width, size.height)) return;
    }
    const part = multipartPart(jpeg, BOUNDARY);
    this.#sender!.offer(part);
  }

  /**
   * Starts ffmpeg. When it cannot be started (not installed), the failure
   * is logged once and tried again at most once a second: `show()` never
   * throws into the broadcaster's loop.
   *
   * @returns Whether it runs.
   */
  #start(width: number, height: number): boolean {
    let child: Deno.ChildProcess;
    try {
      child = spawn(this.#options.ffmpeg, {
        args: decoderArgs(width, height),
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      });
    } catch (error) {
      this.#failedAt = performance.now();
      if (!this.#spawnFailed) {
        this.#spawnFailed = true;
        this.#options.log(
          `camwire: cannot start the pickle decoder: ${message(error)}; ` +
            "pickle viewers get no frame until it can be",
        );
      }
      return false;
    }
    this.#spawnFailed = false;
    this.#child = child;
    const writer = child.stdin.getWriter();
    this.#writer = writer;
    this.#sender = new LatestFrameSender(
      async (bytes) => {
        await writer.write(bytes);
        return bytes.length;
      },
      () => {}, // ffmpeg gone: its exit is reported below
    );
    this.#reading = Promise.all([
      this.#readPictures(child.stdout, width, height),
      this.#readErrors(child.stderr),
    ]).then(async () => {
      const status = await child.status;
      if (this.#child !== child) return;
      this.#stopped();
      if (this.#closed) return;
      this.#failedAt = performance.now();
      this.#options.log(
        `camwire: the pickle decoder (ffmpeg) ended with code ${status.code}` +
          (this.#lastError ? `: ${this.#lastError}` : "") +
          "; starting it again",
      );
    });
    return true;
  }

  /** Cuts ffmpeg's output into pictures, each straight into a wire frame. */
  async #readPictures(
    stdout: ReadableStream<Uint8Array>,
    width: number,
    height: number,
  ): Promise<void> {
    const size = width * height * 3;
    const { prefix, suffix } = pickleParts(height, width, 3);
    const start = HEADER_SIZE + prefix.length;
    const newFrame = () => {
      const frame = new Uint8Array(start + size + suffix.length);
      frame.set(encodeHeader(frame.length - HEADER_SIZE));
      frame.set(prefix, HEADER_SIZE);
      frame.set(suffix, start + size);
      return frame;
    };
    let frame = newFrame();
    let have = 0;
    try {
      for await (const chunk of stdout) {
        let pos = 0;
        while (pos < chunk.length) {
          const n = Math.min(size - have, chunk.length - pos);
          frame.set(chunk.subarray(pos, pos + n), start + have);
          have += n;
          pos += n;
          if (have === size) {
            this.#options.onFrame(frame);
            frame = newFrame();
            have = 0;
          }
        }
      }
    } catch (error) {
      this.#lastError ||= message(error);
    }
  }

  async #readErrors(stderr: ReadableStream<Uint8Array>): Promise<void> {
    try {
      for await (const line of linesOf(stderr)) {
        if (line.trim()) this.#lastError = line.trim();
      }
    } catch {
      // The pipe broke with the process: its status tells the rest.
    }
  }

  #stopped(): void {
    this.#child = null;
    this.#sender = null;
    this.#writer = null;
  }

  /** Ends ffmpeg and waits until its output is read. */
  async close(): Promise<void> {
    this.#closed = true;
    const child = this.#child;
    const writer = this.#writer;
    if (child === null) return await this.#reading;
    // A write may hang on an ffmpeg that reads no more: signal it first.
    const closing = writer?.close().catch(() => {});
    await endProcess(child, this.#reading);
    await closing;
    this.#stopped();
  }
}
