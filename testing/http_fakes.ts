// Copyright 2026 the camwire authors. MIT license.
/**
 * In-process stand-ins for the HTTP side's tests: a fake {@linkcode FrameHub}
 * of numbered JPEGs, a fake connection, and {@linkcode request} to put a
 * `Request` through {@linkcode HttpSide.handle} as the server would.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  BOUNDARY,
  type FrameHub,
  type HttpOptions,
  HttpSide,
  type RequestInfo,
} from "../server/http/http.ts";
import type { HubFrame, JpegSink } from "../server/viewers/viewers.ts";
import type { Metrics } from "../server/http/metrics.ts";

/** Length of every {@linkcode fakeJpeg}. */
export const FAKE_JPEG_SIZE = 64;

/**
 * A JPEG-shaped buffer (SOI … EOI) that tells frames apart by `seq`.
 *
 * @param seq Written into every byte between the markers.
 * @returns {@linkcode FAKE_JPEG_SIZE} bytes.
 */
export function fakeJpeg(seq: number): Uint8Array<ArrayBuffer> {
  const jpeg = new Uint8Array(FAKE_JPEG_SIZE).fill(seq & 0x7f);
  jpeg.set([0xff, 0xd8]);
  jpeg.set([0xff, 0xd9], FAKE_JPEG_SIZE - 2);
  return jpeg;
}

/**
 * A {@linkcode FrameHub} without a server: frames are published by hand and
 * what the HTTP side asks of it is recorded.
 */
export class FakeHub implements FrameHub {
  current: HubFrame | null = null;
  readonly jpegSinks = new Set<JpegSink>();
  readonly direct = null;
  /** What the stream viewers' senders counted. */
  readonly totals = { sent: 0, skipped: 0, bytes: 0 };
  /** `takeSlot` answers `null` once this reaches 0. */
  slotsLeft = Infinity;
  /** The names `takeSlot` gave a slot to. */
  readonly slotsTaken: string[] = [];
  /** The addresses `takeSlot` was given. */
  readonly addresses: string[] = [];
  /** Calls of the release functions `takeSlot` returned. */
  released = 0;
  /** Calls of `viewersChanged`. */
  changes = 0;

  /** Makes `jpeg` the newest frame and shows it to every sink. */
  publish(jpeg: Uint8Array<ArrayBuffer>): HubFrame {
    const frame = { seq: (this.current?.seq ?? 0) + 1, jpeg };
    this.current = frame;
    for (const sink of this.jpegSinks) sink.show(jpeg);
    return frame;
  }

  stats(): object {
    return { fake: true, framesIn: this.current?.seq ?? 0 };
  }

  metrics(): Metrics {
    return {
      uptimeSeconds: 1.5,
      captureState: "live",
      captureFps: 30,
      captureRestarts: 2,
      framesCaptured: this.current?.seq ?? 0,
      viewers: { tcp: 0, http: this.slotsTaken.length - this.released },
      framesSent: this.totals.sent,
      framesSkipped: this.totals.skipped,
      bytesSent: this.totals.bytes,
    };
  }

  takeSlot(name: string, address: string): (() => void) | null {
    if (this.slotsLeft <= 0) return null;
    this.slotsLeft--;
    this.slotsTaken.push(name);
    this.addresses.push(address);
    return () => {
      this.slotsLeft++;
      this.released++;
    };
  }

  viewerCount(): number {
    return this.slotsTaken.length - this.released;
  }

  viewersChanged(): void {
    this.changes++;
  }

  snapshot(): Promise<HubFrame | null> {
    return Promise.resolve(this.current);
  }
}

/**
 * A connection without a socket, for a stream viewer in-process: each
 * `write` waits until the test's reader pulls its bytes (as a socket that
 * is full until the peer reads), so a reader that does not read holds the
 * frame being written, and the sender skips to the newest meanwhile.
 */
export class FakeConn {
  readonly remoteAddr: Deno.NetAddr;
  readonly localAddr: Deno.NetAddr = {
    transport: "tcp",
    hostname: "127.0.0.1",
    port: 8080,
  };
  /** What the peer reads. */
  readonly readable: ReadableStream<Uint8Array>;
  #writes: { bytes: Uint8Array; done: (n: number) => void }[] = [];
  #writeWaiter: (() => void) | null = null;
  #fail: ((error: Error) => void)[] = [];
  #readEnd = Promise.withResolvers<number | null>();
  #closed = false;

  constructor(remoteAddr: Deno.NetAddr) {
    this.remoteAddr = remoteAddr;
    this.readable = new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        while (this.#writes.length === 0) {
          if (this.#closed) return controller.close();
          await new Promise<void>((wake) => this.#writeWaiter = wake);
        }
        const { bytes, done } = this.#writes.shift()!;
        controller.enqueue(bytes.slice());
        done(bytes.length);
      },
      cancel: () => this.peerCloses(),
    }, { highWaterMark: 0 });
  }

  write(bytes: Uint8Array): Promise<number> {
    if (this.#closed) {
      return Promise.reject(new Deno.errors.BadResource("closed"));
    }
    return new Promise((done, fail) => {
      this.#writes.push({ bytes, done });
      this.#fail.push(fail);
      this.#writeWaiter?.();
    });
  }

  /** Reads: what the peer sends (nothing) until it closes its end. */
  read(_buf: Uint8Array): Promise<number | null> {
    return this.#readEnd.promise;
  }

  /**
   * The peer closes: its end of input now, and writes fail from the next
   * turn on (its FIN comes before the reset of a write).
   */
  peerCloses(): void {
    this.#readEnd.resolve(null);
    this.#closed = true;
    this.#writes = [];
    const fails = this.#fail;
    this.#fail = [];
    // A few promise turns: the reader of the input sees its end first.
    let turns = Promise.resolve();
    for (let i = 0; i < 10; i++) turns = turns.then(() => {});
    turns.then(() => {
      for (const fail of fails) fail(new Deno.errors.BrokenPipe("closed"));
    });
    this.#writeWaiter?.();
  }

  close(): void {
    this.#closed = true;
    this.#writes = [];
    this.#readEnd.reject(new Deno.errors.Interrupted("operation canceled"));
    for (const fail of this.#fail) {
      fail(new Deno.errors.Interrupted("operation canceled"));
    }
    this.#fail = [];
    this.#writeWaiter?.();
  }
}

/**
 * The HTTP side's options of the tests: loopback, no token, no TLS, 10 s.
 *
 * @param lines Where its log lines go.
 */
export function fakeOptions(lines: string[]): HttpOptions {
  return {
    hostname: "127.0.0.1",
    port: 0,
    token: undefined,
    tls: undefined,
    clientTimeoutMs: 10_000,
    tcpPort: 5000,
    log: (line) => lines.push(line),
    tokenEquals: (a, b) => a === b,
  };
}

/**
 * An {@linkcode HttpSide} on a {@linkcode FakeHub}, its log lines kept.
 *
 * @param options Options to change from {@linkcode fakeOptions}.
 */
export function fakeSide(
  options: Partial<HttpOptions> = {},
): { side: HttpSide; hub: FakeHub; lines: string[] } {
  const hub = new FakeHub();
  const lines: string[] = [];
  const side = new HttpSide(hub, { ...fakeOptions(lines), ...options });
  hub.jpegSinks.add(side);
  return { side, hub, lines };
}

/** A connection's peer, for {@linkcode request}. */
export function infoFor(
  hostname = "127.0.0.1",
  port = 40000,
): { info: RequestInfo } {
  return { info: { remoteAddr: { transport: "tcp", hostname, port } } };
}

/** The connections of the streams {@linkcode request} opened. */
export const fakeConns = new WeakMap<Response, FakeConn>();

/**
 * Asks `side` for `path` on a fake host, as the wire server would; a
 * granted stream is started on a {@linkcode FakeConn}, whose bytes are
 * the body of the response returned.
 */
export async function request(
  side: HttpSide,
  path: string,
  init: RequestInit = {},
  info: RequestInfo = infoFor().info,
): Promise<Response> {
  const answer = await side.handle(
    new Request(`http://camwire.test${path}`, init),
    info,
  );
  if (answer instanceof Response) return answer;
  const conn = new FakeConn(info.remoteAddr as Deno.NetAddr);
  const viewer = side.startStream(answer, conn as unknown as Deno.Conn);
  side.watch(viewer);
  const response = new Response(conn.readable, {
    status: 200,
    headers: answer.headers,
  });
  fakeConns.set(response, conn);
  return response;
}

/** The bytes `/stream.mjpg` should send for `frame`. */
export function partBytes(frame: HubFrame): Uint8Array {
  const header = new TextEncoder().encode(
    `--${BOUNDARY}\r\nContent-Type: image/jpeg\r\n` +
      `Content-Length: ${frame.jpeg.length}\r\n\r\n`,
  );
  const bytes = new Uint8Array(header.length + frame.jpeg.length + 2);
  bytes.set(header);
  bytes.set(frame.jpeg, header.length);
  bytes.set([13, 10], header.length + frame.jpeg.length);
  return bytes;
}

/**
 * Reads exactly `size` bytes, whatever the chunks.
 *
 * @throws {assert.AssertionError} When a chunk would go past `size` or the
 * body ends first.
 */
export async function readBytes(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  size: number,
): Promise<Uint8Array> {
  const bytes = new Uint8Array(size);
  let have = 0;
  while (have < size) {
    const { value, done } = await reader.read();
    assert.ok(!done, `the body ended after ${have} of ${size} bytes`);
    assert.ok(have + value.length <= size, "a chunk spans two parts");
    bytes.set(value, have);
    have += value.length;
  }
  return bytes;
}

/** Lets queued promise callbacks run (a macrotask turn). */
export function tick(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** An `Authorization` header's value with `token` as a Basic auth password (user `camwire`). */
export function basicAuth(token: string): string {
  return `Basic ${btoa(`camwire:${token}`)}`;
}

/** Request options with `token` as a Basic auth password (user `camwire`). */
export function basic(token: string): RequestInit {
  return { headers: { authorization: basicAuth(token) } };
}
