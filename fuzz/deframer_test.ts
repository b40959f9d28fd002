// Copyright 2026 the camwire authors. MIT license.
// Fuzz tests for framing.ts's Deframer: thousands of random and mutated
// byte streams in several random chunkings, and the regressions they found.
//
// Fuzz tests for framing.ts: thousands of random and mutated byte streams, each
// Every case draws from its own mulberry32 generator, seeded from the run's
// seed, the test and the case number, so a failure message such as
// "seed 1 case 417, chunks of 1..16 bytes" names all that is needed to replay
// it. CAMWIRE_FUZZ_SEED=<n> picks another seed and CAMWIRE_FUZZ_SCALE=<k> runs
// k times as many cases (both read only when env access is granted).
import assert from "node:assert/strict";
import {
  concatBytes,
  Deframer,
  encodeFrame,
  FramingError,
} from "../framing.ts";
import {
  assertSameFrames,
  caseRng,
  check,
  describeBytes,
  FRAMING_ERROR_CODES,
  modelDeframe,
  runDeframer,
  SCALE,
  SEED,
} from "../testing/fuzz.ts";
import {
  chunkingsFor,
  chunkStream,
  DEFRAMER_LIMITS,
  hostileWire,
  jpegLike,
} from "../testing/fuzz_inputs.ts";

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
