// Copyright 2026 the camwire authors. MIT license.
/**
 * A running camwire server: accepts TCP viewers and admits them under
 * `--max-clients` and `--token`, drives the HTTP side, on-demand capture,
 * rates and the status line, the preview window, and the shutdown.
 *
 * @module
 */

import { message, seconds } from "../common/cli.ts";
import { endProcess } from "../common/child.ts";
import { LatestFrameSender } from "../common/latest.ts";
import { ffplayArgs } from "../common/ffplay.ts";
import type { CaptureState, CaptureSupervisor, Timer } from "./capture.ts";
import type { Publisher } from "./publish.ts";
import {
  type Broadcaster,
  closeQuietly,
  constantTimeEqual,
  TOKEN_TIMEOUT_MS,
  Viewer,
  ViewerInput,
} from "./viewers.ts";
import { limitSendQueue } from "./sockets.ts";
import {
  type FrameHub,
  type HttpFrontend,
  type HubFrame,
  serveHttp,
} from "./http.ts";

/** A running camwire server, as {@linkcode startServer} returns it. */
export interface CamwireServer {
  /** The address the listener is bound to. */
  addr: Deno.NetAddr;
  /** The source in use, e.g. `test pattern (testsrc2)`. */
  sourceName: string;
  /** Number of connected viewers. */
  readonly viewers: number;
  /** Frames captured so far. */
  readonly framesIn: number;
  /** The HTTP port, when `httpPort` was given. */
  readonly httpPort: number | undefined;
  /** Process id of the current ffmpeg, if one runs. */
  readonly ffmpegPid: number | undefined;
  /**
   * Settles when the server stops by itself: resolves when the source ended
   * (with `exitOnSourceEnd`, or stdin), rejects on a failure.
   */
  done: Promise<void>;
  /** Stops listening, closes every viewer and ends ffmpeg. */
  close(): Promise<void>;
}

export function boundSendQueue(
  port: number,
  bytes: number,
  log: (line: string) => void,
): void {
  if (bytes <= 0) return;
  const why = limitSendQueue(port, bytes);
  if (why !== "") {
    log(
      `camwire: cannot bound the send queue of port ${port} (${why}): slow viewers may see frames seconds late`,
    );
  }
}

/** The numbers of `GET /stats`. */
export interface ServerStats {
  uptimeSeconds: number;
  /** e.g. `test pattern (testsrc2)`. */
  source: string;
  /** See {@linkcode CaptureState}. */
  state: CaptureState;
  /** Frames captured in the last second. */
  fpsIn: number;
  framesIn: number;
  viewers: { tcp: number; http: number };
  framesSent: number;
  framesSkipped: number;
  kbitPerSecondOut: number;
}

export interface ServerSettings {
  /** The TCP port speaks TLS: never write to its sockets directly. */
  tls: boolean;
  sendQueue: number;
  onDemand: boolean;
  idleStopMs: number;
  publishers: Publisher[];
  http:
    | {
      hostname: string;
      port: number;
      tls: { cert: string; key: string } | undefined;
    }
    | undefined;
  sourceName: string;
  clientTimeoutMs: number;
  maxClients: number;
  token: string | undefined;
  log: (line: string) => void;
}

/** How often the server logs its numbers. */
const STATUS_EVERY_S = 10;

export class Server implements CamwireServer {
  readonly addr: Deno.NetAddr;
  readonly sourceName: string;
  readonly done: Promise<void>;
  /** The HTTP side, when `--http-port` is given. */
  readonly http: HttpFrontend | null = null;
  #listener: Deno.Listener;
  #broadcaster: Broadcaster;
  #supervisor: CaptureSupervisor;
  #settings: ServerSettings;
  #log: (line: string) => void;
  /** Connections that have yet to send their token. */
  #awaitingToken = new Set<Deno.Conn>();
  /** Connections holding a slot under --max-clients (TCP and HTTP). */
  #connections = 0;
  #closing: Promise<void> | null = null;
  #preview: { child: Deno.ChildProcess; sink: LatestFrameSender } | null = null;
  #accepting: Promise<void>;
  #ticker: Timer;
  #startedAt = performance.now();
  /** Per-second rates, and the counts they were last computed from. */
  #rates = { fpsIn: 0, kbitOut: 0, framesIn: 0, bytes: 0, ticks: 0 };
  #lastStatus = { framesIn: 0, sent: 0, skipped: 0, bytes: 0 };
  /** --on-demand: camera switches, one after the other. */
  #demand: Promise<void> = Promise.resolve();
  #idleTimer: Timer | undefined;
  /** Snapshot requests waiting for the capture to start. */
  #snapshotters = 0;

  constructor(
    listener: Deno.Listener,
    broadcaster: Broadcaster,
    supervisor: CaptureSupervisor,
    settings: ServerSettings,
  ) {
    this.#listener = listener;
    this.addr = listener.addr as Deno.NetAddr;
    this.#broadcaster = broadcaster;
    this.#supervisor = supervisor;
    this.#settings = settings;
    this.sourceName = settings.sourceName;
    this.#log = settings.log;
    // The HTTP side first: if its port is taken, nothing else has started.
    if (settings.http) {
      this.http = serveHttp(this.#hub(), {
        ...settings.http,
        token: settings.token,
        clientTimeoutMs: settings.clientTimeoutMs,
        tcpPort: this.addr.port,
        log: settings.log,
        tokenEquals: constantTimeEqual,
      });
      // HTTP viewers, too, must block early and skip frames when slow.
      boundSendQueue(this.http.port, settings.sendQueue, settings.log);
    }
    this.#accepting = this.#acceptLoop();
    this.#ticker = setInterval(() => this.#tick(), 1000);
    this.done = supervisor.ended.finally(() => this.close());
    this.done.catch(() => {}); // observed by whoever awaits it
  }

  get viewers(): number {
    return this.#broadcaster.viewers.size + (this.http?.viewers ?? 0);
  }

  get framesIn(): number {
    return this.#broadcaster.framesIn;
  }

  get httpPort(): number | undefined {
    return this.http?.port;
  }

  get ffmpegPid(): number | undefined {
    return this.#supervisor.pid;
  }

  /** What the HTTP side reads and counts through. */
  #hub(): FrameHub {
    const broadcaster = this.#broadcaster;
    return {
      get current() {
        return broadcaster.current;
      },
      next: (seq) => broadcaster.next(seq),
      stats: () => this.stats(),
      viewerCount: () => this.viewers,
      viewersChanged: () => this.#viewersChanged(),
      snapshot: () => this.#snapshot(),
      admit: (name) => this.#takeSlot(name) ? () => this.#connections-- : null,
      count: (skipped, bytes) => {
        broadcaster.totals.sent++;
        broadcaster.totals.skipped += skipped;
        broadcaster.totals.bytes += bytes;
      },
    };
  }

  /** The numbers of `/stats`. */
  stats(): ServerStats {
    const totals = this.#broadcaster.totals;
    return {
      uptimeSeconds: (performance.now() - this.#startedAt) / 1000,
      source: this.sourceName,
      state: this.#supervisor.state,
      fpsIn: this.#rates.fpsIn,
      framesIn: this.#broadcaster.framesIn,
      viewers: {
        tcp: this.#broadcaster.viewers.size,
        http: this.http?.viewers ?? 0,
      },
      framesSent: totals.sent,
      framesSkipped: totals.skipped,
      kbitPerSecondOut: this.#rates.kbitOut,
    };
  }

  /** Once a second: drop stalled viewers, update rates, log now and then. */
  #tick(): void {
    this.#dropStalledViewers();
    const rates = this.#rates;
    const framesIn = this.#broadcaster.framesIn;
    const bytes = this.#broadcaster.totals.bytes;
    rates.fpsIn = framesIn - rates.framesIn;
    rates.kbitOut = (bytes - rates.bytes) * 8 / 1000;
    rates.framesIn = framesIn;
    rates.bytes = bytes;
    if (++rates.ticks % STATUS_EVERY_S === 0) this.#logStatus();
  }

  #logStatus(): void {
    const totals = this.#broadcaster.totals;
    const last = this.#lastStatus;
    const s = STATUS_EVERY_S;
    const fpsIn = (this.#broadcaster.framesIn - last.framesIn) / s;
    const viewers = this.viewers;
    const fpsOut = viewers === 0 ? 0 : (totals.sent - last.sent) / s / viewers;
    const kbit = Math.round((totals.bytes - last.bytes) * 8 / 1000 / s);
    this.#log(
      `camwire: ${viewers} viewers, ${fpsIn.toFixed(1)} fps in, ` +
        `${fpsOut.toFixed(1)} fps out per viewer, ${kbit} kbit/s out, ` +
        `${totals.skipped - last.skipped} frames skipped for slow viewers ` +
        `(last ${s} s)`,
    );
    this.#lastStatus = {
      framesIn: this.#broadcaster.framesIn,
      sent: totals.sent,
      skipped: totals.skipped,
      bytes: totals.bytes,
    };
  }

  async #acceptLoop(): Promise<void> {
    while (true) {
      let conn: Deno.Conn;
      try {
        conn = await this.#listener.accept();
      } catch (error) {
        if (this.#closing || error instanceof Deno.errors.BadResource) return;
        // Out of fds, say: wait a little rather than spin on the error.
        this.#log(`camwire: accept failed: ${message(error)}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
        continue;
      }
      this.#admit(conn).catch((error) => {
        this.#log(`camwire: viewer failed: ${message(error)}`);
      });
    }
  }

  /**
   * The newest frame for `/snapshot.jpg`. With --on-demand and the capture
   * off, the request counts as a viewer until a frame comes (at most 5 s),
   * and the capture then stays on for --idle-stop, as after any viewer.
   */
  async #snapshot(): Promise<HubFrame | null> {
    const current = this.#broadcaster.current;
    if (current !== null || !this.#settings.onDemand) return current;
    this.#snapshotters++;
    this.#viewersChanged();
    let timer: Timer | undefined;
    try {
      return await Promise.race([
        this.#broadcaster.next(0),
        new Promise<null>((resolve) => timer = setTimeout(resolve, 5000, null)),
      ]);
    } finally {
      clearTimeout(timer);
      this.#snapshotters--;
      this.#viewersChanged();
    }
  }

  /**
   * With --on-demand: the first viewer starts the capture; when the last
   * one has been gone for --idle-stop, it stops. Switches run one after
   * the other, so a viewer who arrives while ffmpeg is stopping gets it
   * started again right after.
   */
  #viewersChanged(): void {
    if (!this.#settings.onDemand || this.#closing) return;
    if (this.#demanders > 0) {
      clearTimeout(this.#idleTimer);
      this.#idleTimer = undefined;
      this.#switchCamera(true);
    } else if (this.#idleTimer === undefined) {
      this.#idleTimer = setTimeout(() => {
        this.#idleTimer = undefined;
        this.#switchCamera(false);
      }, this.#settings.idleStopMs);
    }
  }

  /** Whoever needs the capture on: viewers and waiting snapshots. */
  get #demanders(): number {
    return this.viewers + this.#snapshotters;
  }

  #switchCamera(on: boolean): void {
    this.#demand = this.#demand.then(async () => {
      if (this.#closing) return;
      const supervisor = this.#supervisor;
      if (on && this.#demanders > 0 && supervisor.state === "idle") {
        this.#log("camwire: a viewer arrived: starting the capture");
        supervisor.resume();
      } else if (!on && this.#demanders === 0 && supervisor.state !== "idle") {
        const idle = seconds(this.#settings.idleStopMs);
        this.#log(`camwire: nobody watching for ${idle}: stopping the capture`);
        await supervisor.pause();
        this.#broadcaster.clear();
      }
    }).catch((error) => {
      this.#log(`camwire: cannot switch the capture: ${message(error)}`);
    });
  }

  /** Takes a slot under --max-clients, or logs the refusal. */
  #takeSlot(name: string): boolean {
    const max = this.#settings.maxClients;
    if (this.#connections >= max) {
      this.#log(
        `camwire: viewer ${name} refused: ${max} connections already (--max-clients)`,
      );
      return false;
    }
    this.#connections++;
    return true;
  }

  async #admit(conn: Deno.Conn): Promise<void> {
    const { hostname, port } = conn.remoteAddr as Deno.NetAddr;
    const name = `${hostname}:${port}`;
    if (!this.#takeSlot(name)) return closeQuietly(conn);
    try {
      if ("setNoDelay" in conn) (conn as Deno.TcpConn).setNoDelay(true);
      const input = new ViewerInput(conn);
      if (this.#settings.token !== undefined) {
        this.#awaitingToken.add(conn);
        const refusal = await this.#checkToken(input)
          .finally(() => this.#awaitingToken.delete(conn));
        if (refusal) {
          closeQuietly(conn);
          this.#log(`camwire: viewer ${name} refused: ${refusal}`);
          return;
        }
      }
      if (this.#closing) return closeQuietly(conn);
      const viewer = new Viewer(
        conn,
        (v) => this.#removeViewer(v, "connection lost"),
        this.#broadcaster.totals,
      );
      const direct = this.#broadcaster.direct;
      if (direct !== null && !this.#settings.tls) viewer.sendDirectly(direct);
      this.#broadcaster.viewers.add(viewer);
      this.#log(`camwire: viewer ${name} connected (${this.viewers} watching)`);
      this.#viewersChanged();
      if (this.#broadcaster.latest) {
        viewer.sender.offer(this.#broadcaster.latest);
      }
      this.#removeViewer(viewer, await input.watch());
    } finally {
      this.#connections--;
    }
  }

  /** Returns why the viewer is refused, or "" when its token is right. */
  async #checkToken(input: ViewerInput): Promise<string> {
    const line = await input.readLine(TOKEN_TIMEOUT_MS);
    if (line === null) return "no token within 5 s";
    const [word, ...rest] = line.split(" ");
    const token = rest.join(" ");
    if (
      word !== "camwire" || !constantTimeEqual(token, this.#settings.token!)
    ) {
      return "wrong token";
    }
    return "";
  }

  #removeViewer(viewer: Viewer, reason: string): void {
    viewer.close();
    if (!this.#broadcaster.viewers.delete(viewer)) return;
    if (this.#closing) return;
    this.#viewersChanged();
    this.#log(
      `camwire: viewer ${viewer.name} left: ${reason} (${this.viewers} watching)`,
    );
  }

  /** Drops viewers whose current write has made no progress for too long. */
  #dropStalledViewers(): void {
    const limit = this.#settings.clientTimeoutMs;
    const now = performance.now();
    for (const viewer of this.#broadcaster.viewers) {
      const since = viewer.sender.busySince;
      if (since !== 0 && now - since > limit) {
        this.#removeViewer(
          viewer,
          `dropped: a frame took over ${seconds(limit)} to send`,
        );
      }
    }
  }

  startPreview(ffplay: string): void {
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(ffplay, {
        args: ffplayArgs("camwire preview"),
        stdin: "piped",
        stdout: "null",
        stderr: "null",
      }).spawn();
    } catch (error) {
      const why = error instanceof Deno.errors.NotFound
        ? "ffplay not found"
        : message(error);
      this.#log(`camwire: cannot open the preview: ${why}`);
      return;
    }
    const writer = child.stdin.getWriter();
    const sink = new LatestFrameSender(async (bytes) => {
      await writer.write(bytes);
      return bytes.length;
    }, () => {});
    this.#preview = { child, sink };
    this.#broadcaster.jpegSinks.add(sink);
    child.status.then(() => {
      this.#broadcaster.jpegSinks.delete(sink);
      writer.close().catch(() => {});
      if (!this.#closing) {
        this.#log("camwire: preview closed; viewers keep streaming");
      }
    });
  }

  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    // First, so that ffmpeg ending now is not taken for a fault.
    const capture = this.#supervisor.stop();
    clearInterval(this.#ticker);
    clearTimeout(this.#idleTimer);
    closeQuietly(this.#listener);
    await this.http?.close();
    await this.#accepting;
    for (const conn of this.#awaitingToken) closeQuietly(conn);
    for (const viewer of this.#broadcaster.viewers) viewer.close();
    this.#broadcaster.viewers.clear();
    if (this.#preview) await endProcess(this.#preview.child);
    await Promise.all(this.#settings.publishers.map((p) => p.stop()));
    await this.#demand;
    await capture;
  }
}
