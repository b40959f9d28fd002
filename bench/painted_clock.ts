// Copyright 2026 the camwire authors. MIT license.
/**
 * The painted clock of bench/display_latency.ts: a frame's creation time
 * painted into a 640×480 gray frame as black and white blocks (40 bits of
 * Unix ms mod 2⁴⁰ plus an 8-bit check, under a white marker bar), and read
 * back from an X window dump (xwd).
 *
 * @module
 */

export const WIDTH = 640;
export const HEIGHT = 480;
export const FPS = 30;
export const BLOCK = 64;
export const COLS = 8;
export const ROWS = 6;
export const GRID_X = (WIDTH - COLS * BLOCK) / 2; // 64
export const GRID_Y = (HEIGHT - ROWS * BLOCK) / 2; // 48
export const TIME_BITS = 40;
export const TIME_MOD = 2 ** TIME_BITS;
/** The marker: a white bar across the top margin. */
export const MARKER = { x0: GRID_X, x1: WIDTH - GRID_X, y0: 10, y1: 38 };

/** The 8 check bits of a 40-bit time: its 5 bytes summed, xor 0x5a. */
export function check(time: number): number {
  let sum = 0;
  for (let i = 0; i < 5; i++) sum += Math.floor(time / 2 ** (8 * i)) % 256;
  return (sum & 0xff) ^ 0x5a;
}

/** The 48 bits a frame shows: 40 of time (LSB first), 8 of check. */
export function bitsOf(time: number): number[] {
  const bits: number[] = [];
  for (let i = 0; i < TIME_BITS; i++) bits.push(Math.floor(time / 2 ** i) % 2);
  const c = check(time);
  for (let i = 0; i < 8; i++) bits.push((c >> i) & 1);
  return bits;
}

/** Paints `time` (ms mod 2⁴⁰) into a black 640×480 gray frame. */
export function paint(frame: Uint8Array, time: number): void {
  frame.fill(0);
  for (let y = MARKER.y0; y < MARKER.y1; y++) {
    frame.fill(255, y * WIDTH + MARKER.x0, y * WIDTH + MARKER.x1);
  }
  bitsOf(time).forEach((bit, i) => {
    if (bit === 0) return;
    const x = GRID_X + (i % COLS) * BLOCK;
    const y0 = GRID_Y + Math.floor(i / COLS) * BLOCK;
    for (let y = y0; y < y0 + BLOCK; y++) {
      frame.fill(255, y * WIDTH + x, y * WIDTH + x + BLOCK);
    }
  });
}

/** A gray image of any size, read back from a screenshot. */
export interface Gray {
  width: number;
  height: number;
  at(x: number, y: number): number;
}

/**
 * Reads the painted time back from a picture of a frame at any scale, or
 * `undefined` when it does not show one (no marker, a bad check).
 */
export function decode(image: Gray): number | undefined {
  const sx = image.width / WIDTH;
  const sy = image.height / HEIGHT;
  // Mean of a 5×5 patch around a point given in frame pixels.
  const mean = (x: number, y: number) => {
    const cx = Math.round(x * sx);
    const cy = Math.round(y * sy);
    let sum = 0;
    for (let dy = -2; dy <= 2; dy++) {
      for (let dx = -2; dx <= 2; dx++) sum += image.at(cx + dx, cy + dy);
    }
    return sum / 25;
  };
  const markerY = (MARKER.y0 + MARKER.y1) / 2;
  for (const x of [GRID_X + 32, WIDTH / 2, WIDTH - GRID_X - 32]) {
    if (mean(x, markerY) < 192) return undefined;
  }
  if (mean(GRID_X / 2, HEIGHT / 2) > 64) return undefined;
  let time = 0;
  let c = 0;
  for (let i = 0; i < COLS * ROWS; i++) {
    const x = GRID_X + (i % COLS) * BLOCK + BLOCK / 2;
    const y = GRID_Y + Math.floor(i / COLS) * BLOCK + BLOCK / 2;
    const bit = mean(x, y) >= 128 ? 1 : 0;
    if (i < TIME_BITS) time += bit * 2 ** i;
    else c |= bit << (i - TIME_BITS);
  }
  return c === check(time) ? time : undefined;
}

/**
 * Decodes an XWD file (X Window Dump: a big-endian header of 25 CARD32
 * fields, the window name, `ncolors` 12-byte color entries, then the
 * pixels) of a TrueColor ZPixmap into its green channel.
 */
export function parseXwd(bytes: Uint8Array): Gray {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const field = (i: number) => view.getUint32(i * 4, false);
  const headerSize = field(0);
  const [format, width, height, byteOrder] = [2, 4, 5, 7].map(field);
  const [bitsPerPixel, bytesPerLine, greenMask, ncolors] = [11, 12, 15, 19]
    .map(field);
  if (field(1) !== 7 || format !== 2) throw new Error("not an XWD ZPixmap");
  if (bitsPerPixel !== 32 && bitsPerPixel !== 24) {
    throw new Error(`XWD with ${bitsPerPixel} bits per pixel`);
  }
  const data = headerSize + ncolors! * 12;
  const step = bitsPerPixel! / 8;
  let shift = 0;
  while (shift < 32 && ((greenMask! >>> shift) & 1) === 0) shift++;
  const little = byteOrder === 0;
  return {
    width: width!,
    height: height!,
    at: (x, y) => {
      const cx = Math.min(Math.max(x, 0), width! - 1);
      const cy = Math.min(Math.max(y, 0), height! - 1);
      const offset = data + cy * bytesPerLine! + cx * step;
      let pixel = 0;
      for (let b = 0; b < step; b++) {
        const byte = bytes[offset + (little ? b : step - 1 - b)]!;
        pixel |= byte << (8 * b);
      }
      return (pixel >>> shift) & 0xff;
    },
  };
}
