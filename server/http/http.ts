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
 * - `GET /controls` — the camera's controls (JSON); `POST
 *   /controls?NAME=VALUE` changes them, only with the token
 *   (server/http/controls.ts says why).
 *
 * With a token, each wants it as a Bearer token, `?token=` or the password
 * of HTTP Basic auth (what Home Assistant and VLC can send), checked by the
 * same rules as the TCP port's token line (`Admission.checkToken`: a wrong
 * token sent before is refused at once, new ones are spaced out per
 * address, 429 past that).
 *
 * @module
 */

import type { DeliveryTotals } from "../../common/latest.ts";
import { multipartPart } from "../../common/multipart.ts";
import { type Metrics, METRICS_TYPE, renderMetrics } from "./metrics.ts";
import { answerControls, type CameraControls } from "./controls.ts";
import { addressOf, Admission, type Presented } from "../net/admission.ts";
import { peerName } from "../net/net.ts";
import { page } from "./page.ts";
import type { DirectSender } from "../net/sockets.ts";
import {
  dropStalled,
  HALF_CLOSED,
  type HubFrame,
  type JpegSink,
  Viewer,
  ViewerInput,
} from "../viewers/viewers.ts";

/** Multipart boundary of `/stream.mjpg`. */
export const BOUNDARY = "camwireframe";

/** What the HTTP side needs from the server. */
export interface FrameHub {
  /** The newest frame, or `null` before the first. */
  readonly current: HubFrame | null;
  /** Where the HTTP side is shown each frame, as the preview is. */
  readonly jpegSinks: Set<JpegSink>;
  /** Synchronous sends, shared with the TCP viewers (`null`: none). */
  readonly direct: DirectSender | null;
  /** Delivery counters shared with every other viewer. */
  readonly totals: DeliveryTotals;
  /** The server's numbers for `/stats`. */
  stats(): object;
  /** The server's numbers for `/metrics`. */
  metrics(): Metrics;
  /**
   * Asks for a viewer slot under `--max-clients` and
   * `--max-clients-per-ip`.
   *
   * @param name For the refusal's log line.
   * @param address The viewer's address.
   * @returns A release function, or `null` when the server is full.
   */
  takeSlot(name: string, address: string): (() => void) | null;
  /** Viewers of every kind, for log lines. */
  viewerCount(): number;
  /** Called after a stream viewer came or went. */
  viewersChanged(): void;
  /** The frame for a snapshot (starting an idle capture if need be). */
  snapshot(): Promise<HubFrame | null>;
  /** The camera's controls; none when the source is not a V4L2 camera. */
  controls?: CameraControls | undefined;
}

/** Options of {@linkcode HttpSide}, the router. */
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
  /**
   * The token rules per address, shared with the other ports.
   * @default {a fresh Admission of this side's own}
   */
  admission?: Admission;
}

/** The running HTTP side. */
export interface HttpFrontend {
  /** The port it listens on. */
  readonly port: number;
  /** Number of `/stream.mjpg` viewers. */
  readonly viewers: number;
  /**
   * Drops the stream viewers whose frame has not gone out for longer than
   * `--client-timeout`: the server's once-a-second ticker calls it, so
   * that the HTTP side adds no timer of its own.
   */
  dropStalled(): void;
  /** Stops serving and ends every stream. */
  close(): Promise<void>;
}

const NO_CACHE = {
  "cache-control": "no-store, no-cache, must-revalidate",
  pragma: "no-cache",
};

/** The part last built and its JPEG: each frame's part is built once. */
let lastPart: { jpeg: Uint8Array; part: Uint8Array } | null = null;

/**
 * One multipart part of a JPEG ({@linkcode multipartPart}) built once per frame and shared by every stream viewer, so
 * that each gets it with one `send(2)`, as a TCP viewer gets its frame.
 * The copy costs one JPEG (8 KB) per frame, not per viewer.
 *
 * @param jpeg The frame's JPEG.
 * @returns The part.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const part = partOf(new Uint8Array([0xff, 0xd8, 0xff, 0xd9]));
 * assert.match(new TextDecoder().decode(part), /Content-Length: 4\r\n\r\n/);
 * assert.equal(partOf(new Uint8Array(4)) === part, false);
 * ```
 */
export function partOf(jpeg: Uint8Array): Uint8Array {
  // Asked for the newest frame only (each frame's show(), a new stream's
  // first frame): one entry is the whole cache.
  if (lastPart?.jpeg !== jpeg) {
    lastPart = { jpeg, part: multipartPart(jpeg, BOUNDARY) };
  }
  return lastPart.part;
}

/**
 * A `/stream.mjpg` request that may stream: its slot is taken. The server
 * sends `headers` with a 200, then hands the connection to
 * {@linkcode HttpSide.startStream}; or calls `release` if it cannot.
 */
export class StreamGrant {
  /** The headers of the 200. */
  readonly headers: Headers;
  /** The viewer's name, `host:port`. */
  readonly name: string;
  /** Gives the slot back (once). */
  readonly release: () => void;

  /**
   * @param headers The headers of the 200.
   * @param name The viewer's name.
   * @param release Gives the slot back.
   */
  constructor(headers: Headers, name: string, release: () => void) {
    this.headers = headers;
    this.name = name;
    this.release = release;
  }
}

/** The connection a request came on, as {@linkcode HttpSide.handle} needs it. */
export interface RequestInfo {
  /** The peer. */
  remoteAddr: Deno.Addr;
  /**
   * The viewer's address, when a trusted proxy named it (`--trusted-proxy`):
   * what the token rules, `--max-clients-per-ip` and the log go by.
   * @default {the peer's}
   */
  address?: string;
  /** Ends a token check's wait: the server stops. */
  signal?: AbortSignal;
}

/**
 * The HTTP side's router and its stream viewers, without a socket: each
 * `Request` becomes a `Response` (as std's `serveDir(request)`), or, for a
 * stream, a {@linkcode StreamGrant}; server/http/serve.ts puts it on the
 * wire. Stream viewers are {@linkcode Viewer}s, as TCP viewers are: each
 * frame's part is built once ({@linkcode partOf}) and offered to every one
 * of them, newest first, with one synchronous `send(2)` where it can.
 *
 * @example Unknown paths are 404
 * ```ts
 * import assert from "node:assert/strict";
 * const hub = {
 *   current: null,
 *   jpegSinks: new Set<{ show(jpeg: Uint8Array): void }>(),
 *   direct: null,
 *   totals: { sent: 0, skipped: 0, bytes: 0 },
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
 * } as const;
 * const res = await side.handle(new Request("http://camwire/nope"), info);
 * assert.ok(res instanceof Response);
 * assert.equal(res.status, 404);
 * await res.body?.cancel();
 * ```
 */
export class HttpSide implements JpegSink {
  #hub: FrameHub;
  #options: HttpOptions;
  #admission: Admission;
  #streams = new Set<Viewer>();

  /**
   * @param hub The server's frames and numbers.
   * @param options The token, limits and log ({@linkcode HttpOptions}).
   */
  constructor(hub: FrameHub, options: HttpOptions) {
    this.#hub = hub;
    this.#options = options;
    this.#admission = options.admission ?? new Admission({ maxPerAddress: 0 });
  }

  /** Number of open `/stream.mjpg` viewers. */
  get viewers(): number {
    return this.#streams.size;
  }

  /**
   * Starts a granted stream on its connection, whose 200 has been sent:
   * from now on it gets the newest frame's part at each frame, and is
   * dropped (its connection closed) when a send fails or stalls.
   *
   * @param grant What {@linkcode HttpSide.handle} gave.
   * @param conn The viewer's connection.
   * @param sent The frame already sent with the 200, if any: the next
   * frame is the first it is offered.
   * @returns The viewer; it leaves by itself (see {@linkcode Viewer.watch}).
   */
  startStream(
    grant: StreamGrant,
    conn: Deno.Conn,
    sent: HubFrame | null = null,
  ): Viewer {
    const hub = this.#hub;
    const viewer = new Viewer(conn, (v, reason) => {
      v.close();
      if (!this.#streams.delete(v)) return;
      grant.release();
      hub.viewersChanged();
      this.#options.log(
        `camwire: http viewer ${grant.name} left: ${reason} ` +
          `(${hub.viewerCount()} watching)`,
      );
    }, hub.totals);
    if (hub.direct !== null && !("handshake" in conn)) {
      viewer.sendDirectly(hub.direct);
    }
    this.#streams.add(viewer);
    hub.viewersChanged();
    this.#options.log(
      `camwire: http viewer ${grant.name} connected (${hub.viewerCount()} watching)`,
    );
    const current = hub.current;
    if (current !== null && current !== sent) {
      viewer.sender.offer(partOf(current.jpeg));
    }
    return viewer;
  }

  /**
   * Watches a stream viewer's input until it goes, then drops it. Unlike a
   * TCP viewer, an HTTP client that ends its input has gone (browsers and
   * players close, they do not half-close), as it was under `Deno.serve`.
   *
   * @param viewer What {@linkcode HttpSide.startStream} returned.
   * @returns Resolves once the viewer is dropped.
   */
  async watch(viewer: Viewer): Promise<void> {
    const reason = await new ViewerInput(viewer.conn).watch();
    viewer.drop(reason === HALF_CLOSED ? "disconnected" : reason);
  }

  /**
   * Offers a frame to every stream viewer: its part built once.
   *
   * @param jpeg The frame's JPEG.
   */
  show(jpeg: Uint8Array): void {
    if (this.#streams.size === 0) return;
    const part = partOf(jpeg);
    for (const viewer of this.#streams) viewer.sender.offer(part);
  }

  /**
   * Drops the stream viewers whose frame has not gone out for longer than
   * `clientTimeoutMs` ({@linkcode dropStalled}): their connections closed.
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
    for (const viewer of [...this.#streams]) viewer.drop(reason);
  }

  /**
   * Answers one request.
   *
   * @param request The request.
   * @param info Its connection: the viewer's address.
   * @returns The response; for a `/stream.mjpg` that may stream, a
   * {@linkcode StreamGrant} holding its slot.
   */
  async handle(
    request: Request,
    info: RequestInfo,
  ): Promise<Response | StreamGrant> {
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
    if (
      request.method !== "GET" && request.method !== "HEAD" &&
      !(request.method === "POST" && route === "controls")
    ) {
      return route === "controls"
        ? text(405, "Method not allowed: use GET or POST", {
          allow: "GET, HEAD, POST",
        })
        : text(405, "Method not allowed: use GET", { allow: "GET, HEAD" });
    }
    const response = await this.#refusal(request, url, info) ??
      await this.#answer(route, request, url, info);
    if (cors) {
      response.headers.set(
        "access-control-allow-origin",
        cors["access-control-allow-origin"],
      );
    }
    return response;
  }

  /**
   * The answer to a request without the right token, or `null` when it
   * may have what it asks for (or no token is needed).
   */
  async #refusal(
    request: Request,
    url: URL,
    info: RequestInfo,
  ): Promise<Response | null> {
    const options = this.#options;
    if (options.token === undefined) return null;
    const presented = credentials(request, url, options);
    // No credential at all is no guess: the browser's first request.
    const verdict = presented === null ? "none" : await this.#admission
      .checkToken(addressOfRequest(info), presented, info.signal);
    switch (verdict) {
      case "right":
        return null;
      case "slowed down":
        return text(
          429,
          "Too many wrong tokens from your address: try again later",
          { "retry-after": "4" },
        );
      case "gone":
        return text(503, "The server is stopping");
      default:
        return text(
          401,
          "Unauthorized: send the token as a Bearer token, as ?token= " +
            "or as the password of HTTP Basic auth",
          { "www-authenticate": 'Basic realm="camwire"' },
        );
    }
  }

  #answer(
    route: Route,
    request: Request,
    url: URL,
    info: RequestInfo,
  ): Response | StreamGrant | Promise<Response> {
    const head = request.method === "HEAD";
    switch (route) {
      case "page":
        // The wire keeps the length of a HEAD response's body, not the body.
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
        return this.#streamGrant(info, head);
      case "controls":
        return answerControls({
          method: request.method,
          url,
          origin: request.headers.get("origin"),
          host: request.headers.get("host"),
          tokenGiven: this.#options.token !== undefined,
          allowOrigin: this.#options.allowOrigin,
          secure: this.#options.tls !== undefined,
        }, this.#hub.controls);
    }
  }

  #streamGrant(info: RequestInfo, head: boolean): Response | StreamGrant {
    const headers = new Headers({
      "content-type": `multipart/x-mixed-replace; boundary=${BOUNDARY}`,
      ...NO_CACHE,
    });
    if (head) return new Response(null, { headers });
    const name = nameOfRequest(info);
    const address = addressOfRequest(info);
    const release = this.#hub.takeSlot(`http ${name}`, address);
    if (release === null) return text(503, "Too many viewers (--max-clients)");
    return new StreamGrant(headers, name, release);
  }
}

async function snapshotResponse(hub: FrameHub): Promise<Response> {
  const frame = await hub.snapshot();
  if (frame === null) {
    return text(503, "No frame yet: the capture is starting", {
      "retry-after": "1",
    });
  }
  // The wire keeps the length of a HEAD response's body, not the body.
  return new Response(frame.jpeg, {
    headers: { "content-type": "image/jpeg", ...NO_CACHE },
  });
}

/** What a request asks for. */
type Route =
  | "page"
  | "stream"
  | "snapshot"
  | "stats"
  | "metrics"
  | "controls";

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
    case "/controls":
      return "controls";
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
 * The credentials a request presents — a Bearer token, the password of
 * Basic auth (with `--user`'s name, when given), `?token=` —, compared:
 * right when one of them is the token. Every one given is compared, each
 * in constant time, so that the time taken does not tell which one was
 * nearly right. `null` when it presents none (a malformed Basic header is
 * none either: it cannot be right).
 */
function credentials(
  request: Request,
  url: URL,
  options: HttpOptions,
): Presented | null {
  const token = options.token!;
  const equals = options.tokenEquals;
  const header = request.headers.get("authorization") ?? "";
  const [, scheme = "", value = ""] = header.match(/^\s*(\S+)\s+(\S+)\s*$/) ??
    [];
  const sent: (string | null)[] = [null, null, null, null];
  let ok = false;
  if (/^bearer$/i.test(scheme)) {
    sent[0] = value;
    ok = equals(value, token);
  }
  if (/^basic$/i.test(scheme)) {
    const pair = basicCredentials(value);
    if (pair !== undefined) {
      const [user, password] = pair;
      [sent[1], sent[2]] = pair;
      const userOk = options.user === undefined || equals(user, options.user);
      ok = equals(password, token) && userOk;
    }
  }
  const query = url.searchParams.get("token");
  if (query !== null) {
    sent[3] = query;
    ok = equals(query, token) || ok;
  }
  if (sent.every((part) => part === null)) return null;
  return { right: ok, sent: JSON.stringify(sent) };
}

/** The viewer's address: the one a trusted proxy named, else the peer's. */
function addressOfRequest(info: RequestInfo): string {
  return info.address ?? addressOf(info.remoteAddr);
}

/** The viewer's name for the log: `host:port`, or `address via host:port`. */
function nameOfRequest(info: RequestInfo): string {
  const peer = peerName(info.remoteAddr);
  const address = info.address;
  return address === undefined || address === addressOf(info.remoteAddr)
    ? peer
    : `${address} via ${peer}`;
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
