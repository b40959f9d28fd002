// Copyright 2026 the camwire authors. MIT license.
/**
 * The HTTP side on the wire: camwire's own small HTTP/1.1 server for
 * requests without a body (GET and HEAD, and `POST /controls`, whose
 * values are in its query), on the same listeners, admission and
 * delivery engine as the TCP port. Why not `Deno.serve`: it could not cut a stalled
 * `/stream.mjpg` reader (350 stayed ESTABLISHED, ~183 KB each), it died
 * of EMFILE (an unhandled rejection in its accept loop), it had no header
 * timeout (2,000 slowloris connections stayed 42 s+), and each stream
 * viewer cost 1.9× a TCP viewer per frame through its body streams.
 *
 * Each connection: a place in the pending budget while it owes its TLS
 * handshake and request head (5 s, 8 KiB), then
 * one answer. A stream becomes a {@linkcode Viewer} fed by
 * {@linkcode HttpSide.show}; anything else is answered by the
 * {@linkcode HttpSide} router and the connection closed.
 *
 * @module
 */

import { message } from "../../common/cli.ts";
import { deadline } from "../../common/time.ts";
import { addressOf, type Admission } from "../net/admission.ts";
import {
  type FrameHub,
  type HttpFrontend,
  type HttpOptions,
  HttpSide,
  partOf,
  StreamGrant,
} from "./http.ts";
import {
  errorResponse,
  HttpWireError,
  readRequestHead,
  type RequestHead,
  responseHead,
  serializeResponse,
} from "./wire.ts";
import { holdPlace } from "../viewers/doorway.ts";
import { acceptEach, closeQuietly, listen, peerName } from "../net/net.ts";
import type { LogTally } from "../net/tally.ts";
import type { TrustedProxies } from "../net/proxy.ts";

/**
 * Time a client has for its TLS handshake and whole request head. A
 * browser sends it at once; a slowloris client dripping a byte every 2 s
 * is closed here, never holding a `--max-clients` slot meanwhile.
 */
const HEADER_TIMEOUT_MS = 5000;

/** Options of {@linkcode serveHttp}: the router's, and the door's. */
export interface HttpServeOptions extends HttpOptions {
  /** The server's admission rules. */
  admission: Admission;
  /** Where refusals and bad requests are counted. */
  tally: LogTally;
  /**
   * `--trusted-proxy`: peers whose `X-Forwarded-For` or `Forwarded` names
   * the viewer's address. @default {none}
   */
  trustedProxies?: TrustedProxies;
}

/**
 * Listens and serves the HTTP side: an {@linkcode HttpSide} fed every
 * frame; the server's ticker drops its stalled stream viewers
 * ({@linkcode HttpFrontend.dropStalled}), once a second.
 *
 * @param hub The server's frames and numbers.
 * @param options Address, token, TLS, limits, admission.
 * @returns The running frontend.
 * @throws {CamwireError} When the port cannot be had.
 *
 * @example
 * ```ts ignore
 * const http = serveHttp(hub, { hostname: "127.0.0.1", port: 0, ... });
 * console.log(http.port);
 * await http.close();
 * ```
 */
export function serveHttp(
  hub: FrameHub,
  options: HttpServeOptions,
): HttpFrontend {
  const listener = listen({
    hostname: options.hostname,
    port: options.port,
    tls: options.tls,
    flag: "--http-port",
  });
  const server = new HttpServer(hub, options, listener);
  return {
    port: server.port,
    get viewers() {
      return server.side.viewers;
    },
    dropStalled: () => server.side.dropStalled(),
    close: () => server.close(),
  };
}

/** The HTTP side's listener, connections and stream viewers. */
class HttpServer {
  readonly side: HttpSide;
  readonly port: number;
  #hub: FrameHub;
  #options: HttpServeOptions;
  #listener: Deno.Listener;
  #accepting: Promise<void>;
  /** Connections not (or not yet) stream viewers, closed at shutdown. */
  #open = new Set<Deno.Conn>();
  /** Their tasks, awaited at shutdown. */
  #tasks = new Set<Promise<void>>();
  #closing = false;
  /** Aborted at close: ends the token checks waiting their turn. */
  #stopping = new AbortController();

  constructor(
    hub: FrameHub,
    options: HttpServeOptions,
    listener: Deno.Listener,
  ) {
    this.#hub = hub;
    this.#options = options;
    this.#listener = listener;
    this.port = (listener.addr as Deno.NetAddr).port;
    this.side = new HttpSide(hub, options);
    hub.jpegSinks.add(this.side);
    this.#accepting = acceptEach(listener, (conn) => this.#track(conn), {
      what: `--http-port ${this.port}`,
      log: options.log,
      tally: options.tally,
      closing: () => this.#closing,
    });
  }

  #track(conn: Deno.Conn): void {
    const task = this.#serve(conn).catch((error) => {
      this.#options.tally.note(
        "http failed",
        `camwire: http ${peerName(conn.remoteAddr)} failed: ${message(error)}`,
      );
    }).finally(() => {
      // Still open when the router or a write threw: closed here, not lost.
      if (this.#open.delete(conn)) closeQuietly(conn);
      this.#tasks.delete(task);
    });
    this.#tasks.add(task);
  }

  async #serve(conn: Deno.Conn): Promise<void> {
    const address = addressOf(conn.remoteAddr);
    const name = peerName(conn.remoteAddr);
    const place = holdPlace(
      conn,
      this.#options,
      `http ${name}`,
      "their request",
    );
    this.#open.add(conn);
    let head: RequestHead | null;
    try {
      head = await readRequestHead(conn, HEADER_TIMEOUT_MS);
    } catch (error) {
      place.leave();
      // Closed and counted as such.
      if (place.evicted) return void this.#open.delete(conn);
      return this.#fail(conn, name, address, error);
    }
    place.leave();
    if (head === null || this.#closing) return this.#close(conn);
    const answer = await this.side.handle(this.#request(conn, head), {
      remoteAddr: conn.remoteAddr,
      address: this.#options.trustedProxies?.clientOf(address, head.headers) ??
        address,
      signal: this.#stopping.signal,
    });
    if (answer instanceof StreamGrant) return this.#stream(conn, answer);
    const bytes = await serializeResponse(answer, head.method === "HEAD");
    await this.#write(conn, bytes);
    this.#close(conn);
  }

  /** Closes a connection that is done with, and forgets it. */
  #close(conn: Deno.Conn): void {
    this.#open.delete(conn);
    closeQuietly(conn);
  }

  /** A bad request gets its status and one counted line, never a stack. */
  async #fail(
    conn: Deno.Conn,
    name: string,
    address: string,
    error: unknown,
  ): Promise<void> {
    if (!(error instanceof HttpWireError)) {
      // Reset, or a TLS handshake that failed: nothing to answer.
      this.#close(conn);
      tally(this.#options.tally, "http failed", name, message(error), address);
      return;
    }
    const { status } = error;
    tally(
      this.#options.tally,
      `http ${status}`,
      name,
      `${status} ${error.message}`,
      address,
    );
    if (status !== 408) await this.#write(conn, errorResponse(error));
    this.#close(conn);
  }

  /** The `Request` the router reads, from a parsed head. */
  #request(conn: Deno.Conn, head: RequestHead): Request {
    const scheme = this.#options.tls ? "https" : "http";
    const local = conn.localAddr as Deno.NetAddr;
    // HTTP/1.0 may leave Host out: then this side's own address.
    const host = head.headers.get("host") ??
      (local.hostname.includes(":")
        ? `[${local.hostname}]:${local.port}`
        : `${local.hostname}:${local.port}`);
    return new Request(`${scheme}://${host}${head.target}`, {
      method: head.method,
      headers: head.headers,
    });
  }

  /** Sends a granted stream's 200, then makes it a viewer until it goes. */
  async #stream(conn: Deno.Conn, grant: StreamGrant): Promise<void> {
    if (this.#closing) {
      grant.release();
      return this.#close(conn);
    }
    // The 200 and the newest frame in one write: a page that shows the
    // stream as live once the headers come then has a picture to show.
    const head = responseHead(200, grant.headers);
    const current = this.#hub.current;
    const part = current === null ? new Uint8Array() : partOf(current.jpeg);
    const first = new Uint8Array(head.length + part.length);
    first.set(head);
    first.set(part, head.length);
    if (!(await this.#write(conn, first))) {
      grant.release();
      return this.#close(conn);
    }
    if (current !== null) {
      const totals = this.#hub.totals;
      totals.sent++;
      totals.bytes += part.length;
    }
    if ("setNoDelay" in conn) (conn as Deno.TcpConn).setNoDelay(true);
    this.#open.delete(conn);
    await this.side.watch(this.side.startStream(grant, conn, current));
  }

  /**
   * Writes all of `bytes` within `--client-timeout`, else cuts the
   * connection.
   *
   * @returns Whether it was all written.
   */
  async #write(conn: Deno.Conn, bytes: Uint8Array): Promise<boolean> {
    const timer = setTimeout(
      () => closeQuietly(conn),
      this.#options.clientTimeoutMs,
    );
    try {
      let n = 0;
      while (n < bytes.length) n += await conn.write(bytes.subarray(n));
      return true;
    } catch {
      return false; // gone, or cut at the deadline
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    this.#closing = true;
    this.#stopping.abort();
    this.#hub.jpegSinks.delete(this.side);
    closeQuietly(this.#listener);
    await this.#accepting;
    this.side.dropAll("server stopping");
    for (const conn of this.#open) closeQuietly(conn);
    await deadline(Promise.allSettled([...this.#tasks]), 1000, undefined);
  }
}

function tally(
  to: LogTally,
  kind: string,
  name: string,
  what: string,
  address: string,
): void {
  to.note(kind, `camwire: http ${name}: ${what}`, address);
}
