// Copyright 2026 the camwire authors. MIT license.
/**
 * The server's rates (frames captured and bits sent per second, for
 * `/stats`) and the status line it logs every 10 s when its numbers moved.
 *
 * @module
 */

import type { DeliveryTotals } from "../common/latest.ts";

/** How often the server logs its numbers, in seconds, by default. */
export const STATUS_EVERY_S = 10;

/** The counters that rates are computed from. */
export interface Counters {
  /** Frames captured so far. */
  readonly framesIn: number;
  /** Frames and bytes delivered so far, to every viewer. */
  readonly totals: DeliveryTotals;
}

/**
 * Per-second rates, updated by {@linkcode Rates.tick} once a second, and
 * a status line every `intervalS` ticks — unless it would say what the
 * last one said: an idle server would otherwise write 8,640 identical
 * lines a day into the journal.
 *
 * @example An idle server logs its numbers once
 * ```ts
 * import assert from "node:assert/strict";
 * const lines: string[] = [];
 * const counters = { framesIn: 0, totals: { sent: 0, skipped: 0, bytes: 0 } };
 * const rates = new Rates(counters, () => 0, (l) => lines.push(l), 10);
 * for (let i = 0; i < 30; i++) rates.tick();
 * assert.equal(lines.length, 1);
 * ```
 */
export class Rates {
  /** Frames captured in the last second. */
  fpsIn = 0;
  /** Kilobits sent in the last second, to every viewer. */
  kbitOut = 0;
  #counters: Counters;
  #viewers: () => number;
  #log: (line: string) => void;
  #ticks = 0;
  #intervalS: number;
  /** The last status line logged, without its time span. */
  #lastLine = "";
  /** The counts at the last tick and at the last status line. */
  #lastTick = { framesIn: 0, bytes: 0 };
  #lastStatus = { framesIn: 0, sent: 0, skipped: 0, bytes: 0 };

  /**
   * @param counters What to compute the rates from.
   * @param viewers How many viewers there are now.
   * @param log Where the status line goes.
   * @param intervalS Seconds between status lines; 0 for none.
   */
  constructor(
    counters: Counters,
    viewers: () => number,
    log: (line: string) => void,
    intervalS: number = STATUS_EVERY_S,
  ) {
    this.#intervalS = intervalS;
    this.#counters = counters;
    this.#viewers = viewers;
    this.#log = log;
  }

  /** Call once a second. */
  tick(): void {
    const { framesIn, totals } = this.#counters;
    this.fpsIn = framesIn - this.#lastTick.framesIn;
    this.kbitOut = (totals.bytes - this.#lastTick.bytes) * 8 / 1000;
    this.#lastTick = { framesIn, bytes: totals.bytes };
    const every = this.#intervalS;
    if (every > 0 && ++this.#ticks % every === 0) this.#logStatus();
  }

  #logStatus(): void {
    const { framesIn, totals } = this.#counters;
    const last = this.#lastStatus;
    const s = this.#intervalS;
    const fpsIn = (framesIn - last.framesIn) / s;
    const viewers = this.#viewers();
    const fpsOut = viewers === 0 ? 0 : (totals.sent - last.sent) / s / viewers;
    const kbit = Math.round((totals.bytes - last.bytes) * 8 / 1000 / s);
    const line = `camwire: ${viewers} viewers, ${fpsIn.toFixed(1)} fps in, ` +
      `${fpsOut.toFixed(1)} fps out per viewer, ${kbit} kbit/s out, ` +
      `${totals.skipped - last.skipped} frames skipped for slow viewers`;
    this.#lastStatus = { framesIn, ...totals };
    if (line === this.#lastLine) return;
    this.#lastLine = line;
    this.#log(`${line} (last ${s} s)`);
  }
}
