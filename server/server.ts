// Copyright 2026 the camwire authors. MIT license.
/**
 * A running camwire server: accepts TCP viewers and admits them under
 * `--max-clients` and `--token`, serves the HTTP side from the same
 * frames, drops stalled viewers, and shuts everything down in order.
 *
 * @module
 */

import { message } from "../common/cli.ts";
import type { FfplayWindow } from "../common/ffplay.ts";
import type { Timer } from "../common/time.ts";
import type { CaptureState, CaptureSupervisor } from "./capture/capture.ts";
import type { Publisher } from "./capture/publish.ts";
import type { ServerSettings } from "./options.ts";
import {
  type Broadcaster,
  constantTimeEqual,
  dropStalled,
  type Viewer,
} from "./viewers/viewers.ts";
import {
  acceptEach,
  boundSendQueue,
  closeQuietly,
  listenError,
} from "./net/net.ts";
import { Admission, MAX_PENDING } from "./net/admission.ts";
import type { TrustedProxies } from "./net/proxy.ts";
import { admitViewer } from "./viewers/doorway.ts";
import { LogTally } from "./net/tally.ts";
import { OnDemand } from "./on_demand.ts";
import { Rates } from "./status.ts";
import type { FrameHub, HttpFrontend } from "./http/http.ts";
import type { CameraControls } from "./http/controls.ts";
import type { Metrics } from "./http/metrics.ts";
import type { PickleSide } from "./pickle/pickle.ts";

type HttpModule = typeof import("./http/serve.ts");
type PickleModule = typeof import("./pickle/pickle.ts");

/** The sides whose port is asked for, their modules loaded. */
interface Sides {
  http: HttpModule | undefined;
  pickle: PickleModule | undefined;
}

/** A running camwire server, as `startServer` (server.ts) returns it. */
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
  /** The pickle port, when `picklePort` was given. */
  readonly picklePort: number | undefined;
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
  /** By kind; `pickle` only with `--pickle-port`. */
  viewers: { tcp: number; http: number; pickle?: number };
  framesSent: number;
  framesSkipped: number;
  /** Camera frames dropped as truncated or damaged (V4L2 passthrough). */
  framesDropped: number;
  kbitPerSecondOut: number;
}

/** What {@linkcode Server} runs: made and started by `startServer`. */
export interface ServerParts {
  /** The TCP (or TLS) listener for viewers. */
  listener: Deno.Listener;
  broadcaster: Broadcaster;
  supervisor: CaptureSupervisor;
  publishers: Publisher[];
  /** The source in use, e.g. `test pattern (testsrc2)`. */
  sourceName: string;
  /** The camera's controls for `/controls`, when the source is a camera. */
  controls?: CameraControls | undefined;
  /** `--trusted-proxy`, read. */
  trustedProxies: TrustedProxies;
}

/** The running server (see {@linkcode CamwireServer}). */
export class Server implements CamwireServer {
  readonly addr: Deno.NetAddr;
  readonly sourceName: string;
  readonly done: Promise<void>;
  #http: HttpFrontend | null = null;
  #pickle: PickleSide | null = null;
  #parts: ServerParts;
  #settings: ServerSettings;
  #log: (line: string) => void;
  /** Connections that have yet to do their handshake or send their token. */
  #inDoor = new Set<{ close(): void }>();
  /** The pending budget, --max-clients-per-ip and the token backoff. */
  #admission: Admission;
  /** Refusals and failures: a few lines, then one summary per interval. */
  #tally: LogTally;
  /** Addresses whose token checks start being refused: one line each. */
  #guessers: LogTally;
  /** Connections holding a slot under --max-clients (TCP and HTTP). */
  #connections = 0;
  #closing: Promise<void> | null = null;
  #preview: FfplayWindow | null = null;
  #accepting: Promise<void> | undefined;
  #ticker: Timer | undefined;
  #startedAt = performance.now();
  #rates: Rates;
  /** With --on-demand: starts and stops the capture. */
  #onDemand: OnDemand | null = null;

  /**
   * Starts serving: the pickle and HTTP sides first (if a port is taken,
   * no viewer has been accepted yet), then the TCP accept loop. On a
   * failure everything is shut down as by `close()` (the capture, the
   * publishers and the listener too) before it throws.
   *
   * @param parts The listener, the frames and the capture.
   * @param settings Every option.
   * @returns The running server.
   * @throws {CamwireError} When the HTTP or pickle port cannot be had.
   */
  static async start(
    parts: ServerParts,
    settings: ServerSettings,
  ): Promise<Server> {
    // The HTTP and pickle sides are loaded only when their port is asked
    // for (a server without them is 1-2 MB smaller), and before the
    // server is made: nothing can close it while a module loads.
    const sides: Sides = {
      http: settings.httpPort === undefined
        ? undefined
        : await import("./http/serve.ts"),
      pickle: settings.picklePort === undefined
        ? undefined
        : await import("./pickle/pickle.ts"),
    };
    const server = new Server(parts, settings);
    try {
      server.#open(sides);
    } catch (error) {
      await server.close();
      throw error;
    }
    return server;
  }

  private constructor(parts: ServerParts, settings: ServerSettings) {
    this.#parts = parts;
    this.addr = parts.listener.addr as Deno.NetAddr;
    this.sourceName = parts.sourceName;
    this.#settings = settings;
    this.#log = settings.log;
    this.#tally = new LogTally(this.#log);
    this.#guessers = new LogTally(this.#log);
    this.#admission = new Admission({
      maxPerAddress: settings.maxClientsPerIp,
      // A burst of real HTTP viewers (1,000 from two load processes) had
      // over 512 connections owing their request at once: evicted ones.
      maxPending: Math.max(MAX_PENDING, settings.maxClients),
      exemptLoopback: settings.exemptLoopback,
      exempt: (address) => parts.trustedProxies.has(address),
      onSlowedDown: (address, wrongTokens) =>
        this.#guessers.note(
          "slowed down",
          `camwire: ${address} sent ${wrongTokens} wrong tokens: its token checks are refused for now (slowed down until it stops guessing for a minute)`,
          address,
        ),
    });
    parts.broadcaster.onSinkError = (error) =>
      this.#tally.note(
        "sink failed",
        `camwire: a frame's sink failed: ${message(error)}`,
      );
    const { supervisor } = parts;
    this.#rates = new Rates(
      parts.broadcaster,
      {
        viewers: () => this.viewers,
        state: () => supervisor.state,
        restarts: () => supervisor.restarts,
        dropped: () => supervisor.framesDropped,
      },
      this.#log,
      { everyS: settings.statusIntervalS },
    );
    if (settings.onDemand) {
      this.#onDemand = new OnDemand({
        supervisor: parts.supervisor,
        broadcaster: parts.broadcaster,
        viewers: () => this.viewers,
        idleStopMs: settings.idleStopMs,
        log: this.#log,
      });
    }
    this.done = parts.supervisor.ended.finally(() => this.close());
    this.done.catch(() => {}); // observed by whoever awaits it
  }

  /** The ports, the accept loop and the ticker; throws when a port is taken. */
  #open(sides: Sides): void {
    if (sides.pickle) this.#pickle = this.#servePickle(sides.pickle);
    if (sides.http) this.#http = this.#serveHttp(sides.http);
    this.#accepting = this.#acceptLoop();
    this.#ticker = setInterval(() => this.#tick(), 1000);
  }

  /** The HTTP side, when `--http-port` is given. */
  get http(): HttpFrontend | null {
    return this.#http;
  }

  /** The pickle port, when `--pickle-port` is given. */
  get pickle(): PickleSide | null {
    return this.#pickle;
  }

  get viewers(): number {
    return this.#parts.broadcaster.viewers.size + (this.http?.viewers ?? 0) +
      (this.pickle?.viewers ?? 0);
  }

  get framesIn(): number {
    return this.#parts.broadcaster.framesIn;
  }

  get httpPort(): number | undefined {
    return this.http?.port;
  }

  get picklePort(): number | undefined {
    return this.pickle?.port;
  }

  get ffmpegPid(): number | undefined {
    return this.#parts.supervisor.pid;
  }

  #serveHttp({ serveHttp }: HttpModule): HttpFrontend {
    const { host, httpPort, tls, token, user, allowOrigin } = this.#settings;
    const port = httpPort ?? 0;
    let http: HttpFrontend;
    try {
      http = serveHttp(this.#hub(), {
        hostname: host,
        port,
        tls,
        token,
        user,
        allowOrigin,
        picklePort: this.pickle?.port,
        clientTimeoutMs: this.#settings.clientTimeoutMs,
        tcpPort: this.addr.port,
        log: this.#log,
        tokenEquals: constantTimeEqual,
        admission: this.#admission,
        tally: this.#tally,
        trustedProxies: this.#parts.trustedProxies,
      });
    } catch (error) {
      throw listenError(error, {
        hostname: host,
        port,
        tls,
        flag: "--http-port",
      });
    }
    // HTTP viewers, too, must block early and skip frames when slow.
    boundSendQueue(http.port, this.#settings.sendQueue, this.#log);
    return http;
  }

  #servePickle({ PickleSide }: PickleModule): PickleSide {
    const { host, picklePort, tls, token } = this.#settings;
    const broadcaster = this.#parts.broadcaster;
    const pickle = PickleSide.listen({
      jpegSinks: broadcaster.jpegSinks,
      totals: broadcaster.totals,
      takeSlot: (name, address) => this.#takeSlot(name, address),
      viewerCount: () => this.viewers,
      viewersChanged: () => this.#viewersChanged(),
    }, {
      hostname: host,
      port: picklePort ?? 0,
      tls,
      token,
      admission: this.#admission,
      tally: this.#tally,
      clientTimeoutMs: this.#settings.clientTimeoutMs,
      ffmpeg: this.#settings.ffmpeg,
      log: this.#log,
    });
    // Pickled frames are 230 KB: without the bound a slow viewer lags by
    // seconds of them.
    boundSendQueue(pickle.port, this.#settings.sendQueue, this.#log);
    return pickle;
  }

  /** What the HTTP side reads and counts through. */
  #hub(): FrameHub {
    const broadcaster = this.#parts.broadcaster;
    return {
      get current() {
        return broadcaster.current;
      },
      get direct() {
        return broadcaster.direct;
      },
      jpegSinks: broadcaster.jpegSinks,
      totals: broadcaster.totals,
      stats: () => this.stats(),
      metrics: () => this.metrics(),
      viewerCount: () => this.viewers,
      viewersChanged: () => this.#viewersChanged(),
      snapshot: () =>
        this.#onDemand?.snapshot() ?? Promise.resolve(broadcaster.current),
      takeSlot: (name, address) => this.#takeSlot(name, address),
      controls: this.#parts.controls,
    };
  }

  /** The numbers of `/stats`. */
  stats(): ServerStats {
    const { broadcaster, supervisor } = this.#parts;
    const totals = broadcaster.totals;
    return {
      uptimeSeconds: (performance.now() - this.#startedAt) / 1000,
      source: this.sourceName,
      state: supervisor.state,
      fpsIn: this.#rates.fpsIn,
      framesIn: broadcaster.framesIn,
      viewers: this.#viewersByKind(),
      framesSent: totals.sent,
      framesSkipped: totals.skipped,
      framesDropped: supervisor.framesDropped,
      kbitPerSecondOut: this.#rates.kbitOut,
    };
  }

  #viewersByKind(): ServerStats["viewers"] {
    const viewers = {
      tcp: this.#parts.broadcaster.viewers.size,
      http: this.http?.viewers ?? 0,
    };
    return this.pickle ? { ...viewers, pickle: this.pickle.viewers } : viewers;
  }

  /** The numbers of `/metrics`. */
  metrics(): Metrics {
    const { broadcaster, supervisor } = this.#parts;
    const totals = broadcaster.totals;
    return {
      uptimeSeconds: (performance.now() - this.#startedAt) / 1000,
      captureState: supervisor.state,
      captureFps: this.#rates.fpsIn,
      captureRestarts: supervisor.restarts,
      framesCaptured: broadcaster.framesIn,
      viewers: this.#viewersByKind(),
      framesSent: totals.sent,
      framesSkipped: totals.skipped,
      bytesSent: totals.bytes,
    };
  }

  /** Once a second: drop stalled viewers, update rates, log now and then. */
  #tick(): void {
    const { viewers } = this.#parts.broadcaster;
    dropStalled(viewers, this.#settings.clientTimeoutMs);
    this.http?.dropStalled();
    this.pickle?.dropStalled();
    this.#tally.flush();
    this.#guessers.flush();
    this.#rates.tick();
  }

  #acceptLoop(): Promise<void> {
    return acceptEach(this.#parts.listener, (conn) => {
      this.#serveViewer(conn).catch((error) => {
        this.#tally.note(
          "viewer failed",
          `camwire: viewer failed: ${message(error)}`,
        );
      });
    }, {
      what: `port ${this.addr.port}`,
      log: this.#log,
      tally: this.#tally,
      closing: () => this.#closing !== null,
    });
  }

  /**
   * Takes a slot under --max-clients and --max-clients-per-ip, or counts
   * the refusal.
   *
   * @returns What gives the slot back (once), or `null` when refused.
   */
  #takeSlot(name: string, address: string): (() => void) | null {
    const max = this.#settings.maxClients;
    if (this.#connections >= max) {
      this.#tally.note(
        "--max-clients",
        `camwire: viewer ${name} refused: ${max} connections already (--max-clients)`,
        address,
      );
      return null;
    }
    const perAddress = this.#admission.takeViewer(address);
    if (perAddress === null) {
      this.#tally.note(
        "--max-clients-per-ip",
        `camwire: viewer ${name} refused: ${this.#settings.maxClientsPerIp} connections from ${address} already (--max-clients-per-ip)`,
        address,
      );
      return null;
    }
    this.#connections++;
    let given = false;
    return () => {
      if (given) return;
      given = true;
      this.#connections--;
      perAddress();
    };
  }

  /** Runs one TCP viewer: its door, its slot, its frames, until it goes. */
  #serveViewer(conn: Deno.Conn): Promise<void> {
    const { broadcaster } = this.#parts;
    return admitViewer(conn, {
      admission: this.#admission,
      tally: this.#tally,
      token: this.#settings.token,
      kind: "",
      inDoor: this.#inDoor,
    }, {
      totals: broadcaster.totals,
      closing: () => this.#closing !== null,
      takeSlot: (name, address) => this.#takeSlot(name, address),
      add: (viewer, name) => {
        const direct = broadcaster.direct;
        if (direct !== null && this.#settings.tls === undefined) {
          viewer.sendDirectly(direct);
        }
        broadcaster.viewers.add(viewer);
        this.#log(
          `camwire: viewer ${name} connected (${this.viewers} watching)`,
        );
        this.#viewersChanged();
        if (broadcaster.latest) viewer.sender.offer(broadcaster.latest);
      },
      remove: (viewer, reason) => this.#removeViewer(viewer, reason),
    });
  }

  #removeViewer(viewer: Viewer, reason: string): void {
    viewer.close();
    if (!this.#parts.broadcaster.viewers.delete(viewer)) return;
    if (this.#closing) return;
    this.#log(
      `camwire: viewer ${viewer.name} left: ${reason} (${this.viewers} watching)`,
    );
    this.#viewersChanged();
  }

  /** A viewer of any kind came or went: on-demand switching, a status line. */
  #viewersChanged(): void {
    this.#onDemand?.viewersChanged();
    if (this.#closing === null) this.#rates.changed();
  }

  /**
   * Opens the `--preview` window, fed the same frames as the viewers. A
   * preview that cannot open is logged; the server goes on without it.
   */
  async startPreview(): Promise<void> {
    const { FfplayWindow } = await import("../common/ffplay.ts");
    if (this.#closing) return; // closed while the module loaded
    let preview: FfplayWindow;
    try {
      preview = FfplayWindow.open("camwire preview", {
        program: this.#settings.ffplay,
        stderr: "null",
      });
    } catch (error) {
      this.#log(`camwire: cannot open the preview: ${message(error)}`);
      return;
    }
    this.#preview = preview;
    const sinks = this.#parts.broadcaster.jpegSinks;
    sinks.add(preview);
    preview.ended.then(() => {
      sinks.delete(preview);
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
    const { supervisor, listener, broadcaster, publishers } = this.#parts;
    // First, so that ffmpeg ending now is not taken for a fault.
    const capture = supervisor.stop();
    clearInterval(this.#ticker);
    const switching = this.#onDemand?.stop();
    closeQuietly(listener);
    await this.http?.close();
    await this.pickle?.close();
    await this.#accepting;
    for (const conn of this.#inDoor) closeQuietly(conn);
    for (const viewer of broadcaster.viewers) viewer.close();
    broadcaster.viewers.clear();
    await this.#preview?.close();
    await Promise.all(publishers.map((p) => p.stop()));
    await switching;
    await capture;
  }
}
