// Copyright 2026 the camwire authors. MIT license.
import assert from "node:assert/strict";
import { FakeClock } from "../testing/fake_clock.ts";
import { HEARTBEAT_S, Rates, type Watched } from "./status.ts";

/** Counters that a test moves by hand. */
function counters() {
  return { framesIn: 0, totals: { sent: 0, skipped: 0, bytes: 0 } };
}

/** What a status line watches, set by hand. */
function watching(viewers = 0): Watched & {
  n: number;
  now: string;
  restartCount: number;
  droppedCount: number;
} {
  return {
    n: viewers,
    now: "live",
    restartCount: 0,
    droppedCount: 0,
    viewers() {
      return this.n;
    },
    state() {
      return this.now;
    },
    restarts() {
      return this.restartCount;
    },
    dropped() {
      return this.droppedCount;
    },
  };
}

/** Frames more or fewer than the rate, second after second. */
const WOBBLE = [0, 1, 0, -1, 0, 0, 1, 0, 0, -1];

/**
 * A server's status, run by a fake clock as the server runs it: a capture
 * that delivers `fps` frames a second (wobbling by one, as a real one
 * does: 30.0, 30.1, 30.3 fps), each frame sent to every viewer, and
 * `tick()` once a second.
 */
function running(options: { fps?: number; everyS?: number } = {}) {
  const clock = new FakeClock();
  const c = counters();
  const watched = watching();
  const lines: string[] = [];
  const rates = new Rates(c, watched, (line) => lines.push(line), {
    everyS: options.everyS,
    now: () => clock.now(),
  });
  const capture = { fps: options.fps ?? 30, live: true };
  let fifths = 0;
  clock.setInterval(() => {
    if (!capture.live) return;
    let frames = Math.round(capture.fps / 5);
    // Once a second, now and then a frame more or less.
    if (++fifths % 5 === 0) frames += WOBBLE[(fifths / 5) % WOBBLE.length]!;
    c.framesIn += frames;
    c.totals.sent += frames * watched.n;
    c.totals.bytes += frames * watched.n * 8000;
  }, 200);
  clock.setInterval(() => rates.tick(), 1000);
  return { clock, c, watched, lines, rates, capture };
}

Deno.test("Rates computes per-second frames in and kbit/s out at each tick", () => {
  const c = counters();
  const rates = new Rates(c, watching(1), () => {});
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

Deno.test("Rates: an idle minute writes no status line, and a viewer's arrival writes one at once", async () => {
  const { clock, watched, lines, rates } = running();
  // Its rate settles: one line tells it.
  await clock.advance(12_000);
  assert.equal(lines.length, 1, lines.join("\n"));
  assert.match(lines[0]!, /^camwire: 0 viewers, 30\.\d fps in, /);
  await clock.advance(60_000);
  assert.equal(lines.length, 1, `an idle minute wrote:\n${lines.join("\n")}`);
  // Half way between two ticks: the line comes without waiting for one.
  await clock.advance(500);
  watched.n = 1;
  rates.changed();
  await clock.advance(0);
  assert.equal(lines.length, 2, lines.join("\n"));
  assert.match(lines[1]!, /^camwire: 1 viewers, 30\.\d fps in, /);
  // Watching changes nothing more: quiet again.
  await clock.advance(60_000);
  assert.equal(lines.length, 2, lines.join("\n"));
  watched.n = 0;
  rates.changed();
  await clock.advance(0);
  assert.equal(lines.length, 3);
  assert.match(lines[2]!, /^camwire: 0 viewers, /);
});

Deno.test("Rates: 100 viewers arriving in one second write a line at once and one more at the next tick, not 100", async () => {
  const { clock, watched, lines, rates } = running();
  await clock.advance(12_000);
  const before = lines.length;
  for (let i = 0; i < 100; i++) {
    watched.n++;
    rates.changed();
    await clock.advance(5);
  }
  await clock.advance(2000);
  assert.deepEqual(
    lines.slice(before).map((l) => l.match(/^camwire: (\d+) viewers/)?.[1]),
    ["1", "100"],
  );
});

Deno.test("Rates: the capture stopping, stalling and recovering are each told within a second", async () => {
  const { clock, watched, lines, capture } = running();
  await clock.advance(12_000);
  const before = lines.length;
  capture.live = false;
  watched.now = "placeholder";
  await clock.advance(1000);
  assert.match(lines.at(-1)!, /\(capture lost: no-signal frames\)/);
  watched.now = "restarting"; // still down: no news
  watched.restartCount = 1;
  await clock.advance(1000);
  assert.equal(lines.length, before + 1, lines.join("\n"));
  capture.live = true;
  watched.now = "live";
  await clock.advance(1000);
  assert.equal(lines.length, before + 2, lines.join("\n"));
  assert.match(
    lines.at(-1)!,
    /^camwire: 0 viewers, \d+\.\d fps in, .*; since the last status line: 1 capture restarts$/,
  );
  // Back at the rate told before the stall: nothing more to tell.
  await clock.advance(60_000);
  assert.equal(lines.length, before + 2, lines.join("\n"));
  capture.live = false;
  watched.now = "idle"; // --on-demand, nobody watching
  await clock.advance(1000);
  assert.match(lines.at(-1)!, /\(capture off: nobody watching\)/);
});

Deno.test("Rates: a rate that moves by more than 10 % is told where it settled; the wobble is not", async () => {
  const { clock, lines, capture } = running();
  await clock.advance(12_000);
  assert.equal(lines.length, 1);
  capture.fps = 20;
  await clock.advance(40_000);
  assert.equal(lines.length, 2, lines.join("\n"));
  assert.match(lines[1]!, /^camwire: 0 viewers, (19|20)\.\d fps in/);
  await clock.advance(60_000);
  assert.equal(lines.length, 2, lines.join("\n"));
  capture.fps = 25; // back up by 25 %, stays off for a whole window
  await clock.advance(40_000);
  assert.equal(lines.length, 3, lines.join("\n"));
  assert.match(lines[2]!, / (24|25)\.\d fps in/);
});

Deno.test("Rates: frames skipped or dropped and restarts are told, at most once per 10 s", async () => {
  const { clock, c, watched, lines } = running();
  await clock.advance(12_000);
  const before = lines.length;
  // A slow viewer skips frames every second for 30 s.
  const slow = clock.setInterval(() => c.totals.skipped += 5, 1000);
  await clock.advance(30_000);
  clock.clearInterval(slow);
  const told = lines.slice(before);
  assert.ok(told.length >= 2 && told.length <= 3, told.join("\n"));
  assert.match(told[0]!, /[1-9]\d* frames skipped for slow viewers/);
  await clock.advance(20_000);
  const after = lines.length;
  watched.droppedCount = 3;
  await clock.advance(11_000);
  assert.equal(lines.length, after + 1);
  assert.match(lines.at(-1)!, /3 damaged camera frames dropped$/);
});

Deno.test("Rates: with nothing to tell, one heartbeat line an hour", () => {
  // An hour of the fake clock's timers takes minutes: the seconds are
  // counted by hand here.
  const c = counters();
  const lines: string[] = [];
  let now = 0;
  const rates = new Rates(c, watching(0), (line) => lines.push(line), {
    now: () => now,
  });
  const seconds = (n: number) => {
    for (let i = 0; i < n; i++) {
      now += 1000;
      c.framesIn += 30 + WOBBLE[i % WOBBLE.length]!;
      rates.tick();
    }
  };
  seconds(12);
  assert.equal(lines.length, 1);
  seconds(HEARTBEAT_S - 5);
  assert.equal(lines.length, 1);
  seconds(10);
  assert.equal(lines.length, 2);
  assert.match(lines[1]!, /^camwire: 0 viewers, (29|30)\.\d fps in/);
  seconds(HEARTBEAT_S);
  assert.equal(lines.length, 3);
});

Deno.test("Rates with --status-interval 10 logs a status line every interval while its numbers move", () => {
  const c = counters();
  const lines: string[] = [];
  const rates = new Rates(c, watching(2), (line) => lines.push(line), {
    everyS: 10,
  });
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

Deno.test("Rates with --status-interval logs an unchanged status once", () => {
  const c = counters();
  const lines: string[] = [];
  const watched = watching(0);
  const rates = new Rates(c, watched, (line) => lines.push(line), {
    everyS: 10,
  });
  for (let second = 1; second <= 60; second++) {
    c.framesIn += 30; // capturing, nobody watching: the same line each time
    rates.tick();
  }
  assert.equal(lines.length, 1);
  c.totals.sent += 1; // a viewer came and went: the numbers moved
  for (let second = 1; second <= 10; second++) rates.tick();
  assert.equal(lines.length, 2);
  // Periodic lines only: a viewer's arrival waits for the next one.
  watched.n = 1;
  rates.changed();
  assert.equal(lines.length, 2);
});

Deno.test("Rates with --status-interval 0 logs no status line", () => {
  const c = counters();
  const lines: string[] = [];
  const rates = new Rates(c, watching(1), (line) => lines.push(line), {
    everyS: 0,
  });
  for (let second = 1; second <= 30; second++) {
    c.framesIn += 30;
    rates.tick();
  }
  rates.changed();
  assert.deepEqual(lines, []);
  assert.equal(rates.fpsIn, 30);
});
