// Copyright 2026 the camwire authors. MIT license.
/**
 * The server's command line: `--help`, and every flag read and checked
 * into {@linkcode ServerFlags} (bad values and combinations are a
 * {@linkcode UsageError}; flags that do nothing here are warnings).
 *
 * @module
 */

import {
  intFlag,
  message,
  parseFlags,
  secondsFlag,
  tokenFlag,
  UsageError,
} from "../common/cli.ts";
import {
  defaultDevice,
  type Flip,
  publishFormat,
  type Rotation,
} from "./capture/ffmpeg.ts";
import { type CameraFlags, readCameraFlags } from "./camera/camera.ts";
import { PIXEL_FORMATS } from "./camera/mode.ts";
import { DEFAULT_SEND_QUEUE } from "./options.ts";
import { TrustedProxies } from "./net/proxy.ts";

/**
 * Prints the server's `--help`.
 *
 * @example
 * ```ts ignore
 * printUsage(); // USAGE, OPTIONS, each flag with its default
 * ```
 */
export function printUsage(): void {
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
  --device <DEVICE>       Camera device (default ${device}; Linux: /dev/videoN, or a
                          name that survives a replug: /dev/v4l/by-id/usb-...,
                          Windows: video=<name>, default the first camera listed,
                          macOS: avfoundation index)
  --width <PIXELS>        Frame width; the height keeps the aspect ratio (default 320)
  --fps <N>               Frames per second of the camera or test pattern (default 30)
  --quality <Q>           JPEG quality, ffmpeg -q:v from 2 (best) to 31 (smallest) (default 5).
                          A camera's JPEGs passed through are not re-compressed: the
                          camera's own quality control is set instead, where it has one
  --preview               Also show the frames being sent in an ffplay window (needs a
                          display)

PICTURE (each re-encodes: a camera's own JPEGs are then not passed through):
  --rotate <DEG>          Turn the picture clockwise: 0, 90, 180 or 270, after scaling
                          to --width (a 90 turn of 320x240 is 240x320) (default 0)
  --flip <HOW>            Mirror it: h (left-right), v (upside down) or hv (default none)
  --overlay <TEXT>        Draw TEXT in the top left corner; strftime's %Y-%m-%d %H:%M:%S
                          and the like become the local time, %% is a percent sign
                          (default none; needs a font, e.g. fonts-dejavu-core)

CAMERA (Linux):
  --capture <HOW>         auto | v4l2 | rpicam | ffmpeg (default auto: V4L2 through FFI
                          when the device is a V4L2 camera; rpicam-vid when it is the
                          Raspberry Pi camera's (unicam, rp1-cfe, ...) or there is no
                          /dev/video0 but rpicam-vid; else ffmpeg; if V4L2 fails on
                          this camera, ffmpeg with a warning). The camera's own MJPEG
                          at --width wide is passed through: no ffmpeg at all. With
                          --device or --capture given, a camera missing at start is
                          an error, never the test pattern
  --input-format <FMT>    Camera pixel format: ${
      PIXEL_FORMATS.map((f) => f.name).join(", ")
    }
                          (default: MJPEG when offered, see docs/camera.md)
  --input-size <WxH>      Camera frame size (default: the smallest at least --width wide)
  --control <NAME=VALUE>  Set a camera control after the mode, e.g. brightness=140,
                          focus_automatic_continuous=0 (repeatable; names as v4l2-ctl
                          gives them, the pre-5.16 ones such as exposure_auto too)
  --list-devices          List cameras with their formats, sizes, rates and controls,
                          and exit

MORE WAYS TO WATCH:
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
  --stall-timeout <S>     Restart the capture when no frame came for S seconds (default 3)
  --exit-on-source-end    Exit when the source ends (a file plays once) instead of
                          restarting it (default off)
  --status-interval <S>   Log viewers, fps and kbit/s every S seconds, once while
                          they stay the same; 0: never (default: a line when a
                          viewer comes or goes, the capture stops, stalls or
                          recovers, its rate moves over 10 % or frames are
                          skipped or dropped; else one an hour)
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
  --trusted-proxy <ADDR>  A reverse proxy in front of --http-port (repeatable; CIDR
                          allowed, e.g. 127.0.0.1, 10.0.0.0/8, ::1): its requests count
                          as the address in X-Forwarded-For or Forwarded (default none:
                          behind a proxy, every viewer is the proxy's one address)
  --cert <FILE>           PEM certificate: serve over TLS (with --key) (default off)
  --key <FILE>            PEM private key of --cert
  -h, --help              Show this help

Viewers: deno run -A client.ts --host <this machine's address>`,
  );
}

/** The server's flags, read and checked. */
export interface ServerFlags extends CameraFlags {
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
  rotate: Rotation;
  flip: Flip | undefined;
  overlay: string | undefined;
  /** Seconds between status lines; `undefined`: when something changes. */
  statusIntervalS: number | undefined;
  /** One line each for flags that do nothing in this combination. */
  warnings: string[];
  stallTimeoutMs: number;
  exitOnSourceEnd: boolean;
  clientTimeoutMs: number;
  maxClients: number;
  maxClientsPerIp: number;
  sendQueue: number;
  token: string | undefined;
  trustedProxies: string[];
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
): ServerFlags | "help" {
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
    control: { type: "string", multiple: true, default: [] },
    preview: { type: "boolean", default: false },
    "http-port": { type: "string" },
    "allow-origin": { type: "string" },
    "pickle-port": { type: "string" },
    user: { type: "string" },
    publish: { type: "string", multiple: true, default: [] },
    "on-demand": { type: "boolean", default: false },
    "idle-stop": { type: "string" },
    rotate: { type: "string", default: "0" },
    flip: { type: "string" },
    overlay: { type: "string" },
    "status-interval": { type: "string" },
    "stall-timeout": { type: "string", default: "3" },
    "exit-on-source-end": { type: "boolean", default: false },
    "client-timeout": { type: "string", default: "10" },
    "max-clients": { type: "string", default: "1000" },
    "max-clients-per-ip": { type: "string", default: "100" },
    "send-queue": { type: "string", default: String(DEFAULT_SEND_QUEUE) },
    token: { type: "string" },
    "trusted-proxy": { type: "string", multiple: true, default: [] },
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
  const port = intFlag("port", values.port, [0, 65535]);
  const httpPort = values["http-port"] === undefined
    ? undefined
    : intFlag("http-port", values["http-port"], [0, 65535]);
  const picklePort = values["pickle-port"] === undefined
    ? undefined
    : intFlag("pickle-port", values["pickle-port"], [0, 65535]);
  samePorts({ port, "http-port": httpPort, "pickle-port": picklePort });
  const token = tokenFlag(values.token, env.CAMWIRE_TOKEN);
  if (values.user !== undefined && token === undefined) {
    throw new UsageError(
      "--user goes with --token (the token is its password)",
    );
  }
  try {
    TrustedProxies.parse(values["trusted-proxy"]);
  } catch (error) {
    throw new UsageError(message(error));
  }
  return {
    host: values.host,
    port,
    source: values.source,
    device: values.device,
    width,
    fps: intFlag("fps", values.fps, [1, 240]),
    quality: intFlag("quality", values.quality, [2, 31]),
    ...readCameraFlags(values, Deno.build.os),
    preview: values.preview,
    httpPort,
    allowOrigin: values["allow-origin"],
    picklePort,
    user: values.user,
    publish: values.publish,
    onDemand: values["on-demand"],
    idleStopMs: secondsFlag("idle-stop", values["idle-stop"] ?? "5", [
      0,
      86400,
    ]),
    ...readPicture(values),
    statusIntervalS: values["status-interval"] === undefined
      ? undefined
      : intFlag("status-interval", values["status-interval"], [0, 86400]),
    warnings: uselessFlags(values),
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
    trustedProxies: values["trusted-proxy"],
    cert: values.cert,
    key: values.key,
  };
}

/** `--rotate`, `--flip` and `--overlay`, read and checked. */
function readPicture(values: {
  rotate: string;
  flip?: string | undefined;
  overlay?: string | undefined;
}): { rotate: Rotation; flip: Flip | undefined; overlay: string | undefined } {
  const rotate = Number(values.rotate);
  if (![0, 90, 180, 270].includes(rotate) || values.rotate.trim() === "") {
    throw new UsageError(
      `Invalid value for --rotate: "${values.rotate}" is not 0, 90, 180 or 270`,
    );
  }
  const flip = values.flip;
  if (flip !== undefined && flip !== "h" && flip !== "v" && flip !== "hv") {
    throw new UsageError(
      `Invalid value for --flip: "${flip}" is not h, v or hv`,
    );
  }
  if (values.overlay !== undefined && values.overlay.trim() === "") {
    throw new UsageError("Invalid value for --overlay: it is empty");
  }
  return { rotate: rotate as Rotation, flip, overlay: values.overlay };
}

/**
 * Refuses two services on one port: the second would fail with "the port
 * is in use", which sends the user looking for another program.
 */
function samePorts(ports: Record<string, number | undefined>): void {
  const seen = new Map<number, string>();
  for (const [flag, port] of Object.entries(ports)) {
    if (port === undefined || port === 0) continue; // 0: any free port
    const other = seen.get(port);
    if (other !== undefined) {
      throw new UsageError(
        `--${other} and --${flag} are both ${port}: give each its own port`,
      );
    }
    seen.set(port, flag);
  }
}

/** One line for each flag given that does nothing with the others. */
function uselessFlags(values: {
  "idle-stop"?: string | undefined;
  "on-demand": boolean;
  device?: string | undefined;
  source: string;
  "trusted-proxy": string[];
  "http-port"?: string | undefined;
  capture: string;
}): string[] {
  const warnings: string[] = [];
  if (values["trusted-proxy"].length > 0 && values["http-port"] === undefined) {
    warnings.push(
      "camwire: warning: --trusted-proxy does nothing without --http-port (only HTTP requests name the viewer behind a proxy)",
    );
  }
  if (values["idle-stop"] !== undefined && !values["on-demand"]) {
    warnings.push(
      "camwire: warning: --idle-stop does nothing without --on-demand",
    );
  }
  const source = values.source;
  if (values.device !== undefined && source !== "auto" && source !== "camera") {
    warnings.push(
      `camwire: warning: --device does nothing with --source ${source} (only with a camera: --source auto or camera)`,
    );
  } else if (values.device !== undefined && values.capture === "rpicam") {
    warnings.push(
      "camwire: warning: --device does nothing with --capture rpicam (rpicam-vid opens the Raspberry Pi camera itself)",
    );
  }
  return warnings;
}
