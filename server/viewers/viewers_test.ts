// Copyright 2026 the camwire authors. MIT license.
/** In-process tests of {@linkcode Broadcaster}: no process, no socket. */
import assert from "node:assert/strict";
import { Broadcaster, type JpegSink } from "./viewers.ts";

const JPEG = new Uint8Array([0xff, 0xd8, 0xff, 0xd9]);

Deno.test("Broadcaster.deliver: a sink that throws starves neither the sinks after it nor the snapshot waiting", async () => {
  const broadcaster = new Broadcaster();
  const errors: unknown[] = [];
  broadcaster.onSinkError = (error) => errors.push(error);
  const shown: Uint8Array[] = [];
  const failing: JpegSink = {
    show() {
      throw new Error("ffmpeg not found");
    },
  };
  broadcaster.jpegSinks.add(failing);
  broadcaster.jpegSinks.add({ show: (jpeg) => shown.push(jpeg) });
  const snapshot = broadcaster.next(0);
  broadcaster.deliver(JPEG);
  broadcaster.deliver(JPEG);
  assert.equal(shown.length, 2);
  assert.equal((await snapshot)?.seq, 1);
  assert.equal(errors.length, 2);
});

Deno.test("Broadcaster.next: a wait given up (its signal aborted) resolves null and is forgotten at once, not at the next frame", async () => {
  const broadcaster = new Broadcaster();
  const waits = [];
  for (let i = 0; i < 3; i++) {
    const gaveUp = new AbortController();
    const next = broadcaster.next(0, gaveUp.signal);
    gaveUp.abort();
    waits.push(next);
  }
  assert.deepEqual(await Promise.all(waits), [null, null, null]);
  assert.equal(broadcaster.waiting, 0);
  const kept = broadcaster.next(0, new AbortController().signal);
  assert.equal(broadcaster.waiting, 1);
  broadcaster.deliver(JPEG);
  assert.equal((await kept)?.seq, 1);
  assert.equal(broadcaster.waiting, 0);
});
