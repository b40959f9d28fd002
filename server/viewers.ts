// Copyright 2026 the camwire authors. MIT license.
/**
 * TCP viewers: each connection with its newest-frame sender, the fan-out of
 * every captured frame to all of them, and what a viewer may send (its
 * token line, then nothing).
 *
 * @module
 */

import { HEADER_SIZE, stampFrame } from "../framing.ts";
import { message } from "../common/cli.ts";
import {
  type DeliveryTotals,
  LatestFrameSender,
  wallClockMs,
} from "../common/latest.ts";
import type { DirectSender } from "./sockets.ts";
import type { HubFrame } from "./http.ts";

/**
 * Default bound on the bytes queued unsent per viewer: a couple of frames.
 * A slow viewer then gets fresh frames (measured: bench/slow_viewer.ts).
 */
export const DEFAULT_SEND_QUEUE = 16 * 1024;

/** Bytes a viewer may send before it is dropped: viewers only listen. */
export const MAX_VIEWER_INPUT = 1024;
/** Time a viewer has to send its token line. */
export const TOKEN_TIMEOUT_MS = 5000;

/** A connected viewer (TCP or TLS). */
export class Viewer {
  readonly conn: Deno.Conn;
  readonly name: string;
  readonly sender: LatestFrameSender;
  #closed = false;
  #direct: DirectSender | null = null;
  #fd = -1;
  #withdraw = () => {};

  constructor(
    conn: Deno.Conn,
    onGone: (viewer: Viewer) => void,
    totals: DeliveryTotals,
  ) {
    this.conn = conn;
    const addr = conn.remoteAddr as Deno.NetAddr;
    this.name = `${addr.hostname}:${addr.port}`;
    this.sender = new LatestFrameSender(
      (bytes) => conn.write(bytes),
      () => onGone(this),
      totals,
    );
  }

  /**
   * Sends through `direct` once its socket is found (plain TCP only).
   *
   * @param direct The synchronous sender.
   */
  sendDirectly(direct: DirectSender): void {
    this.#direct = direct;
    this.#withdraw = direct.lookUp(this.conn as Deno.TcpConn, (fd) => {
      this.#fd = fd;
      this.sender.direct = (bytes) => direct.send(fd, bytes);
    });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    // Forget the fd first: once closed, its number may be another socket's.
    this.sender.direct = null;
    this.#withdraw();
    if (this.#fd !== -1) this.#direct?.release(this.#fd);
    try {
      this.conn.close(); // also cancels a write stuck on a stalled peer
    } catch {
      // Already closed by the peer's reset.
    }
  }
}

/**
 * Fans each captured frame out: TCP viewers get the wire frame; sinks that
 * take bare JPEGs (the preview) and HTTP viewers a view of it without the
 * header. It is built once per frame and shared, never copied per viewer.
 */
export class Broadcaster {
  readonly viewers = new Set<Viewer>();
  /** Synchronous sends to TCP viewers, where the OS allows. */
  direct: DirectSender | null = null;
  readonly jpegSinks = new Set<LatestFrameSender>();
  readonly totals: DeliveryTotals = { sent: 0, skipped: 0, bytes: 0 };
  /** The newest wire frame (header + stamped JPEG). */
  latest: Uint8Array | null = null;
  /** The newest frame for the HTTP side. */
  current: HubFrame | null = null;
  framesIn = 0;
  #waiters: ((frame: HubFrame) => void)[] = [];

  publish(jpeg: Uint8Array): void {
    const frame = stampFrame(jpeg, wallClockMs());
    const bare = frame.subarray(HEADER_SIZE);
    this.latest = frame;
    this.framesIn++;
    this.current = { seq: this.framesIn, jpeg: bare };
    if (this.direct?.pending) this.direct.scan();
    for (const viewer of this.viewers) viewer.sender.offer(frame);
    for (const sink of this.jpegSinks) sink.offer(bare);
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake(this.current);
  }

  /** Forgets the newest frame, which is stale once the capture is off. */
  clear(): void {
    this.latest = null;
    this.current = null;
  }

  /** Resolves with the first frame whose `seq` is above `seq`. */
  next(seq: number): Promise<HubFrame> {
    const current = this.current;
    if (current !== null && current.seq > seq) return Promise.resolve(current);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }
}

/**
 * Compares two strings in time that depends only on their lengths, so that
 * response times do not reveal how much of a guessed token was right.
 */
export function constantTimeEqual(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  }
  return diff === 0;
}

export function closeQuietly(resource: { close(): void }): void {
  try {
    resource.close();
  } catch {
    // Already closed.
  }
}

/**
 * Reads what a viewer sends: its token line, if one is required, and then
 * nothing. A viewer that keeps sending is dropped, so it cannot make the
 * server buffer or spin.
 */
export class ViewerInput {
  #conn: Deno.Conn;
  #buf = new Uint8Array(MAX_VIEWER_INPUT);
  #have = 0;

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  /**
   * Reads one `\n`-terminated line within `timeoutMs`.
   *
   * @returns The line without its end, or `null` on timeout, EOF or a line
   * longer than the input limit.
   */
  async readLine(timeoutMs: number): Promise<string | null> {
    const timer = setTimeout(() => closeQuietly(this.#conn), timeoutMs);
    try {
      while (true) {
        const end = this.#buf.subarray(0, this.#have).indexOf(0x0a);
        if (end !== -1) {
          const line = new TextDecoder().decode(this.#buf.subarray(0, end));
          this.#buf.copyWithin(0, end + 1, this.#have);
          this.#have -= end + 1;
          return line.replace(/\r$/, "");
        }
        if (this.#have === this.#buf.length) return null;
        const n = await this.#conn.read(this.#buf.subarray(this.#have));
        if (n === null) return null;
        this.#have += n;
      }
    } catch {
      return null; // closed by the timer, or reset
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Waits until the viewer goes away.
   *
   * @returns Why: it disconnected, it was closed, or it sent too much.
   */
  async watch(): Promise<string> {
    try {
      while (true) {
        const n = await this.#conn.read(this.#buf.subarray(this.#have));
        if (n === null) return "disconnected";
        this.#have += n;
        if (this.#have >= this.#buf.length) {
          return `dropped: it sent ${this.#have} bytes, viewers send nothing`;
        }
      }
    } catch (error) {
      return error instanceof Deno.errors.Interrupted ||
          error instanceof Deno.errors.BadResource
        ? "closed"
        : message(error);
    }
  }
}
