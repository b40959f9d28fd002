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
import { jpegSize } from "./framing.ts";
import {
  intFlag,
  message,
  onStopSignal,
  parseFlags,
  readCommandLine,
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
} from "./server/ffmpeg.ts";
import {
  CaptureSupervisor,
  firstDshowDevice,
  makePlaceholder,
  resolveSource,
  SourceOpenError,
} from "./server/capture.ts";
import {
  type CameraBackend,
  cameraBackend,
  type CameraFlags,
  ffmpegFallback,
  listDevices,
  readCameraFlags,
} from "./server/camera.ts";
import { PIXEL_FORMATS } from "./server/camera_mode.ts";
import { freeUdpPort, Publisher } from "./server/publish.ts";
import { Broadcaster } from "./server/viewers.ts";
import { DirectSender } from "./server/sockets.ts";
import { boundSendQueue, closeQuietly, listen } from "./server/net.ts";
import {
  DEFAULT_SEND_QUEUE,
  type ServerOptions,
  type ServerSettings,
  withDefaults,
} from "./server/options.ts";
import {
  type CamwireServer,
  Server,
  type ServerParts,
} from "./server/server.ts";

/** What `--source` and `--device` name, once decided. */
type Source = ReturnType<typeof resolveSource>;

export type { CamwireServer, ServerStats } from "./server/server.ts";
export type { ServerOptions } from "./server/options.ts";

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
  const settings = withDefaults(options);
  const listener = listen({
    hostname: settings.host,
    port: settings.port,
    tls: settings.tls,
    flag: "--port",
  });
  const { port } = listener.addr as Deno.NetAddr;
  boundSendQueue(port, settings.sendQueue, settings.log);
  const broadcaster = new Broadcaster();
  if (settings.directSend) broadcaster.direct = DirectSender.open();
  const relays = await Promise.all(settings.publish.map(() => freeUdpPort()));
  const capture = await startCapture(settings, broadcaster, relays)
    .catch((error) => {
      closeQuietly(listener);
      throw error;
    });
  const parts: ServerParts = {
    listener,
    broadcaster,
    supervisor: capture.supervisor,
    publishers: settings.publish.map((url, i) =>
      new Publisher(
        settings.ffmpeg,
        relayAddress(relays[i]!),
        url,
        settings.log,
      )
    ),
    sourceName: describeSource(capture.source),
  };
  let server: Server;
  try {
    server = new Server(parts, settings);
  } catch (error) {
    await Promise.all(parts.publishers.map((p) => p.stop()));
    await parts.supervisor.stop();
    closeQuietly(listener);
    throw error;
  }
  if (settings.preview) server.startPreview();
  return server;
}

/** The local UDP address that a publish relay reads the capture from. */
function relayAddress(port: number): string {
  return `udp://127.0.0.1:${port}`;
}

/** A capture that delivers frames, and the source it opened. */
interface StartedCapture {
  supervisor: CaptureSupervisor;
  source: Source;
}

/**
 * Opens the source and waits for its first frame: with `--source auto`,
 * the test pattern when there is no camera or it cannot be opened. Then
 * makes the "no signal" frame at the stream's size and, with
 * `--on-demand`, stops until the first viewer comes.
 */
async function startCapture(
  settings: ServerSettings,
  broadcaster: Broadcaster,
  relays: number[],
): Promise<StartedCapture> {
  const { log } = settings;
  const source = await chooseSource(settings);
  // A camera that fails to open under `auto` gives way to the test pattern.
  const candidates = source.explicit || source.kind === "test"
    ? [source]
    : [source, TEST_PATTERN];
  const noSignal: { frame?: Uint8Array | undefined } = {};
  let started: StartedCapture | undefined;
  for (const candidate of candidates) {
    log(`camwire: opening ${describeSource(candidate)}`);
    try {
      const supervisor = await superviseSource(
        settings,
        candidate,
        relays,
        (jpeg) => broadcaster.deliver(jpeg),
        () => noSignal.frame && broadcaster.deliver(noSignal.frame),
      );
      started = { supervisor, source: candidate };
      break;
    } catch (error) {
      if (
        !(error instanceof SourceOpenError) || candidate === candidates.at(-1)
      ) {
        throw error;
      }
      log(`camwire: ${error.message}; streaming the test pattern instead`);
    }
  }
  const { supervisor } = started!;
  noSignal.frame = await placeholderFor(broadcaster, settings);
  if (settings.onDemand) {
    // The source opened: now wait for a viewer before capturing.
    await supervisor.pause();
    broadcaster.clear();
  }
  return started!;
}

/**
 * Starts a supervisor for one source and waits for its first frame. A
 * camera goes to the backend `--capture` decides (camera.ts); with `auto`,
 * a V4L2 capture that fails to start for a reason other than busy, no
 * permission or no device is retried once with ffmpeg.
 */
async function superviseSource(
  settings: ServerSettings,
  source: Source,
  relays: number[],
  onFrame: (jpeg: Uint8Array) => void,
  onNoSignal: () => void,
): Promise<CaptureSupervisor> {
  const relayUrls = relays.map((port) => `${relayAddress(port)}?pkt_size=1316`);
  const camera = source.kind === "camera"
    ? {
      device: source.input,
      capture: settings.capture,
      width: settings.width,
      fps: settings.fps,
      quality: settings.quality,
      inputFormat: settings.inputFormat,
      inputSize: settings.inputSize,
      ffmpeg: settings.ffmpeg,
      relays: relayUrls,
      os: Deno.build.os,
      log: settings.log,
    }
    : undefined;
  const supervise = async (backend: CameraBackend | undefined) => {
    if (backend !== undefined) settings.log(`camwire: ${backend.line}`);
    const supervisor = new CaptureSupervisor({
      ffmpeg: settings.ffmpeg,
      args: captureArgs({
        ...source,
        width: settings.width,
        fps: backend?.fps ?? settings.fps,
        quality: settings.quality,
        os: Deno.build.os,
        loop: !settings.exitOnSourceEnd,
        relays: relayUrls,
        cameraMode: backend?.cameraMode,
      }),
      stdin: source.kind === "stdin" ? "inherit" : "null",
      stallTimeoutMs: settings.stallTimeoutMs,
      exitOnSourceEnd: settings.exitOnSourceEnd,
      onFrame,
      onNoSignal,
      log: settings.log,
      ...(backend?.launch ? { launch: backend.launch } : {}),
    });
    await supervisor.start(describeSource(source));
    return supervisor;
  };
  const backend = camera && cameraBackend(camera);
  try {
    return await supervise(backend);
  } catch (error) {
    const fallback = camera && backend &&
      ffmpegFallback(camera, backend, error);
    if (fallback === undefined) throw error;
    return await supervise(fallback);
  }
}

/** What `--source auto` falls back to. */
const TEST_PATTERN: Source = { kind: "test", input: "", explicit: false };

/** `--source` and `--device` decided: what ffmpeg is to open. */
async function chooseSource(settings: ServerSettings): Promise<Source> {
  const source = resolveSource(settings.source, settings.device, Deno.build.os);
  if (source.kind === "test" && !source.explicit) {
    settings.log(
      `camwire: no camera at ${settings.device}; streaming the test pattern instead`,
    );
  }
  if (source.kind === "camera" && source.input === "video=auto") {
    return { ...source, input: await firstDshowDevice(settings.ffmpeg) };
  }
  return source;
}

/** The "no signal" frame, at the size of the frames the capture sends. */
async function placeholderFor(
  broadcaster: Broadcaster,
  settings: ServerSettings,
): Promise<Uint8Array | undefined> {
  const size = jpegSize(broadcaster.current!.jpeg);
  const frame = await makePlaceholder(
    settings.ffmpeg,
    size?.width ?? settings.width,
    size?.height ?? Math.round(settings.width * 3 / 4),
    settings.quality,
  );
  if (frame === undefined) {
    settings.log(
      'camwire: cannot make the "no signal" frame: viewers will see the last frame while the capture restarts',
    );
  }
  return frame;
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
  --quality <Q>           JPEG quality, ffmpeg -q:v from 2 (best) to 31 (smallest) (default 5).
                          A camera's JPEGs passed through are not re-compressed: the
                          camera's own quality control is set instead, where it has one
  --preview               Also show the frames being sent in an ffplay window

CAMERA (Linux):
  --capture <HOW>         auto | v4l2 | ffmpeg (default auto: V4L2 through FFI when the
                          device is a V4L2 camera, else ffmpeg; if V4L2 fails on this
                          camera, ffmpeg with a warning). The camera's own MJPEG at
                          --width wide is passed through: no ffmpeg at all
  --input-format <FMT>    Camera pixel format: ${
      PIXEL_FORMATS.map((f) => f.name).join(", ")
    }
                          (default: MJPEG when offered, see README)
  --input-size <WxH>      Camera frame size (default: the smallest at least --width wide)
  --list-devices          List cameras with their formats, sizes and rates, and exit
  --http-port <PORT>      Also serve HTTP on PORT: a web page, /stream.mjpg (MJPEG for
                          browsers, VLC, OpenCV), /snapshot.jpg, /stats (default off)
  --allow-origin <ORIGIN> Let pages from ORIGIN embed the HTTP stream, snapshot and
                          stats (CORS; default none)
  --pickle-port <PORT>    Also serve raw BGR frames pickled as numpy arrays, the
                          Python tutorial's wire (default off; the JPEG port sends
                          28x fewer bytes; unpickle only from a server you trust)

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
  --max-clients-per-ip <N>
                          Close connections beyond N at once from one address
                          (default 100; 0: no limit)
  --send-queue <BYTES>    Most bytes the kernel may hold unsent per viewer, so a slow
                          viewer gets fresh frames, not seconds-old ones (default
                          ${DEFAULT_SEND_QUEUE}; Linux only; elsewhere and with 0, up to 4 MB)

ACCESS:
  --token <SECRET>        Viewers must first send "camwire <SECRET>\\n" (default none:
                          anyone who reaches the port can watch); or CAMWIRE_TOKEN
  --user <NAME>           With --token: the user name HTTP Basic auth must give, the
                          token being its password (default any name)
  --cert <FILE>           PEM certificate: serve over TLS (with --key) (default off)
  --key <FILE>            PEM private key of --cert
  -h, --help              Show this help

Viewers: deno run -A client.ts --host <this machine's address>`,
  );
}

interface Flags extends CameraFlags {
  host: string;
  port: number;
  source: string;
  device: string | undefined;
  width: number;
  fps: number;
  quality: number;
  preview: boolean;
  httpPort: number | undefined;
  allowOrigin: string | undefined;
  picklePort: number | undefined;
  user: string | undefined;
  publish: string[];
  onDemand: boolean;
  idleStopMs: number;
  stallTimeoutMs: number;
  exitOnSourceEnd: boolean;
  clientTimeoutMs: number;
  maxClients: number;
  maxClientsPerIp: number;
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
    capture: { type: "string", default: "auto" },
    "input-format": { type: "string" },
    "input-size": { type: "string" },
    "list-devices": { type: "boolean", default: false },
    preview: { type: "boolean", default: false },
    "http-port": { type: "string" },
    "allow-origin": { type: "string" },
    "pickle-port": { type: "string" },
    user: { type: "string" },
    publish: { type: "string", multiple: true, default: [] },
    "on-demand": { type: "boolean", default: false },
    "idle-stop": { type: "string", default: "5" },
    "stall-timeout": { type: "string", default: "3" },
    "exit-on-source-end": { type: "boolean", default: false },
    "client-timeout": { type: "string", default: "10" },
    "max-clients": { type: "string", default: "1000" },
    "max-clients-per-ip": { type: "string", default: "100" },
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
  for (
    const name of [
      "host",
      "source",
      "cert",
      "key",
      "allow-origin",
      "user",
    ] as const
  ) {
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
  const token = tokenFlag(values.token, env.CAMWIRE_TOKEN);
  if (values.user !== undefined && token === undefined) {
    throw new UsageError(
      "--user goes with --token (the token is its password)",
    );
  }
  return {
    host: values.host,
    port: intFlag("port", values.port, [0, 65535]),
    source: values.source,
    device: values.device,
    width,
    fps: intFlag("fps", values.fps, [1, 240]),
    quality: intFlag("quality", values.quality, [2, 31]),
    ...readCameraFlags(values, Deno.build.os),
    preview: values.preview,
    httpPort: values["http-port"] === undefined
      ? undefined
      : intFlag("http-port", values["http-port"], [0, 65535]),
    allowOrigin: values["allow-origin"],
    picklePort: values["pickle-port"] === undefined
      ? undefined
      : intFlag("pickle-port", values["pickle-port"], [0, 65535]),
    user: values.user,
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
    maxClientsPerIp: intFlag(
      "max-clients-per-ip",
      values["max-clients-per-ip"],
      [0, 1_000_000],
    ),
    sendQueue: intFlag("send-queue", values["send-queue"], [0, 1 << 30]),
    token,
    cert: values.cert,
    key: values.key,
  };
}

/** `--list-devices`: prints every camera and what it offers. */
async function printDevices(flags: Flags): Promise<void> {
  try {
    const lines = await listDevices({
      os: Deno.build.os,
      ffmpeg: "ffmpeg",
      device: flags.device,
    });
    for (const line of lines) console.log(line);
  } catch (error) {
    console.error(`camwire: ${message(error)}`);
    Deno.exit(1);
  }
}

async function main(): Promise<void> {
  const flags = readCommandLine(parseServerFlags, printUsage);
  if (flags === undefined) return;
  if (flags.listDevices) return await printDevices(flags);
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
      const base = `${
        secure ? "https" : "http"
      }://${address}:${server.httpPort}`;
      console.error(`camwire: web page on ${base}/`);
      console.error(
        `camwire: MJPEG stream on ${base}/stream (also /stream.mjpg, /?action=stream)`,
      );
      console.error(
        `camwire: snapshot on ${base}/snapshot (also /snapshot.jpg, /?action=snapshot)`,
      );
    }
  }
  if (server.picklePort !== undefined) {
    for (const address of addresses) {
      console.error(
        `camwire: pickled numpy frames (the Python tutorial's wire) on ${
          secure ? "tls" : "tcp"
        }://${address}:${server.picklePort}`,
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
