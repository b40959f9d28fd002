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

import { jpegSize } from "./common/jpeg.ts";
import {
  CamwireError,
  message,
  onStopSignal,
  readCommandLine,
  readPem,
} from "./common/cli.ts";
import { hasDisplay } from "./common/ffplay.ts";
import {
  captureArgs,
  changesPicture,
  describeSource,
} from "./server/capture/ffmpeg.ts";
import { StdinCapture } from "./server/capture/stdin.ts";
import {
  CaptureSupervisor,
  checkOverlay,
  makePlaceholder,
  SourceOpenError,
} from "./server/capture/capture.ts";
import { firstDshowDevice, resolveSource } from "./server/capture/source.ts";
import {
  type CameraBackend,
  cameraBackend,
  ffmpegFallback,
  listDevices,
} from "./server/camera/camera.ts";
import { CameraControlPanel } from "./server/camera/controls.ts";
import { findRpicam } from "./server/camera/rpicam.ts";
import {
  parseServerFlags,
  printUsage,
  type ServerFlags,
} from "./server/flags.ts";
import { isLoopback } from "./server/net/admission.ts";
import { TrustedProxies } from "./server/net/proxy.ts";
import { Broadcaster } from "./server/viewers/viewers.ts";
import { DirectSender } from "./server/net/sockets.ts";
import { boundSendQueue, closeQuietly, listen } from "./server/net/net.ts";
import {
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
export { parseServerFlags, type ServerFlags } from "./server/flags.ts";

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
  // A bad --trusted-proxy throws here, before anything starts.
  const trustedProxies = TrustedProxies.parse(settings.trustedProxies);
  if (settings.preview && !hasDisplay(Deno.env.toObject(), Deno.build.os)) {
    // ffplay would run on with no window: refuse before anything starts.
    throw new CamwireError(
      "--preview needs a display, and there is none (DISPLAY and WAYLAND_DISPLAY are unset): drop --preview, and watch with client.ts on a machine with a screen, save the stream with client.ts --output FILE, or serve the web page with --http-port PORT",
    );
  }
  if (settings.overlay !== undefined) {
    await checkOverlay(settings.ffmpeg, settings.overlay);
  }
  let listener: Deno.Listener;
  try {
    listener = listen({
      hostname: settings.host,
      port: settings.port,
      tls: settings.tls,
      flag: "--port",
    });
  } catch (error) {
    if (/failed to lookup address/.test(message(error))) {
      throw new CamwireError(
        `Cannot listen on ${settings.host}:${settings.port}: no such host "${settings.host}" (check --host: an address of this machine, or 0.0.0.0 for all)`,
      );
    }
    throw error;
  }
  const { port } = listener.addr as Deno.NetAddr;
  boundSendQueue(port, settings.sendQueue, settings.log);
  const broadcaster = new Broadcaster();
  if (settings.directSend) broadcaster.direct = DirectSender.open();
  // Loaded only to publish: node:dgram alone cost 1-3 MB of memory.
  const publish = settings.publish.length > 0
    ? await import("./server/capture/publish.ts")
    : undefined;
  const relays = await Promise.all(
    settings.publish.map(() => publish!.freeUdpPort()),
  );
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
      new publish!.Publisher(
        settings.ffmpeg,
        relayAddress(relays[i]!),
        url,
        settings.log,
      )
    ),
    sourceName: capture.name,
    trustedProxies,
    // A V4L2 camera's controls, whoever captures it (V4L2 or ffmpeg; not
    // rpicam-vid, whose camera has none through V4L2).
    controls: capture.source.kind === "camera" && Deno.build.os === "linux" &&
        capture.kind !== "rpicam"
      ? new CameraControlPanel(capture.source.input)
      : undefined,
  };
  const server = await Server.start(parts, settings);
  if (settings.preview) await server.startPreview();
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
  /** The source's name in log lines and `/stats`. */
  name: string;
  /** Who captures a camera: `v4l2`, `rpicam` or `ffmpeg`. */
  kind: CameraBackend["kind"] | undefined;
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
      const { supervisor, name, kind } = await superviseSource(
        settings,
        candidate,
        relays,
        (jpeg) => broadcaster.deliver(jpeg),
        () => noSignal.frame && broadcaster.deliver(noSignal.frame),
      );
      started = { supervisor, source: candidate, name, kind };
      break;
    } catch (error) {
      if (error instanceof SourceOpenError && candidate.kind === "stdin") {
        throw stdinError(error);
      }
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
 * permission or no device is retried once with ffmpeg. JPEGs on stdin
 * already `--width` wide pass through (stdin.ts).
 */
async function superviseSource(
  settings: ServerSettings,
  source: Source,
  relays: number[],
  onFrame: (jpeg: Uint8Array) => void,
  onNoSignal: () => void,
): Promise<Omit<StartedCapture, "source">> {
  const relayUrls = relays.map((port) => `${relayAddress(port)}?pkt_size=1316`);
  const { rotate, flip, overlay } = settings;
  const picture = { rotate, flip, overlay };
  const camera = source.kind === "camera"
    ? {
      device: source.input,
      capture: settings.capture,
      named: settings.cameraNamed,
      width: settings.width,
      fps: settings.fps,
      quality: settings.quality,
      inputFormat: settings.inputFormat,
      inputSize: settings.inputSize,
      controls: settings.controls,
      ffmpeg: settings.ffmpeg,
      relays: relayUrls,
      picture,
      os: Deno.build.os,
      log: settings.log,
    }
    : undefined;
  const supervise = async (backend: CameraBackend | undefined) => {
    if (backend !== undefined) settings.log(`camwire: ${backend.line}`);
    const args = captureArgs({
      ...source,
      width: settings.width,
      fps: backend?.fps ?? settings.fps,
      quality: settings.quality,
      os: Deno.build.os,
      loop: !settings.exitOnSourceEnd,
      relays: relayUrls,
      cameraMode: backend?.cameraMode,
      picture,
    });
    const launch = backend?.launch ??
      (source.kind === "stdin"
        ? (onFrame: (jpeg: Uint8Array) => void) =>
          new StdinCapture({
            input: Deno.stdin.readable,
            width: settings.width,
            reencode: relayUrls.length > 0 || changesPicture(picture),
            ffmpeg: settings.ffmpeg,
            ffmpegArgs: args,
            onFrame,
          })
        : undefined);
    const supervisor = new CaptureSupervisor({
      ffmpeg: settings.ffmpeg,
      args,
      stdin: source.kind === "stdin" ? "inherit" : "null",
      stallTimeoutMs: settings.stallTimeoutMs,
      exitOnSourceEnd: settings.exitOnSourceEnd || source.kind === "stdin",
      onFrame,
      onNoSignal,
      log: settings.log,
      ...(launch ? { launch } : {}),
    });
    const name = backend?.source ?? describeSource(source);
    await supervisor.start(name);
    return { supervisor, name, kind: backend?.kind };
  };
  const backend = camera && await cameraBackend(camera);
  try {
    return await supervise(backend);
  } catch (error) {
    const fallback = camera && backend &&
      ffmpegFallback(camera, backend, error);
    if (fallback === undefined) throw error;
    return await supervise(fallback);
  }
}

/**
 * `--source -` that gave no frame, in camwire's words: ffmpeg's own
 * ("Output file #0 does not contain any stream") names nothing the user
 * did.
 */
function stdinError(error: SourceOpenError): CamwireError {
  const pipe =
    "pipe a camera's MJPEG in, e.g. rpicam-vid --codec mjpeg -o - | deno run -A server.ts --source -";
  const reason = error.message.replace(/^Cannot open [^:]*: /, "");
  if (/^stdin ended/.test(reason)) {
    return new CamwireError(`--source -: ${reason} (${pipe})`);
  }
  if (/does not contain any stream|End of file/i.test(error.message)) {
    return new CamwireError(
      `--source -: stdin ended before a whole JPEG came (${pipe})`,
    );
  }
  return new CamwireError(
    `--source -: stdin gave no JPEG, is it MJPEG? (${pipe}): ${reason}`,
  );
}

/** What `--source auto` falls back to. */
const TEST_PATTERN: Source = { kind: "test", input: "", explicit: false };

/** `--source` and `--device` decided: what ffmpeg is to open. */
async function chooseSource(settings: ServerSettings): Promise<Source> {
  const source = resolveSource(
    settings.source,
    settings.device,
    Deno.build.os,
    settings.cameraNamed,
  );
  if (
    source.kind === "test" && !source.explicit && Deno.build.os === "linux" &&
    findRpicam() !== undefined
  ) {
    // No /dev/video0, but rpicam-vid: the Pi camera, if it lists one
    // (camera.ts), else the test pattern after all.
    return { kind: "camera", input: settings.device, explicit: false };
  }
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

/** Network interfaces by name, in the shape of `node:os` `networkInterfaces()`. */
export type NetworkInterfaces = Record<
  string,
  { address: string; family: string; internal: boolean }[] | undefined
>;

/**
 * This machine's interfaces, from `Deno.networkInterfaces()`: loading
 * `node:os` for them cost the server 2 MB of memory.
 */
function networkInterfaces(): NetworkInterfaces {
  const byName: NetworkInterfaces = {};
  for (const { name, address, family } of Deno.networkInterfaces()) {
    (byName[name] ??= []).push({
      address,
      family,
      internal: isLoopback(address),
    });
  }
  return byName;
}

/**
 * Lists the addresses viewers can use to reach a server bound to `host`.
 *
 * @param host The bind address.
 * @param interfaces Network interfaces by name.
 * @returns Every non-internal IPv4 plus loopback when bound to all
 * interfaces, else the bind address alone.
 */
export function reachableAddresses(
  host: string,
  interfaces: NetworkInterfaces,
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

/** `--list-devices`: prints every camera and what it offers. */
async function printDevices(flags: ServerFlags): Promise<void> {
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
  for (const warning of flags.warnings) console.error(warning);
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
    try {
      await server.close();
    } catch (error) {
      // A signal handler's rejection would end the process with a trace.
      console.error(`camwire: cannot stop cleanly: ${message(error)}`);
      Deno.exit(1);
    }
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
