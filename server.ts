#!/usr/bin/env -S deno run --allow-net --allow-run --allow-read --allow-sys --allow-env --allow-ffi
// Copyright 2026 the camwire authors. MIT license.
/**
 * camwire server: captures a camera (or a test pattern, a file, a URL or
 * stdin) with one ffmpeg process, cuts its MJPEG output into JPEGs and sends
 * every frame, behind a u64 little-endian length, to every TCP viewer.
 *
 * ```sh
 * deno run -A server.ts                    # camera if present, else test pattern
 * deno run -A server.ts --source test --port 9000
 * ```
 *
 * This file is the composition root: it reads the command line, puts the
 * pieces under `server/` together ({@linkcode startServer}) and prints where
 * viewers can connect. Importing it has no side effects.
 *
 * @module
 */

import { networkInterfaces } from "node:os";
import { HEADER_SIZE, jpegSize } from "./framing.ts";
import {
  CamwireError,
  intFlag,
  message,
  onStopSignal,
  parseFlags,
  readPem,
  secondsFlag,
  tokenFlag,
  UsageError,
} from "./common/cli.ts";
import {
  captureArgs,
  defaultDevice,
  describeSource,
  publishFormat,
  type SourceKind,
} from "./server/ffmpeg.ts";
import {
  CaptureSupervisor,
  firstDshowDevice,
  makePlaceholder,
  resolveSource,
} from "./server/capture.ts";
import { freeUdpPort, Publisher } from "./server/publish.ts";
import { Broadcaster, DEFAULT_SEND_QUEUE } from "./server/viewers.ts";
import { DirectSender } from "./server/sockets.ts";
import { boundSendQueue, type CamwireServer, Server } from "./server/server.ts";

export type { CamwireServer, ServerStats } from "./server/server.ts";

/** Options of {@linkcode startServer}. */
export interface ServerOptions {
  /** Address to bind. @default {"0.0.0.0"} */
  host?: string;
  /** TCP port; 0 picks a free one. @default {9999} */
  port?: number;
  /** `auto`, `camera`, `test`, a file path or URL, or `-` for stdin. @default {"auto"} */
  source?: string;
  /** Camera device. @default {defaultDevice(Deno.build.os)} */
  device?: string | undefined;
  /** Output width in pixels. @default {320} */
  width?: number;
  /** Frames per second. @default {30} */
  fps?: number;
  /** MJPEG quality 2–31. @default {5} */
  quality?: number;
  /** Opens an ffplay window showing the frames being sent. @default {false} */
  preview?: boolean;
  /** Restart ffmpeg when no frame came for this long, in ms. @default {3000} */
  stallTimeoutMs?: number;
  /** Drop a viewer whose write made no progress for this long, in ms. @default {10000} */
  clientTimeoutMs?: number;
  /** Most viewers at once; more are closed on arrival. @default {1000} */
  maxClients?: number;
  /** End the server when the source ends, instead of restarting it. @default {false} */
  exitOnSourceEnd?: boolean;
  /**
   * Most bytes the kernel may hold unsent per viewer (Linux; 0: no bound,
   * the send buffer grows to 4 MB): bounds how stale a slow viewer's
   * frames get.
   * @default {DEFAULT_SEND_QUEUE}
   */
  sendQueue?: number;
  /**
   * Write to TCP viewers with synchronous `send(2)` calls through FFI
   * (Linux) rather than Deno's async writes: no promise per viewer per
   * frame (measured at 3000 viewers: 7.3–9.5 µs of CPU per delivered frame
   * instead of 16). Off, or where it cannot work, Deno's writes are used.
   * @default {true}
   */
  directSend?: boolean;
  /** Viewers must send `camwire <token>\n` first. @default {undefined} */
  token?: string | undefined;
  /**
   * Also send the capture, as H.264, to these media servers (`rtmp://`,
   * `rtmps://`, `rtsp://`, `srt://`). @default {[]}
   */
  publish?: string[];
  /**
   * Run ffmpeg only while someone watches: start it for the first viewer,
   * stop it `idleStopMs` after the last one left. @default {false}
   */
  onDemand?: boolean;
  /** See `onDemand`. @default {5000} */
  idleStopMs?: number;
  /** Also serve HTTP (page, MJPEG, snapshot, stats) on this port. @default {undefined} */
  httpPort?: number | undefined;
  /** PEM certificate and key: serve over TLS. @default {undefined} */
  tls?: { cert: string; key: string } | undefined;
  /** The ffmpeg program. @default {"ffmpeg"} */
  ffmpeg?: string;
  /** The ffplay program, for the preview. @default {"ffplay"} */
  ffplay?: string;
  /** Where log lines go. @default {console.error} */
  log?: (line: string) => void;
}

/**
 * Starts a camwire server: listens, starts ffmpeg, waits for the first
 * frame, then streams until {@linkcode CamwireServer.close}.
 *
 * @param options Where to listen and what to capture.
 * @returns The running server.
 * @throws {CamwireError} When the port is taken, ffmpeg is missing or the
 * source cannot be opened (with ffmpeg's reason).
 *
 * @example Serve the test pattern on a free port
 * ```ts ignore
 * const server = await startServer({ source: "test", port: 0 });
 * console.log(server.addr.port);
 * await server.close();
 * ```
 */
export async function startServer(
  options: ServerOptions = {},
): Promise<CamwireServer> {
  const os = Deno.build.os;
  const host = options.host ?? "0.0.0.0";
  const port = options.port ?? 9999;
  const ffmpeg = options.ffmpeg ?? "ffmpeg";
  const log = options.log ?? ((line: string) => console.error(line));
  const device = options.device ?? defaultDevice(os);
  const source = resolveSource(options.source ?? "auto", device, os);
  const exitOnSourceEnd = options.exitOnSourceEnd ?? false;
  const settings = {
    width: options.width ?? 320,
    fps: options.fps ?? 30,
    quality: options.quality ?? 5,
    os,
  };

  const listener = listen(host, port, options.tls);
  const sendQueue = options.sendQueue ?? DEFAULT_SEND_QUEUE;
  boundSendQueue((listener.addr as Deno.NetAddr).port, sendQueue, log);
  const broadcaster = new Broadcaster();
  if (options.directSend ?? true) broadcaster.direct = DirectSender.open();
  let placeholder: Uint8Array | undefined;
  const publish = options.publish ?? [];
  const relayPorts = await Promise.all(publish.map(() => freeUdpPort()));
  const relay = (port: number) => `udp://127.0.0.1:${port}`;
  const startCapture = async (kind: SourceKind, input: string) => {
    const args = captureArgs({
      kind,
      input,
      ...settings,
      loop: !exitOnSourceEnd,
      relays: relayPorts.map((port) => `${relay(port)}?pkt_size=1316`),
    });
    const supervisor = new CaptureSupervisor({
      ffmpeg,
      args,
      stdin: kind === "stdin" ? "inherit" : "null",
      stallTimeoutMs: options.stallTimeoutMs ?? 3000,
      exitOnSourceEnd,
      onFrame: (jpeg) => broadcaster.publish(jpeg),
      onNoSignal: () => placeholder && broadcaster.publish(placeholder),
      log,
    });
    await supervisor.start(describeSource(kind, input));
    return supervisor;
  };
  let supervisor: CaptureSupervisor;
  try {
    if (source.kind === "test" && !source.explicit) {
      log(
        `camwire: no camera at ${device}; streaming the test pattern instead`,
      );
    }
    log(`camwire: opening ${describeSource(source.kind, source.input)}`);
    try {
      if (source.kind === "camera" && source.input === "video=auto") {
        source.input = await firstDshowDevice(ffmpeg);
      }
      supervisor = await startCapture(source.kind, source.input);
    } catch (error) {
      if (source.explicit || !isOpenFailure(error)) throw error;
      log(`camwire: ${message(error)}; streaming the test pattern instead`);
      source.kind = "test";
      supervisor = await startCapture("test", "");
    }
    const size = jpegSize(broadcaster.latest!.subarray(HEADER_SIZE));
    placeholder = await makePlaceholder(
      ffmpeg,
      size?.width ?? settings.width,
      size?.height ?? Math.round(settings.width * 3 / 4),
      settings.quality,
    );
    if (placeholder === undefined) {
      log(
        'camwire: cannot make the "no signal" frame: viewers will see the last frame while the capture restarts',
      );
    }
    if (options.onDemand) {
      // The source opened: now wait for a viewer before capturing.
      await supervisor.pause();
      broadcaster.clear();
    }
  } catch (error) {
    listener.close();
    throw error;
  }
  const publishers = publish.map((url, i) =>
    new Publisher(ffmpeg, relay(relayPorts[i]!), url, log)
  );
  let server: Server;
  try {
    server = new Server(listener, broadcaster, supervisor, {
      http: options.httpPort === undefined
        ? undefined
        : { hostname: host, port: options.httpPort, tls: options.tls },
      sourceName: describeSource(source.kind, source.input),
      clientTimeoutMs: options.clientTimeoutMs ?? 10_000,
      maxClients: options.maxClients ?? 1000,
      token: options.token,
      tls: options.tls !== undefined,
      sendQueue,
      onDemand: options.onDemand ?? false,
      idleStopMs: options.idleStopMs ?? 5000,
      publishers,
      log,
    });
  } catch (error) {
    await Promise.all(publishers.map((p) => p.stop()));
    await supervisor.stop();
    listener.close();
    throw listenError(
      error,
      host,
      options.httpPort ?? 0,
      "--http-port",
      options.tls !== undefined,
    );
  }
  if (options.preview) server.startPreview(options.ffplay ?? "ffplay");
  return server;
}

function isOpenFailure(error: unknown): boolean {
  return error instanceof CamwireError &&
    error.message.startsWith("Cannot open");
}

/**
 * Deno's default listen backlog (511) silently drops connects when a
 * classroom of viewers arrives at once; the kernel caps this at somaxconn.
 */
const LISTEN_BACKLOG = 4096;

function listen(
  host: string,
  port: number,
  tls: ServerOptions["tls"],
): Deno.Listener {
  const options = { hostname: host, port, tcpBacklog: LISTEN_BACKLOG };
  try {
    if (tls) return Deno.listenTls({ ...options, ...tls });
    return Deno.listen(options);
  } catch (error) {
    throw listenError(error, host, port, "--port", tls !== undefined);
  }
}

function listenError(
  error: unknown,
  host: string,
  port: number,
  flag = "--port",
  tls = false,
): Error {
  const where = `Cannot listen on ${host}:${port}`;
  if (error instanceof Deno.errors.AddrInUse) {
    return new CamwireError(
      `${where}: the port is in use (stop the other program or pick another ${flag})`,
    );
  }
  if (error instanceof Deno.errors.AddrNotAvailable) {
    return new CamwireError(
      `${where}: no network interface has that address (check --host)`,
    );
  }
  if (error instanceof Deno.errors.PermissionDenied) {
    return new CamwireError(
      `${where}: permission denied (ports below 1024 need privileges)`,
    );
  }
  if (
    tls &&
    (error instanceof Deno.errors.InvalidData || error instanceof TypeError)
  ) {
    return new CamwireError(
      `${where}: bad TLS certificate or key: ${message(error)}`,
    );
  }
  return error instanceof Error ? error : new Error(String(error));
}

/** Whether a bind address keeps the server to this machine. */
function isLoopback(host: string): boolean {
  return /^127\./.test(host) || host === "::1" || host === "localhost";
}

/**
 * Lists the addresses viewers can use to reach a server bound to `host`.
 *
 * @param host The bind address.
 * @param interfaces Network interfaces, as `node:os` `networkInterfaces()`.
 * @returns Every non-internal IPv4 plus loopback when bound to all
 * interfaces, else the bind address alone.
 */
export function reachableAddresses(
  host: string,
  interfaces: ReturnType<typeof networkInterfaces>,
): string[] {
  if (host !== "0.0.0.0") return [host];
  const addresses: string[] = [];
  for (const list of Object.values(interfaces)) {
    for (const info of list ?? []) {
      if (info.family === "IPv4" && !info.internal) {
        addresses.push(info.address);
      }
    }
  }
  addresses.push("127.0.0.1");
  return addresses;
}

function printUsage(): void {
  const device = defaultDevice(Deno.build.os);
  console.log(
    `camwire server: stream a camera to TCP viewers as u64-framed JPEGs

USAGE:
  deno run -A server.ts [options]

OPTIONS:
  --host <ADDR>           Address to bind (default 0.0.0.0: every interface;
                          127.0.0.1 keeps it to this machine, e.g. behind an SSH tunnel)
  --port <PORT>           TCP port (default 9999)
  --source <SOURCE>       auto | camera | test | a file path or URL | - (MJPEG on stdin)
                          (default auto: the camera if present, else the test pattern)
  --device <DEVICE>       Camera device (default ${device}; Linux: /dev/videoN,
                          Windows: video=<name>, default the first camera listed,
                          macOS: avfoundation index)
  --width <PIXELS>        Frame width; the height keeps the aspect ratio (default 320)
  --fps <N>               Frames per second of the camera or test pattern (default 30)
  --quality <Q>           JPEG quality, ffmpeg -q:v from 2 (best) to 31 (smallest) (default 5)
  --preview               Also show the frames being sent in an ffplay window
  --http-port <PORT>      Also serve HTTP on PORT: a web page, /stream.mjpg (MJPEG for
                          browsers, VLC, OpenCV), /snapshot.jpg, /stats (default off)

SCALE OUT AND ON DEMAND:
  --publish <URL>         Also send the capture as H.264 to a media server: rtmp://,
                          rtmps://, rtsp:// or srt:// (repeatable; default none).
                          A target that fails is retried; the local stream goes on
  --on-demand             Run the capture only while someone watches (default off)
  --idle-stop <S>         With --on-demand: stop S seconds after the last viewer
                          left (default 5)

FAULTS:
  --stall-timeout <S>     Restart ffmpeg when no frame came for S seconds (default 3)
  --exit-on-source-end    Exit when the source ends (a file plays once) instead of
                          restarting it (default off)
  --client-timeout <S>    Drop a viewer whose frame is not sent after S seconds (default 10)
  --max-clients <N>       Close connections beyond N at once (default 1000)
  --send-queue <BYTES>    Most bytes the kernel may hold unsent per viewer, so a slow
                          viewer gets fresh frames, not seconds-old ones (default
                          ${DEFAULT_SEND_QUEUE}; Linux only; elsewhere and with 0, up to 4 MB)

ACCESS:
  --token <SECRET>        Viewers must first send "camwire <SECRET>\\n" (default none:
                          anyone who reaches the port can watch); or CAMWIRE_TOKEN
  --cert <FILE>           PEM certificate: serve over TLS (with --key) (default off)
  --key <FILE>            PEM private key of --cert
  -h, --help              Show this help

Viewers: deno run -A client.ts --host <this machine's address>`,
  );
}

interface Flags {
  host: string;
  port: number;
  source: string;
  device: string | undefined;
  width: number;
  fps: number;
  quality: number;
  preview: boolean;
  httpPort: number | undefined;
  publish: string[];
  onDemand: boolean;
  idleStopMs: number;
  stallTimeoutMs: number;
  exitOnSourceEnd: boolean;
  clientTimeoutMs: number;
  maxClients: number;
  sendQueue: number;
  token: string | undefined;
  cert: string | undefined;
  key: string | undefined;
}

/**
 * Parses the server's command line.
 *
 * @param args Command-line arguments.
 * @param env `CAMWIRE_TOKEN` from the environment.
 * @returns Validated flags, or `"help"`.
 * @throws {UsageError} On an unknown flag or a bad value.
 */
export function parseServerFlags(
  args: string[],
  env: { CAMWIRE_TOKEN?: string | undefined } = {},
): Flags | "help" {
  const values = parseFlags(args, {
    host: { type: "string", default: "0.0.0.0" },
    port: { type: "string", default: "9999" },
    source: { type: "string", default: "auto" },
    device: { type: "string" },
    width: { type: "string", default: "320" },
    fps: { type: "string", default: "30" },
    quality: { type: "string", default: "5" },
    preview: { type: "boolean", default: false },
    "http-port": { type: "string" },
    publish: { type: "string", multiple: true, default: [] },
    "on-demand": { type: "boolean", default: false },
    "idle-stop": { type: "string", default: "5" },
    "stall-timeout": { type: "string", default: "3" },
    "exit-on-source-end": { type: "boolean", default: false },
    "client-timeout": { type: "string", default: "10" },
    "max-clients": { type: "string", default: "1000" },
    "send-queue": { type: "string", default: String(DEFAULT_SEND_QUEUE) },
    token: { type: "string" },
    cert: { type: "string" },
    key: { type: "string" },
    help: { type: "boolean", short: "h", default: false },
  });
  if (values.help) return "help";
  const width = intFlag("width", values.width, [16, 7680]);
  if (width % 2 !== 0) {
    throw new UsageError(`Invalid value for --width: "${width}" is not even`);
  }
  for (const name of ["host", "source", "cert", "key"] as const) {
    if (values[name]?.trim() === "") {
      throw new UsageError(`Invalid value for --${name}: it is empty`);
    }
  }
  for (const url of values.publish) {
    if (publishFormat(url) === undefined) {
      throw new UsageError(
        `Invalid value for --publish: "${url}" is not an rtmp://, rtmps://, rtsp:// or srt:// address`,
      );
    }
  }
  if (values["on-demand"] && values.publish.length > 0) {
    throw new UsageError(
      "--on-demand and --publish do not go together: a media server needs the stream all the time",
    );
  }
  if ((values.cert === undefined) !== (values.key === undefined)) {
    throw new UsageError("--cert and --key go together: give both or neither");
  }
  return {
    host: values.host,
    port: intFlag("port", values.port, [0, 65535]),
    source: values.source,
    device: values.device,
    width,
    fps: intFlag("fps", values.fps, [1, 240]),
    quality: intFlag("quality", values.quality, [2, 31]),
    preview: values.preview,
    httpPort: values["http-port"] === undefined
      ? undefined
      : intFlag("http-port", values["http-port"], [0, 65535]),
    publish: values.publish,
    onDemand: values["on-demand"],
    idleStopMs: secondsFlag("idle-stop", values["idle-stop"], [0, 86400]),
    stallTimeoutMs: secondsFlag("stall-timeout", values["stall-timeout"], [
      0.1,
      3600,
    ]),
    exitOnSourceEnd: values["exit-on-source-end"],
    clientTimeoutMs: secondsFlag("client-timeout", values["client-timeout"], [
      0.1,
      3600,
    ]),
    maxClients: intFlag("max-clients", values["max-clients"], [1, 1_000_000]),
    sendQueue: intFlag("send-queue", values["send-queue"], [0, 1 << 30]),
    token: tokenFlag(values.token, env.CAMWIRE_TOKEN),
    cert: values.cert,
    key: values.key,
  };
}

async function main(): Promise<void> {
  let flags: Flags | "help";
  try {
    flags = parseServerFlags(Deno.args, {
      CAMWIRE_TOKEN: Deno.env.get("CAMWIRE_TOKEN"),
    });
  } catch (error) {
    console.error(`camwire: ${message(error)} (see --help)`);
    Deno.exit(2);
  }
  if (flags === "help") {
    printUsage();
    return;
  }
  // Listen for signals before anything starts, so that no signal can end
  // the process while ffmpeg runs without us stopping it.
  let server: CamwireServer | undefined;
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    if (server === undefined) return; // stopped once started, below
    console.error("camwire: stopping");
    await server.close();
    Deno.exit(0);
  };
  onStopSignal(stop);
  try {
    const { cert, key } = flags;
    const tls = cert !== undefined && key !== undefined
      ? { cert: readPem("--cert", cert), key: readPem("--key", key) }
      : undefined;
    server = await startServer({ ...flags, tls });
  } catch (error) {
    console.error(`camwire: ${message(error)}`);
    Deno.exit(1);
  }
  if (stopping) {
    stopping = false;
    await stop();
  }
  const secure = flags.cert !== undefined;
  const addresses = reachableAddresses(flags.host, networkInterfaces())
    .map((address) => address.includes(":") ? `[${address}]` : address);
  for (const address of addresses) {
    const scheme = secure ? "tls" : "tcp";
    console.error(
      `camwire: streaming on ${scheme}://${address}:${server.addr.port}`,
    );
  }
  if (server.httpPort !== undefined) {
    for (const address of addresses) {
      const scheme = secure ? "https" : "http";
      console.error(
        `camwire: web page on ${scheme}://${address}:${server.httpPort}/`,
      );
    }
  }
  console.error(`camwire: source: ${server.sourceName}`);
  if (flags.onDemand) {
    console.error(
      "camwire: --on-demand: the capture starts when the first viewer arrives",
    );
  }
  if (flags.token === undefined && !isLoopback(flags.host)) {
    console.error(
      "camwire: no --token: anyone who can reach this port can watch",
    );
  }
  try {
    await server.done;
    console.error("camwire: the source ended");
  } catch (error) {
    console.error(`camwire: ${message(error)}`);
    Deno.exit(1);
  }
}

if (import.meta.main) {
  main();
}
