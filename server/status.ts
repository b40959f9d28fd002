// Copyright 2026 the camwire authors. MIT license.
/**
 * The server's rates (frames captured and bits sent per second, for
 * `/stats`) and the status line it logs every 10 s.
 *
 * @module
 */

import type { DeliveryTotals } from "../common/latest.ts";

/** How often the server logs its numbers, in seconds. */
const STATUS_EVERY_S = 10;

/** The counters that rates are computed from. */
export interface Counters {
  /** Frames captured so far. */
  readonly framesIn: number;
  /** Frames and bytes delivered so far, to every viewer. */
  readonly totals: DeliveryTotals;
}

/**
 * Per-second rates, updated by {@linkcode Rates.tick} once a second, and
 * a status line every 10 ticks.
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
  /** The counts at the last tick and at the last status line. */
  #lastTick = { framesIn: 0, bytes: 0 };
  #lastStatus = { framesIn: 0, sent: 0, skipped: 0, bytes: 0 };

  /**
   * @param counters What to compute the rates from.
   * @param viewers How many viewers there are now.
   * @param log Where the status line goes.
   */
  constructor(
    counters: Counters,
    viewers: () => number,
    log: (line: string) => void,
  ) {
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
    if (++this.#ticks % STATUS_EVERY_S === 0) this.#logStatus();
  }

  #logStatus(): void {
    const { framesIn, totals } = this.#counters;
    const last = this.#lastStatus;
    const s = STATUS_EVERY_S;
    const fpsIn = (framesIn - last.framesIn) / s;
    const viewers = this.#viewers();
    const fpsOut = viewers === 0 ? 0 : (totals.sent - last.sent) / s / viewers;
    const kbit = Math.round((totals.bytes - last.bytes) * 8 / 1000 / s);
    this.#log(
      `camwire: ${viewers} viewers, ${fpsIn.toFixed(1)} fps in, ` +
        `${fpsOut.toFixed(1)} fps out per viewer, ${kbit} kbit/s out, ` +
        `${totals.skipped - last.skipped} frames skipped for slow viewers ` +
        `(last ${s} s)`,
    );
    this.#lastStatus = { framesIn, ...totals };
  }
}
