// Copyright 2026 the camwire authors. MIT license.
/**
 * The server's options, and their defaults filled in once: what every part
 * of the server reads.
 *
 * @module
 */

import { defaultDevice, type Flip, type Rotation } from "./capture/ffmpeg.ts";
import { devFolder } from "./camera/names.ts";

/**
 * Default bound on the bytes queued unsent per viewer: a couple of frames.
 * A slow viewer then gets fresh frames (measured: bench/slow_viewer.ts).
 */
export const DEFAULT_SEND_QUEUE = 16 * 1024;

/** Options of `startServer` (server.ts), each with its default. */
export interface ServerOptions {
  /** Address to bind. @default {"0.0.0.0"} */
  host?: string;
  /** TCP port; 0 picks a free one. @default {9999} */
  port?: number;
  /** `auto`, `camera`, `test`, a file path or URL, or `-` for stdin. @default {"auto"} */
  source?: string;
  /** Camera device. @default {defaultDevice(Deno.build.os, devFolder())} */
  device?: string | undefined;
  /** Output width in pixels. @default {320} */
  width?: number;
  /** Frames per second. @default {30} */
  fps?: number;
  /**
   * MJPEG quality 2–31 of what ffmpeg encodes. A camera's JPEGs passed
   * through are not re-compressed: the camera's quality control is set
   * instead, where it has one. @default {5}
   */
  quality?: number;
  /**
   * Who reads the camera (Linux): `v4l2` through FFI, `rpicam` (the
   * Raspberry Pi camera, through rpicam-vid), `ffmpeg`, or `auto` (V4L2
   * when the device is a V4L2 capture device, rpicam-vid when it is the
   * Pi camera's pipeline, falling back to ffmpeg when the driver rejects a
   * call). Elsewhere always ffmpeg. A backend named here, like a `device`,
   * means that camera: if it cannot be had at start, an error, not the
   * test pattern.
   * @default {"auto"}
   */
  capture?: "auto" | "v4l2" | "rpicam" | "ffmpeg";
  /** The camera's pixel format to use (`mjpeg`, `yuyv`, …). @default {undefined} */
  inputFormat?: string | undefined;
  /** The camera's frame size to use. @default {undefined} */
  inputSize?: { width: number; height: number } | undefined;
  /**
   * Camera controls to set after the mode, by v4l2-ctl's names (or the
   * pre-5.16 ones) with whole-number values (Linux). @default {[]}
   */
  controls?: { name: string; value: string }[];
  /**
   * Turn the picture clockwise by this many degrees, after scaling to
   * `width`: a 90 or 270 turn makes frames `width` tall. @default {0}
   */
  rotate?: Rotation;
  /** Mirror the picture: `h` left-right, `v` upside down, `hv` both. @default {undefined} */
  flip?: Flip | undefined;
  /**
   * Text drawn in the top left corner; strftime's `%Y-%m-%d %H:%M:%S` and
   * the like become the local time. @default {undefined}
   */
  overlay?: string | undefined;
  /**
   * Seconds between status lines (an unchanged line is logged once); 0
   * for none; `undefined` for a line when something a reader cares about
   * changes (a viewer, the capture's state or rate, a fault), else one an
   * hour. @default {undefined}
   */
  statusIntervalS?: number | undefined;
  /** Opens an ffplay window showing the frames being sent. @default {false} */
  preview?: boolean;
  /** Restart the capture when no frame came for this long, in ms. @default {3000} */
  stallTimeoutMs?: number;
  /** Drop a viewer whose write made no progress for this long, in ms. @default {10000} */
  clientTimeoutMs?: number;
  /** Most viewers at once; more are closed on arrival. @default {1000} */
  maxClients?: number;
  /**
   * Most connections at once from one address (0: no limit), so that one
   * host cannot take every slot. @default {100}
   */
  maxClientsPerIp?: number;
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
   * Reverse proxies in front of the HTTP port (addresses or CIDR ranges):
   * their requests count as the address in `X-Forwarded-For` or
   * `Forwarded` (server/net/proxy.ts). @default {[]}
   */
  trustedProxies?: string[];
  /**
   * Whether loopback viewers skip the per-address rules (the pending
   * budget per address, `maxClientsPerIp`); off, 127.0.0.1 is one address
   * like any other. @default {true}
   */
  exemptLoopback?: boolean;
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
  /**
   * With `token`: the user name HTTP Basic auth must give (its password is
   * the token); any name when unset. @default {undefined}
   */
  user?: string | undefined;
  /** `Access-Control-Allow-Origin` of the stream, snapshot and stats. @default {undefined} */
  allowOrigin?: string | undefined;
  /**
   * Also serve raw BGR frames, pickled as numpy arrays behind a u64 length,
   * on this port: the wire of the Python tutorial camwire grew from.
   * @default {undefined}
   */
  picklePort?: number | undefined;
  /** PEM certificate and key: serve over TLS. @default {undefined} */
  tls?: { cert: string; key: string } | undefined;
  /** The ffmpeg program. @default {"ffmpeg"} */
  ffmpeg?: string;
  /** The ffplay program, for the preview. @default {"ffplay"} */
  ffplay?: string;
  /** Where log lines go. @default {console.error} */
  log?: (line: string) => void;
}

/** {@linkcode ServerOptions} with every default filled in. */
export type ServerSettings = Required<ServerOptions> & {
  device: string;
  /**
   * The caller named the camera (`device`, or a `capture` other than
   * auto): only that camera will do.
   */
  cameraNamed: boolean;
};

/**
 * Fills in the defaults.
 *
 * @param options What the caller gave.
 * @returns Every option, given or default.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const settings = withDefaults({ port: 0 });
 * assert.equal(settings.port, 0);
 * assert.equal(settings.width, 320);
 * ```
 */
export function withDefaults(options: ServerOptions): ServerSettings {
  const settings = {
    host: "0.0.0.0",
    port: 9999,
    source: "auto",
    device: defaultDevice(Deno.build.os, devFolder()),
    width: 320,
    fps: 30,
    quality: 5,
    capture: "auto" as const,
    inputFormat: undefined,
    inputSize: undefined,
    controls: [],
    rotate: 0 as Rotation,
    flip: undefined,
    overlay: undefined,
    statusIntervalS: undefined as number | undefined,
    preview: false,
    stallTimeoutMs: 3000,
    clientTimeoutMs: 10_000,
    maxClients: 1000,
    maxClientsPerIp: 100,
    exitOnSourceEnd: false,
    sendQueue: DEFAULT_SEND_QUEUE,
    directSend: true,
    token: undefined,
    trustedProxies: [],
    exemptLoopback: true,
    publish: [],
    onDemand: false,
    idleStopMs: 5000,
    httpPort: undefined,
    user: undefined,
    allowOrigin: undefined,
    picklePort: undefined,
    tls: undefined,
    ffmpeg: "ffmpeg",
    ffplay: "ffplay",
    log: (line: string) => console.error(line),
    ...definedOnly(options),
  };
  return {
    ...settings,
    device: settings.device ?? defaultDevice(Deno.build.os, devFolder()),
    cameraNamed: options.device !== undefined ||
      (options.capture ?? "auto") !== "auto",
  };
}

/** The options actually given: an `undefined` one keeps its default. */
function definedOnly(options: ServerOptions): ServerOptions {
  return Object.fromEntries(
    Object.entries(options).filter(([, value]) => value !== undefined),
  );
}
