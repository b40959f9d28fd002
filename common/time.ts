// Copyright 2026 the camwire authors. MIT license.
/**
 * Time as camwire uses it: durations in log lines, waiting with a deadline
 * or until aborted, and the precise wall clock that capture stamps are
 * written and read with.
 *
 * @module
 */

/** What `setTimeout` and `setInterval` return. */
export type Timer = ReturnType<typeof setTimeout>;

/**
 * Formats a duration for a log line.
 *
 * @param ms Milliseconds.
 * @returns e.g. `2.5 s`.
 */
export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/**
 * Waits for a promise, but no longer than `ms`.
 *
 * @param promise What to wait for.
 * @param ms The deadline, from now.
 * @param fallback What to resolve with when the deadline passes first.
 * @returns The promise's value, or `fallback`.
 *
 * @example A slow answer gives way to the fallback
 * ```ts
 * import assert from "node:assert/strict";
 * const never = new Promise<string>(() => {});
 * assert.equal(await deadline(never, 10, "late"), "late");
 * assert.equal(await deadline(Promise.resolve("ok"), 10, "late"), "ok");
 * ```
 */
export async function deadline<T, F>(
  promise: Promise<T>,
  ms: number,
  fallback: F,
): Promise<T | F> {
  let timer: Timer | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<F>((resolve) => timer = setTimeout(resolve, ms, fallback)),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Waits `ms`, or less when `signal` aborts.
 *
 * @param ms How long.
 * @param signal Ends the wait early.
 * @returns `true` when the time passed, `false` when aborted.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      resolve(ok);
    };
    const onAbort = () => done(false);
    const timer = setTimeout(() => done(true), ms);
    signal?.addEventListener("abort", onAbort);
  });
}

let clockOffset = performance.timeOrigin;
let clockCheckedAt = -Infinity;

/**
 * The wall-clock time in milliseconds with sub-millisecond resolution, for
 * capture stamps that another process (or machine, with NTP) compares with
 * its own clock. `performance.timeOrigin + performance.now()` is precise;
 * it is checked against `Date.now()` every 10 s and follows the wall clock
 * when that steps (NTP, a suspend). `Date.now()` alone is whole
 * milliseconds: up to 1 ms off.
 *
 * @returns Unix epoch milliseconds.
 */
export function wallClockMs(): number {
  const mono = performance.now();
  if (mono - clockCheckedAt > 10_000) {
    clockCheckedAt = mono;
    // Date.now() rounds down, so a clock in step reads a drift in (-1, 0].
    const drift = Date.now() - (clockOffset + mono) + 0.5;
    if (Math.abs(drift) > 1.5) clockOffset += drift;
  }
  return clockOffset + mono;
}
