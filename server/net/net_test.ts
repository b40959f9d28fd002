// Copyright 2026 the camwire authors. MIT license.
/** In-process tests of {@linkcode acceptEach} on fake listeners. */
import assert from "node:assert/strict";
import { acceptEach } from "./net.ts";
import { LogTally } from "./tally.ts";

/** A listener whose `accept()` is `next(call)`, counting calls. */
function fakeListener(next: (call: number) => Promise<Deno.Conn>) {
  let calls = 0;
  const listener = {
    accept: () => next(++calls),
  } as unknown as Deno.Listener;
  return { listener, calls: () => calls };
}

const closedError = () => new Deno.errors.BadResource("closed");

Deno.test("acceptEach: an accept failure that persists (ENOBUFS) pauses now and then, not spinning a core", async () => {
  let closed = false;
  const { listener, calls } = fakeListener((call) =>
    Promise.reject(
      // The cap only ends a loop that spins (and so starves the timer).
      closed || call > 100_000
        ? closedError()
        : new Error("No buffer space available (os error 105)"),
    )
  );
  const timer = setTimeout(() => closed = true, 100);
  await acceptEach(listener, () => {}, {
    what: "test",
    log: () => {},
    tally: new LogTally(() => {}),
    closing: () => closed,
  });
  clearTimeout(timer);
  assert.ok(calls() < 2000, `${calls()} accepts in 100 ms`);
});

Deno.test("acceptEach: 200 resets (ENOTCONN) in a row delay the next connection by well under 1 s", async () => {
  const conn = {} as Deno.Conn;
  const { listener } = fakeListener((call) =>
    call <= 200
      ? Promise.reject(
        new Error("Transport endpoint is not connected (os error 107)"),
      )
      : call === 201
      ? Promise.resolve(conn)
      : Promise.reject(closedError())
  );
  const start = performance.now();
  let handledAt = 0;
  await acceptEach(listener, () => handledAt = performance.now(), {
    what: "test",
    log: () => {},
    tally: new LogTally(() => {}),
    closing: () => false,
  });
  assert.ok(handledAt > 0);
  assert.ok(handledAt - start < 500, `${handledAt - start} ms`);
});
