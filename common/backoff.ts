// Copyright 2026 the camwire authors. MIT license.
/**
 * The one retry schedule of camwire: the capture's restarts, the publish
 * relays' retries and the client's reconnects all wait 0.5 s, then twice as
 * long each time up to 5 s, and start over once a run was healthy.
 *
 * @module
 */

/** The first delay after a failure. */
export const FIRST_BACKOFF_MS = 500;
/** The longest delay between two tries. */
export const MAX_BACKOFF_MS = 5000;
/** A run that lasted this long was healthy: the next failure starts over. */
export const HEALTHY_MS = 60_000;

/**
 * Delays between retries: 0.5 s doubling up to 5 s, reset after a healthy
 * run (or on demand, e.g. once frames came again).
 *
 * @example Doubling, capped, and reset by a healthy run
 * ```ts
 * import assert from "node:assert/strict";
 * const backoff = new Backoff();
 * const delays = [1, 2, 3, 4, 5, 6].map(() => backoff.next());
 * assert.deepEqual(delays, [500, 1000, 2000, 4000, 5000, 5000]);
 * backoff.ran(61_000);
 * assert.equal(backoff.next(), 500);
 * ```
 */
export class Backoff {
  #next = FIRST_BACKOFF_MS;

  /**
   * The delay to wait before the next try; the one after is twice as long,
   * up to {@linkcode MAX_BACKOFF_MS}.
   *
   * @returns Milliseconds.
   */
  next(): number {
    const delay = this.#next;
    this.#next = Math.min(delay * 2, MAX_BACKOFF_MS);
    return delay;
  }

  /** Starts over from {@linkcode FIRST_BACKOFF_MS}. */
  reset(): void {
    this.#next = FIRST_BACKOFF_MS;
  }

  /**
   * Reports how long the run that just failed lasted: one of at least
   * {@linkcode HEALTHY_MS} starts the delays over.
   *
   * @param ms How long it ran.
   */
  ran(ms: number): void {
    if (ms >= HEALTHY_MS) this.reset();
  }
}
