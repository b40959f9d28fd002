// Copyright 2026 the camwire authors. MIT license.
/**
 * {@linkcode Admission} as units: `--max-clients-per-ip`, the pending
 * budget, and the wrong-token rules (a repeat is no guess, distinct ones
 * keep their spacing, the history is bounded, the refusal is told once
 * per address).
 */
import assert from "node:assert/strict";
import {
  Admission,
  FREE_WRONG_TOKENS,
  WRONG_TOKEN_HISTORY,
} from "./admission.ts";

const A = "203.0.113.7";

/**
 * "At once", for a check that must not wait its turn: well under the
 * 250 ms a spaced-out check waits, with room for a loaded CI machine.
 */
const AT_ONCE_MS = 200;

Deno.test("Admission.checkToken: a wrong token sent again is refused at once as a repeat and not counted: the right token of a neighbour never waits", async () => {
  const admission = new Admission({ maxPerAddress: 0 });
  const stale = { right: false, sent: "camwire an-old-token" };
  assert.equal(await admission.checkToken(A, stale), "wrong");
  for (let i = 0; i < 50; i++) {
    const start = performance.now();
    assert.equal(await admission.checkToken(A, stale), "repeat");
    assert.ok(performance.now() - start < AT_ONCE_MS);
  }
  const start = performance.now();
  const right = { right: true, sent: "camwire s3cret" };
  for (let i = 0; i < 10; i++) {
    assert.equal(await admission.checkToken(A, right), "right");
  }
  assert.ok(performance.now() - start < AT_ONCE_MS, "a right token waited");
});

Deno.test("Admission: distinct wrong tokens keep the spacing (3 free, then 250 ms doubling to 4 s, then refused); repeats between them change nothing", async () => {
  const admission = new Admission({ maxPerAddress: 0 });
  const delays: (number | null)[] = [];
  let now = 0;
  for (let i = 0; i < 9; i++) {
    const delay = admission.tokenDelay(A, now);
    delays.push(delay);
    now += delay ?? 0;
    assert.ok(await admission.wrongToken(A, `camwire guess-${i}`, now));
    // The previous guess again, and again: no new guess.
    assert.equal(
      await admission.wrongToken(A, `camwire guess-${i}`, now),
      false,
    );
  }
  assert.deepEqual(delays, [0, 0, 0, 0, 250, 500, 1000, 2000, 4000]);
  // Two checks at once: the second's turn would be 8 s away.
  assert.equal(admission.tokenDelay(A, now), 4000);
  assert.equal(admission.tokenDelay(A, now), null);
  // Another address is not slowed.
  assert.equal(admission.tokenDelay("198.51.100.1", now), 0);
  // Forgotten after a quiet minute.
  assert.equal(admission.tokenDelay(A, now + 61_000), 0);
});

Deno.test("Admission: the history keeps the last few distinct wrong tokens per address: an older one, pushed out, counts again", async () => {
  const admission = new Admission({ maxPerAddress: 0 });
  for (let i = 0; i <= WRONG_TOKEN_HISTORY; i++) {
    assert.ok(await admission.wrongToken(A, `camwire guess-${i}`, 0));
  }
  // guess-0 was pushed out by the fifth; guess-1.. are still known.
  assert.equal(await admission.wrongToken(A, "camwire guess-2", 0), false);
  assert.ok(await admission.wrongToken(A, "camwire guess-0", 0));
  // Per address: the same token from another is a first.
  assert.ok(await admission.wrongToken("198.51.100.1", "camwire guess-2", 0));
});

Deno.test("Admission.checkToken: a right token during a guessing address's spacing waits its turn, as a new wrong one does", async () => {
  const admission = new Admission({ maxPerAddress: 0 });
  for (let i = 0; i <= FREE_WRONG_TOKENS; i++) {
    assert.equal(
      await admission.checkToken(A, { right: false, sent: `guess-${i}` }),
      "wrong",
    );
  }
  // The 4th started the spacing: the next check waits 250 ms, right or not.
  const start = performance.now();
  assert.equal(
    await admission.checkToken(A, { right: true, sent: "s3cret" }),
    "right",
  );
  const ms = performance.now() - start;
  assert.ok(ms >= 240, `the right token waited ${ms} ms`);
  // A known wrong one does not wait.
  const again = performance.now();
  assert.equal(
    await admission.checkToken(A, { right: false, sent: "guess-0" }),
    "repeat",
  );
  assert.ok(performance.now() - again < AT_ONCE_MS);
});

Deno.test("Admission.checkToken: one wrong token sent several times at once is counted once", async () => {
  const admission = new Admission({ maxPerAddress: 0 });
  for (let i = 0; i <= FREE_WRONG_TOKENS; i++) {
    await admission.checkToken(A, { right: false, sent: `guess-${i}` });
  }
  // Three of the same, all waiting their turns before the first is known.
  const same = { right: false, sent: "guess-x" };
  const verdicts = await Promise.all(
    [1, 2, 3].map(() => admission.checkToken(A, same)),
  );
  assert.deepEqual(verdicts.sort(), ["repeat", "repeat", "wrong"]);
});

Deno.test("Admission.checkToken: a wait ended by its signal is `gone`; an address past 4 s of turns is `slowed down`, told once with its count", async () => {
  const told: [string, number][] = [];
  const admission = new Admission({
    maxPerAddress: 0,
    onSlowedDown: (address, n) => told.push([address, n]),
  });
  for (let i = 0; i < 8; i++) await admission.wrongToken(A, `guess-${i}`);
  // 8 wrong: each check takes a 4 s turn, the first one now.
  assert.equal(
    await admission.checkToken(A, { right: true, sent: "s3cret" }),
    "right",
  );
  const stop = new AbortController();
  const waiting = admission.checkToken(
    A,
    { right: true, sent: "s3cret" },
    stop.signal,
  );
  // The next turn would be 8 s away: refused unchecked.
  for (let i = 0; i < 3; i++) {
    assert.equal(
      await admission.checkToken(A, { right: true, sent: "s3cret" }),
      "slowed down",
    );
  }
  stop.abort();
  assert.equal(await waiting, "gone");
  assert.deepEqual(told, [[A, 8]]);
});

Deno.test("Admission.checkToken: turns go in the order tokens came, however long each takes to hash", async () => {
  const admission = new Admission({ maxPerAddress: 0 });
  for (let i = 0; i < 8; i++) await admission.wrongToken(A, `guess-${i}`);
  // 8 wrong: the next check's turn is now, the one after 4 s away. A
  // long wrong token (16 MB: tens of ms to hash), then a right one.
  const long = { right: false, sent: "camwire " + "x".repeat(16 << 20) };
  const first = admission.checkToken(A, long);
  const stop = new AbortController();
  const second = admission.checkToken(
    A,
    { right: true, sent: "s3cret" },
    stop.signal,
  );
  assert.equal(await first, "wrong", "the first token came first");
  stop.abort();
  assert.equal(await second, "gone", "the second waited for its turn");
});

Deno.test("Admission: exempt addresses (trusted proxies) skip the per-address limits, not the token rules", async () => {
  const admission = new Admission({
    maxPerAddress: 1,
    exempt: (address) => address === "10.0.0.5",
  });
  assert.ok(admission.takeViewer("10.0.0.5") !== null);
  assert.ok(admission.takeViewer("10.0.0.5") !== null);
  assert.ok(admission.takeViewer("10.0.0.6") !== null);
  assert.equal(admission.takeViewer("10.0.0.6"), null);
  for (let i = 0; i < 4; i++) {
    await admission.wrongToken("10.0.0.5", `g${i}`, 0);
  }
  assert.equal(admission.tokenDelay("10.0.0.5", 0), 0);
  assert.equal(admission.tokenDelay("10.0.0.5", 0), 500);
});

Deno.test("Admission: --max-clients-per-ip counts viewers per address, loopback exempt by default", () => {
  const admission = new Admission({ maxPerAddress: 2 });
  const a = [
    admission.takeViewer("10.0.0.1"),
    admission.takeViewer("10.0.0.1"),
  ];
  assert.ok(a.every((r) => r !== null));
  assert.equal(admission.takeViewer("10.0.0.1"), null);
  assert.ok(admission.takeViewer("10.0.0.2") !== null);
  for (let i = 0; i < 10; i++) assert.ok(admission.takeViewer("127.0.0.1"));
  a[0]!();
  a[0]!(); // given back once only
  assert.ok(admission.takeViewer("10.0.0.1") !== null);
  assert.equal(admission.takeViewer("10.0.0.1"), null);
  const strict = new Admission({ maxPerAddress: 1, exemptLoopback: false });
  assert.ok(strict.takeViewer("127.0.0.1") !== null);
  assert.equal(strict.takeViewer("127.0.0.1"), null);
  const none = new Admission({ maxPerAddress: 0, exemptLoopback: false });
  for (let i = 0; i < 10; i++) assert.ok(none.takeViewer("10.0.0.1"));
});

Deno.test("Admission: the pending budget evicts the oldest waiting connection: of its address first, else of all", () => {
  const admission = new Admission({
    maxPerAddress: 0,
    maxPending: 4,
    maxPendingPerAddress: 2,
  });
  const evicted: string[] = [];
  const enter = (who: string, address: string) =>
    admission.enter(address, () => evicted.push(who));
  enter("a1", "10.0.0.1");
  enter("a2", "10.0.0.1");
  enter("b1", "10.0.0.2");
  // Full for 10.0.0.1: its own oldest goes, not b1.
  enter("a3", "10.0.0.1");
  assert.deepEqual(evicted, ["a1"]);
  const leave = enter("c1", "10.0.0.3");
  // Full in total: the oldest of all goes.
  enter("d1", "10.0.0.4");
  assert.deepEqual(evicted, ["a1", "a2"]);
  leave();
  leave(); // once only
  assert.equal(admission.pending, 3);
  // Loopback is exempt from the per-address budget, not from the total.
  for (let i = 0; i < 6; i++) enter(`l${i}`, "127.0.0.1");
  assert.equal(admission.pending, 4);
  assert.deepEqual(evicted.slice(2), ["b1", "a3", "d1", "l0", "l1"]);
});

Deno.test("Admission: wrong tokens: 3 free, then checks spaced out, doubling, refused when the wait would pass 4 s", async () => {
  const admission = new Admission({ maxPerAddress: 0 });
  for (let i = 0; i < 3; i++) {
    assert.equal(admission.tokenDelay("10.0.0.1", 0), 0);
    await admission.wrongToken("10.0.0.1", `camwire guess ${i}`, 0);
  }
  assert.equal(admission.tokenDelay("10.0.0.1", 0), 0);
  assert.equal(admission.tokenDelay("10.0.0.1", 0), 250);
  await admission.wrongToken("10.0.0.1", "camwire guess 3", 0);
  assert.equal(admission.tokenDelay("10.0.0.1", 0), 500);
  assert.equal(admission.tokenDelay("10.0.0.2", 0), 0);
  let refused = false;
  for (let i = 0; i < 20 && !refused; i++) {
    refused = admission.tokenDelay("10.0.0.1", 0) === null;
  }
  assert.ok(refused);
  // Forgotten after a quiet minute.
  assert.equal(admission.tokenDelay("10.0.0.1", 120_000), 0);
});
