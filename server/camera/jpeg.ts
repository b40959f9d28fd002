// Copyright 2026 the camwire authors. MIT license.
/**
 * A camera's own JPEGs made fit to pass on, pure (no I/O): a frame that is
 * not whole (cameras deliver frames cut short) is refused, and a frame
 * without Huffman tables (many UVC cameras omit them, since MJPEG in AVI
 * once implied the standard ones) gets the standard tables of the JPEG
 * standard, Annex K.3, inserted, so that browsers, ffplay and OpenCV
 * decode it. mjpg-streamer does the same.
 *
 * Why not in framing.ts: only the server's camera path needs it, and the
 * tables alone are 420 bytes of data; framing.ts stays the wire format.
 *
 * @module
 */

const SOS = 0xda;
const DHT = 0xc4;

/** Annex K.3 tables: [class << 4 | id, 16 code counts, symbols]. */
const STANDARD_TABLES: [number, number[], number[]][] = [
  [0x00, [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0], range(12)],
  [0x01, [0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0], range(12)],
  [
    0x10,
    [0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7d],
    hex(
      "01020300041105122131410613516107227114328191a1082342b1c11552d1f0" +
        "2433627282090a161718191a25262728292a3435363738393a43444546474849" +
        "4a535455565758595a636465666768696a737475767778797a83848586878889" +
        "8a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5" +
        "c6c7c8c9cad2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7e8e9eaf1f2f3f4f5f6f7f8" +
        "f9fa",
    ),
  ],
  [
    0x11,
    [0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77],
    hex(
      "000102031104052131061241510761711322328108144291a1b1c109233352f0" +
        "156272d10a162434e125f11718191a262728292a35363738393a434445464748" +
        "494a535455565758595a636465666768696a737475767778797a828384858687" +
        "88898a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3" +
        "c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae2e3e4e5e6e7e8e9eaf2f3f4f5f6f7f8" +
        "f9fa",
    ),
  ],
];

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

function hex(text: string): number[] {
  return text.match(/../g)!.map((byte) => parseInt(byte, 16));
}

/**
 * The DHT segment with the four standard tables (420 bytes), marker
 * included: what is inserted into a JPEG that has none.
 */
export const STANDARD_DHT: Uint8Array = (() => {
  const body = STANDARD_TABLES.flatMap(([id, counts, symbols]) => [
    id,
    ...counts,
    ...symbols,
  ]);
  const length = body.length + 2;
  return new Uint8Array([0xff, DHT, length >> 8, length & 0xff, ...body]);
})();

/**
 * Where a JPEG's entropy-coded data ends: past EOI, not counting the zero
 * padding some cameras put after it.
 *
 * @param jpeg A frame as the camera delivered it.
 * @returns Its length without the padding, or -1 when it is not whole
 * (no SOI at the start or no EOI at the end).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(wholeLength(new Uint8Array([0xff, 0xd8, 0xff, 0xd9, 0, 0])), 4);
 * assert.equal(wholeLength(new Uint8Array([0xff, 0xd8, 0x12, 0x34])), -1);
 * ```
 */
export function wholeLength(jpeg: Uint8Array): number {
  if (jpeg.length < 4 || jpeg[0] !== 0xff || jpeg[1] !== 0xd8) return -1;
  let end = jpeg.length;
  while (end > 4 && jpeg[end - 1] === 0) end--;
  return jpeg[end - 2] === 0xff && jpeg[end - 1] === 0xd9 ? end : -1;
}

/**
 * Finds the first SOS marker and whether a DHT segment came before it.
 *
 * @returns The offset of SOS (-1 when the header is malformed) and
 * whether Huffman tables were seen.
 */
function scanHeader(jpeg: Uint8Array): { sos: number; dht: boolean } {
  let pos = 2;
  let dht = false;
  while (pos + 4 <= jpeg.length) {
    if (jpeg[pos] !== 0xff) return { sos: -1, dht };
    const code = jpeg[pos + 1]!;
    if (code === 0xff) {
      pos++; // fill byte
      continue;
    }
    if (code === SOS) return { sos: pos, dht };
    if (code === DHT) dht = true;
    pos += 2 + ((jpeg[pos + 2]! << 8) | jpeg[pos + 3]!);
  }
  return { sos: -1, dht };
}

/** Why {@linkcode repairCameraJpeg} refused a frame. */
export type Refused = "truncated" | "malformed";

/**
 * Makes a camera's frame fit to pass on: whole, trimmed of padding, with
 * Huffman tables. A frame that already has them is returned as is (a view,
 * no copy).
 *
 * @param jpeg A frame as the camera delivered it.
 * @returns The frame, or why it was refused.
 *
 * @example A camera JPEG without Huffman tables gets the standard ones
 * ```ts
 * import assert from "node:assert/strict";
 * const sos = [0xff, 0xda, 0, 2];
 * const jpeg = new Uint8Array([0xff, 0xd8, ...sos, 0x12, 0xff, 0xd9]);
 * const fixed = repairCameraJpeg(jpeg);
 * assert.ok(fixed instanceof Uint8Array);
 * assert.equal(fixed.length, jpeg.length + STANDARD_DHT.length);
 * assert.deepEqual(fixed.subarray(2, 2 + STANDARD_DHT.length), STANDARD_DHT);
 * assert.equal(repairCameraJpeg(jpeg.subarray(0, 7)), "truncated");
 * ```
 */
export function repairCameraJpeg(jpeg: Uint8Array): Uint8Array | Refused {
  const length = wholeLength(jpeg);
  if (length === -1) return "truncated";
  const frame = jpeg.subarray(0, length);
  const { sos, dht } = scanHeader(frame);
  if (sos === -1) return "malformed";
  if (dht) return frame;
  const fixed = new Uint8Array(length + STANDARD_DHT.length);
  fixed.set(frame.subarray(0, sos));
  fixed.set(STANDARD_DHT, sos);
  fixed.set(frame.subarray(sos), sos + STANDARD_DHT.length);
  return fixed;
}
