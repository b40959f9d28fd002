// Copyright 2026 the camwire authors. MIT license.
/**
 * Log lines for events that come in floods (refused connections, wrong
 * tokens, accept failures): the first few of each interval are logged as
 * they happen, so that one refusal is seen at once; the rest are counted
 * and told in one summary line per interval. A burst of 2,002 refusals
 * wrote 2,002 lines before; now it writes at most 6 per 10 s.
 *
 * @module
 */

/** Interval of the summary lines. */
export const TALLY_INTERVAL_MS = 10_000;
/** Lines logged one by one per interval before counting starts. */
export const TALLY_FIRST_LINES = 5;

/**
 * Counts flood events and logs them as a few lines plus one summary per
 * interval. It has no timer of its own: its owner calls
 * {@linkcode LogTally.flush} from its ticker.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const lines: string[] = [];
 * const tally = new LogTally((line) => lines.push(line), 1);
 * for (let i = 0; i < 3; i++) {
 *   tally.note("wrong token", `camwire: viewer 10.0.0.${i}:1 refused: wrong token`, "10.0.0.9", 0);
 * }
 * assert.equal(lines.length, 1);
 * tally.flush(TALLY_INTERVAL_MS);
 * assert.equal(
 *   lines[1],
 *   "camwire: 2 more refused or failed in the last 10 s, not logged one by one: 2 wrong token; from 1 address (most from 10.0.0.9: 2)",
 * );
 * ```
 */
export class LogTally {
  #log: (line: string) => void;
  #firstLines: number;
  #since = -1;
  #logged = 0;
  #kinds = new Map<string, number>();
  #addresses = new Map<string, number>();

  /**
   * @param log Where lines go.
   * @param firstLines Lines logged one by one per interval.
   */
  constructor(log: (line: string) => void, firstLines = TALLY_FIRST_LINES) {
    this.#log = log;
    this.#firstLines = firstLines;
  }

  /**
   * Logs `line`, or counts it under `kind` when this interval has had its
   * lines already.
   *
   * @param kind What happened, e.g. `wrong token`, for the summary.
   * @param line The line to log while lines are left.
   * @param from The address it came from, if any.
   * @param now The time, `performance.now()`.
   */
  note(
    kind: string,
    line: string,
    from?: string,
    now: number = performance.now(),
  ): void {
    this.flush(now);
    if (this.#since < 0) this.#since = now;
    if (this.#logged < this.#firstLines) {
      this.#logged++;
      this.#log(line);
      return;
    }
    this.#kinds.set(kind, (this.#kinds.get(kind) ?? 0) + 1);
    if (from !== undefined) {
      // Bounded: a flood from many addresses must not grow the map.
      if (this.#addresses.size < 10_000 || this.#addresses.has(from)) {
        this.#addresses.set(from, (this.#addresses.get(from) ?? 0) + 1);
      }
    }
  }

  /**
   * Logs the summary of an interval that is over, if anything was counted.
   *
   * @param now The time, `performance.now()`.
   */
  flush(now: number = performance.now()): void {
    if (this.#since < 0 || now - this.#since < TALLY_INTERVAL_MS) return;
    const counted = [...this.#kinds.values()].reduce((a, b) => a + b, 0);
    if (counted > 0) {
      const kinds = [...this.#kinds].sort((a, b) => b[1] - a[1])
        .map(([kind, n]) => `${n} ${kind}`).join(", ");
      const [top, most] = [...this.#addresses].sort((a, b) => b[1] - a[1])[0] ??
        ["", 0];
      const n = this.#addresses.size;
      const from = n === 0
        ? ""
        : `; from ${n} address${
          n === 1 ? "" : "es"
        } (most from ${top}: ${most})`;
      this.#log(
        `camwire: ${counted} more refused or failed in the last ${
          Math.round(TALLY_INTERVAL_MS / 1000)
        } s, not logged one by one: ${kinds}${from}`,
      );
    }
    this.#since = -1;
    this.#logged = 0;
    this.#kinds.clear();
    this.#addresses.clear();
  }
}
