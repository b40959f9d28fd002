// Copyright 2026 the camwire authors. MIT license.
// Fuzz tests for framing.ts's JpegSplitter: random, hostile and mutated
// MJPEG streams (and real ffmpeg JPEGs) in several random chunkings, and the
// regressions they found.
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
  JpegSplitter,
} from "../framing.ts";
import {
  assertFramesInOrder,
  assertSameFrames,
  assertSameSplit,
  caseRng,
  check,
  describeBytes,
  runSplitter,
  SCALE,
  SEED,
  type SplitRun,
} from "../testing/fuzz.ts";
import {
  CHUNKINGS,
  chunkingsFor,
  chunkStream,
  EXIF_HEADER,
  ffmpegJpegs,
  harmlessGarbage,
  hostileMjpeg,
  mutate,
  syntheticJpeg,
} from "../testing/fuzz_inputs.ts";

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

// Regressions: minimal inputs the fuzz tests above once found

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
