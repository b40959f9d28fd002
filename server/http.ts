// Copyright 2026 the camwire authors. MIT license.
/**
 * camwire's optional HTTP side (`server.ts --http-port`): the same shared
 * frames as the TCP port, for browsers, VLC, ffplay and OpenCV.
 *
 * - `GET /` — a self-contained page: the live picture and live numbers.
 * - `GET /stream.mjpg` — `multipart/x-mixed-replace` MJPEG, newest frame
 *   first; also `/stream` (ustreamer) and `/?action=stream` (mjpg-streamer).
 * - `GET /snapshot.jpg` — the newest frame; also `/snapshot` and
 *   `/?action=snapshot`.
 * - `GET /stats` — JSON numbers. `GET /metrics` — Prometheus text.
 *
 * With a token, each wants it as a Bearer token, `?token=` or the password
 * of HTTP Basic auth (what Home Assistant and VLC can send).
 *
 * @module
 */

import { deadline } from "../common/time.ts";
import { type Metrics, METRICS_TYPE, renderMetrics } from "./metrics.ts";
import { peerName } from "./net.ts";
import { page } from "./page.ts";
import { dropStalled, type HubFrame, type Stallable } from "./viewers.ts";

/** Multipart boundary of `/stream.mjpg`. */
export const BOUNDARY = "camwireframe";

/** What the HTTP side needs from the server. */
export interface FrameHub {
  /** The newest frame, or `null` before the first. */
  readonly current: HubFrame | null;
  /** Resolves with the first frame whose `seq` is above `seq`. */
  next(seq: number): Promise<HubFrame>;
  /** The server's numbers for `/stats`. */
  stats(): object;
  /** The server's numbers for `/metrics`. */
  metrics(): Metrics;
  /**
   * Asks for a viewer slot under `--max-clients`.
   *
   * @returns A release function, or `null` when the server is full.
   */
  takeSlot(name: string): (() => void) | null;
  /** Viewers of every kind, for log lines. */
  viewerCount(): number;
  /** Called after a stream viewer came or went. */
  viewersChanged(): void;
  /** The frame for a snapshot (starting an idle capture if need be). */
  snapshot(): Promise<HubFrame | null>;
  /** Counts a frame sent to a viewer, after `skipped` it never got. */
  count(skipped: number, bytes: number): void;
}

/** Options of {@linkcode serveHttp}. */
export interface HttpOptions {
  /** The address to listen on. */
  hostname: string;
  /** The port to listen on; 0 for any free one. */
  port: number;
  /**
   * Required, when set, as `Authorization: Bearer`, `?token=` or the
   * password of HTTP Basic auth.
   */
  token: string | undefined;
  /** With `token`: the user name Basic auth must give; any when unset. */
  user?: string | undefined;
  /** `Access-Control-Allow-Origin` of the stream, snapshot and stats. */
  allowOrigin?: string | undefined;
  /** The pickle port, for the page's command lines. */
  picklePort?: number | undefined;
  /** PEM certificate and key: serve https. */
  tls: { cert: string; key: string } | undefined;
  /** Drop a stream viewer that has taken no frame for this long, in ms. */
  clientTimeoutMs: number;
  /** The TCP port, for the page's command line. */
  tcpPort: number;
  /** Where connect, leave and drop lines go. */
  log: (line: string) => void;
  /** Compares tokens in constant time. */
  tokenEquals: (a: string, b: string) => boolean;
}

/** The running HTTP side. */
export interface HttpFrontend {
  /** The port it listens on. */
  readonly port: number;
  /** Number of `/stream.mjpg` viewers. */
  readonly viewers: number;
  /** Stops serving and ends every stream. */
  close(): Promise<void>;
}

const NO_CACHE = {
  "cache-control": "no-store, no-cache, must-revalidate",
  pragma: "no-cache",
};

const CRLF = new TextEncoder().encode("\r\n");

/** Part headers already built, so that each frame has one for all viewers. */
const partHeaders = new WeakMap<HubFrame, Uint8Array>();

/** The part header of a frame, built once and shared by every viewer. */
function partHeaderOf(frame: HubFrame): Uint8Array {
  let header = partHeaders.get(frame);
  if (header === undefined) {
    header = partHeader(frame.jpeg.length);
    partHeaders.set(frame, header);
  }
  return header;
}

/** The bytes that open one multipart part: boundary and headers. */
function partHeader(jpegLength: number): Uint8Array {
  return new TextEncoder().encode(
    `--${BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: ${jpegLength}\r\n\r\n`,
  );
}

/**
 * The HTTP side's router and its stream viewers, without a socket: each
 * `Request` becomes a `Response`, as std's `serveDir(request)`, so it can be
 * served by `Deno.serve` ({@linkcode serveHttp}) or called in-process.
 *
 * @example Unknown paths are 404
 * ```ts
 * import assert from "node:assert/strict";
 * const hub = {
 *   current: null,
 *   next: () => new Promise<never>(() => {}),
 *   stats: () => ({}),
 *   metrics: () => ({
 *     uptimeSeconds: 0, captureState: "live", captureFps: 0,
 *     captureRestarts: 0, framesCaptured: 0, viewers: {}, framesSent: 0,
 *     framesSkipped: 0, bytesSent: 0,
 *   }),
 *   takeSlot: () => () => {},
 *   viewerCount: () => 0,
 *   viewersChanged: () => {},
 *   snapshot: () => Promise.resolve(null),
 *   count: () => {},
 * };
 * const side = new HttpSide(hub, {
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   token: undefined,
 *   tls: undefined,
 *   clientTimeoutMs: 10_000,
 *   tcpPort: 5000,
 *   log: () => {},
 *   tokenEquals: (a, b) => a === b,
 * });
 * const info = {
 *   remoteAddr: { transport: "tcp", hostname: "127.0.0.1", port: 40000 },
 *   completed: Promise.resolve(),
 * } as const;
 * const res = await side.handle(new Request("http://camwire/nope"), info);
 * assert.equal(res.status, 404);
 * await res.body?.cancel();
 * ```
 */
export class HttpSide {
  #hub: FrameHub;
  #options: HttpOptions;
  #streams = new Set<MjpegStream>();

  /**
   * @param hub The server's frames and numbers.
   * @param options The token, limits and log ({@linkcode HttpOptions}).
   */
  constructor(hub: FrameHub, options: HttpOptions) {
    this.#hub = hub;
    this.#options = options;
  }

  /** Number of open `/stream.mjpg` viewers. */
  get viewers(): number {
    return this.#streams.size;
  }

  /**
   * Answers one request.
   *
   * @param request The request.
   * @param info Its connection: the viewer's name, and when it is over.
   * @returns The response; for `/stream.mjpg`, one whose body never ends.
   */
  async handle(
    request: Request,
    info: Deno.ServeHandlerInfo,
  ): Promise<Response> {
    return await this.#route(request, info);
  }

  /**
   * Drops the stream viewers that have not taken a frame for longer than
   * `clientTimeoutMs` ({@linkcode dropStalled}).
   *
   * @param now The time to measure against.
   */
  dropStalled(now: number = performance.now()): void {
    dropStalled(this.#streams, this.#options.clientTimeoutMs, now);
  }

  /**
   * Ends every stream.
   *
   * @param reason For the log lines.
   */
  dropAll(reason: string): void {
    for (const stream of [...this.#streams]) stream.drop(reason);
  }

  async #route(
    request: Request,
    info: Deno.ServeHandlerInfo,
  ): Promise<Response> {
    const options = this.#options;
    const url = new URL(request.url);
    const route = routeOf(url);
    if (route === null) {
      const action = url.pathname === "/" && url.searchParams.get("action");
      return text(
        404,
        action
          ? `Not found: ?action=${action} is not known (stream or snapshot)`
          : "Not found",
      );
    }
    // Cross-origin pages may read only these (see --allow-origin).
    const cors = options.allowOrigin !== undefined &&
        (route === "stream" || route === "snapshot" || route === "stats")
      ? { "access-control-allow-origin": options.allowOrigin }
      : undefined;
    if (request.method === "OPTIONS" && cors) return preflight(cors);
    if (request.method !== "GET" && request.method !== "HEAD") {
      return text(405, "Method not allowed: use GET", { allow: "GET, HEAD" });
    }
    const response = options.token !== undefined &&
        !authorized(request, url, options)
      ? text(
        401,
        "Unauthorized: send the token as a Bearer token, as ?token= " +
          "or as the password of HTTP Basic auth",
        { "www-authenticate": 'Basic realm="camwire"' },
      )
      : await this.#answer(route, url, info, request.method === "HEAD");
    if (cors) {
      response.headers.set(
        "access-control-allow-origin",
        cors["access-control-allow-origin"],
      );
    }
    return response;
  }

  #answer(
    route: Route,
    url: URL,
    info: Deno.ServeHandlerInfo,
    head: boolean,
  ): Response | Promise<Response> {
    switch (route) {
      case "page":
        // Deno.serve drops the body of a HEAD response but keeps its length.
        return new Response(page(url, this.#options), {
          headers: { "content-type": "text/html; charset=utf-8", ...NO_CACHE },
        });
      case "stats":
        return Response.json(this.#hub.stats(), { headers: NO_CACHE });
      case "metrics":
        return new Response(renderMetrics(this.#hub.metrics()), {
          headers: { "content-type": METRICS_TYPE, ...NO_CACHE },
        });
      case "snapshot":
        return snapshotResponse(this.#hub);
      case "stream":
        return this.#streamResponse(info, head);
    }
  }

  #streamResponse(info: Deno.ServeHandlerInfo, head: boolean): Response {
    const hub = this.#hub;
    const headers = {
      "content-type": `multipart/x-mixed-replace; boundary=${BOUNDARY}`,
      ...NO_CACHE,
    };
    if (head) return new Response(null, { headers });
    const name = peerName(info.remoteAddr);
    const release = hub.takeSlot(`http ${name}`);
    if (release === null) return text(503, "Too many viewers (--max-clients)");
    const stream = new MjpegStream(hub, this.#options.log, name, () => {
      this.#streams.delete(stream);
      release();
      hub.viewersChanged();
    });
    this.#streams.add(stream);
    hub.viewersChanged();
    this.#options.log(
      `camwire: http viewer ${name} connected (${hub.viewerCount()} watching)`,
    );
    // Settles (or rejects) when the response is over: the viewer has gone.
    info.completed.catch(() => {}).finally(() => stream.drop("disconnected"));
    return new Response(stream.body, { headers });
  }
}

/**
 * Serves the HTTP side with `Deno.serve`: an {@linkcode HttpSide}, and a
 * sweeper that drops stalled stream viewers every second.
 *
 * @param hub The server's frames and numbers.
 * @param options Address, token, TLS and limits.
 * @returns The running frontend.
 */
export function serveHttp(hub: FrameHub, options: HttpOptions): HttpFrontend {
  const side = new HttpSide(hub, options);
  const serveOptions = {
    hostname: options.hostname,
    port: options.port,
    onListen: () => {},
    ...(options.tls ?? {}),
  };
  const server = Deno.serve(
    serveOptions,
    (request, info) => side.handle(request, info),
  );
  const sweeper = setInterval(() => side.dropStalled(), 1000);
  return {
    port: server.addr.port,
    get viewers() {
      return side.viewers;
    },
    async close() {
      clearInterval(sweeper);
      side.dropAll("server stopping");
      // A stalled viewer would hold a graceful shutdown forever.
      await deadline(server.shutdown(), 1000, undefined);
    },
  };
}

async function snapshotResponse(hub: FrameHub): Promise<Response> {
  const frame = await hub.snapshot();
  if (frame === null) {
    return text(503, "No frame yet: the capture is starting", {
      "retry-after": "1",
    });
  }
  // Deno.serve drops the body of a HEAD response but keeps its length.
  return new Response(frame.jpeg, {
    headers: { "content-type": "image/jpeg", ...NO_CACHE },
  });
}

/** What a request asks for. */
type Route = "page" | "stream" | "snapshot" | "stats" | "metrics";

/**
 * The route of a URL: camwire's own paths, ustreamer's `/stream` and
 * `/snapshot`, and mjpg-streamer's `/?action=stream|snapshot` (its other
 * parameters ignored), or `null` for 404.
 *
 * @param url The request's URL.
 * @returns What it asks for.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(routeOf(new URL("http://cam/?action=stream&n=1")), "stream");
 * assert.equal(routeOf(new URL("http://cam/?action=nope")), null);
 * assert.equal(routeOf(new URL("http://cam/?token=x")), "page");
 * ```
 */
export function routeOf(url: URL): Route | null {
  switch (url.pathname) {
    case "/":
      switch (url.searchParams.get("action")) {
        case null:
          return "page";
        case "stream":
          return "stream";
        case "snapshot":
          return "snapshot";
        default:
          return null;
      }
    case "/stream":
    case "/stream.mjpg":
      return "stream";
    case "/snapshot":
    case "/snapshot.jpg":
      return "snapshot";
    case "/stats":
      return "stats";
    case "/metrics":
      return "metrics";
    default:
      return null;
  }
}

/** A CORS preflight's answer: GET and HEAD, with credentials if need be. */
function preflight(cors: Record<string, string>): Response {
  return new Response(null, {
    status: 204,
    headers: {
      ...cors,
      "access-control-allow-methods": "GET, HEAD",
      "access-control-allow-headers": "authorization",
      "access-control-max-age": "600",
    },
  });
}

/**
 * Whether a request carries the token: as a Bearer token, `?token=`, or
 * the password of Basic auth (with `--user`'s name, when given). Every
 * credential given is compared, each in constant time, so that the time
 * taken does not tell which one was nearly right.
 */
function authorized(
  request: Request,
  url: URL,
  options: HttpOptions,
): boolean {
  const token = options.token!;
  const equals = options.tokenEquals;
  const header = request.headers.get("authorization") ?? "";
  const [, scheme = "", value = ""] = header.match(/^\s*(\S+)\s+(\S+)\s*$/) ??
    [];
  let ok = false;
  if (/^bearer$/i.test(scheme)) ok = equals(value, token);
  if (/^basic$/i.test(scheme)) {
    const pair = basicCredentials(value);
    if (pair !== undefined) {
      const [user, password] = pair;
      const userOk = options.user === undefined || equals(user, options.user);
      ok = equals(password, token) && userOk;
    }
  }
  const query = url.searchParams.get("token");
  if (query !== null) ok = equals(query, token) || ok;
  return ok;
}

/**
 * The user and password of a Basic credential (RFC 7617: base64 of
 * `user:password`, UTF-8), or `undefined` when malformed.
 */
function basicCredentials(value: string): [string, string] | undefined {
  let decoded: string;
  try {
    const binary = atob(value);
    const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
    decoded = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
  const colon = decoded.indexOf(":");
  if (colon === -1) return undefined;
  return [decoded.slice(0, colon), decoded.slice(colon + 1)];
}

function text(
  status: number,
  body: string,
  headers: Record<string, string> = {},
): Response {
  return new Response(body + "\n", {
    status,
    headers: { "content-type": "text/plain; charset=utf-8", ...headers },
  });
}

/**
 * One `/stream.mjpg` viewer. The body stream is pulled by Deno's HTTP
 * writer only when the socket can take more, so a slow viewer's pull comes
 * late and gets the newest frame then: the frames in between are skipped,
 * never queued (latest-frame-wins, as for TCP viewers).
 */
class MjpegStream implements Stallable {
  readonly body: ReadableStream<Uint8Array>;
  #hub: FrameHub;
  #log: (line: string) => void;
  #name: string;
  #onEnd: () => void;
  #lastSeq = 0;
  #busySince = 0;
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  #ended = false;

  constructor(
    hub: FrameHub,
    log: (line: string) => void,
    name: string,
    onEnd: () => void,
  ) {
    this.#hub = hub;
    this.#log = log;
    this.#name = name;
    this.#onEnd = onEnd;
    this.#lastSeq = (hub.current?.seq ?? 1) - 1; // start with the newest
    this.body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#controller = controller;
      },
      pull: () => this.#pull(),
      cancel: () => this.drop("disconnected"),
    }, { highWaterMark: 0 });
  }

  /**
   * When the writer was handed the frame it has not finished with (it has
   * not asked for the next), or 0 while it waits for a frame.
   */
  get busySince(): number {
    return this.#busySince;
  }

  async #pull(): Promise<void> {
    if (this.#ended) return;
    this.#busySince = 0;
    const frame = await this.#hub.next(this.#lastSeq);
    if (this.#ended) return;
    const skipped = this.#lastSeq === 0 ? 0 : frame.seq - this.#lastSeq - 1;
    this.#lastSeq = frame.seq;
    // Three shared buffers per frame: no copy of the JPEG per viewer.
    this.#controller.enqueue(partHeaderOf(frame));
    this.#controller.enqueue(frame.jpeg);
    this.#controller.enqueue(CRLF);
    this.#hub.count(skipped, frame.jpeg.length);
    this.#busySince = performance.now();
  }

  /**
   * Ends the stream: no more frames for this viewer. Deno.serve offers no
   * way to cut a connection whose writes are stuck; erroring the body
   * would only print the error once the stuck write ends. So the body is
   * closed: a stalled viewer's connection holds what it already has in
   * its buffers (bounded by --send-queue) until it reads or goes away.
   */
  drop(reason: string): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#onEnd();
    try {
      this.#controller.close();
    } catch {
      // Already closed.
    }
    this.#log(
      `camwire: http viewer ${this.#name} left: ${reason} ` +
        `(${this.#hub.viewerCount()} watching)`,
    );
  }
}
