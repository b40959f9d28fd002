// Copyright 2026 the camwire authors. MIT license.
/**
 * `--on-demand`: the capture runs only while someone needs it: viewers of
 * any kind, and snapshot requests waiting for a first frame.
 *
 * @module
 */

import { message } from "../common/cli.ts";
import { deadline, seconds, type Timer } from "../common/time.ts";
import type { CaptureSupervisor } from "./capture/capture.ts";
import type { Broadcaster, HubFrame } from "./viewers/viewers.ts";

/** How long a snapshot of an idle capture waits for the first frame. */
const SNAPSHOT_WAIT_MS = 5000;

/** What {@linkcode OnDemand} switches and asks. */
export interface OnDemandOptions {
  supervisor: CaptureSupervisor;
  broadcaster: Broadcaster;
  /** How many viewers there are now, of every kind. */
  viewers: () => number;
  /** Stop the capture this long after the last viewer left. */
  idleStopMs: number;
  log: (line: string) => void;
}

/**
 * Starts the capture for the first viewer and stops it when the last one
 * has been gone for `idleStopMs`. Switches run one after the other, so a
 * viewer who arrives while ffmpeg is stopping gets it started again right
 * after.
 */
export class OnDemand {
  #options: OnDemandOptions;
  /** Capture switches, one after the other. */
  #switching: Promise<void> = Promise.resolve();
  #idleTimer: Timer | undefined;
  /** Snapshot requests waiting for the capture to start. */
  #snapshots = 0;
  #stopped = false;

  /** @param options The capture, its viewers and the idle delay. */
  constructor(options: OnDemandOptions) {
    this.#options = options;
  }

  /** Whoever needs the capture on: viewers and waiting snapshots. */
  get #demand(): number {
    return this.#options.viewers() + this.#snapshots;
  }

  /** Call whenever a viewer came or went. */
  viewersChanged(): void {
    if (this.#stopped) return;
    if (this.#demand > 0) {
      clearTimeout(this.#idleTimer);
      this.#idleTimer = undefined;
      this.#switch(true);
    } else if (this.#idleTimer === undefined) {
      this.#idleTimer = setTimeout(() => {
        this.#idleTimer = undefined;
        this.#switch(false);
      }, this.#options.idleStopMs);
    }
  }

  /**
   * The newest frame for a snapshot: with the capture off, the request
   * counts as a viewer until a frame comes (at most 5 s), and the capture
   * then stays on for the idle delay, as after any viewer.
   *
   * @returns The frame, or `null` when none came in time.
   */
  async snapshot(): Promise<HubFrame | null> {
    const { broadcaster } = this.#options;
    if (broadcaster.current !== null) return broadcaster.current;
    this.#snapshots++;
    this.viewersChanged();
    const gaveUp = new AbortController();
    try {
      const next = broadcaster.next(0, gaveUp.signal);
      return await deadline(next, SNAPSHOT_WAIT_MS, null);
    } finally {
      gaveUp.abort(); // not left waiting for a capture that may be dead
      this.#snapshots--;
      this.viewersChanged();
    }
  }

  #switch(on: boolean): void {
    this.#switching = this.#switching.then(async () => {
      if (this.#stopped) return;
      const { supervisor, broadcaster, log } = this.#options;
      if (on && this.#demand > 0 && supervisor.state === "idle") {
        log("camwire: a viewer arrived: starting the capture");
        supervisor.resume();
      } else if (!on && this.#demand === 0 && supervisor.state !== "idle") {
        const idle = seconds(this.#options.idleStopMs);
        log(`camwire: nobody watching for ${idle}: stopping the capture`);
        await supervisor.pause();
        broadcaster.clear();
      }
    }).catch((error) => {
      this.#options.log(
        `camwire: cannot switch the capture: ${message(error)}`,
      );
    });
  }

  /** No more switches; waits for the one under way. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#idleTimer);
    await this.#switching;
  }
}
