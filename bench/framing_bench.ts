// Copyright 2026 the camwire authors. MIT license.
/**
 * Throughput of camwire's two parsers on a realistic stream, next to a plain
 * `Uint8Array.indexOf(0xff)` scan of the same bytes as the reference limit.
 * Goal (from the issue): at least 1 GB/s, and within 2× of the scan's time.
 *
 * Run from the project root (ffmpeg must be on PATH):
 *
 * ```sh
 * deno bench -A bench/framing_bench.ts
 * ```
 *
 * At load it records 5 s of testsrc2 with ffmpeg, encoded the way the camwire
 * server encodes it (320 px wide, `-q:v 5`: ≈ 8 KB a frame), and builds the
 * wire stream from it (every JPEG through {@linkcode encodeFrame}). Each is
 * parsed in three kinds of reads, copied once before any bench runs so the
 * benches time parsing, not slicing (a parser may keep subarrays of them):
 *
 * - 64 KiB chunks: full pipe reads, as when the reader falls behind.
 * - a chunk per frame: what a live read returns (the server runs ffmpeg with
 *   `-flush_packets 1`: one write, and so one read, per JPEG), the fast path.
 * - 8 KiB chunks: nearly every frame cut in two, so every frame is copied.
 *
 * `deno bench` reports time per pass over the whole stream. `deno bench` has
 * no throughput column, so this file times every pass itself and, once all
 * benches are done (the `unload` event), prints MB/s (10⁶ bytes/s, from the
 * median pass) and each parser's time over the scan's in the same chunks.
 * That and the stream's size go to stderr, so `--json` output stays JSON.
 *
 * @module
 */

import {
  concatBytes,
  Deframer,
  encodeFrame,
  JpegSplitter,
} from "../framing.ts";

const SECONDS = 5;
const FPS = 30;
const KiB = 1024;

/** Records the MJPEG stream the server would read from ffmpeg's stdout. */
async function recordMjpeg(): Promise<Uint8Array<ArrayBuffer>> {
  // The server's arguments for `--source test` (see captureArgs in server.ts),
  // without `-re` (no need to wait in real time) and with a duration.
  const args = [
    ...["-hide_banner", "-loglevel", "error", "-nostdin"],
    ...["-f", "lavfi", "-i", `testsrc2=size=640x480:rate=${FPS}`],
    ...["-t", String(SECONDS), "-an", "-threads", "1"],
    ...["-vf", "scale=320:-2", "-c:v", "mjpeg", "-q:v", "5"],
    ...["-f", "mjpeg", "pipe:1"],
  ];
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command("ffmpeg", {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Error("Cannot record the bench input: ffmpeg is not on PATH");
    }
    throw error;
  }
  if (!output.success) {
    const reason = new TextDecoder().decode(output.stderr).trim();
    throw new Error(`Cannot record the bench input: ffmpeg failed: ${reason}`);
  }
  return output.stdout;
}

/** Copies `bytes` into chunks of `size` bytes (the last may be shorter). */
function chunksOf(bytes: Uint8Array, size: number): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; at += size) {
    chunks.push(bytes.slice(at, at + size));
  }
  return chunks;
}

function split(chunks: Uint8Array[]): Uint8Array[] {
  const splitter = new JpegSplitter();
  const frames: Uint8Array[] = [];
  for (const chunk of chunks) frames.push(...splitter.push(chunk));
  if (splitter.skippedBytes !== 0 || splitter.buffered !== 0) {
    throw new Error(
      `JpegSplitter skipped ${splitter.skippedBytes} bytes, kept ${splitter.buffered}`,
    );
  }
  return frames;
}

function countSplit(chunks: Uint8Array[]): number {
  const splitter = new JpegSplitter();
  let frames = 0;
  for (const chunk of chunks) frames += splitter.push(chunk).length;
  return frames;
}

function countDeframed(chunks: Uint8Array[]): number {
  const deframer = new Deframer();
  let frames = 0;
  for (const chunk of chunks) frames += deframer.push(chunk).length;
  deframer.finish();
  return frames;
}

/**
 * The reference: every FF found with `indexOf`, counting FF D9 pairs (within
 * a chunk), which is the least work any splitter that looks at FFs does.
 */
function countFfD9(chunks: Uint8Array[]): number {
  let pairs = 0;
  for (const chunk of chunks) {
    const last = chunk.length - 1;
    let ff = chunk.indexOf(0xff);
    while (ff !== -1) {
      if (ff < last && chunk[ff + 1] === 0xd9) pairs++;
      ff = chunk.indexOf(0xff, ff + 1);
    }
  }
  return pairs;
}

// Input, recorded and checked before any bench is defined.
const recordStart = performance.now();
const mjpeg = await recordMjpeg();
const recordMs = performance.now() - recordStart;
const jpegs = split(chunksOf(mjpeg, 64 * KiB));
if (jpegs.length !== SECONDS * FPS) {
  throw new Error(`Expected ${SECONDS * FPS} frames, split ${jpegs.length}`);
}
const wireFrames = jpegs.map((jpeg) => encodeFrame(jpeg));
const wire = concatBytes(wireFrames);
const frameCount = jpegs.length;

console.error(
  `stream: ${mjpeg.length} bytes MJPEG, ${frameCount} frames ` +
    `(${Math.round(mjpeg.length / frameCount)} B/frame, ` +
    `recorded in ${recordMs.toFixed(0)} ms); wire: ${wire.length} bytes`,
);

/** One way of cutting a stream into reads. */
interface Chunking {
  label: string;
  chunks: Uint8Array[];
}

/** The reads a parser sees: a backlog, live reads, and the worst case. */
function chunkings(bytes: Uint8Array, frames: Uint8Array[]): Chunking[] {
  return [
    { label: "64 KiB chunks", chunks: chunksOf(bytes, 64 * KiB) },
    { label: "a chunk per frame", chunks: frames.map((f) => f.slice()) },
    { label: "8 KiB chunks", chunks: chunksOf(bytes, 8 * KiB) },
  ];
}

interface Case {
  group: string;
  name: string;
  chunking: string;
  isScan: boolean;
  /** What deno bench compares the group against: the 64 KiB scan. */
  baseline: boolean;
  bytes: number;
  /** Milliseconds per pass, every pass (warm-up included). */
  samples: number[];
}

const cases: Case[] = [];

/**
 * Registers a bench that runs `pass` over the stream and checks that it
 * returns `expected` (which also keeps the work from being optimized away).
 */
function benchPass(
  c: Omit<Case, "samples">,
  expected: number,
  pass: () => number,
): void {
  const samples: number[] = [];
  cases.push({ ...c, samples });
  Deno.bench({
    group: c.group,
    name: c.name,
    baseline: c.baseline,
    fn() {
      const start = performance.now();
      const result = pass();
      samples.push(performance.now() - start);
      if (result !== expected) {
        throw new Error(`${c.name}: got ${result}, expected ${expected}`);
      }
    },
  });
}

/** The scans first, then the parser, each over every chunking. */
function benchGroup(
  group: string,
  bytes: Uint8Array,
  frames: Uint8Array[],
  parser: string,
  parse: (chunks: Uint8Array[]) => number,
): void {
  const all = chunkings(bytes, frames);
  const bytesPerPass = bytes.length;
  all.forEach(({ label, chunks }, i) => {
    const name = `indexOf(0xff) scan, ${label}`;
    const c = { group, name, chunking: label, bytes: bytesPerPass };
    const pairs = countFfD9(chunks);
    benchPass(
      { ...c, isScan: true, baseline: i === 0 },
      pairs,
      () => countFfD9(chunks),
    );
  });
  for (const { label, chunks } of all) {
    const name = `${parser}, ${label}`;
    const c = { group, name, chunking: label, bytes: bytesPerPass };
    benchPass(
      { ...c, isScan: false, baseline: false },
      frameCount,
      () => parse(chunks),
    );
  }
}

benchGroup("split MJPEG", mjpeg, jpegs, "JpegSplitter.push", countSplit);
benchGroup(
  "deframe wire stream",
  wire,
  wireFrames,
  "Deframer.push",
  countDeframed,
);

function median(values: number[]): number {
  const sorted = values.toSorted((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? sorted[mid]!
    : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const GOAL_MB_PER_S = 1000;
const GOAL_SCAN_RATIO = 2;

// deno bench has no hook after the last bench; unload runs right after it.
globalThis.addEventListener("unload", () => {
  const ran = cases.filter((c) => c.samples.length > 0);
  if (ran.length === 0) return;
  const lines = [
    "",
    "throughput (median pass; MB = 10⁶ bytes; × scan = time over the scan's",
    `in the same chunks; goal ≥ ${GOAL_MB_PER_S} MB/s, ≤ ${GOAL_SCAN_RATIO}× scan):`,
  ];
  for (const group of new Set(ran.map((c) => c.group))) {
    const members = ran.filter((c) => c.group === group);
    lines.push(`  ${group} (${members[0]!.bytes} bytes a pass)`);
    for (const c of members) {
      const ms = median(c.samples);
      const mbPerS = c.bytes / ms / 1000;
      let note = "";
      const scan = members.find((s) => s.isScan && s.chunking === c.chunking);
      if (!c.isScan && scan) {
        const ratio = ms / median(scan.samples);
        const ok = mbPerS >= GOAL_MB_PER_S && ratio <= GOAL_SCAN_RATIO;
        note = `  ${ratio.toFixed(2)}× scan  ${ok ? "ok" : "BELOW GOAL"}`;
      }
      lines.push(
        `    ${c.name.padEnd(38)} ${mbPerS.toFixed(0).padStart(6)} MB/s ` +
          `${(ms * 1000).toFixed(1).padStart(7)} µs${note}`,
      );
    }
  }
  console.error(lines.join("\n"));
});
