// Copyright 2026 the camwire authors. MIT license.
/**
 * Inputs for the framing fuzz tests (fuzz/): chunkings, JPEG-like and
 * hostile streams, synthetic JPEGs, mutations, and real ffmpeg JPEGs.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  concatBytes,
  DEFAULT_MAX_FRAME_SIZE,
  encodeFrame,
  HEADER_SIZE,
} from "../framing.ts";
import { check, type Rng, u64le } from "./fuzz.ts";

// ---------------------------------------------------------------------------
// Inputs

export const DEFRAMER_LIMITS = [
  4,
  5,
  64,
  4096,
  4096,
  65536,
  DEFAULT_MAX_FRAME_SIZE,
];

export const CHUNKINGS = [
  "whole",
  "single bytes",
  "chunks of 1..16 bytes",
  "chunks of 1..2048 bytes",
  "cut at 1..3 points",
] as const;

type Chunking = typeof CHUNKINGS[number];

/** "whole" and `count - 1` other chunkings, all different. */
export function chunkingsFor(rng: Rng, count: number): Chunking[] {
  const others = CHUNKINGS.slice(1);
  const picked: Chunking[] = ["whole"];
  while (picked.length < count) {
    picked.push(...others.splice(rng.int(others.length), 1));
  }
  return picked;
}

/**
 * Cuts a stream into chunks, sometimes with empty ones between. The chunks are
 * fresh copies, or views into one copy (so at byte offsets other than 0);
 * either way the parsers may keep them, and the stream itself is never fed.
 */
export function chunkStream(
  rng: Rng,
  stream: Uint8Array,
  chunking: Chunking,
  where: () => string,
): Uint8Array[] {
  const cuts = [0];
  const n = stream.length;
  switch (chunking) {
    case "whole":
      break;
    case "single bytes":
      for (let at = 1; at < n; at++) cuts.push(at);
      break;
    case "chunks of 1..16 bytes":
    case "chunks of 1..2048 bytes": {
      const most = chunking === "chunks of 1..16 bytes" ? 16 : 2048;
      for (let at = rng.between(1, most); at < n; at += rng.between(1, most)) {
        cuts.push(at);
      }
      break;
    }
    case "cut at 1..3 points":
      for (let k = rng.between(1, 3); k > 0; k--) cuts.push(rng.int(n + 1));
      cuts.sort((a, b) => a - b);
      break;
  }
  cuts.push(n);
  const copy = stream.slice();
  const views = rng.chance(0.5);
  const withEmpty = rng.chance(0.2);
  const chunks: Uint8Array[] = [];
  for (let k = 1; k < cuts.length; k++) {
    const [from, to] = [cuts[k - 1]!, cuts[k]!];
    if (from === to && chunking !== "cut at 1..3 points") continue;
    chunks.push(views ? copy.subarray(from, to) : stream.slice(from, to));
    if (withEmpty && rng.chance(0.1)) chunks.push(new Uint8Array(0));
  }
  check(
    chunks.reduce((sum, chunk) => sum + chunk.length, 0) === n,
    () => `${where()}: the test cut the stream wrong`,
  );
  return chunks;
}

/** A payload that starts with SOI and ends with EOI, at most `max` bytes. */
export function jpegLike(rng: Rng, max: number): Uint8Array<ArrayBuffer> {
  const size = rng.chance(0.1)
    ? Math.min(max, 6000)
    : Math.max(4, Math.min(max, rng.size(6000)));
  const payload = rng.chance(0.5) ? rng.bytes(size) : markerRich(rng, size);
  payload.set([0xff, 0xd8]);
  payload.set([0xff, 0xd9], size - 2);
  return payload;
}

/** Random bytes, or a valid wire stream damaged in a few places. */
export function hostileWire(rng: Rng, max: number): Uint8Array {
  switch (rng.int(10)) {
    case 0:
      return rng.bytes(rng.int(64));
    case 1: {
      // Plausible headers with small lengths, followed by anything.
      const parts: Uint8Array[] = [];
      for (let k = rng.between(1, 5); k > 0; k--) {
        const length = rng.int(Math.min(max, 300) + 3);
        parts.push(u64le(BigInt(length)));
        parts.push(
          length >= 4 && rng.chance(0.5)
            ? jpegLike(rng, length)
            : rng.bytes(length),
        );
      }
      return concatBytes(parts);
    }
  }
  const payloads = Array.from(
    { length: rng.between(1, 6) },
    () => jpegLike(rng, max),
  );
  const wire = concatBytes(payloads.map((payload) => encodeFrame(payload)));
  if (rng.chance(0.4)) {
    // Replace one header with a zero, huge or off-by-one length.
    let at = 0;
    const victim = rng.int(payloads.length);
    for (let k = 0; k < victim; k++) at += HEADER_SIZE + payloads[k]!.length;
    const length = BigInt(payloads[victim]!.length);
    wire.set(
      u64le(rng.pick([
        0n,
        BigInt(max),
        BigInt(max) + 1n,
        2n ** 32n,
        2n ** 53n,
        2n ** 63n,
        2n ** 64n - 1n,
        length - 1n,
        length + 1n,
        BigInt(rng.int(2 ** 32)) * 2n ** 32n + BigInt(rng.int(2 ** 32)),
      ])),
      at,
    );
    return rng.chance(0.5) ? wire : mutate(rng, wire, rng.between(1, 3));
  }
  return mutate(rng, wire, rng.between(1, 4));
}

/** Random bytes, marker soup, or valid JPEGs damaged in a few places. */
export function hostileMjpeg(
  rng: Rng,
): { stream: Uint8Array; largest: number } {
  switch (rng.int(10)) {
    case 0: {
      const stream = rng.bytes(rng.int(2048));
      return { stream, largest: stream.length };
    }
    case 1:
    case 2: {
      const stream = markerRich(rng, rng.int(2048));
      return { stream, largest: stream.length };
    }
  }
  const jpegs = Array.from(
    { length: rng.between(1, 5) },
    () => syntheticJpeg(rng, rng.chance(0.5)),
  );
  const largest = Math.max(...jpegs.map((jpeg) => jpeg.length));
  return {
    stream: mutate(rng, concatBytes(jpegs), rng.between(1, 6)),
    largest,
  };
}

/**
 * A structurally valid JPEG: SOI, a few marker segments with correct lengths
 * (their bodies full of FF D8 and FF D9, which must be skipped), sometimes an
 * APP1 holding a whole nested JPEG, then one or more scans (SOS and entropy
 * data with FF 00 stuffing and RSTn markers), then EOI. Markers are sometimes
 * preceded by FF fill bytes.
 */
export function syntheticJpeg(
  rng: Rng,
  nest: boolean,
): Uint8Array<ArrayBuffer> {
  const out: number[] = [0xff, 0xd8];
  const marker = (code: number) => {
    for (let fill = rng.chance(0.1) ? rng.between(1, 3) : 0; fill > 0; fill--) {
      out.push(0xff);
    }
    out.push(0xff, code);
  };
  const segment = (code: number, body: Uint8Array) => {
    marker(code);
    out.push((body.length + 2) >> 8, (body.length + 2) & 0xff, ...body);
  };
  const body = (most: number) => {
    const size = rng.int(most + 1);
    return rng.chance(0.5) ? rng.bytes(size) : markerRich(rng, size);
  };
  const segments = rng.int(5);
  const nestAt = nest && rng.chance(0.6) ? rng.int(segments + 1) : -1;
  for (let s = 0; s <= segments; s++) {
    if (s === nestAt) {
      segment(0xe1, concatBytes([EXIF_HEADER, syntheticJpeg(rng, false)]));
    }
    if (s === segments) break;
    if (rng.chance(0.05)) marker(rng.pick([0x01, 0xd0, 0xd7]));
    segment(rng.pick(SEGMENT_CODES), body(300));
  }
  for (let scan = rng.chance(0.2) ? rng.between(2, 3) : 1; scan > 0; scan--) {
    if (rng.chance(0.5)) segment(0xc4, body(100));
    segment(0xda, body(12));
    const size = rng.size(2000);
    for (let k = 0; k < size; k++) {
      const byte = rng.int(256);
      out.push(byte);
      if (byte === 0xff) out.push(0x00);
      if (rng.chance(0.01)) out.push(0xff, 0xd0 + rng.int(8));
    }
  }
  marker(0xd9);
  return new Uint8Array(out);
}

export const EXIF_HEADER = new TextEncoder().encode("Exif\0\0");

/** APPn, DQT, SOF0, SOF2, DHT, DRI and COM. */
export const SEGMENT_CODES = [
  0xe0,
  0xe1,
  0xed,
  0xdb,
  0xc0,
  0xc2,
  0xc4,
  0xdd,
  0xfe,
];

/** Bytes between frames that cannot start one: no FF directly before D8. */
export function harmlessGarbage(rng: Rng): Uint8Array {
  const garbage = rng.chance(0.5)
    ? rng.bytes(rng.size(200))
    : markerRich(rng, rng.size(200));
  for (let k = 1; k < garbage.length; k++) {
    if (garbage[k - 1] === 0xff && garbage[k] === 0xd8) garbage[k] = 0;
  }
  return garbage;
}

/** Bytes that mostly look like markers, stuffing and short segment lengths. */
export function markerRich(rng: Rng, size: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(size);
  for (let k = 0; k < size; k++) {
    bytes[k] = rng.chance(0.3) ? 0xff : rng.pick(INTERESTING);
  }
  return bytes;
}

export const INTERESTING = [
  0x00,
  0x00,
  0x01,
  0x02,
  0x03,
  0x04,
  0x08,
  0xd0,
  0xd7,
  0xd8,
  0xd8,
  0xd9,
  0xd9,
  0xda,
  0xe1,
  0xc4,
  0xfe,
  0x7f,
];

/** Applies `count` random damages: bit flips, insertions, deletions, … */
export function mutate(rng: Rng, input: Uint8Array, count: number): Uint8Array {
  let bytes = input;
  for (let k = 0; k < count; k++) {
    const n = bytes.length;
    const at = rng.int(n + 1);
    switch (rng.int(9)) {
      case 0: // flip a bit
        if (n > 0) {
          bytes = bytes.slice();
          bytes[rng.int(n)]! ^= 1 << rng.int(8);
        }
        break;
      case 1: // set a byte to a marker-ish value
        if (n > 0) {
          bytes = bytes.slice();
          bytes[rng.int(n)] = rng.pick([...INTERESTING, 0xff, 0xff]);
        }
        break;
      case 2: // insert random or marker-ish bytes
        bytes = concatBytes([
          bytes.subarray(0, at),
          rng.chance(0.5) ? rng.bytes(rng.between(1, 8)) : markerRich(rng, 4),
          bytes.subarray(at),
        ]);
        break;
      case 3: // delete a range
        bytes = concatBytes([
          bytes.subarray(0, at),
          bytes.subarray(at + rng.size(64)),
        ]);
        break;
      case 4: // truncate
        bytes = bytes.subarray(0, at);
        break;
      case 5: { // duplicate a range somewhere else
        const from = rng.int(n + 1);
        const piece = bytes.subarray(from, from + rng.size(512));
        bytes = concatBytes([
          bytes.subarray(0, at),
          piece,
          bytes.subarray(at),
        ]);
        break;
      }
      case 6: // insert the start of a frame, cut short
        bytes = concatBytes([
          bytes.subarray(0, at),
          syntheticJpeg(rng, false).subarray(0, rng.size(300)),
          bytes.subarray(at),
        ]);
        break;
      default: { // smash the length after a marker
        const markers: number[] = [];
        for (let m = 0; m + 3 < n; m++) {
          if (bytes[m] === 0xff && bytes[m + 1] !== 0xff) markers.push(m);
        }
        if (markers.length === 0) break;
        const m = rng.pick(markers);
        bytes = bytes.slice();
        const length = rng.pick([0, 1, 2, 3, 0xffff, rng.int(0x10000)]);
        bytes.set([length >> 8, length & 0xff], m + 2);
        break;
      }
    }
  }
  return bytes;
}

/** `count` 320×240 test-pattern JPEGs from ffmpeg, each from its own file. */
export async function ffmpegJpegs(count: number): Promise<Uint8Array[]> {
  const dir = await Deno.makeTempDir({ prefix: "camwire_fuzz_" });
  try {
    const { code, stderr } = await new Deno.Command("ffmpeg", {
      args: [
        "-nostdin",
        "-loglevel",
        "error",
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=30",
        "-frames:v",
        String(count),
        "-q:v",
        "3",
        `${dir}/%02d.jpg`,
      ],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).output();
    assert.equal(code, 0, new TextDecoder().decode(stderr));
    const jpegs: Uint8Array[] = [];
    for (let k = 1; k <= count; k++) {
      jpegs.push(
        await Deno.readFile(`${dir}/${String(k).padStart(2, "0")}.jpg`),
      );
    }
    return jpegs;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
