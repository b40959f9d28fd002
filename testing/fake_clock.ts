// Copyright 2026 the camwire authors. MIT license.
/**
 * A clock for unit tests whose time moves only when the test says so, for
 * code that takes its timers as an option (see `SupervisorClock` in
 * server/capture/capture.ts).
 *
 * @module
 */

// Taken at load time: advance() needs a real macrotask to let promise
// callbacks run, even while a test has put a fake clock's timers in place
// of the global ones.
const realSetTimeout = globalThis.setTimeout;

/** One pending timer of a {@linkcode FakeClock}. */
interface FakeTimer {
  /** When it is due, in the clock's milliseconds. */
  at: number;
  /** Creation order, which breaks ties between timers due at once. */
  order: number;
  callback: () => void;
  /** The period of a `setInterval` timer; `undefined` for `setTimeout`. */
  everyMs: number | undefined;
}

/**
 * Fake time and timers: `setTimeout` and `setInterval` callbacks run only
 * inside {@linkcode FakeClock.advance}, in the order they fall due, with
 * {@linkcode FakeClock.now} reading the moment each was due.
 *
 * @example A timeout and an interval, in order
 * ```ts
 * import assert from "node:assert/strict";
 * const clock = new FakeClock();
 * const seen: string[] = [];
 * clock.setTimeout(() => seen.push(`timeout at ${clock.now()}`), 1500);
 * const every = clock.setInterval(() => seen.push(`tick at ${clock.now()}`), 1000);
 * await clock.advance(2000);
 * clock.clearInterval(every);
 * await clock.advance(5000);
 * assert.deepEqual(seen, ["tick at 1000", "timeout at 1500", "tick at 2000"]);
 * assert.equal(clock.now(), 7000);
 * ```
 */
export class FakeClock {
  #now = 0;
  #nextId = 1;
  #order = 0;
  #timers = new Map<number, FakeTimer>();

  /** The fake time in milliseconds; it starts at 0. */
  now(): number {
    return this.#now;
  }

  /** How many timeouts and intervals are pending. */
  get pending(): number {
    return this.#timers.size;
  }

  /**
   * Calls `callback(...args)` once, `ms` from now.
   *
   * @returns The timer's id, for {@linkcode FakeClock.clearTimeout}.
   */
  setTimeout<A extends unknown[]>(
    callback: (...args: A) => void,
    ms = 0,
    ...args: A
  ): number {
    return this.#add(() => callback(...args), ms, undefined);
  }

  /**
   * Calls `callback(...args)` every `ms` from now.
   *
   * @returns The timer's id, for {@linkcode FakeClock.clearInterval}.
   */
  setInterval<A extends unknown[]>(
    callback: (...args: A) => void,
    ms = 0,
    ...args: A
  ): number {
    // A zero period would make advance() spin forever.
    return this.#add(() => callback(...args), ms, Math.max(ms, 1));
  }

  /** Cancels a timeout; unknown ids and `undefined` are ignored. */
  clearTimeout(id: number | undefined): void {
    if (id !== undefined) this.#timers.delete(id);
  }

  /** Cancels an interval; unknown ids and `undefined` are ignored. */
  clearInterval(id: number | undefined): void {
    if (id !== undefined) this.#timers.delete(id);
  }

  /**
   * Moves time `ms` forward, running each timer that falls due on the way
   * in order of its due time (timers due at once in the order they were
   * set), with {@linkcode FakeClock.now} reading its due time. Before each
   * timer and at the end it lets pending promise callbacks run, so that
   * timers they set in reaction are honoured too.
   *
   * @param ms How far; `0` only lets promise callbacks run.
   */
  async advance(ms: number): Promise<void> {
    const end = this.#now + ms;
    await settle();
    while (true) {
      const due = this.#earliest();
      if (due === undefined || due[1].at > end) break;
      const [id, timer] = due;
      this.#now = timer.at;
      if (timer.everyMs === undefined) {
        this.#timers.delete(id);
      } else {
        timer.at += timer.everyMs;
        timer.order = this.#order++;
      }
      timer.callback();
      await settle();
    }
    this.#now = end;
    await settle();
  }

  #add(callback: () => void, ms: number, everyMs: number | undefined): number {
    // Ids start at 1 so that no id is falsy, as with the real timers.
    const id = this.#nextId++;
    const at = this.#now + Math.max(ms, 0);
    this.#timers.set(id, { at, order: this.#order++, callback, everyMs });
    return id;
  }

  #earliest(): [number, FakeTimer] | undefined {
    let earliest: [number, FakeTimer] | undefined;
    for (const entry of this.#timers) {
      const [, timer] = entry;
      if (
        earliest === undefined || timer.at < earliest[1].at ||
        (timer.at === earliest[1].at && timer.order < earliest[1].order)
      ) {
        earliest = entry;
      }
    }
    return earliest;
  }
}

/**
 * Lets every pending promise callback run: the microtask queue is drained
 * before any macrotask, however long the chain of `then`s.
 */
function settle(): Promise<void> {
  return new Promise((resolve) => realSetTimeout(resolve, 0));
}
