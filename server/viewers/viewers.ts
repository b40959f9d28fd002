// Copyright 2026 the camwire authors. MIT license.
/**
 * TCP viewers: each connection with its newest-frame sender, the fan-out of
 * every captured frame to all of them, and what a viewer may send (its
 * token line, then nothing).
 *
 * @module
 */

import { HEADER_SIZE } from "../../framing.ts";
import { stampFrame } from "../../common/jpeg.ts";
import { message } from "../../common/cli.ts";
import { seconds, wallClockMs } from "../../common/time.ts";
import { type DeliveryTotals, LatestFrameSender } from "../../common/latest.ts";
import type { DirectSender } from "../net/sockets.ts";
import { closeQuietly, peerName } from "../net/net.ts";
import type { Admission, TokenVerdict } from "../net/admission.ts";

/** Bytes a viewer may send before it is dropped: viewers only listen. */
const MAX_VIEWER_INPUT = 1024;
/** Time a viewer has to send its token line. */
export const TOKEN_TIMEOUT_MS = 5000;
/**
 * What {@linkcode ViewerInput.watch} returns when the viewer half-closed:
 * it sends no more but may still read, as `printf 'camwire T\n' | nc -N`.
 */
export const HALF_CLOSED = "half-closed";

/**
 * What checks a token for its address: the wrong-token history and
 * spacing every port shares (tests give a stand-in).
 */
export type TokenGate = Pick<Admission, "checkToken">;

/** A viewer turned away; its message is the reason, for the log. */
export class Refusal extends Error {
  /** @param reason Why, e.g. `wrong token`. */
  constructor(reason: string) {
    super(reason);
    this.name = "Refusal";
  }
}

/** The reason of each refusing verdict, for the log. */
const REFUSALS: Record<Exclude<TokenVerdict, "right">, string> = {
  wrong: "wrong token",
  repeat: "wrong token (sent before from its address: refused at once, " +
    "not counted)",
  "slowed down": "too many wrong tokens from its address: slowed down",
  gone: "closed while its token check waited",
};

/**
 * Checks a viewer's first line against the token: `camwire <token>`,
 * through `gate`'s rules for its address. A first line that does not
 * start with `camwire ` (an HTTP request, a TLS ClientHello) cannot be the
 * token whatever it is: it is refused at once, no guess.
 *
 * @param input What the viewer sends.
 * @param token The server's token.
 * @param admission The server's token rules, the viewer's address, and a
 * signal that ends a wait (the connection was evicted or the server stops).
 * @throws {Refusal} When no line comes in time, it is not a token line,
 * the token is wrong, or its address has sent too many wrong ones to be
 * checked now.
 */
export async function checkToken(
  input: ViewerInput,
  token: string,
  admission: { rules: TokenGate; address: string; signal?: AbortSignal },
): Promise<void> {
  const line = await input.readLine(TOKEN_TIMEOUT_MS).catch(() => {
    throw new Refusal(`no token within ${TOKEN_TIMEOUT_MS / 1000} s`);
  });
  const [word, ...rest] = line.split(" ");
  const right = constantTimeEqual(rest.join(" "), token);
  if (word !== "camwire") {
    throw new Refusal('not a viewer: its first line is not "camwire <token>"');
  }
  const verdict = await admission.rules.checkToken(
    admission.address,
    { right, sent: line },
    admission.signal,
  );
  if (verdict !== "right") throw new Refusal(REFUSALS[verdict]);
}

/** A connected viewer (TCP or TLS). */
export class Viewer implements Stallable {
  readonly conn: Deno.Conn;
  readonly name: string;
  readonly sender: LatestFrameSender;
  /** Resolves once the viewer is closed. */
  readonly gone: Promise<void>;
  /** Set when the viewer half-closed: a failed send then means it left. */
  inputEnded = false;
  #closed = false;
  #direct: DirectSender | null = null;
  #fd = -1;
  #withdraw = () => {};
  #onGone: (viewer: Viewer, reason: string) => void;
  #resolveGone: () => void;

  /**
   * @param conn The viewer's connection.
   * @param onGone Called when a send fails or the viewer is dropped.
   * @param totals Delivery counters shared by every viewer.
   */
  constructor(
    conn: Deno.Conn,
    onGone: (viewer: Viewer, reason: string) => void,
    totals: DeliveryTotals,
  ) {
    this.conn = conn;
    this.name = peerName(conn.remoteAddr);
    this.#onGone = onGone;
    const { promise, resolve } = Promise.withResolvers<void>();
    this.gone = promise;
    this.#resolveGone = resolve;
    this.sender = new LatestFrameSender(
      (bytes) => conn.write(bytes),
      () => onGone(this, this.inputEnded ? "disconnected" : "connection lost"),
      totals,
    );
  }

  /**
   * Waits until the viewer is gone: it disconnected, sent too much, or —
   * when it only half-closed — a send failed or it was dropped.
   *
   * @param input What the viewer sends.
   * @returns Why it went, for the log line.
   */
  async watch(input: ViewerInput): Promise<string> {
    const reason = await input.watch();
    if (reason !== HALF_CLOSED) return reason;
    // It may still read: frames go on until a send fails (then the
    // sender's onGone has told why) or it stalls.
    this.inputEnded = true;
    await this.gone;
    return "disconnected";
  }

  /** When the send in progress began, or 0 when idle. */
  get busySince(): number {
    return this.sender.busySince;
  }

  /** Ends this viewer for `reason` (see {@linkcode dropStalled}). */
  drop(reason: string): void {
    this.#onGone(this, reason);
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

  /** Stops sending and closes the connection. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    // Forget the fd first: once closed, its number may be another socket's.
    this.sender.direct = null;
    this.#withdraw();
    if (this.#fd !== -1) this.#direct?.release(this.#fd);
    // Also cancels a write stuck on a stalled peer; a TLS one is shut down
    // beneath Deno (see closeQuietly).
    closeQuietly(this.conn);
    this.#resolveGone();
  }
}

/** One delivered frame, as the HTTP side sees it. */
export interface HubFrame {
  /** Increases by one per delivered frame. */
  seq: number;
  /** The JPEG (capture stamp included). */
  jpeg: Uint8Array<ArrayBuffer>;
}

/** Something that shows bare JPEGs, newest first (the preview window). */
export interface JpegSink {
  show(jpeg: Uint8Array): void;
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
  readonly jpegSinks = new Set<JpegSink>();
  readonly totals: DeliveryTotals = { sent: 0, skipped: 0, bytes: 0 };
  /** The newest wire frame (header + stamped JPEG). */
  latest: Uint8Array | null = null;
  /** The newest frame for the HTTP side. */
  current: HubFrame | null = null;
  framesIn = 0;
  /** Told when a sink's `show()` throws; the frame goes on to the others. */
  onSinkError: (error: unknown) => void = () => {};
  #waiters: ((frame: HubFrame) => void)[] = [];

  /** Stamps a captured JPEG and delivers it to every viewer and sink. */
  deliver(jpeg: Uint8Array): void {
    const frame = stampFrame(jpeg, wallClockMs());
    const bare = frame.subarray(HEADER_SIZE);
    this.latest = frame;
    this.framesIn++;
    this.current = { seq: this.framesIn, jpeg: bare };
    if (this.direct?.pending) this.direct.scan();
    for (const viewer of this.viewers) viewer.sender.offer(frame);
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake(this.current);
    // Each on its own: one that throws (a decoder that cannot start)
    // must not starve those after it.
    for (const sink of this.jpegSinks) {
      try {
        sink.show(bare);
      } catch (error) {
        this.onSinkError(error);
      }
    }
  }

  /** Forgets the newest frame, which is stale once the capture is off. */
  clear(): void {
    this.latest = null;
    this.current = null;
  }

  /**
   * The first frame whose `seq` is above `seq`.
   *
   * @param seq The newest frame seen.
   * @param signal Gives up the wait: the waiter is forgotten at once, so
   * that waits given up on a dead capture do not pile up.
   * @returns The frame, or `null` when `signal` aborted first.
   */
  next(seq: number, signal?: AbortSignal): Promise<HubFrame | null> {
    const current = this.current;
    if (current !== null && current.seq > seq) return Promise.resolve(current);
    if (signal?.aborted) return Promise.resolve(null);
    return new Promise((resolve) => {
      const onAbort = () => {
        const at = this.#waiters.indexOf(wake);
        if (at !== -1) this.#waiters.splice(at, 1);
        resolve(null);
      };
      const wake = (frame: HubFrame) => {
        signal?.removeEventListener("abort", onAbort);
        resolve(frame);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#waiters.push(wake);
    });
  }

  /** How many {@linkcode Broadcaster.next} calls wait for a frame. */
  get waiting(): number {
    return this.#waiters.length;
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
   * @returns The line without its end.
   * @throws {Deno.errors.UnexpectedEof} On timeout (the connection is closed),
   * EOF, or a line longer than the input limit.
   */
  async readLine(timeoutMs: number): Promise<string> {
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
        if (this.#have === this.#buf.length) break;
        const n = await this.#conn.read(this.#buf.subarray(this.#have));
        if (n === null) break;
        this.#have += n;
      }
    } catch {
      // Closed by the timer, or reset.
    } finally {
      clearTimeout(timer);
    }
    throw new Deno.errors.UnexpectedEof("no whole line in time");
  }

  /**
   * Waits until the viewer sends no more.
   *
   * @returns Why: {@linkcode HALF_CLOSED} at its end of input (it may
   * still read), or it was closed, or it sent too much.
   */
  async watch(): Promise<string> {
    try {
      while (true) {
        const n = await this.#conn.read(this.#buf.subarray(this.#have));
        if (n === null) return HALF_CLOSED;
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

/** A viewer whose sends can stall: TCP viewers and HTTP stream viewers. */
export interface Stallable {
  /** `performance.now()` when the send in progress began, or 0 when idle. */
  readonly busySince: number;
  /** Ends the viewer: no more frames, its connection closed. */
  drop(reason: string): void;
}

/**
 * Drops every viewer whose current send has made no progress for longer
 * than `limitMs` (`--client-timeout`): one rule for every kind of viewer.
 *
 * @param viewers The viewers to check.
 * @param limitMs How long a send may take.
 * @param now The time to measure against.
 */
export function dropStalled(
  viewers: Iterable<Stallable>,
  limitMs: number,
  now: number = performance.now(),
): void {
  for (const viewer of [...viewers]) {
    const since = viewer.busySince;
    if (since !== 0 && now - since > limitMs) {
      viewer.drop(`dropped: a frame took over ${seconds(limitMs)} to send`);
    }
  }
}
