// Copyright 2026 the camwire authors. MIT license.
/**
 * `client.ts --reconnect` starts its delay over after a connection that
 * worked: a stream that ran is no failure to back off from.
 */
import assert from "node:assert/strict";
import { encodeFrame } from "../framing.ts";
import { realisticJpeg } from "../testing/jpegs.ts";
import { eventually, startScript, within } from "../testing/util.ts";

Deno.test("e2e: client --reconnect after a connection that streamed for 1 s tries again after 0.5 s, not after the 5 s its refusals had grown to", async () => {
  // A server of the test's own: it closes the first 4 connections at
  // once (the client waits 0.5, 1, 2 and 4 s after them: its next wait
  // would be 5 s), streams 30 fps of valid frames on the 5th for 1 s,
  // then closes it; the 6th attempt is when the client came back.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted: number[] = [];
  let streamedUntil = 0;
  let framesSent = 0;
  const serving = (async () => {
    for await (const conn of listener) {
      accepted.push(performance.now());
      if (accepted.length === 5) {
        try {
          const end = performance.now() + 1000;
          for (let i = 0; performance.now() < end; i++) {
            await conn.write(encodeFrame(realisticJpeg(i)));
            framesSent++;
            await new Promise((resolve) => setTimeout(resolve, 33));
          }
        } catch {
          // The client went first: the test fails on its count below.
        }
        streamedUntil = performance.now();
      }
      conn.close();
    }
  })();
  const client = startScript("client.ts", [
    ..."--reconnect --output - --port".split(" "),
    `${listener.addr.port}`,
  ]);
  try {
    await eventually(
      () => accepted.length >= 6,
      20_000,
      `6 connection attempts (got ${accepted.length})`,
    );
    assert.ok(framesSent >= 25, `${framesSent} frames streamed`);
    const gaps = accepted.slice(1, 5).map((at, i) => at - accepted[i]!);
    // The refusals did grow the delay: 0.5, 1, 2, 4 s.
    assert.ok(gaps[3]! >= 3600, `waits ${gaps.map(Math.round)} ms`);
    const back = (accepted[5]! - streamedUntil) / 1000;
    assert.ok(
      back >= 0.45 && back < 1.5,
      `the client came back ${back.toFixed(2)} s after a stream that worked`,
    );
  } finally {
    await client.stop();
    listener.close();
    await within(serving, 5000, "the test's listener to stop");
  }
});
