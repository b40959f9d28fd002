// Copyright 2026 the camwire authors. MIT license.
// Fuzz tests for framing.ts: thousands of random and mutated byte streams, each
// fed to a Deframer or a JpegSplitter in several random chunkings.
//
// Every case draws from its own mulberry32 generator, seeded from the run's
// seed, the test and the case number, so a failure message such as
// "seed 1 case 417, chunks of 1..16 bytes" names all that is needed to replay
// it. CAMWIRE_FUZZ_SEED=<n> picks another seed and CAMWIRE_FUZZ_SCALE=<k> runs
// k times as many cases (both read only when env access is granted).
import assert from "node:assert/strict";
import {
  concatBytes,
  DEFAULT_MAX_FRAME_SIZE,
  Deframer,
  encodeFrame,
  FramingError,
  type FramingErrorCode,
  HEADER_SIZE,
  JpegSplitter,
} from "../framing.ts";

const SEED = envNumber("CAMWIRE_FUZZ_SEED", 1);
const SCALE = envNumber("CAMWIRE_FUZZ_SCALE", 1);
const FRAMING_ERROR_CODES: readonly string[] = [
  "zero-length",
  "too-large",
  "not-jpeg",
  "truncated",
] satisfies FramingErrorCode[];

Deno.test("Deframer fuzz: valid streams come back identical in any chunking", () => {
  const cases = 600 * SCALE;
  for (let i = 0; i < cases; i++) {
    const rng = caseRng(1, i);
    const max = rng.pick(DEFRAMER_LIMITS);
    const payloads = Array.from(
      { length: rng.between(1, 8) },
      () => jpegLike(rng, max),
    );
    const wire = concatBytes(payloads.map((payload) => encodeFrame(payload)));
    for (const chunking of chunkingsFor(rng, 3)) {
      const where = () =>
        `seed ${SEED} case ${i}, ${chunking}, maxFrameSize ${max}`;
      const run = runDeframer(
        chunkStream(rng, wire, chunking, where),
        max,
        where,
      );
      check(run.error === undefined, () => `${where()}: threw ${run.error}`);
      assertSameFrames(run.frames, payloads, where);
    }
  }
});

Deno.test("Deframer fuzz: only FramingError, never beyond the limit", () => {
  const cases = 3000 * SCALE;
  const seen = new Set<string>();
  for (let i = 0; i < cases; i++) {
    const rng = caseRng(2, i);
    const max = rng.pick(DEFRAMER_LIMITS);
    const wire = hostileWire(rng, max);
    const expected = modelDeframe(wire, max);
    for (const chunking of chunkingsFor(rng, 2)) {
      const where = () =>
        `seed ${SEED} case ${i}, ${chunking}, maxFrameSize ${max}, ` +
        `input ${describeBytes(wire)}`;
      const run = runDeframer(
        chunkStream(rng, wire, chunking, where),
        max,
        where,
      );
      seen.add(run.error?.code ?? "ok");
      check(
        run.error?.code === expected.error,
        () =>
          `${where()}: ended with ${run.error?.code ?? "no error"}, ` +
          `expected ${expected.error ?? "no error"}`,
      );
      if (run.error === undefined) {
        assertSameFrames(run.frames, expected.frames, where);
      } else {
        // Frames completed by the push that threw are lost with it.
        assertSameFrames(
          run.frames,
          expected.frames.slice(0, run.frames.length),
          where,
        );
      }
    }
  }
  // The generator reaches every outcome, or the checks above prove little.
  assert.deepEqual([...seen].sort(), ["ok", ...FRAMING_ERROR_CODES].sort());
});

Deno.test("JpegSplitter fuzz: valid MJPEG streams split into the same frames in any chunking", () => {
  const cases = 500 * SCALE;
  for (let i = 0; i < cases; i++) {
    const rng = caseRng(3, i);
    const jpegs = Array.from(
      { length: rng.between(1, 5) },
      () => syntheticJpeg(rng, true),
    );
    const parts: Uint8Array[] = [];
    for (const jpeg of jpegs) {
      if (rng.chance(0.3)) parts.push(harmlessGarbage(rng));
      parts.push(jpeg);
    }
    if (rng.chance(0.3)) parts.push(harmlessGarbage(rng));
    const stream = concatBytes(parts);
    const garbageBytes = stream.length -
      jpegs.reduce((sum, jpeg) => sum + jpeg.length, 0);
    const largest = Math.max(...jpegs.map((jpeg) => jpeg.length));
    const max = rng.pick([largest, largest + rng.int(100), 16 * 1024 * 1024]);
    for (const chunking of chunkingsFor(rng, 3)) {
      const where = () =>
        `seed ${SEED} case ${i}, ${chunking}, maxFrameSize ${max}`;
      const run = runSplitter(
        chunkStream(rng, stream, chunking, where),
        max,
        where,
      );
      assertSameFrames(run.frames, jpegs, where);
      check(
        run.dropped === 0 && run.skipped + run.buffered === garbageBytes,
        () =>
          `${where()}: dropped ${run.dropped}, skipped ${run.skipped}, ` +
          `buffered ${run.buffered}; expected 0 dropped, ${garbageBytes} ` +
          `skipped or buffered`,
      );
    }
  }
});

Deno.test("JpegSplitter fuzz: never throws, never beyond the limit, only whole JPEGs", () => {
  const cases = 3000 * SCALE;
  const reached = { frames: 0, drops: 0, compared: 0 };
  for (let i = 0; i < cases; i++) {
    const rng = caseRng(4, i);
    const { stream, largest } = hostileMjpeg(rng);
    const limit = Math.max(
      4,
      rng.pick([
        4,
        16,
        64,
        512,
        2048,
        largest - 1,
        largest,
        DEFAULT_MAX_FRAME_SIZE,
        DEFAULT_MAX_FRAME_SIZE,
        DEFAULT_MAX_FRAME_SIZE,
      ]),
    );
    const runs: SplitRun[] = [];
    for (const chunking of chunkingsFor(rng, 2)) {
      const where = () =>
        `seed ${SEED} case ${i}, ${chunking}, maxFrameSize ${limit}, ` +
        `input ${describeBytes(stream)}`;
      const run = runSplitter(
        chunkStream(rng, stream, chunking, where),
        limit,
        where,
      );
      assertFramesInOrder(run.frames, stream, where);
      if (runs[0] !== undefined) {
        assertSameSplit(run, runs[0], where);
        reached.compared++;
      }
      runs.push(run);
    }
    if (runs[0]!.frames.length > 0) reached.frames++;
    if (runs[0]!.dropped > 0) reached.drops++;
  }
  // Enough cases still hold frames to find, frames to drop, and chunkings to
  // compare, or the checks above prove little.
  for (const [what, count] of Object.entries(reached)) {
    assert.ok(count > cases / 5, `only ${count} of ${cases} cases: ${what}`);
  }
});

Deno.test("JpegSplitter fuzz: real ffmpeg JPEGs split back whole and survive mutation", async () => {
  const real = await ffmpegJpegs(5);
  // An EXIF-style APP1 that holds a whole real JPEG, EOI and all.
  const app1Body = concatBytes([EXIF_HEADER, real[1]!]);
  assert.ok(app1Body.length + 2 <= 0xffff, "thumbnail too big for APP1");
  const withThumbnail = concatBytes([
    real[0]!.subarray(0, 2),
    new Uint8Array([
      0xff,
      0xe1,
      (app1Body.length + 2) >> 8,
      (app1Body.length + 2) & 0xff,
    ]),
    app1Body,
    real[0]!.subarray(2),
  ]);
  const jpegs = [...real, withThumbnail];
  const stream = concatBytes(jpegs);
  const largest = Math.max(...jpegs.map((jpeg) => jpeg.length));
  for (let i = 0; i < 30 * SCALE; i++) {
    const rng = caseRng(5, i);
    const max = rng.pick([largest, DEFAULT_MAX_FRAME_SIZE]);
    const chunking = rng.pick(CHUNKINGS);
    const where = () =>
      `seed ${SEED} real case ${i}, ${chunking}, maxFrameSize ${max}`;
    const run = runSplitter(
      chunkStream(rng, stream, chunking, where),
      max,
      where,
    );
    assertSameFrames(run.frames, jpegs, where);
    check(
      run.skipped === 0 && run.dropped === 0 && run.buffered === 0,
      () => `${where()}: skipped, dropped or buffered bytes of valid frames`,
    );
  }
  for (let i = 0; i < 300 * SCALE; i++) {
    const rng = caseRng(6, i);
    const picked = Array.from(
      { length: rng.between(1, 3) },
      () => rng.pick(jpegs),
    );
    const mutated = mutate(rng, concatBytes(picked), rng.between(1, 6));
    const max = rng.pick([4096, largest - 1, largest, DEFAULT_MAX_FRAME_SIZE]);
    const runs: SplitRun[] = [];
    for (const chunking of chunkingsFor(rng, 2)) {
      const where = () =>
        `seed ${SEED} mutated real case ${i}, ${chunking}, maxFrameSize ${max}`;
      const run = runSplitter(
        chunkStream(rng, mutated, chunking, where),
        max,
        where,
      );
      assertFramesInOrder(run.frames, mutated, where);
      if (runs[0] !== undefined) {
        assertSameSplit(run, runs[0], where);
      }
      runs.push(run);
    }
  }
});

// ---------------------------------------------------------------------------
// Regressions: minimal inputs the fuzz tests above once found

Deno.test({
  name: "Deframer.finish() reports a stream cut right after a whole header",
  fn() {
    // After a whole header nothing is buffered, yet the stream is inside a
    // frame: finish() once judged by `buffered` alone and missed it.
    for (const cut of [[8], [3, 5], [1, 1, 1, 1, 1, 1, 1, 1]]) {
      const wire = encodeFrame(new Uint8Array([0xff, 0xd8, 0xff, 0xd9]));
      const deframer = new Deframer();
      let at = 0;
      for (const size of cut) {
        assert.deepEqual(deframer.push(wire.slice(at, at + size)), []);
        at += size;
      }
      assert.throws(
        () => deframer.finish(),
        (error: unknown) =>
          error instanceof FramingError && error.code === "truncated",
        `cut into ${cut}`,
      );
    }
  },
});

Deno.test({
  name: "JpegSplitter drops an oversized frame the same way in any chunking",
  fn() {
    // SOI, then APP1 whose 5-byte body holds "FF D8 FF D9", then EOI. With a
    // 6-byte limit the frame is oversized 1 byte into the body. The
    // splitter once skipped the body in one step when pushed whole and
    // noticed the size after it, but noticed at byte 7 when pushed in bytes,
    // and so returned a frame from inside the body for some chunkings only.
    const stream = new Uint8Array([
      0xff,
      0xd8,
      0xff,
      0xe1,
      0x00,
      0x07,
      0x00,
      0xff,
      0xd8,
      0xff,
      0xd9,
      0xff,
      0xd9,
    ]);
    const split = (chunks: Uint8Array[]) => {
      const splitter = new JpegSplitter({ maxFrameSize: 6 });
      const frames = chunks.flatMap((chunk) => splitter.push(chunk));
      return { frames, skipped: splitter.skippedBytes };
    };
    const whole = split([stream.slice()]);
    assert.deepEqual(
      split([stream.slice(0, 7), stream.slice(7)]),
      whole,
      "cut at 7",
    );
    assert.deepEqual(
      split(Array.from(stream, (byte) => new Uint8Array([byte]))),
      whole,
      "single bytes",
    );
  },
});

// ---------------------------------------------------------------------------
// Running the parsers

interface DeframerRun {
  frames: Uint8Array[];
  error?: FramingError;
}

/**
 * Pushes every chunk, then calls finish(), stopping at the first error. Checks
 * on the way that only FramingError is thrown, that no more than the limit
 * (plus a header) is buffered and that every frame is a JPEG within the limit.
 */
function runDeframer(
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
function modelDeframe(
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

interface SplitRun {
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
function runSplitter(
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
function assertSameSplit(
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
function assertFramesInOrder(
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

function assertSameFrames(
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
// Inputs

const DEFRAMER_LIMITS = [4, 5, 64, 4096, 4096, 65536, DEFAULT_MAX_FRAME_SIZE];

const CHUNKINGS = [
  "whole",
  "single bytes",
  "chunks of 1..16 bytes",
  "chunks of 1..2048 bytes",
  "cut at 1..3 points",
] as const;

type Chunking = typeof CHUNKINGS[number];

/** "whole" and `count - 1` other chunkings, all different. */
function chunkingsFor(rng: Rng, count: number): Chunking[] {
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
function chunkStream(
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
function jpegLike(rng: Rng, max: number): Uint8Array<ArrayBuffer> {
  const size = rng.chance(0.1)
    ? Math.min(max, 6000)
    : Math.max(4, Math.min(max, rng.size(6000)));
  const payload = rng.chance(0.5) ? rng.bytes(size) : markerRich(rng, size);
  payload.set([0xff, 0xd8]);
  payload.set([0xff, 0xd9], size - 2);
  return payload;
}

/** Random bytes, or a valid wire stream damaged in a few places. */
function hostileWire(rng: Rng, max: number): Uint8Array {
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
function hostileMjpeg(rng: Rng): { stream: Uint8Array; largest: number } {
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
function syntheticJpeg(rng: Rng, nest: boolean): Uint8Array<ArrayBuffer> {
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

const EXIF_HEADER = new TextEncoder().encode("Exif\0\0");

/** APPn, DQT, SOF0, SOF2, DHT, DRI and COM. */
const SEGMENT_CODES = [0xe0, 0xe1, 0xed, 0xdb, 0xc0, 0xc2, 0xc4, 0xdd, 0xfe];

/** Bytes between frames that cannot start one: no FF directly before D8. */
function harmlessGarbage(rng: Rng): Uint8Array {
  const garbage = rng.chance(0.5)
    ? rng.bytes(rng.size(200))
    : markerRich(rng, rng.size(200));
  for (let k = 1; k < garbage.length; k++) {
    if (garbage[k - 1] === 0xff && garbage[k] === 0xd8) garbage[k] = 0;
  }
  return garbage;
}

/** Bytes that mostly look like markers, stuffing and short segment lengths. */
function markerRich(rng: Rng, size: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(size);
  for (let k = 0; k < size; k++) {
    bytes[k] = rng.chance(0.3) ? 0xff : rng.pick(INTERESTING);
  }
  return bytes;
}

const INTERESTING = [
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
function mutate(rng: Rng, input: Uint8Array, count: number): Uint8Array {
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
async function ffmpegJpegs(count: number): Promise<Uint8Array[]> {
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

// ---------------------------------------------------------------------------
// Checks and small helpers

/** assert.ok, with the message built only on failure (it is hot). */
function check(condition: boolean, message: () => string): asserts condition {
  if (!condition) assert.fail(message());
}

function isSoiToEoi(bytes: Uint8Array): boolean {
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
function isWholeJpeg(jpeg: Uint8Array): boolean {
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

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let k = 0; k < a.length; k++) if (a[k] !== b[k]) return false;
  return true;
}

function u64le(value: bigint): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(HEADER_SIZE);
  new DataView(bytes.buffer).setBigUint64(0, value, true);
  return bytes;
}

/** Hex of short inputs, so a failure can be replayed by hand. */
function describeBytes(bytes: Uint8Array): string {
  const hex = (part: Uint8Array) =>
    Array.from(part, (byte) => byte.toString(16).padStart(2, "0")).join(" ");
  return bytes.length <= 96
    ? `[${hex(bytes)}] (${bytes.length} bytes)`
    : `[${hex(bytes.subarray(0, 48))} … ${hex(bytes.subarray(-16))}] ` +
      `(${bytes.length} bytes)`;
}

function describeError(error: unknown): string {
  return error instanceof Error
    ? `${error.name} ${JSON.stringify(error.message)}` +
      (error instanceof FramingError ? ` (code ${error.code})` : "") +
      `\n${error.stack}`
    : String(error);
}

/** A small seeded generator: mulberry32, as in Tommy Ettinger's original. */
class Rng {
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
function caseRng(test: number, index: number): Rng {
  return new Rng(
    SEED ^ Math.imul(test, 0x85ebca6b) ^ Math.imul(index + 1, 0x9e3779b9),
  );
}

function envNumber(name: string, fallback: number): number {
  const granted =
    Deno.permissions.querySync({ name: "env", variable: name }).state ===
      "granted";
  const value = granted ? Deno.env.get(name) : undefined;
  if (value === undefined) return fallback;
  const number = Number(value);
  assert.ok(Number.isSafeInteger(number), `${name} must be an integer`);
  return number;
}
