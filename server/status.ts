// Copyright 2026 the camwire authors. MIT license.
/**
 * The server's rates (frames captured and bits sent per second, for
 * `/stats`) and its status line: written when something a reader cares
 * about changes, else once an hour; or, with `--status-interval S`, every
 * S seconds as before.
 *
 * @module
 */

import type { DeliveryTotals } from "../common/latest.ts";

/** Seconds of per-second samples that a status line's rates cover. */
export const STATUS_WINDOW_S = 10;
/** With nothing to tell, one status line this often, in seconds. */
export const HEARTBEAT_S = 3600;
/**
 * A capture rate that moved by more than this fraction of the last one
 * told is news. The rate wobbles (30.0, 30.1, 30.3 fps over 10 s from a
 * 30 fps test pattern): well inside it.
 */
export const FPS_TOLERANCE = 0.1;

/** The counters that rates are computed from. */
export interface Counters {
  /** Frames captured so far. */
  readonly framesIn: number;
  /** Frames and bytes delivered so far, to every viewer. */
  readonly totals: DeliveryTotals;
}

/** What a status line tells besides the rates, read when it is due. */
export interface Watched {
  /** Viewers of every kind now. */
  viewers(): number;
  /** The capture's state now (`live`, `restarting`, `placeholder`, `idle`). */
  state(): string;
  /** Captures restarted after a loss or stall, so far. */
  restarts(): number;
  /** Camera frames dropped as damaged, so far. */
  dropped(): number;
}

/** How often status lines are written and what tells the time. */
export interface StatusOptions {
  /**
   * Seconds between status lines, each line then written whatever changed
   * (an unchanged one only once); `0` for none; `undefined` (the default)
   * for a line when something changes, else one an hour.
   */
  everyS?: number | undefined;
  /** The clock, in ms. @default {performance.now} */
  now?: () => number;
}

/** The counts at one moment. */
interface Sample {
  framesIn: number;
  sent: number;
  skipped: number;
  bytes: number;
}

/** What the last status line told, to tell news from the same again. */
interface Told {
  /** When it was written, in the clock's ms. */
  at: number;
  viewers: number;
  /** `live`, `idle` or `down` (see {@linkcode phase}). */
  phase: string;
  restarts: number;
  dropped: number;
  skipped: number;
  /** The capture rate told, once it had settled; else `undefined`. */
  fps: number | undefined;
}

/**
 * Per-second rates, updated by {@linkcode Rates.tick} once a second, and
 * the status line.
 *
 * By default a line is written when a viewer comes or goes (at once, at
 * most one a second), when the capture starts, stops, stalls or recovers,
 * when its rate has settled and then moves by more than
 * {@linkcode FPS_TOLERANCE}, or when frames are skipped for a slow viewer,
 * dropped as damaged or a capture restarts (at most one such line every
 * {@linkcode STATUS_WINDOW_S} s); otherwise once every
 * {@linkcode HEARTBEAT_S} s. An idle server wrote a line every 10 s
 * (8,640 a day into the journal of a Pi's SD card).
 *
 * @example An idle server is quiet; a viewer's arrival is told at once
 * ```ts
 * import assert from "node:assert/strict";
 * const lines: string[] = [];
 * const counters = { framesIn: 0, totals: { sent: 0, skipped: 0, bytes: 0 } };
 * let viewers = 0;
 * const watched = {
 *   viewers: () => viewers,
 *   state: () => "live",
 *   restarts: () => 0,
 *   dropped: () => 0,
 * };
 * let now = 0;
 * const rates = new Rates(counters, watched, (l) => lines.push(l), {
 *   now: () => now,
 * });
 * const second = () => {
 *   now += 1000;
 *   counters.framesIn += 30;
 *   rates.tick();
 * };
 * for (let i = 0; i < 20; i++) second(); // the rate settles: one line
 * assert.equal(lines.length, 1);
 * for (let i = 0; i < 600; i++) second(); // ten idle minutes
 * assert.equal(lines.length, 1);
 * viewers = 1;
 * rates.changed();
 * await Promise.resolve();
 * assert.equal(lines.length, 2);
 * assert.match(lines[1]!, /^camwire: 1 viewers, 30\.0 fps in/);
 * ```
 */
export class Rates {
  /** Frames captured in the last second. */
  fpsIn = 0;
  /** Kilobits sent in the last second, to every viewer. */
  kbitOut = 0;
  #counters: Counters;
  #watched: Watched;
  #log: (line: string) => void;
  #everyS: number | undefined;
  #now: () => number;
  #ticks = 0;
  /** The counts at the last tick. */
  #lastTick: Sample;
  /** What each of the last {@linkcode STATUS_WINDOW_S} seconds added. */
  #window: Sample[] = [];
  /** Ticks in a row at which the capture was live. */
  #liveTicks = 0;
  /** Ticks in a row at which the settled rate was off the one told. */
  #movedTicks = 0;
  #told: Told;
  #considering = false;
  /** With `everyS`: the counts and text of the last periodic line. */
  #lastPeriodic: Sample;
  #lastPeriodicLine = "";

  /**
   * @param counters What the rates are computed from.
   * @param watched Viewers, the capture's state and its fault counters.
   * @param log Where the status line goes.
   * @param options How often it is written, and the clock.
   */
  constructor(
    counters: Counters,
    watched: Watched,
    log: (line: string) => void,
    options: StatusOptions = {},
  ) {
    this.#counters = counters;
    this.#watched = watched;
    this.#log = log;
    this.#everyS = options.everyS;
    this.#now = options.now ?? (() => performance.now());
    this.#lastTick = this.#sample();
    this.#lastPeriodic = this.#lastTick;
    // What is so at the start is no news: the start-up lines said it.
    this.#told = {
      at: this.#now(),
      viewers: watched.viewers(),
      phase: phase(watched.state()),
      restarts: watched.restarts(),
      dropped: watched.dropped(),
      skipped: this.#lastTick.skipped,
      fps: undefined,
    };
  }

  /** Call once a second. */
  tick(): void {
    const now = this.#sample();
    const last = this.#lastTick;
    this.fpsIn = now.framesIn - last.framesIn;
    this.kbitOut = (now.bytes - last.bytes) * 8 / 1000;
    this.#window.push({
      framesIn: now.framesIn - last.framesIn,
      sent: now.sent - last.sent,
      skipped: now.skipped - last.skipped,
      bytes: now.bytes - last.bytes,
    });
    if (this.#window.length > STATUS_WINDOW_S) this.#window.shift();
    this.#lastTick = now;
    this.#liveTicks = this.#watched.state() === "live"
      ? this.#liveTicks + 1
      : 0;
    const told = this.#told.fps;
    const fps = this.#settledFps();
    this.#movedTicks = fps !== undefined && told !== undefined &&
        Math.abs(fps - told) > FPS_TOLERANCE * Math.max(told, 1)
      ? this.#movedTicks + 1
      : 0;
    const every = this.#everyS;
    if (every === undefined) {
      this.#consider();
    } else if (every > 0 && ++this.#ticks % every === 0) {
      this.#logPeriodic(every);
    }
  }

  /**
   * A viewer came or went: a status line now (once the caller's own line
   * about it is out), unless one was written in the last second.
   */
  changed(): void {
    if (this.#everyS !== undefined || this.#considering) return;
    this.#considering = true;
    queueMicrotask(() => {
      this.#considering = false;
      this.#consider();
    });
  }

  /** Writes a status line if there is news, or at the heartbeat. */
  #consider(): void {
    const now = this.#now();
    const told = this.#told;
    const since = now - told.at;
    const w = this.#watched;
    const viewers = w.viewers();
    const state = w.state();
    const fps = this.#settledFps();
    let due: boolean;
    if (viewers !== told.viewers || phase(state) !== told.phase) {
      due = since >= 1000;
    } else if (
      w.restarts() !== told.restarts || w.dropped() !== told.dropped ||
      this.#lastTick.skipped !== told.skipped || this.#fpsNews(fps)
    ) {
      due = since >= STATUS_WINDOW_S * 1000;
    } else {
      due = since >= HEARTBEAT_S * 1000;
    }
    if (!due) return;
    const sum = this.#windowSum();
    const seconds = Math.max(this.#window.length, 1);
    const faults: string[] = [];
    const restarts = w.restarts() - told.restarts;
    if (restarts > 0) faults.push(`${restarts} capture restarts`);
    const dropped = w.dropped() - told.dropped;
    if (dropped > 0) faults.push(`${dropped} damaged camera frames dropped`);
    this.#log(
      statusLine(sum, viewers, state, seconds) +
        (faults.length > 0
          ? `; since the last status line: ${faults.join(", ")}`
          : ""),
    );
    this.#told = {
      at: now,
      viewers,
      phase: phase(state),
      restarts: w.restarts(),
      dropped: w.dropped(),
      skipped: this.#lastTick.skipped,
      // A rate told before a restart stays the one to compare with.
      fps: fps ?? told.fps,
    };
  }

  /**
   * Whether the capture's rate is news: the first settled rate, or one
   * that stayed off the rate told for a whole window (so that the line
   * tells where it went, not a rate on the way there).
   */
  #fpsNews(fps: number | undefined): boolean {
    if (fps === undefined) return false;
    return this.#told.fps === undefined ||
      this.#movedTicks >= STATUS_WINDOW_S;
  }

  /**
   * The capture rate over the window, once every second of it was live
   * (the first live second may be a part of one); else `undefined`.
   */
  #settledFps(): number | undefined {
    if (this.#liveTicks <= STATUS_WINDOW_S) return undefined;
    return this.#windowSum().framesIn / this.#window.length;
  }

  #windowSum(): Sample {
    const sum = { framesIn: 0, sent: 0, skipped: 0, bytes: 0 };
    for (const s of this.#window) {
      sum.framesIn += s.framesIn;
      sum.sent += s.sent;
      sum.skipped += s.skipped;
      sum.bytes += s.bytes;
    }
    return sum;
  }

  #sample(): Sample {
    const { framesIn, totals } = this.#counters;
    return {
      framesIn,
      sent: totals.sent,
      skipped: totals.skipped,
      bytes: totals.bytes,
    };
  }

  /** `--status-interval S`: the line of the last S seconds. */
  #logPeriodic(s: number): void {
    const now = this.#lastTick;
    const last = this.#lastPeriodic;
    this.#lastPeriodic = now;
    const line = statusLine(
      {
        framesIn: now.framesIn - last.framesIn,
        sent: now.sent - last.sent,
        skipped: now.skipped - last.skipped,
        bytes: now.bytes - last.bytes,
      },
      this.#watched.viewers(),
      this.#watched.state(),
      s,
    );
    if (line === this.#lastPeriodicLine) return;
    this.#lastPeriodicLine = line;
    this.#log(line);
  }
}

/**
 * The status line of `s` seconds that added `sum`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const sum = { framesIn: 300, sent: 600, skipped: 0, bytes: 4_855_000 };
 * assert.equal(
 *   statusLine(sum, 2, "live", 10),
 *   "camwire: 2 viewers, 30.0 fps in, 30.0 fps out per viewer, 3884 kbit/s out, 0 frames skipped for slow viewers (last 10 s)",
 * );
 * ```
 */
export function statusLine(
  sum: Sample,
  viewers: number,
  state: string,
  s: number,
): string {
  const fpsOut = viewers === 0 ? 0 : sum.sent / s / viewers;
  const kbit = Math.round(sum.bytes * 8 / 1000 / s);
  const capture = state === "live"
    ? ""
    : ` (${CAPTURE_STATES[state] ?? state})`;
  return `camwire: ${viewers} viewers, ${
    (sum.framesIn / s).toFixed(1)
  } fps in${capture}, ` +
    `${fpsOut.toFixed(1)} fps out per viewer, ${kbit} kbit/s out, ` +
    `${sum.skipped} frames skipped for slow viewers (last ${s} s)`;
}

/** A capture that is not live, in a status line. */
const CAPTURE_STATES: Record<string, string> = {
  restarting: "capture restarting",
  placeholder: "capture lost: no-signal frames",
  idle: "capture off: nobody watching",
};

/**
 * The capture's state as a reader tells it apart: `restarting` and
 * `placeholder` are both a capture that is down.
 */
function phase(state: string): string {
  return state === "restarting" || state === "placeholder" ? "down" : state;
}
