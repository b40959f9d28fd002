// Copyright 2026 the camwire authors. MIT license.
import assert from "node:assert/strict";
import { Rates } from "./status.ts";

/** Counters that a test moves by hand. */
function counters() {
  return { framesIn: 0, totals: { sent: 0, skipped: 0, bytes: 0 } };
}

Deno.test("Rates computes per-second frames in and kbit/s out at each tick", () => {
  const c = counters();
  const rates = new Rates(c, () => 1, () => {});
  c.framesIn = 30;
  c.totals.bytes = 250_000;
  rates.tick();
  assert.equal(rates.fpsIn, 30);
  assert.equal(rates.kbitOut, 2000);
  c.framesIn = 59;
  rates.tick();
  assert.equal(rates.fpsIn, 29);
  assert.equal(rates.kbitOut, 0);
});

Deno.test("Rates logs a status line every interval while its numbers move", () => {
  const c = counters();
  const lines: string[] = [];
  const rates = new Rates(c, () => 2, (line) => lines.push(line), 10);
  for (let second = 1; second <= 30; second++) {
    c.framesIn += 30;
    c.totals.sent += 60;
    c.totals.bytes += 60 * 8000 + 1000 * second; // a rate that moves
    rates.tick();
  }
  assert.equal(lines.length, 3);
  assert.match(
    lines[0]!,
    /^camwire: 2 viewers, 30\.0 fps in, 30\.0 fps out per viewer, 3884 kbit\/s out, 0 frames skipped for slow viewers \(last 10 s\)$/,
  );
});

Deno.test("Rates logs an unchanged status once: an idle server is quiet", () => {
  const c = counters();
  const lines: string[] = [];
  const rates = new Rates(c, () => 0, (line) => lines.push(line), 10);
  for (let second = 1; second <= 60; second++) {
    c.framesIn += 30; // capturing, nobody watching: the same line each time
    rates.tick();
  }
  assert.equal(lines.length, 1);
  c.totals.sent += 1; // a viewer came and went: the numbers moved
  for (let second = 1; second <= 10; second++) rates.tick();
  assert.equal(lines.length, 2);
});

Deno.test("Rates with an interval of 0 logs no status line", () => {
  const c = counters();
  const lines: string[] = [];
  const rates = new Rates(c, () => 1, (line) => lines.push(line), 0);
  for (let second = 1; second <= 30; second++) {
    c.framesIn += 30;
    rates.tick();
  }
  assert.deepEqual(lines, []);
  assert.equal(rates.fpsIn, 30);
});
