// Copyright 2026 the camwire authors. MIT license.
/**
 * Small JPEGs made byte by byte for the parsers' tests: a filler payload
 * with JPEG's ends, a structurally real JPEG, one with an EXIF thumbnail.
 *
 * @module
 */
import { concatBytes } from "../framing.ts";

/** A payload with JPEG's SOI/EOI ends and filler between: enough for the Deframer. */
export function fakeJpeg(size: number, seed: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(size).map((_, i) => (i * 31 + seed) & 0x7f);
  bytes.set([0xff, 0xd8]);
  bytes.set([0xff, 0xd9], size - 2);
  return bytes;
}

/**
 * A structurally real JPEG: APP0, DQT, SOF0 (320×180), DHT, SOS, then
 * entropy data with stuffed FF 00 bytes and restart markers, then EOI.
 */
export function realisticJpeg(
  seed: number,
  entropySize = 200,
): Uint8Array<ArrayBuffer> {
  const entropy: number[] = [];
  for (let i = 0; i < entropySize; i++) {
    const byte = (i * 73 + seed * 11) & 0xff;
    entropy.push(byte);
    if (byte === 0xff) entropy.push(0x00); // byte stuffing
    if (i % 64 === 63) entropy.push(0xff, 0xd0 + ((i >> 6) & 7)); // RSTn
  }
  return new Uint8Array([
    0xff,
    0xd8,
    ...segment(0xe0, [
      ...new TextEncoder().encode("JFIF\0"),
      1,
      1,
      0,
      0,
      1,
      0,
      1,
      0,
      0,
    ]),
    ...segment(0xdb, Array.from({ length: 65 }, (_, i) => i === 0 ? 0 : seed)),
    ...segment(0xc0, [8, 0, 180, 1, 64, 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]),
    ...segment(0xc4, [0, ...new Array(16).fill(0), 0xff, 0xd9]),
    ...segment(0xdd, [0, 64]),
    ...segment(0xda, [3, 1, 0, 2, 0x11, 3, 0x11, 0, 63, 0]),
    ...entropy,
    0xff,
    0xd9,
  ]);
}

/** A JPEG whose APP1 (EXIF) segment holds a whole thumbnail JPEG. */
export function thumbnailJpeg(): Uint8Array<ArrayBuffer> {
  const thumb = realisticJpeg(9, 40);
  const outer = realisticJpeg(8);
  const app1 = segment(0xe1, [
    ...new TextEncoder().encode("Exif\0\0"),
    ...thumb,
  ]);
  return concatBytes([
    outer.subarray(0, 2),
    new Uint8Array(app1),
    outer.subarray(2),
  ]);
}

/** A JPEG segment: marker, big-endian length, body. */
export function segment(code: number, body: number[]): number[] {
  const length = body.length + 2;
  return [0xff, code, length >> 8, length & 0xff, ...body];
}
