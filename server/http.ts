// Copyright 2026 the camwire authors. MIT license.
/**
 * camwire's optional HTTP side (`server.ts --http-port`): the same shared
 * frames as the TCP port, for browsers, VLC, ffplay and OpenCV.
 *
 * - `GET /` — a self-contained page: the live picture and live numbers.
 * - `GET /stream.mjpg` — `multipart/x-mixed-replace` MJPEG, newest frame first.
 * - `GET /snapshot.jpg` — the newest frame.
 * - `GET /stats` — JSON numbers.
 *
 * @module
 */

import { deadline } from "../common/time.ts";
import { peerName } from "./net.ts";
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
  /** Required as `Authorization: Bearer` or `?token=`, when set. */
  token: string | undefined;
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

  #route(
    request: Request,
    info: Deno.ServeHandlerInfo,
  ): Response | Promise<Response> {
    const options = this.#options;
    const url = new URL(request.url);
    const paths = ["/", "/stream.mjpg", "/snapshot.jpg", "/stats"];
    if (!paths.includes(url.pathname)) return text(404, "Not found");
    if (request.method !== "GET" && request.method !== "HEAD") {
      return text(405, "Method not allowed: use GET", { allow: "GET, HEAD" });
    }
    if (options.token !== undefined && !authorized(request, url, options)) {
      return text(
        401,
        "Unauthorized: send the token as a Bearer token or ?token=",
        {
          "www-authenticate": 'Bearer realm="camwire"',
        },
      );
    }
    const head = request.method === "HEAD";
    switch (url.pathname) {
      case "/":
        // Deno.serve drops the body of a HEAD response but keeps its length.
        return new Response(page(url, options), {
          headers: { "content-type": "text/html; charset=utf-8", ...NO_CACHE },
        });
      case "/stats":
        return Response.json(this.#hub.stats(), { headers: NO_CACHE });
      case "/snapshot.jpg":
        return snapshotResponse(this.#hub);
      default:
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

function authorized(
  request: Request,
  url: URL,
  options: HttpOptions,
): boolean {
  const bearer = request.headers.get("authorization")?.match(
    /^Bearer\s+(\S+)$/i,
  )?.[1];
  const given = bearer ?? url.searchParams.get("token") ?? "";
  return options.tokenEquals(given, options.token!);
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

function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The viewer page: no external assets, numbers refreshed every second. */
function page(url: URL, options: HttpOptions): string {
  const token = url.searchParams.get("token");
  const query = token === null ? "" : `?token=${encodeURIComponent(token)}`;
  const host = url.hostname;
  const command =
    `deno run -A client.ts --host ${host} --port ${options.tcpPort}` +
    (options.tls ? " --tls" : "") + (options.token ? " --token …" : "");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>camwire ${escapeHtml(url.host)}</title>
<style>
  body { font: 15px/1.4 system-ui, sans-serif; margin: 0; background: #111; color: #ddd; }
  main { max-width: 960px; margin: 0 auto; padding: 16px; }
  img { width: 100%; image-rendering: auto; background: #000; display: block; }
  code { background: #222; padding: 2px 6px; border-radius: 4px; }
  dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; }
  dt { color: #888; }
</style>
</head>
<body>
<main>
  <h1>camwire <small>${escapeHtml(url.host)}</small></h1>
  <img id="live" src="/stream.mjpg${
    escapeHtml(query)
  }" alt="live camera stream">
  <p>TCP viewers: <code>${escapeHtml(command)}</code></p>
  <dl id="stats">
    <dt>source</dt><dd id="source">…</dd>
    <dt>viewers</dt><dd id="viewers">…</dd>
    <dt>frames per second</dt><dd id="fps">…</dd>
    <dt>sent</dt><dd id="kbps">…</dd>
    <dt>latency</dt><dd id="latency">…</dd>
    <dt>uptime</dt><dd id="uptime">…</dd>
  </dl>
</main>
<script>
const query = ${JSON.stringify(query)};
const show = (id, value) => { document.getElementById(id).textContent = value; };
function readStamp(bytes) {
  if (bytes[2] !== 0xff || bytes[3] !== 0xfe) return undefined;
  const end = 4 + ((bytes[4] << 8) | bytes[5]);
  const text = new TextDecoder().decode(bytes.subarray(6, end));
  return text.startsWith("camwire t=") ? Number(text.slice(10)) : undefined;
}
async function refresh() {
  try {
    const stats = await (await fetch("/stats" + query)).json();
    show("source", stats.source + " (" + stats.state + ")");
    show("viewers", stats.viewers.tcp + " tcp, " + stats.viewers.http + " http");
    show("fps", stats.fpsIn.toFixed(1) + " captured");
    show("kbps", Math.round(stats.kbitPerSecondOut) + " kbit/s, " +
      stats.framesSent + " frames (" + stats.framesSkipped + " skipped for slow viewers)");
    show("uptime", Math.round(stats.uptimeSeconds) + " s");
    const snapshot = new Uint8Array(await (await fetch("/snapshot.jpg" + query)).arrayBuffer());
    const stamp = readStamp(snapshot);
    show("latency", stamp === undefined ? "no capture stamp"
      : (Date.now() - stamp).toFixed(0) + " ms from capture to this page (snapshot)");
  } catch (error) {
    show("source", "server unreachable: " + error.message);
  }
}
refresh();
setInterval(refresh, 1000);
</script>
</body>
</html>
`;
}
