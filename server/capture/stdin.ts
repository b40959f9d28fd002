// Copyright 2026 the camwire authors. MIT license.
/**
 * `--source -`: JPEGs back to back on stdin, as `rpicam-vid --codec mjpeg
 * -o -` writes them. When the first one is already `--width` wide and
 * nothing is to change the picture or be published, they pass through as
 * they are, with no ffmpeg (a Pi then spends no CPU on a re-encode);
 * otherwise ffmpeg decodes, scales and encodes them, fed stdin's bytes at
 * its own pace, so that a file piped in loses no frame.
 *
 * @module
 */

import { JpegSplitter } from "../../framing.ts";
import { jpegSize } from "../../common/jpeg.ts";
import { Capture, type SupervisedCapture } from "./capture.ts";

/** What a {@linkcode StdinCapture} reads and where its frames go. */
export interface StdinCaptureOptions {
  /** The bytes: `Deno.stdin.readable`. */
  input: ReadableStream<Uint8Array>;
  /** `--width`: JPEGs this wide pass through. */
  width: number;
  /** ffmpeg must run whatever the width (`--rotate`, `--publish`, …). */
  reencode: boolean;
  /** ffmpeg and its arguments (a `stdin` capture of captureArgs). */
  ffmpeg: string;
  ffmpegArgs: string[];
  onFrame: (jpeg: Uint8Array) => void;
}

/** One read of stdin (see the module doc). */
export class StdinCapture implements SupervisedCapture {
  readonly firstFrame: Promise<void>;
  readonly ended: Promise<Deno.CommandStatus>;
  #options: StdinCaptureOptions;
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #encoder: Capture | null = null;
  #stopping = false;
  #signal: Deno.Signal | undefined;
  #failure = "";
  #resolveFirst!: () => void;

  /** Starts reading; it never throws (a failure ends it, with lastError). */
  constructor(options: StdinCaptureOptions) {
    this.#options = options;
    this.#reader = options.input.getReader();
    this.firstFrame = new Promise((resolve) => this.#resolveFirst = resolve);
    this.ended = this.#run();
  }

  /** `ffmpeg` when it re-encodes, else `stdin`, in log lines. */
  get label(): string {
    return this.#encoder === null ? "stdin" : "ffmpeg";
  }

  /** The ffmpeg that re-encodes; none when the JPEGs pass through. */
  get pid(): number | undefined {
    return this.#encoder?.pid;
  }

  get lastError(): string {
    return this.#failure || (this.#encoder?.lastError ?? "");
  }

  /** Whether it passes stdin's JPEGs through (known once one came). */
  get passesThrough(): boolean {
    return this.#encoder === null;
  }

  async #run(): Promise<Deno.CommandStatus> {
    try {
      return await this.#capture();
    } finally {
      // The stream stays readable for a capture started after this one
      // (--on-demand): a read in flight keeps its bytes queued for it.
      this.#reader.releaseLock();
      await this.#encoder?.stop();
    }
  }

  async #capture(): Promise<Deno.CommandStatus> {
    const { width, reencode, onFrame } = this.#options;
    const splitter = new JpegSplitter();
    // Bytes read before the first whole JPEG decides: ffmpeg gets them all.
    const held: Uint8Array[] = [];
    let bytes = 0;
    let frames: Uint8Array[] = [];
    while (frames.length === 0) {
      const chunk = await this.#read();
      if (chunk === undefined) return this.#ended(bytes);
      held.push(chunk);
      bytes += chunk.length;
      frames = splitter.push(chunk);
    }
    const deliver = (jpeg: Uint8Array) => {
      this.#resolveFirst();
      onFrame(jpeg);
    };
    if (!reencode && jpegSize(frames[0]!)?.width === width) {
      for (const jpeg of frames) deliver(jpeg);
      while (true) {
        const chunk = await this.#read();
        if (chunk === undefined) return this.#status();
        for (const jpeg of splitter.push(chunk)) deliver(jpeg);
      }
    }
    const encoder = new Capture(
      this.#options.ffmpeg,
      this.#options.ffmpegArgs,
      "piped",
      deliver,
    );
    this.#encoder = encoder;
    for (const chunk of held) await encoder.write(chunk);
    while (true) {
      const chunk = await this.#read();
      if (chunk === undefined) break;
      if (!await encoder.write(chunk)) break; // ffmpeg is gone
    }
    if (this.#stopping) return this.#status();
    await encoder.endInput();
    return await encoder.ended;
  }

  /** The next chunk, or `undefined` at the end or when stopping. */
  async #read(): Promise<Uint8Array | undefined> {
    if (this.#stopping) return undefined;
    try {
      const { done, value } = await this.#reader.read();
      return done || this.#stopping ? undefined : value;
    } catch {
      return undefined; // released by stop(), or stdin failed
    }
  }

  /** stdin ended (or the capture was stopped) before a whole JPEG. */
  #ended(bytes: number): Deno.CommandStatus {
    if (this.#stopping) return this.#status();
    this.#failure = bytes === 0
      ? "stdin ended before a whole JPEG came"
      : `stdin ended before a whole JPEG came (${bytes} bytes read: is it MJPEG?)`;
    return { success: false, code: 1, signal: null };
  }

  #status(): Deno.CommandStatus {
    const signal = this.#signal ?? null;
    return { success: signal === null, code: signal === null ? 0 : 1, signal };
  }

  /** Stops reading (and ffmpeg) and waits until it has ended. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#reader.releaseLock();
    await this.ended;
  }

  /** Ends it as a signal would end ffmpeg (the supervisor's stall kill). */
  kill(signal: Deno.Signal): void {
    this.#signal ??= signal;
    this.#stopping = true;
    this.#encoder?.kill(signal);
    this.#reader.releaseLock();
  }
}
