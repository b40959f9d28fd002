// Copyright 2026 the camwire authors. MIT license.
/**
 * The framing fuzz tests' machinery (fuzz/): running the parsers over a
 * chunked stream, a model deframer, checks that name the case, and the
 * seeded generator each case draws from.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  Deframer,
  FramingError,
  type FramingErrorCode,
  HEADER_SIZE,
  JpegSplitter,
} from "../framing.ts";

export const SEED = envNumber("CAMWIRE_FUZZ_SEED", 1);
export const SCALE = envNumber("CAMWIRE_FUZZ_SCALE", 1);
export const FRAMING_ERROR_CODES: readonly string[] = [
  "zero-length",
  "too-large",
  "not-jpeg",
  "truncated",
] satisfies FramingErrorCode[];

// ---------------------------------------------------------------------------
// Running the parsers

export interface DeframerRun {
  frames: Uint8Array[];
  error?: FramingError;
}

/**
 * Pushes every chunk, then calls finish(), stopping at the first error. Checks
 * on the way that only FramingError is thrown, that no more than the limit
 * (plus a header) is buffered and that every frame is a JPEG within the limit.
 */
export function runDeframer(
  chunks: Uint8Array[],
  max: number,
  where: () => string,
): DeframerRun {
  const deframer = new Deframer({ maxFrameSize: max });
  const frames: Uint8Array[] = [];
  const stopped = (error: unknown): DeframerRun => {
    check(
      error instanceof FramingError &&
        FRAMING_ERROR_CODES.includes(error.code),
      () => `${where()}: threw ${describeError(error)}`,
    );
    return { frames, error };
  };
  for (const chunk of chunks) {
    let out: Uint8Array[];
    try {
      out = deframer.push(chunk);
    } catch (error) {
      return stopped(error);
    }
    for (const frame of out) {
      check(
        frame.length >= 4 && frame.length <= max && isSoiToEoi(frame),
        () => `${where()}: bad frame ${describeBytes(frame)}`,
      );
      frames.push(frame);
    }
    check(
      deframer.buffered <= max + HEADER_SIZE,
      () => `${where()}: buffered ${deframer.buffered} bytes`,
    );
  }
  try {
    deframer.finish();
  } catch (error) {
    return stopped(error);
  }
  check(deframer.buffered === 0, () => `${where()}: finished with bytes held`);
  return { frames };
}

/**
 * What the Deframer must do with a whole stream, written as plainly as
 * possible: the frames before the first fault, and that fault. A payload that
 * does not start with SOI is caught as soon as its first two bytes are in.
 */
export function modelDeframe(
  wire: Uint8Array,
  max: number,
): {
  frames: Uint8Array[];
  error?: FramingErrorCode;
} {
  const frames: Uint8Array[] = [];
  let pos = 0;
  while (pos < wire.length) {
    if (wire.length - pos < HEADER_SIZE) return { frames, error: "truncated" };
    let length = 0n;
    for (let k = HEADER_SIZE - 1; k >= 0; k--) {
      length = length * 256n + BigInt(wire[pos + k]!);
    }
    pos += HEADER_SIZE;
    if (length === 0n) return { frames, error: "zero-length" };
    if (length > BigInt(max)) return { frames, error: "too-large" };
    const payload = wire.subarray(pos, pos + Number(length));
    if (payload.length >= 2 && (payload[0] !== 0xff || payload[1] !== 0xd8)) {
      return { frames, error: "not-jpeg" };
    }
    if (payload.length < length) return { frames, error: "truncated" };
    if (!isSoiToEoi(payload)) return { frames, error: "not-jpeg" };
    frames.push(payload);
    pos += payload.length;
  }
  return { frames };
}

export interface SplitRun {
  frames: Uint8Array[];
  skipped: number;
  dropped: number;
  buffered: number;
}

/**
 * Pushes every chunk. Checks after each push that nothing was thrown, that
 * no more than the limit is buffered, that every frame is a whole JPEG within
 * the limit, and that every byte fed is in a frame, skipped or buffered.
 */
export function runSplitter(
  chunks: Uint8Array[],
  max: number,
  where: () => string,
): SplitRun {
  const splitter = new JpegSplitter({ maxFrameSize: max });
  const frames: Uint8Array[] = [];
  let fed = 0;
  let framed = 0;
  for (const chunk of chunks) {
    let out: Uint8Array[];
    try {
      out = splitter.push(chunk);
    } catch (error) {
      assert.fail(`${where()}: threw ${describeError(error)}`);
    }
    fed += chunk.length;
    for (const frame of out) {
      check(
        frame.length <= max && isSoiToEoi(frame) && isWholeJpeg(frame),
        () => `${where()}: bad frame ${describeBytes(frame)}`,
      );
      framed += frame.length;
      frames.push(frame);
    }
    check(
      splitter.buffered <= max,
      () => `${where()}: buffered ${splitter.buffered} bytes`,
    );
    check(
      splitter.skippedBytes + framed + splitter.buffered === fed,
      () =>
        `${where()}: ${fed} bytes fed but ${framed} in frames, ` +
        `${splitter.skippedBytes} skipped, ${splitter.buffered} buffered`,
    );
  }
  return {
    frames,
    skipped: splitter.skippedBytes,
    dropped: splitter.droppedFrames,
    buffered: splitter.buffered,
  };
}

/** Checks that two chunkings of one stream split it the same way. */
export function assertSameSplit(
  run: SplitRun,
  reference: SplitRun,
  where: () => string,
): void {
  assertSameFrames(run.frames, reference.frames, where);
  check(
    run.skipped === reference.skipped && run.dropped === reference.dropped &&
      run.buffered === reference.buffered,
    () =>
      `${where()}: skipped/dropped/buffered ${run.skipped}/${run.dropped}/` +
      `${run.buffered}, but ${reference.skipped}/${reference.dropped}/` +
      `${reference.buffered} in another chunking`,
  );
}

/** Checks that the frames are pieces of the stream, in order, not overlapping. */
export function assertFramesInOrder(
  frames: Uint8Array[],
  stream: Uint8Array,
  where: () => string,
): void {
  let from = 0;
  for (const [k, frame] of frames.entries()) {
    let at = from;
    while (at + frame.length <= stream.length) {
      if (bytesEqual(stream.subarray(at, at + frame.length), frame)) break;
      at++;
    }
    check(
      at + frame.length <= stream.length,
      () => `${where()}: frame ${k} is not in the stream after byte ${from}`,
    );
    from = at + frame.length;
  }
}

export function assertSameFrames(
  actual: Uint8Array[],
  expected: Uint8Array[],
  where: () => string,
): void {
  check(
    actual.length === expected.length,
    () => `${where()}: ${actual.length} frames, expected ${expected.length}`,
  );
  for (const [k, frame] of actual.entries()) {
    check(
      bytesEqual(frame, expected[k]!),
      () =>
        `${where()}: frame ${k} is ${describeBytes(frame)}, ` +
        `expected ${describeBytes(expected[k]!)}`,
    );
  }
}

// ---------------------------------------------------------------------------
// Checks and small helpers

/** assert.ok, with the message built only on failure (it is hot). */
export function check(
  condition: boolean,
  message: () => string,
): asserts condition {
  if (!condition) assert.fail(message());
}

export function isSoiToEoi(bytes: Uint8Array): boolean {
  const n = bytes.length;
  return n >= 4 && bytes[0] === 0xff && bytes[1] === 0xd8 &&
    bytes[n - 2] === 0xff && bytes[n - 1] === 0xd9;
}

/**
 * Whether a frame follows the marker grammar, read here independently of the
 * splitter: SOI; markers (after optional FF fill), each a standalone marker
 * or a segment of at least 2 length bytes; after SOS, entropy data in which
 * FF is followed by 00, RSTn or fill; and the first EOI as the last 2 bytes.
 */
export function isWholeJpeg(jpeg: Uint8Array): boolean {
  const n = jpeg.length;
  if (n < 4 || jpeg[0] !== 0xff || jpeg[1] !== 0xd8) return false;
  let i = 2;
  while (i < n) {
    if (jpeg[i] !== 0xff) return false;
    while (i < n && jpeg[i] === 0xff) i++;
    if (i >= n) return false;
    const code = jpeg[i++]!;
    if (code === 0xd9) return i === n;
    if (code === 0xd8 || code === 0x00) return false;
    if (code === 0x01 || (code >= 0xd0 && code <= 0xd7)) continue;
    if (i + 2 > n) return false;
    const length = (jpeg[i]! << 8) | jpeg[i + 1]!;
    if (length < 2) return false;
    i += length;
    if (code !== 0xda) continue;
    for (;;) {
      while (i < n && jpeg[i] !== 0xff) i++;
      let j = i + 1;
      while (j < n && jpeg[j] === 0xff) j++;
      if (j >= n) return false;
      const next = jpeg[j]!;
      if (next !== 0x00 && (next < 0xd0 || next > 0xd7)) break;
      i = j + 1;
    }
  }
  return false;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let k = 0; k < a.length; k++) if (a[k] !== b[k]) return false;
  return true;
}

export function u64le(value: bigint): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(HEADER_SIZE);
  new DataView(bytes.buffer).setBigUint64(0, value, true);
  return bytes;
}

/** Hex of short inputs, so a failure can be replayed by hand. */
export function describeBytes(bytes: Uint8Array): string {
  const hex = (part: Uint8Array) =>
    Array.from(part, (byte) => byte.toString(16).padStart(2, "0")).join(" ");
  return bytes.length <= 96
    ? `[${hex(bytes)}] (${bytes.length} bytes)`
    : `[${hex(bytes.subarray(0, 48))} … ${hex(bytes.subarray(-16))}] ` +
      `(${bytes.length} bytes)`;
}

export function describeError(error: unknown): string {
  return error instanceof Error
    ? `${error.name} ${JSON.stringify(error.message)}` +
      (error instanceof FramingError ? ` (code ${error.code})` : "") +
      `\n${error.stack}`
    : String(error);
}

/** A small seeded generator: mulberry32, as in Tommy Ettinger's original. */
export class Rng {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** A float in [0, 1). */
  float(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.float() * n);
  }

  /** An integer in [low, high]. */
  between(low: number, high: number): number {
    return low + this.int(high - low + 1);
  }

  /** An integer in [1, most], small ones far likelier (log-uniform). */
  size(most: number): number {
    return Math.min(
      most,
      Math.floor(Math.exp(this.float() * Math.log(most + 1))),
    );
  }

  chance(p: number): boolean {
    return this.float() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  bytes(n: number): Uint8Array<ArrayBuffer> {
    const bytes = new Uint8Array(n);
    for (let k = 0; k < n; k++) bytes[k] = this.int(256);
    return bytes;
  }
}

/** The generator of one case: independent of every other case. */
export function caseRng(test: number, index: number): Rng {
  return new Rng(
    SEED ^ Math.imul(test, 0x85ebca6b) ^ Math.imul(index + 1, 0x9e3779b9),
  );
}

export function envNumber(name: string, fallback: number): number {
  const granted =
    Deno.permissions.querySync({ name: "env", variable: name }).state ===
      "granted";
  const value = granted ? Deno.env.get(name) : undefined;
  if (value === undefined) return fallback;
  const number = Number(value);
  assert.ok(Number.isSafeInteger(number), `${name} must be an integer`);
  return number;
}
