// Copyright 2026 the camwire authors. MIT license.
/**
 * camwire's wire format and the two incremental parsers around it. Pure: no
 * I/O and no Deno APIs, so it runs anywhere and tests fast.
 *
 * On the wire every frame is an 8-byte unsigned little-endian length (what
 * Python's `struct.unpack("<Q", …)` reads) followed by one complete JPEG,
 * SOI `FF D8` … EOI `FF D9`. Nothing else is sent.
 *
 * - {@linkcode encodeHeader} / {@linkcode encodeFrame} build that framing.
 * - {@linkcode Deframer} turns received bytes back into JPEGs.
 * - {@linkcode JpegSplitter} cuts ffmpeg's MJPEG byte stream into JPEGs.
 *
 * The capture time each JPEG carries in a comment (so a viewer can tell how
 * old a frame is) is written and read in common/jpeg.ts.
 *
 * @example Round trip
 * ```ts
 * import assert from "node:assert/strict";
 * const jpeg = new Uint8Array([0xff, 0xd8, 0xff, 0xd9]);
 * const deframer = new Deframer();
 * assert.deepEqual(deframer.push(encodeFrame(jpeg)), [jpeg]);
 * ```
 *
 * @module
 */

/** Size of the length header in front of every frame, in bytes. */
export const HEADER_SIZE = 8;

/** Default cap on one frame's size: 16 MiB, far above any sane MJPEG frame. */
export const DEFAULT_MAX_FRAME_SIZE = 16 * 1024 * 1024;

/** What was wrong with a stream, as {@linkcode FramingError.code}. */
export type FramingErrorCode =
  | "zero-length"
  | "too-large"
  | "not-jpeg"
  | "truncated";

/**
 * A broken or hostile stream: the only error {@linkcode Deframer} throws.
 *
 * @example Telling a framing error apart
 * ```ts
 * import assert from "node:assert/strict";
 * const deframer = new Deframer();
 * assert.throws(() => deframer.push(new Uint8Array(8)), FramingError);
 * ```
 */
export class FramingError extends Error {
  /** Machine-readable kind of the fault. */
  readonly code: FramingErrorCode;

  /**
   * @param code Kind of the fault.
   * @param message What was wrong, for people.
   */
  constructor(code: FramingErrorCode, message: string) {
    super(message);
    this.name = "FramingError";
    this.code = code;
  }
}

/**
 * Encodes a frame length as the 8-byte little-endian header.
 *
 * @param length Payload length in bytes (a safe integer ≥ 0).
 * @returns The 8 header bytes.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(encodeHeader(258), new Uint8Array([2, 1, 0, 0, 0, 0, 0, 0]));
 * ```
 */
export function encodeHeader(length: number): Uint8Array<ArrayBuffer> {
  if (!Number.isSafeInteger(length) || length < 0) {
    throw new RangeError(
      `Cannot encode frame header: length "${length}" is not a byte count`,
    );
  }
  const header = new Uint8Array(HEADER_SIZE);
  new DataView(header.buffer).setBigUint64(0, BigInt(length), true);
  return header;
}

/**
 * Builds one wire frame, header and payload in a single buffer, so a sender
 * needs one write per frame and never sends the 8 header bytes on their own.
 *
 * @param payload The JPEG.
 * @returns Header followed by a copy of the payload.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const frame = encodeFrame(new Uint8Array([0xff, 0xd8, 0xff, 0xd9]));
 * assert.equal(frame.length, 12);
 * assert.equal(frame[0], 4);
 * ```
 */
export function encodeFrame(payload: Uint8Array): Uint8Array<ArrayBuffer> {
  const frame = new Uint8Array(HEADER_SIZE + payload.length);
  frame.set(encodeHeader(payload.length));
  frame.set(payload, HEADER_SIZE);
  return frame;
}

/** Options of {@linkcode Deframer} and {@linkcode JpegSplitter}. */
export interface FrameLimitOptions {
  /**
   * Largest frame accepted, in bytes.
   *
   * @default {16777216}
   */
  maxFrameSize?: number;
}

/** Options of {@linkcode Deframer}. */
export interface DeframerOptions extends FrameLimitOptions {
  /**
   * Accept any payload, not only JPEGs: the same u64 length framing
   * carries the Python tutorial's pickled frames (`--pickle-port`), which
   * have no markers to check.
   *
   * @default {false}
   */
  anyPayload?: boolean;
}

function maxFrameSizeOf(options: FrameLimitOptions): number {
  const max = options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE;
  if (!Number.isSafeInteger(max) || max < 4) {
    throw new RangeError(
      `Cannot create parser: maxFrameSize "${max}" is not an integer of at least 4`,
    );
  }
  return max;
}

function describeSize(bytes: number): string {
  const mib = bytes / (1024 * 1024);
  return Number.isInteger(mib) ? `${mib} MiB` : `${bytes} bytes`;
}

/** Joins byte arrays into one new buffer. */
export function concatBytes(parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  let size = 0;
  for (const part of parts) size += part.length;
  const out = new Uint8Array(size);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/**
 * Incremental parser for camwire's wire format: push received chunks of any
 * size, get back every JPEG they complete.
 *
 * A frame that lies inside one pushed chunk is returned as a subarray of it,
 * not a copy, so a chunk must not be reused after it is pushed. The part of
 * a frame that a chunk only begins is copied, never kept as a view: a peer
 * that sends one byte per packet would otherwise pin each packet's whole
 * read buffer (measured: a client at 1.5 GB after 2.2 MB received), and
 * memory stays within the frame being collected, at most the size limit.
 * A bad length (0 or above the limit) or a payload that does not start
 * with SOI and end with EOI throws a {@linkcode FramingError}; a bad length
 * is rejected from its header alone, before any byte of the payload is
 * kept. Frames completed before a bad one in the same chunk are returned
 * first; the error comes from the next call.
 *
 * @example Chunks split anywhere
 * ```ts
 * import assert from "node:assert/strict";
 * const jpeg = new Uint8Array([0xff, 0xd8, 1, 2, 0xff, 0xd9]);
 * const wire = encodeFrame(jpeg);
 * const deframer = new Deframer();
 * assert.deepEqual(deframer.push(wire.subarray(0, 5)), []);
 * assert.deepEqual(deframer.push(wire.subarray(5)), [jpeg]);
 * deframer.finish();
 * ```
 *
 * @example Any payload, for the pickle wire
 * ```ts
 * import assert from "node:assert/strict";
 * const pickle = new Uint8Array([0x80, 3, 0x4e, 0x2e]); // None
 * const deframer = new Deframer({ anyPayload: true });
 * assert.deepEqual(deframer.push(encodeFrame(pickle)), [pickle]);
 * ```
 */
export class Deframer {
  #max: number;
  #anyPayload: boolean;
  #header = new Uint8Array(HEADER_SIZE);
  #headerFill = 0;
  /** Payload length being collected; 0 while reading a header. */
  #length = 0;
  /** The payload being collected across chunks, grown as bytes come. */
  #partial: Uint8Array<ArrayBuffer> = new Uint8Array(0);
  #have = 0;
  /** An error found after frames that were handed over first. */
  #failure: FramingError | null = null;

  /** @param options Frame size limit; JPEG payloads only, or any. */
  constructor(options: DeframerOptions = {}) {
    this.#max = maxFrameSizeOf(options);
    this.#anyPayload = options.anyPayload ?? false;
  }

  /** Bytes held for a frame not yet complete. */
  get buffered(): number {
    return this.#headerFill + this.#have;
  }

  /**
   * Feeds received bytes.
   *
   * @param chunk The next bytes of the stream; owned by the deframer now.
   * @returns The payloads completed by this chunk, in order.
   * @throws {FramingError} When the stream is not camwire's wire format.
   */
  push(chunk: Uint8Array): Uint8Array[] {
    if (this.#failure !== null) throw this.#failure;
    const frames: Uint8Array[] = [];
    try {
      this.#parse(chunk, frames);
    } catch (error) {
      if (!(error instanceof FramingError) || frames.length === 0) throw error;
      this.#failure = error; // thrown by the next call
    }
    return frames;
  }

  #parse(chunk: Uint8Array, frames: Uint8Array[]): void {
    let pos = 0;
    while (pos < chunk.length) {
      if (this.#length === 0) {
        // Fast path: a whole header inside the chunk needs no copy.
        if (this.#headerFill === 0 && chunk.length - pos >= HEADER_SIZE) {
          this.#startPayload(readLength(chunk, pos));
          pos += HEADER_SIZE;
          continue;
        }
        const n = Math.min(HEADER_SIZE - this.#headerFill, chunk.length - pos);
        this.#header.set(chunk.subarray(pos, pos + n), this.#headerFill);
        this.#headerFill += n;
        pos += n;
        if (this.#headerFill === HEADER_SIZE) {
          this.#headerFill = 0;
          this.#startPayload(readLength(this.#header, 0));
        }
        continue;
      }
      const need = this.#length - this.#have;
      const take = Math.min(need, chunk.length - pos);
      const piece = chunk.subarray(pos, pos + take);
      pos += take;
      if (take === need && this.#have === 0) {
        frames.push(this.#finishPayload(piece));
        continue;
      }
      const had = this.#have;
      this.#keep(piece);
      if (had < 2 && this.#have >= 2 && !this.#anyPayload) this.#checkSoi();
      if (this.#have === this.#length) {
        const payload = this.#partial.subarray(0, this.#length);
        this.#partial = new Uint8Array(0);
        this.#have = 0;
        frames.push(this.#finishPayload(payload));
      }
    }
  }

  /** Copies the next piece of a payload, growing the buffer by doubling. */
  #keep(piece: Uint8Array): void {
    const need = this.#have + piece.length;
    if (need > this.#partial.length) {
      // Not the whole announced length at once: a header may lie about it.
      const size = Math.min(
        this.#length,
        Math.max(need, 2 * this.#partial.length, 64 * 1024),
      );
      const grown = new Uint8Array(size);
      grown.set(this.#partial.subarray(0, this.#have));
      this.#partial = grown;
    }
    this.#partial.set(piece, this.#have);
    this.#have = need;
  }

  /**
   * Declares the end of the stream.
   *
   * @throws {FramingError} With code `truncated` when it ends inside a frame.
   */
  finish(): void {
    if (this.#failure !== null) throw this.#failure;
    // Not `buffered`: after a whole header nothing is buffered, yet the
    // stream is inside a frame.
    if (this.#length === 0 && this.#headerFill === 0) return;
    const what = this.#length === 0
      ? `inside a frame header (${this.#headerFill} of ${HEADER_SIZE} bytes)`
      : `inside a frame (${this.#have} of ${this.#length} bytes)`;
    throw new FramingError("truncated", `Stream ended ${what}`);
  }

  #startPayload(length: bigint): void {
    if (length === 0n) {
      throw new FramingError("zero-length", "Frame length 0 is not allowed");
    }
    if (length > BigInt(this.#max)) {
      throw new FramingError(
        "too-large",
        `Frame length ${length} exceeds the ${describeSize(this.#max)} limit`,
      );
    }
    this.#length = Number(length);
  }

  #checkSoi(): void {
    if (this.#partial[0] !== 0xff || this.#partial[1] !== 0xd8) {
      throw notJpeg("SOI", "start");
    }
  }

  #finishPayload(payload: Uint8Array): Uint8Array {
    const n = payload.length;
    this.#length = 0;
    if (this.#anyPayload) return payload;
    if (n < 4 || payload[0] !== 0xff || payload[1] !== 0xd8) {
      throw notJpeg("SOI", "start");
    }
    if (payload[n - 2] !== 0xff || payload[n - 1] !== 0xd9) {
      throw notJpeg("EOI", "end");
    }
    return payload;
  }
}

function readLength(bytes: Uint8Array, offset: number): bigint {
  return new DataView(bytes.buffer, bytes.byteOffset + offset, HEADER_SIZE)
    .getBigUint64(0, true);
}

function notJpeg(marker: string, where: string): FramingError {
  return new FramingError(
    "not-jpeg",
    `Frame payload is not a JPEG: it does not ${where} with ${marker}`,
  );
}

// JpegSplitter states. A JPEG is SOI, marker segments (FF xx + 2-byte length
// that counts itself), SOS, entropy-coded data in which every FF is followed
// by 00 (byte stuffing) or a restart marker D0–D7, and finally EOI.
const SEEK_FF = 0; // outside a frame, looking for FF
const SEEK_D8 = 1; // outside a frame, after FF: D8 starts a frame
const MARKER_FF = 2; // expecting the FF of the next marker
const MARKER_CODE = 3; // after FF: the marker code (FF is fill)
const LENGTH_HI = 4;
const LENGTH_LO = 5;
const SKIP = 6; // inside a segment's body
const ENTROPY = 7; // entropy-coded data, looking for FF
const ENTROPY_FF = 8; // entropy-coded data, after FF

const SOS = 0xda;

/**
 * Cuts a raw MJPEG byte stream (ffmpeg's `-f mjpeg` output: JPEGs back to
 * back) into whole JPEGs, from chunks of any size.
 *
 * It walks the marker segments up to SOS, skipping each by its length, and
 * only then looks for EOI in the entropy-coded data, where a real marker is
 * the only FF not followed by 00 or a restart code. So an EXIF thumbnail (a
 * whole JPEG inside APP1) or a marker split across chunks cannot cut a frame
 * short. Bytes before an SOI are skipped; a malformed frame, or one larger
 * than the limit, is dropped and the splitter looks for the next SOI. It
 * never throws on its input.
 *
 * A frame that lies inside one chunk is returned as a subarray of it.
 *
 * @example Two frames in one chunk, with garbage in front
 * ```ts
 * import assert from "node:assert/strict";
 * const jpeg = [0xff, 0xd8, 0xff, 0xda, 0, 2, 7, 0xff, 0, 9, 0xff, 0xd9];
 * const splitter = new JpegSplitter();
 * const frames = splitter.push(new Uint8Array([1, 2, ...jpeg, ...jpeg]));
 * assert.equal(frames.length, 2);
 * assert.deepEqual(frames[0], new Uint8Array(jpeg));
 * assert.equal(splitter.skippedBytes, 2);
 * ```
 */
export class JpegSplitter {
  #max: number;
  #state = SEEK_FF;
  #skip = 0;
  #length = 0;
  #afterSegment = MARKER_FF;
  /** Earlier chunks' bytes of the frame being cut. */
  #parts: Uint8Array[] = [];
  #size = 0;
  #skippedBytes = 0;
  #droppedFrames = 0;

  /** @param options Frame size limit. */
  constructor(options: FrameLimitOptions = {}) {
    this.#max = maxFrameSizeOf(options);
  }

  /** Bytes that were not part of any whole frame (garbage, dropped frames). */
  get skippedBytes(): number {
    return this.#skippedBytes;
  }

  /** Frames dropped as malformed or too large. */
  get droppedFrames(): number {
    return this.#droppedFrames;
  }

  /** Bytes held for a frame not yet complete. */
  get buffered(): number {
    return this.#size;
  }

  /**
   * Feeds the next bytes of the stream.
   *
   * @param chunk Stream bytes; owned by the splitter now.
   * @returns The JPEGs completed by this chunk, in order.
   */
  push(chunk: Uint8Array): Uint8Array[] {
    const frames: Uint8Array[] = [];
    // Where the current frame starts in this chunk; -1 when it started in an
    // earlier chunk (its bytes so far are in #parts).
    let start = this.#state === SEEK_FF ? 0 : -1;
    let pos = 0;
    const n = chunk.length;
    while (pos < n) {
      // A step never moves past the byte that makes the frame one byte too
      // big, so an oversized frame is dropped at the same byte, and the
      // search resumes at the same place, however the input is chunked.
      const limitPos = pos + this.#max + 1 -
        (this.#size + pos - Math.max(start, 0));
      switch (this.#state) {
        case SEEK_FF: {
          const ff = chunk.indexOf(0xff, pos);
          const end = ff === -1 ? n : ff;
          this.#skippedBytes += end - pos;
          pos = end;
          if (ff !== -1) {
            start = ff;
            this.#state = SEEK_D8;
            pos++;
          }
          break;
        }
        case SEEK_D8: {
          const byte = chunk[pos]!;
          if (byte === 0xd8) {
            this.#state = MARKER_FF;
            pos++;
          } else {
            // A false start: the FF was garbage (this byte may start anew).
            this.#dropPartial(start, pos, false);
            start = pos;
            this.#state = SEEK_FF;
          }
          break;
        }
        case MARKER_FF:
          if (chunk[pos] !== 0xff) {
            this.#dropPartial(start, pos, true);
            start = pos;
            this.#state = SEEK_FF;
            break;
          }
          this.#state = MARKER_CODE;
          pos++;
          break;
        case MARKER_CODE: {
          const code = chunk[pos++]!;
          if (code === 0xff) break; // fill byte
          if (code === 0xd9) {
            const frame = this.#complete(chunk, start, pos);
            if (frame) frames.push(frame);
            start = pos;
            this.#state = SEEK_FF;
          } else if (code === 0xd8) {
            // SOI inside a frame: the frame was cut short (a restarted
            // source, say). Drop it and start the new one at this SOI.
            this.#dropPartial(start, pos, true);
            start = pos - 2;
            if (start < 0) {
              this.#parts = [new Uint8Array([0xff])];
              this.#size = 1;
              start = 0;
            }
            this.#skippedBytes -= 2;
            this.#state = MARKER_FF;
          } else if (code === 0x00) {
            this.#dropPartial(start, pos, true);
            start = pos;
            this.#state = SEEK_FF;
          } else if (code === 0x01 || (code >= 0xd0 && code <= 0xd7)) {
            this.#state = MARKER_FF; // standalone marker: no length
          } else {
            this.#afterSegment = code === SOS ? ENTROPY : MARKER_FF;
            this.#state = LENGTH_HI;
          }
          break;
        }
        case LENGTH_HI:
          this.#length = chunk[pos++]! << 8;
          this.#state = LENGTH_LO;
          break;
        case LENGTH_LO:
          this.#length |= chunk[pos++]!;
          if (this.#length < 2) {
            this.#dropPartial(start, pos, true);
            start = pos;
            this.#state = SEEK_FF;
            break;
          }
          this.#skip = this.#length - 2;
          this.#state = this.#skip === 0 ? this.#afterSegment : SKIP;
          break;
        case SKIP: {
          const take = Math.min(this.#skip, n - pos, limitPos - pos);
          pos += take;
          this.#skip -= take;
          if (this.#skip === 0) this.#state = this.#afterSegment;
          break;
        }
        case ENTROPY: {
          const ff = chunk.indexOf(0xff, pos);
          if (ff === -1 || ff >= limitPos) {
            pos = Math.min(n, limitPos);
          } else {
            pos = ff + 1;
            this.#state = ENTROPY_FF;
          }
          break;
        }
        case ENTROPY_FF: {
          const code = chunk[pos]!;
          if (code === 0x00 || (code >= 0xd0 && code <= 0xd7)) {
            this.#state = ENTROPY;
            pos++;
          } else if (code === 0xff) {
            pos++; // fill byte
          } else {
            // A real marker: EOI, or DHT/SOS/… between progressive scans.
            this.#state = MARKER_CODE;
          }
          break;
        }
        default:
          throw new Error("This should be unreachable: bad splitter state");
      }
      if (this.#state !== SEEK_FF && this.#state !== SEEK_D8) {
        if (this.#size + pos - Math.max(start, 0) > this.#max) {
          this.#dropPartial(start, pos, true);
          start = pos;
          this.#state = SEEK_FF;
        }
      }
    }
    if (this.#state !== SEEK_FF) {
      const tail = chunk.subarray(Math.max(start, 0));
      this.#parts.push(tail);
      this.#size += tail.length;
    }
    return frames;
  }

  #complete(chunk: Uint8Array, start: number, end: number): Uint8Array | null {
    let frame: Uint8Array;
    if (this.#parts.length === 0) {
      frame = chunk.subarray(start, end);
    } else {
      this.#parts.push(chunk.subarray(Math.max(start, 0), end));
      frame = concatBytes(this.#parts);
    }
    this.#parts = [];
    this.#size = 0;
    if (frame.length > this.#max) {
      this.#skippedBytes += frame.length;
      this.#droppedFrames++;
      return null;
    }
    return frame;
  }

  /** Forgets the frame being cut, counting its bytes as skipped. */
  #dropPartial(start: number, end: number, isFrame: boolean): void {
    this.#skippedBytes += this.#size + end - Math.max(start, 0);
    if (isFrame) this.#droppedFrames++;
    this.#parts = [];
    this.#size = 0;
  }
}
