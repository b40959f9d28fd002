// Copyright 2026 the camwire authors. MIT license.
/**
 * What camwire writes and reads inside a JPEG, beside the wire's framing
 * (framing.ts): the capture stamp the server puts in each frame once, for
 * every viewer, and the picture size from the start-of-frame segment.
 *
 * @module
 */

import { HEADER_SIZE } from "../framing.ts";

/** Text that starts camwire's capture-time comment. */
const STAMP_PREFIX = "camwire t=";

/**
 * Bytes {@linkcode stampableBuffer} keeps free before a JPEG: the wire
 * header, SOI and the stamp segment (at most 52 bytes of text), less the
 * JPEG's own SOI, which they overwrite.
 */
export const STAMP_ROOM = 64;

/** Buffers made by {@linkcode stampableBuffer}, until stamped. */
const stampable = new WeakSet<ArrayBufferLike>();

/**
 * A buffer to copy a JPEG of `length` bytes into (a camera frame) that
 * {@linkcode stampFrame} then turns into the wire frame in place, once,
 * instead of copying it: {@linkcode STAMP_ROOM} free bytes before it in
 * the same `ArrayBuffer`. One buffer per frame, not two: frames wait in
 * memory until the garbage collector's next pass (measured: 8.5 MB of
 * them at 30 fps when each frame had two).
 *
 * @param length The JPEG's length in bytes.
 * @returns The JPEG's bytes, zeroed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const jpeg = stampableBuffer(4);
 * jpeg.set([0xff, 0xd8, 0xff, 0xd9]);
 * const frame = stampFrame(jpeg, 1700000000000);
 * assert.equal(frame.buffer, jpeg.buffer); // no copy
 * assert.equal(readStamp(frame.subarray(8)), 1700000000000);
 * ```
 */
export function stampableBuffer(length: number): Uint8Array<ArrayBuffer> {
  const buffer = new ArrayBuffer(STAMP_ROOM + length);
  stampable.add(buffer);
  return new Uint8Array(buffer, STAMP_ROOM, length);
}

/**
 * Builds the wire frame for a captured JPEG with its capture time stamped
 * in: header, SOI, a COM segment `camwire t=<unix ms>`, then the rest of the
 * JPEG. Still a valid JPEG; done once per frame, shared by every viewer.
 * A JPEG at the start of a {@linkcode stampableBuffer} is stamped in place
 * (its first bytes are overwritten: it is the frame's now); any other is
 * copied.
 *
 * @param jpeg A JPEG starting with SOI.
 * @param timeMs Capture time, Unix epoch milliseconds (fractions kept to µs).
 * @returns Header and stamped JPEG in one buffer.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { HEADER_SIZE } from "../framing.ts";
 * const jpeg = new Uint8Array([0xff, 0xd8, 0xff, 0xd9]);
 * const frame = stampFrame(jpeg, 1700000000000.5);
 * assert.equal(readStamp(frame.subarray(HEADER_SIZE)), 1700000000000.5);
 * ```
 */
export function stampFrame(
  jpeg: Uint8Array,
  timeMs: number,
): Uint8Array<ArrayBuffer> {
  // Written byte by byte: a TextEncoder and encodeHeader's DataView and
  // BigInt were three allocations and two native calls per frame.
  const text = STAMP_PREFIX + timeMs.toFixed(3);
  const comLength = 2 + text.length;
  const payloadLength = jpeg.length + 2 + comLength;
  // What comes before the JPEG's bytes after its SOI.
  const before = HEADER_SIZE + 4 + comLength;
  const inPlace = jpeg.byteOffset === STAMP_ROOM &&
    before - 2 <= STAMP_ROOM && stampable.delete(jpeg.buffer);
  const frame = inPlace
    ? new Uint8Array(
      jpeg.buffer as ArrayBuffer,
      STAMP_ROOM + 2 - before,
      HEADER_SIZE + payloadLength,
    )
    : new Uint8Array(HEADER_SIZE + payloadLength);
  // The 8-byte little-endian length; a frame is far below 2^32 bytes.
  frame[0] = payloadLength & 0xff;
  frame[1] = (payloadLength >>> 8) & 0xff;
  frame[2] = (payloadLength >>> 16) & 0xff;
  frame[3] = payloadLength >>> 24;
  frame[4] =
    frame[5] =
    frame[6] =
    frame[7] =
      0;
  let at = HEADER_SIZE;
  frame[at++] = 0xff;
  frame[at++] = 0xd8;
  frame[at++] = 0xff;
  frame[at++] = 0xfe;
  frame[at++] = comLength >> 8;
  frame[at++] = comLength & 0xff;
  for (let i = 0; i < text.length; i++) frame[at++] = text.charCodeAt(i);
  if (!inPlace) frame.set(jpeg.subarray(2), at);
  return frame;
}

/**
 * Reads the capture time that {@linkcode stampFrame} put in a JPEG.
 *
 * @param jpeg A JPEG (the payload of a wire frame).
 * @returns Unix epoch milliseconds, or `undefined` when there is no stamp.
 */
export function readStamp(jpeg: Uint8Array): number | undefined {
  if (jpeg.length < 6 || jpeg[2] !== 0xff || jpeg[3] !== 0xfe) return;
  const end = 4 + ((jpeg[4]! << 8) | jpeg[5]!);
  if (end > jpeg.length) return;
  const text = new TextDecoder().decode(jpeg.subarray(6, end));
  if (!text.startsWith(STAMP_PREFIX)) return;
  const time = Number(text.slice(STAMP_PREFIX.length));
  return Number.isFinite(time) ? time : undefined;
}

/**
 * Reads a JPEG's picture size from its start-of-frame segment (SOF0–SOF15,
 * except the DHT/JPG/DAC codes that share the range).
 *
 * @param jpeg A whole JPEG.
 * @returns Width and height, or `undefined` when no SOF segment is found.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const sof = [0xff, 0xc0, 0, 11, 8, 0, 240, 1, 64, 1, 1, 0x11, 0];
 * const jpeg = new Uint8Array([0xff, 0xd8, ...sof, 0xff, 0xd9]);
 * assert.deepEqual(jpegSize(jpeg), { width: 320, height: 240 });
 * ```
 */
export function jpegSize(
  jpeg: Uint8Array,
): { width: number; height: number } | undefined {
  let pos = 2;
  while (pos + 4 <= jpeg.length && jpeg[pos] === 0xff) {
    const code = jpeg[pos + 1]!;
    const length = (jpeg[pos + 2]! << 8) | jpeg[pos + 3]!;
    const isSof = code >= 0xc0 && code <= 0xcf && code !== 0xc4 &&
      code !== 0xc8 && code !== 0xcc;
    if (isSof && pos + 9 <= jpeg.length) {
      return {
        height: (jpeg[pos + 5]! << 8) | jpeg[pos + 6]!,
        width: (jpeg[pos + 7]! << 8) | jpeg[pos + 8]!,
      };
    }
    if (code === 0xda) return; // SOS: the picture data starts
    pos += 2 + length;
  }
  return;
}
