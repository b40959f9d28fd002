// Copyright 2026 the camwire authors. MIT license.
/**
 * Newest-frame delivery: a slow peer skips to the newest frame and never
 * delays others.
 *
 * @module
 */

/**
 * What a synchronous try-write returns when the socket failed (reset,
 * closed): the viewer is dropped.
 */
export const SEND_FAILED = -1;

/** Frames delivered and skipped, counted across viewers. */
export interface DeliveryTotals {
  /** Frames fully written. */
  sent: number;
  /** Frames a viewer never got because a newer one replaced them. */
  skipped: number;
  /** Bytes of the frames written. */
  bytes: number;
}

/**
 * Sends frames to one peer, always the newest: while a write is in flight
 * a newer frame replaces the pending one, so at most one frame is in flight
 * and one waits. A slow peer skips frames; it never delays other peers and
 * never makes memory grow. Frames are shared buffers, never copied.
 *
 * @example A slow sink skips to the newest frame
 * ```ts
 * import assert from "node:assert/strict";
 * const written: number[] = [];
 * let release = () => {};
 * const sender = new LatestFrameSender(async (frame) => {
 *   written.push(frame[0]!);
 *   await new Promise<void>((resolve) => release = resolve);
 *   return frame.length;
 * }, () => {});
 * for (const n of [1, 2, 3]) sender.offer(new Uint8Array([n]));
 * release(); await new Promise((r) => setTimeout(r, 0)); release();
 * assert.deepEqual(written, [1, 3]);
 * assert.equal(sender.skipped, 1);
 * ```
 */
export class LatestFrameSender {
  #write: (bytes: Uint8Array) => Promise<number>;
  #onError: (error: unknown) => void;
  #totals: DeliveryTotals;
  #pending: Uint8Array | null = null;
  #busySince = 0;
  #failed = false;
  /**
   * A synchronous try-write, when there is one: returns the bytes the
   * socket took at once (0 when full) or `SEND_FAILED`. A frame it takes
   * whole costs no promise; the rest of one it does not goes async.
   */
  direct: ((bytes: Uint8Array) => number) | null = null;
  /** Frames fully written. */
  sent = 0;
  /** Frames replaced by a newer one before they could be written. */
  skipped = 0;

  /**
   * @param write Writes some bytes, resolving to how many were written.
   * @param onError Called once when a write fails; later frames are ignored.
   * @param totals Counters shared by many senders, also kept up to date.
   */
  constructor(
    write: (bytes: Uint8Array) => Promise<number>,
    onError: (error: unknown) => void,
    totals: DeliveryTotals = { sent: 0, skipped: 0, bytes: 0 },
  ) {
    this.#write = write;
    this.#onError = onError;
    this.#totals = totals;
  }

  /** `performance.now()` when the write in flight began, or 0 when idle. */
  get busySince(): number {
    return this.#busySince;
  }

  /** Queues a frame: written now if idle, else kept as the pending one. */
  offer(frame: Uint8Array): void {
    if (this.#failed) return;
    if (this.#busySince !== 0) {
      if (this.#pending !== null) {
        this.skipped++;
        this.#totals.skipped++;
      }
      this.#pending = frame;
      return;
    }
    let sent = 0;
    if (this.direct !== null) {
      sent = this.direct(frame);
      if (sent === frame.length) return this.#count(frame);
      if (sent === SEND_FAILED) {
        return this.#fail(new Deno.errors.ConnectionReset("send failed"));
      }
    }
    this.#busySince = performance.now();
    this.#send(frame, sent);
  }

  #count(frame: Uint8Array): void {
    this.sent++;
    this.#totals.sent++;
    this.#totals.bytes += frame.length;
  }

  #fail(error: unknown): void {
    this.#failed = true;
    this.#pending = null;
    this.#onError(error);
  }

  /** Writes `frame` from `offset` on, then any pending frames, async. */
  async #send(frame: Uint8Array | null, offset: number): Promise<void> {
    try {
      while (frame !== null) {
        let n = offset;
        offset = 0;
        while (n < frame.length) n += await this.#write(frame.subarray(n));
        this.#count(frame);
        frame = this.#pending;
        this.#pending = null;
        this.#busySince = frame === null ? 0 : performance.now();
      }
    } catch (error) {
      this.#fail(error);
    }
  }
}
