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
 * Importing this file has no side effects: {@linkcode startServer},
 * {@linkcode captureArgs} and {@linkcode LatestFrameSender} are its library.
 *
 * @module
 */

import dgram from "node:dgram";
import { networkInterfaces } from "node:os";
import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import { HEADER_SIZE, jpegSize, JpegSplitter, stampFrame } from "./framing.ts";
import { DirectSender, limitSendQueue, SEND_FAILED } from "./sockets.ts";
import {
  type FrameHub,
  type HttpFrontend,
  type HubFrame,
  serveHttp,
} from "./http.ts";

/** An operating system name as in `Deno.build.os`. */
export type Os = typeof Deno.build.os;

/** What ffmpeg reads from, once `auto` is decided. */
export type SourceKind = "camera" | "test" | "file" | "stdin";

/** Options of {@linkcode captureArgs}. */
export interface CaptureOptions {
  /** Where frames come from. */
  kind: SourceKind;
  /** Camera device (kind `camera`) or path/URL (kind `file`). */
  input: string;
  /** Output width in pixels; the height keeps the aspect ratio (even). */
  width: number;
  /** Frames per second asked of a camera or the test pattern. */
  fps: number;
  /** MJPEG quality, ffmpeg's `-q:v`: 2 (best) to 31 (smallest). */
  quality: number;
  /** Operating system whose camera API to use. */
  os: Os;
  /** Start a file source over when it ends. @default {true} */
  loop?: boolean;
  /**
   * Local relay addresses (`udp://127.0.0.1:PORT`) that also get the
   * capture as H.264 in MPEG-TS, one per publish target. @default {[]}
   */
  relays?: string[];
}

/**
 * Returns the camera device used when `--device` is not given.
 *
 * @param os Operating system.
 * @returns `/dev/video0` on Linux, `0` (the first avfoundation device) on
 * macOS, and on Windows a dshow name that {@linkcode startServer} replaces
 * with the first video device ffmpeg lists.
 */
export function defaultDevice(os: Os): string {
  if (os === "windows") return "video=auto";
  if (os === "darwin") return "0";
  return "/dev/video0";
}

/**
 * Builds ffmpeg's arguments for one capture: input, scaling to the width,
 * MJPEG encoding, raw JPEGs back to back on stdout.
 *
 * Latency flags, each measured on the test chain: `-fflags nobuffer` and
 * `-flags low_delay` stop input buffering, a small probe starts fast,
 * `-threads 1` stops frame threading holding frames, `-flush_packets 1`
 * writes every JPEG as soon as it is encoded.
 *
 * @param options What to capture and how.
 * @returns ffmpeg's argument list (without the program name).
 *
 * @example Linux camera
 * ```ts
 * import assert from "node:assert/strict";
 * const args = captureArgs({
 *   kind: "camera", input: "/dev/video0", width: 320, fps: 30, quality: 5,
 *   os: "linux",
 * });
 * assert.deepEqual(args.slice(args.indexOf("-f"), args.indexOf("-i") + 2), [
 *   "-f", "v4l2", "-framerate", "30", "-i", "/dev/video0",
 * ]);
 * ```
 */
export function captureArgs(options: CaptureOptions): string[] {
  const { kind, input, width, fps, quality, os } = options;
  const args = words("-hide_banner -loglevel error");
  if (kind !== "stdin") args.push("-nostdin");
  const lowDelay = words("-fflags nobuffer -flags low_delay");
  const smallProbe = words("-probesize 32 -analyzeduration 0");
  switch (kind) {
    case "camera":
      args.push(...lowDelay, ...smallProbe, ...cameraInput(os, input, fps));
      break;
    case "test":
      // -re: lavfi renders as fast as it can; read it at the frame rate.
      args.push(
        ...words("-re -f lavfi -i"),
        `testsrc2=size=640x480:rate=${fps}`,
      );
      break;
    case "file":
      if (isUrl(input)) {
        args.push(...lowDelay, "-i", input);
      } else {
        // A file plays at its native rate and starts over at its end.
        if (options.loop ?? true) args.push(...words("-stream_loop -1"));
        args.push("-re", "-i", input);
      }
      break;
    case "stdin":
      args.push(...lowDelay, ...smallProbe, ...words("-f mjpeg -i pipe:0"));
      break;
  }
  args.push(...words("-an -threads 1 -vf"), `scale=${width}:-2`);
  args.push(...words("-c:v mjpeg -q:v"), String(quality));
  args.push(...words("-f mjpeg -flush_packets 1 pipe:1"));
  const relays = options.relays ?? [];
  if (relays.length > 0) args.push(...h264Output(width, relays));
  return args;
}

/**
 * The second output of a publishing capture: H.264 for a media server
 * (fast, no B-frames, a keyframe every second so a new watcher starts
 * within a second), through the tee muxer to a local UDP relay per target.
 * UDP never fails to send, and `onfail=ignore` keeps ffmpeg going anyway:
 * so a publish target that goes away can never stop the local stream.
 */
function h264Output(width: number, relays: string[]): string[] {
  const slaves = relays.map((url) => `[f=mpegts:onfail=ignore]${url}`);
  return [
    ...words("-map 0:v -vf"),
    `scale=${width}:-2`,
    ...words("-c:v libx264 -preset ultrafast -tune zerolatency"),
    ...words("-pix_fmt yuv420p -force_key_frames expr:gte(t,n_forced*1)"),
    ...words("-f tee"),
    slaves.join("|"),
  ];
}

/**
 * The container a publish URL needs, by its scheme.
 *
 * @param url `rtmp://`, `rtmps://`, `rtsp://` or `srt://` address.
 * @returns ffmpeg's format name, or `undefined` for another scheme.
 */
export function publishFormat(url: string): string | undefined {
  const scheme = url.slice(0, url.indexOf("://")).toLowerCase();
  const formats: Record<string, string> = {
    rtmp: "flv",
    rtmps: "flv",
    rtsp: "rtsp",
    srt: "mpegts",
  };
  return Object.hasOwn(formats, scheme) ? formats[scheme] : undefined;
}

/**
 * ffmpeg's arguments for the relay that forwards one publish target's
 * H.264 from the capture's local UDP output, without re-encoding.
 *
 * @param relay The local UDP address the capture sends to.
 * @param url The media server's address.
 * @returns ffmpeg's argument list.
 */
export function relayArgs(relay: string, url: string): string[] {
  return [
    ...words("-hide_banner -loglevel error -nostdin -progress pipe:1"),
    // Keyframes come every second: 1.5 s of probing always sees one,
    // where ffmpeg's default 5 s would delay every (re)connection.
    ...words("-fflags nobuffer -analyzeduration 1500000"),
    ...words("-f mpegts -i"),
    // timeout: a relay whose capture has gone (5 s without input) ends.
    `${relay}?overrun_nonfatal=1&fifo_size=65536&timeout=5000000`,
    // A media server that hangs must fail the relay, so that it is retried.
    ...words("-c copy -rw_timeout 5000000 -f"),
    publishFormat(url) ?? "flv",
    url,
  ];
}

/** Splits a run of space-separated arguments, which never contain spaces. */
function words(text: string): string[] {
  return text.split(" ");
}

function cameraInput(os: Os, device: string, fps: number): string[] {
  const rate = ["-framerate", String(fps)];
  if (os === "windows") return ["-f", "dshow", ...rate, "-i", device];
  if (os === "darwin") return ["-f", "avfoundation", ...rate, "-i", device];
  return ["-f", "v4l2", ...rate, "-i", device];
}

function isUrl(input: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(input);
}

/**
 * Reads the video device names from the output of
 * `ffmpeg -list_devices true -f dshow -i dummy` (Windows).
 *
 * @param stderr ffmpeg's stderr text.
 * @returns Device names in the order ffmpeg lists them.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const text = `[dshow @ 01] "USB Camera" (video)\n[dshow @ 01] "Mic" (audio)`;
 * assert.deepEqual(parseDshowVideoDevices(text), ["USB Camera"]);
 * ```
 */
export function parseDshowVideoDevices(stderr: string): string[] {
  const names: string[] = [];
  for (const match of stderr.matchAll(/"([^"]+)"\s*\(video\)/g)) {
    names.push(match[1]!);
  }
  return names;
}

/** Frames delivered and skipped, counted across viewers. */
export interface DeliveryTotals {
  /** Frames fully written. */
  sent: number;
  /** Frames a viewer never got because a newer one replaced them. */
  skipped: number;
  /** Bytes of the frames written. */
  bytes: number;
}

/**
 * Sends frames to one peer, always the newest: while a write is in flight
 * a newer frame replaces the pending one, so at most one frame is in flight
 * and one waits. A slow peer skips frames; it never delays other peers and
 * never makes memory grow. Frames are shared buffers, never copied.
 *
 * @example A slow sink skips to the newest frame
 * ```ts
 * import assert from "node:assert/strict";
 * const written: number[] = [];
 * let release = () => {};
 * const sender = new LatestFrameSender(async (frame) => {
 *   written.push(frame[0]!);
 *   await new Promise<void>((resolve) => release = resolve);
 *   return frame.length;
 * }, () => {});
 * for (const n of [1, 2, 3]) sender.offer(new Uint8Array([n]));
 * release(); await new Promise((r) => setTimeout(r, 0)); release();
 * assert.deepEqual(written, [1, 3]);
 * assert.equal(sender.skipped, 1);
 * ```
 */
export class LatestFrameSender {
  #write: (bytes: Uint8Array) => Promise<number>;
  #onError: (error: unknown) => void;
  #totals: DeliveryTotals;
  #pending: Uint8Array | null = null;
  #busySince = 0;
  #failed = false;
  /**
   * A synchronous try-write, when there is one: returns the bytes the
   * socket took at once (0 when full) or `SEND_FAILED`. A frame it takes
   * whole costs no promise; the rest of one it does not goes async.
   */
  direct: ((bytes: Uint8Array) => number) | null = null;
  /** Frames fully written. */
  sent = 0;
  /** Frames replaced by a newer one before they could be written. */
  skipped = 0;

  /**
   * @param write Writes some bytes, resolving to how many were written.
   * @param onError Called once when a write fails; later frames are ignored.
   * @param totals Counters shared by many senders, also kept up to date.
   */
  constructor(
    write: (bytes: Uint8Array) => Promise<number>,
    onError: (error: unknown) => void,
    totals: DeliveryTotals = { sent: 0, skipped: 0, bytes: 0 },
  ) {
    this.#write = write;
    this.#onError = onError;
    this.#totals = totals;
  }

  /** `performance.now()` when the write in flight began, or 0 when idle. */
  get busySince(): number {
    return this.#busySince;
  }

  /** Queues a frame: written now if idle, else kept as the pending one. */
  offer(frame: Uint8Array): void {
    if (this.#failed) return;
    if (this.#busySince !== 0) {
      if (this.#pending !== null) {
        this.skipped++;
        this.#totals.skipped++;
      }
      this.#pending = frame;
      return;
    }
    let sent = 0;
    if (this.direct !== null) {
      sent = this.direct(frame);
      if (sent === frame.length) return this.#count(frame);
      if (sent === SEND_FAILED) {
        return this.#fail(new Deno.errors.ConnectionReset("send failed"));
      }
    }
    this.#busySince = performance.now();
    this.#send(frame, sent);
  }

  #count(frame: Uint8Array): void {
    this.sent++;
    this.#totals.sent++;
    this.#totals.bytes += frame.length;
  }

  #fail(error: unknown): void {
    this.#failed = true;
    this.#pending = null;
    this.#onError(error);
  }

  /** Writes `frame` from `offset` on, then any pending frames, async. */
  async #send(frame: Uint8Array | null, offset: number): Promise<void> {
    try {
      while (frame !== null) {
        let n = offset;
        offset = 0;
        while (n < frame.length) n += await this.#write(frame.subarray(n));
        this.#count(frame);
        frame = this.#pending;
        this.#pending = null;
        this.#busySince = frame === null ? 0 : performance.now();
      }
    } catch (error) {
      this.#fail(error);
    }
  }
}

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

/** A user-facing failure: its message is printed as is, then exit 1. */
export class CamwireError extends Error {
  /** @param message One line that says what went wrong and what to do. */
  constructor(message: string) {
    super(message);
    this.name = "CamwireError";
  }
}

const INSTALL_FFMPEG =
  "install it (Debian/Ubuntu: apt install ffmpeg; macOS: brew install ffmpeg; Windows: winget install ffmpeg) or put it on PATH";

/** Spawns a program, turning "not installed" into a clear error. */
function spawn(
  program: string,
  options: Deno.CommandOptions,
): Deno.ChildProcess {
  try {
    return new Deno.Command(program, options).spawn();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound && program.endsWith("ffmpeg")) {
      throw new CamwireError(`ffmpeg not found: ${INSTALL_FFMPEG}`);
    }
    throw error;
  }
}

/** One ffmpeg process and the JPEGs it produces. */
class Capture {
  #child: Deno.ChildProcess;
  #stderrTail: string[] = [];
  #stderrDone: Promise<void>;
  /** Settles with ffmpeg's exit status once its output is drained. */
  readonly ended: Promise<Deno.CommandStatus>;
  readonly firstFrame: Promise<void>;

  constructor(
    program: string,
    args: string[],
    stdin: "inherit" | "null",
    onFrame: (jpeg: Uint8Array) => void,
  ) {
    this.#child = spawn(program, {
      args,
      stdin,
      stdout: "piped",
      stderr: "piped",
    });
    this.#stderrDone = this.#drainStderr();
    let resolveFirst!: () => void;
    this.firstFrame = new Promise((resolve) => resolveFirst = resolve);
    this.ended = this.#readFrames((jpeg) => {
      resolveFirst();
      onFrame(jpeg);
    });
  }

  get pid(): number {
    return this.#child.pid;
  }

  /** ffmpeg's last stderr line, for error messages. */
  get lastError(): string {
    return this.#stderrTail.at(-1) ?? "";
  }

  async #readFrames(
    onFrame: (jpeg: Uint8Array) => void,
  ): Promise<Deno.CommandStatus> {
    const splitter = new JpegSplitter();
    const reader = this.#child.stdout.getReader();
    while (true) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch {
        break; // the pipe broke because ffmpeg was killed: see its status
      }
      if (chunk.done) break;
      // A fault of ours in handling a frame must not pass for ffmpeg's.
      for (const jpeg of splitter.push(chunk.value)) onFrame(jpeg);
    }
    const status = await this.#child.status;
    await this.#stderrDone;
    return status;
  }

  async #drainStderr(): Promise<void> {
    try {
      for await (const line of linesOf(this.#child.stderr)) {
        this.#remember(line);
      }
    } catch {
      // stderr closes with the process; nothing left to read.
    }
  }

  #remember(line: string): void {
    if (line.trim() === "") return;
    this.#stderrTail.push(line.trim());
    if (this.#stderrTail.length > 20) this.#stderrTail.shift();
  }

  /** Ends ffmpeg and waits until its output is drained. */
  async stop(): Promise<void> {
    await endProcess(this.#child, this.ended);
  }

  kill(signal: Deno.Signal): void {
    signalProcess(this.#child, signal);
  }
}

/**
 * The lines of a byte stream (a child's stderr, say), as they come.
 *
 * @param stream UTF-8 text.
 * @returns Each line, without its end.
 */
export async function* linesOf(
  stream: ReadableStream<Uint8Array>,
): AsyncGenerator<string> {
  let partial = "";
  for await (const piece of stream.pipeThrough(new TextDecoderStream())) {
    const parts = (partial + piece).split(/\r?\n/);
    partial = parts.pop()!;
    yield* parts;
  }
  if (partial) yield partial;
}

/** Sends a signal to a child that may have exited already. */
function signalProcess(child: Deno.ChildProcess, signal: Deno.Signal): void {
  try {
    child.kill(signal);
  } catch {
    // Already exited.
  }
}

/**
 * Ends a child process: SIGTERM, and SIGKILL 2 s later for one stuck in a
 * network call (an ffmpeg writing to a hung media server ignores SIGTERM).
 *
 * @param child The process.
 * @param done What to wait for; by default its exit.
 */
export async function endProcess(
  child: Deno.ChildProcess,
  done: Promise<unknown> = child.status,
): Promise<void> {
  const killer = setTimeout(() => signalProcess(child, "SIGKILL"), 2000);
  signalProcess(child, "SIGTERM");
  await done;
  clearTimeout(killer);
}

/** What `setTimeout` and `setInterval` return. */
type Timer = ReturnType<typeof setTimeout>;

/** Restart delays after a capture failure: 0.5 s doubling up to 5 s. */
const FIRST_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 5000;
/** A capture that ran this long was healthy: the next failure starts over. */
const HEALTHY_MS = 60_000;
/** How long the first capture may take to deliver its first frame. */
const START_TIMEOUT_MS = 10_000;
/** How long an ffmpeg exit waits before it counts as a capture fault. */
const EXIT_GRACE_MS = 100;
/** How often the "no signal" placeholder is sent while there is no capture. */
const PLACEHOLDER_INTERVAL_MS = 1000;

/**
 * Where the capture stands: `live` (frames flow), `restarting` (a new
 * ffmpeg is starting), `placeholder` (none runs: waiting out the backoff,
 * viewers see the "no signal" frame) or `idle` (`--on-demand` and nobody
 * watches: ffmpeg is off).
 */
export type CaptureState = "live" | "restarting" | "placeholder" | "idle";

/** How {@linkcode CaptureSupervisor} gets its ffmpeg and reports. */
interface SupervisorOptions {
  ffmpeg: string;
  args: string[];
  stdin: "inherit" | "null";
  /** Restart when no frame came for this long. */
  stallTimeoutMs: number;
  /** Stop for good when ffmpeg ends, instead of restarting it. */
  exitOnSourceEnd: boolean;
  onFrame: (jpeg: Uint8Array) => void;
  /** Called once a second while no capture delivers frames. */
  onNoSignal: () => void;
  log: (line: string) => void;
}

/**
 * Keeps one ffmpeg capture running: when ffmpeg exits or stalls it is
 * restarted with backoff, and meanwhile `onNoSignal` keeps viewers fed.
 */
class CaptureSupervisor {
  #options: SupervisorOptions;
  #capture: Capture | null = null;
  #startedAt = 0;
  #lastFrameAt = 0;
  /** Whether the current ffmpeg has sent a frame yet. */
  #framed = false;
  #lostAt = 0;
  #backoffMs = FIRST_BACKOFF_MS;
  #stopped = false;
  #paused = false;
  #stallTimer: Timer | undefined;
  #restartTimer: Timer | undefined;
  #noSignalTimer: Timer | undefined;
  #finish!: (error?: Error) => void;
  /** Settles when capturing ends for good (see {@linkcode CamwireServer.done}). */
  readonly ended: Promise<void>;

  constructor(options: SupervisorOptions) {
    this.#options = options;
    this.ended = new Promise((resolve, reject) => {
      this.#finish = (error) => error ? reject(error) : resolve();
    });
    this.ended.catch(() => {}); // observed by whoever awaits it
  }

  get pid(): number | undefined {
    return this.#capture?.pid;
  }

  /** See {@linkcode CaptureState}. */
  get state(): CaptureState {
    if (this.#paused) return "idle";
    if (this.#lostAt === 0) return "live";
    return this.#capture === null ? "placeholder" : "restarting";
  }

  /**
   * Starts the first capture and waits for its first frame.
   *
   * @throws {CamwireError} When ffmpeg is missing or ends before a frame.
   */
  async start(describe: string): Promise<void> {
    const capture = this.#launch();
    let timer: Timer | undefined;
    const outcome = await Promise.race([
      capture.firstFrame.then(() => "ok"),
      capture.ended.then(() => capture.lastError || "ffmpeg exited"),
      new Promise<string>((resolve) => {
        timer = setTimeout(
          resolve,
          START_TIMEOUT_MS,
          `no frame within ${seconds(START_TIMEOUT_MS)}`,
        );
      }),
    ]);
    clearTimeout(timer);
    if (outcome !== "ok") {
      // Given up: this supervisor must not restart anything later.
      await this.stop();
      throw new CamwireError(`Cannot open ${describe}: ${outcome}`);
    }
    const check = Math.min(this.#options.stallTimeoutMs / 4, 500);
    this.#stallTimer = setInterval(() => this.#checkStall(), check);
  }

  #launch(): Capture {
    const { ffmpeg, args, stdin } = this.#options;
    const capture = new Capture(ffmpeg, args, stdin, (jpeg) => {
      this.#lastFrameAt = performance.now();
      this.#framed = true;
      if (this.#lostAt !== 0) this.#recovered();
      try {
        this.#options.onFrame(jpeg);
      } catch (error) {
        // A fault of ours, not of the capture: log it and go on.
        this.#options.log(`camwire: cannot send a frame: ${message(error)}`);
      }
    });
    this.#capture = capture;
    this.#startedAt = this.#lastFrameAt = performance.now();
    this.#framed = false;
    // A moment's grace: on Ctrl-C the terminal signals ffmpeg too, and its
    // exit must not be taken for a fault before the server sees the signal.
    capture.ended.then((status) =>
      setTimeout(() => this.#onExit(capture, status), EXIT_GRACE_MS)
    );
    return capture;
  }

  #checkStall(): void {
    const capture = this.#capture;
    if (capture === null || this.#stopped) return;
    const silentMs = performance.now() - this.#lastFrameAt;
    // A camera that is still opening is not stalled: some USB cameras take
    // seconds before their first frame.
    const limit = !this.#framed
      ? Math.max(this.#options.stallTimeoutMs, START_TIMEOUT_MS)
      : this.#options.stallTimeoutMs;
    if (silentMs > limit) {
      this.#options.log(
        `camwire: no frame from ffmpeg for ${seconds(silentMs)}; restarting it`,
      );
      this.#lastFrameAt = performance.now(); // one kill per stall
      capture.kill("SIGKILL");
    }
  }

  #onExit(capture: Capture, status: Deno.CommandStatus): void {
    if (this.#stopped || capture !== this.#capture) return;
    this.#capture = null;
    const why = `ffmpeg exited (${status.signal ?? `code ${status.code}`})` +
      (capture.lastError ? `: ${capture.lastError}` : "");
    if (this.#options.exitOnSourceEnd || this.#options.stdin === "inherit") {
      this.#stopTimers();
      this.#stopped = true;
      this.#finish(
        status.success ? undefined : new CamwireError(`Capture ended: ${why}`),
      );
      return;
    }
    const now = performance.now();
    if (now - this.#startedAt >= HEALTHY_MS) this.#backoffMs = FIRST_BACKOFF_MS;
    if (this.#lostAt === 0) {
      this.#lostAt = now;
      this.#options.onNoSignal();
      this.#noSignalTimer = setInterval(
        () => this.#options.onNoSignal(),
        PLACEHOLDER_INTERVAL_MS,
      );
    }
    const delay = this.#backoffMs;
    this.#backoffMs = Math.min(delay * 2, MAX_BACKOFF_MS);
    this.#options.log(
      `camwire: capture lost: ${why}; restarting in ${seconds(delay)}`,
    );
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = undefined;
      if (!this.#stopped) this.#relaunch();
    }, delay);
  }

  /** {@linkcode #launch}, retried later if ffmpeg cannot even be spawned. */
  #relaunch(): void {
    try {
      this.#launch();
    } catch (error) {
      this.#options.log(
        `camwire: cannot start ffmpeg: ${message(error)}; retrying in ${
          seconds(MAX_BACKOFF_MS)
        }`,
      );
      this.#restartTimer = setTimeout(() => this.#relaunch(), MAX_BACKOFF_MS);
    }
  }

  /** Ends ffmpeg and keeps it ended until {@linkcode resume}: nobody watches. */
  async pause(): Promise<void> {
    if (this.#paused || this.#stopped) return;
    this.#paused = true;
    clearInterval(this.#noSignalTimer);
    clearTimeout(this.#restartTimer);
    this.#lostAt = 0;
    this.#backoffMs = FIRST_BACKOFF_MS;
    const capture = this.#capture;
    this.#capture = null; // so that its exit is not taken for a fault
    await capture?.stop();
  }

  /** Starts ffmpeg again after {@linkcode pause}. */
  resume(): void {
    if (!this.#paused || this.#stopped) return;
    this.#paused = false;
    this.#relaunch();
  }

  #recovered(): void {
    clearInterval(this.#noSignalTimer);
    this.#options.log(
      `camwire: capture recovered after ${
        seconds(performance.now() - this.#lostAt)
      }`,
    );
    this.#lostAt = 0;
  }

  #stopTimers(): void {
    clearInterval(this.#stallTimer);
    clearInterval(this.#noSignalTimer);
    clearTimeout(this.#restartTimer);
  }

  /** Ends ffmpeg for good. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#stopTimers();
    await this.#capture?.stop();
    this.#finish();
  }
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/**
 * Makes the "no signal" JPEG shown while the capture restarts: a dark frame
 * of the stream's size, with the words when ffmpeg has a font for them.
 *
 * @returns The JPEG, or `undefined` when ffmpeg cannot make one.
 */
async function makePlaceholder(
  ffmpeg: string,
  width: number,
  height: number,
  quality: number,
): Promise<Uint8Array | undefined> {
  const text = "drawtext=text='no signal':fontcolor=white:fontsize=" +
    `${Math.round(height / 10)}:x=(w-text_w)/2:y=(h-text_h)/2`;
  for (const filter of [["-vf", text], []]) {
    try {
      const { success, stdout } = await new Deno.Command(ffmpeg, {
        args: [
          ...words("-hide_banner -loglevel error -nostdin -f lavfi -i"),
          `color=c=0x202020:s=${width}x${height}:d=1`,
          ...filter,
          ...words("-frames:v 1 -q:v"),
          String(quality),
          ...words("-f mjpeg pipe:1"),
        ],
        stdin: "null",
        stdout: "piped",
        stderr: "null",
      }).output();
      if (success && stdout.length > 0) return stdout;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/**
 * Publishes to one media server: runs the relay ffmpeg that forwards the
 * capture's H.264 to it, and restarts it with backoff (0.5 s doubling to
 * 5 s) whenever it fails, logging each failure and each recovery. The
 * capture itself never notices.
 */
class Publisher {
  readonly url: string;
  #ffmpeg: string;
  #relay: string;
  #log: (line: string) => void;
  #child: Deno.ChildProcess | null = null;
  #stopped = false;
  #timer: Timer | undefined;
  #wake: (() => void) | undefined;
  #backoffMs = FIRST_BACKOFF_MS;
  #failing = false;
  readonly #done: Promise<void>;

  constructor(
    ffmpeg: string,
    relay: string,
    url: string,
    log: (line: string) => void,
  ) {
    this.#ffmpeg = ffmpeg;
    this.#relay = relay;
    this.url = url;
    this.#log = log;
    this.#done = this.#run().catch((error) => {
      this.#log(`camwire: publishing to ${url} stopped: ${message(error)}`);
    });
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      const started = performance.now();
      const child = spawn(this.#ffmpeg, {
        args: relayArgs(this.#relay, this.url),
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      });
      this.#child = child;
      const [status, stderr] = await Promise.all([
        child.status,
        new Response(child.stderr).text().catch(() => ""),
        this.#watchProgress(child.stdout),
      ]);
      this.#child = null;
      if (this.#stopped) return;
      const why = stderr.trim().split("\n").at(-1) ||
        `ffmpeg exited (code ${status.code})`;
      if (performance.now() - started > HEALTHY_MS) {
        this.#backoffMs = FIRST_BACKOFF_MS;
      }
      const delay = this.#backoffMs;
      this.#backoffMs = Math.min(delay * 2, MAX_BACKOFF_MS);
      this.#failing = true;
      this.#log(
        `camwire: publish to ${this.url} failed: ${why}; retrying in ${
          seconds(delay)
        }`,
      );
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        this.#timer = setTimeout(resolve, delay);
      });
    }
  }

  /**
   * Reads the relay's `-progress` report: once it has written bytes to the
   * media server, publishing works (a relay still probing its input or
   * connecting has written none).
   */
  async #watchProgress(stdout: ReadableStream<Uint8Array>): Promise<void> {
    let announced = false;
    try {
      for await (const text of stdout.pipeThrough(new TextDecoderStream())) {
        const size = Number(text.match(/total_size=(\d+)/)?.[1] ?? 0);
        if (announced || size === 0) continue;
        announced = true;
        this.#log(
          `camwire: publishing to ${this.url}${this.#failing ? " again" : ""}`,
        );
        this.#failing = false;
      }
    } catch {
      // The relay ended.
    }
  }

  /** Stops publishing and waits for the relay to end. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#wake?.();
    const child = this.#child;
    if (child) await endProcess(child);
    await this.#done;
  }
}

/** Finds a free local UDP port for a relay. */
async function freeUdpPort(): Promise<number> {
  const socket = dgram.createSocket("udp4");
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

/**
 * Default bound on the bytes queued unsent per viewer: a couple of frames.
 * A slow viewer then gets fresh frames (measured: bench/slow_viewer.ts).
 */
const DEFAULT_SEND_QUEUE = 16 * 1024;

/** Bytes a viewer may send before it is dropped: viewers only listen. */
const MAX_VIEWER_INPUT = 1024;
/** Time a viewer has to send its token line. */
const TOKEN_TIMEOUT_MS = 5000;

/** A connected viewer (TCP or TLS). */
class Viewer {
  readonly conn: Deno.Conn;
  readonly name: string;
  readonly sender: LatestFrameSender;
  #closed = false;
  #direct: DirectSender | null = null;
  #fd = -1;
  #withdraw = () => {};

  constructor(
    conn: Deno.Conn,
    onGone: (viewer: Viewer) => void,
    totals: DeliveryTotals,
  ) {
    this.conn = conn;
    const addr = conn.remoteAddr as Deno.NetAddr;
    this.name = `${addr.hostname}:${addr.port}`;
    this.sender = new LatestFrameSender(
      (bytes) => conn.write(bytes),
      () => onGone(this),
      totals,
    );
  }

  /**
   * Sends through `direct` once its socket is found (plain TCP only).
   *
   * @param direct The synchronous sender.
   */
  sendDirectly(direct: DirectSender): void {
    this.#direct = direct;
    this.#withdraw = direct.lookUp(this.conn as Deno.TcpConn, (fd) => {
      this.#fd = fd;
      this.sender.direct = (bytes) => direct.send(fd, bytes);
    });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    // Forget the fd first: once closed, its number may be another socket's.
    this.sender.direct = null;
    this.#withdraw();
    if (this.#fd !== -1) this.#direct?.release(this.#fd);
    try {
      this.conn.close(); // also cancels a write stuck on a stalled peer
    } catch {
      // Already closed by the peer's reset.
    }
  }
}

let clockOffset = performance.timeOrigin;
let clockCheckedAt = -Infinity;

/**
 * The wall-clock time in milliseconds with sub-millisecond resolution, for
 * capture stamps that another process (or machine, with NTP) compares with
 * its own clock. `performance.timeOrigin + performance.now()` is precise;
 * it is checked against `Date.now()` every 10 s and follows the wall clock
 * when that steps (NTP, a suspend). `Date.now()` alone is whole
 * milliseconds: up to 1 ms off.
 *
 * @returns Unix epoch milliseconds.
 */
export function wallClockMs(): number {
  const mono = performance.now();
  if (mono - clockCheckedAt > 10_000) {
    clockCheckedAt = mono;
    // Date.now() rounds down, so a clock in step reads a drift in (-1, 0].
    const drift = Date.now() - (clockOffset + mono) + 0.5;
    if (Math.abs(drift) > 1.5) clockOffset += drift;
  }
  return clockOffset + mono;
}

/**
 * Fans each captured frame out: TCP viewers get the wire frame; sinks that
 * take bare JPEGs (the preview) and HTTP viewers a view of it without the
 * header. It is built once per frame and shared, never copied per viewer.
 */
class Broadcaster {
  readonly viewers = new Set<Viewer>();
  /** Synchronous sends to TCP viewers, where the OS allows. */
  direct: DirectSender | null = null;
  readonly jpegSinks = new Set<LatestFrameSender>();
  readonly totals: DeliveryTotals = { sent: 0, skipped: 0, bytes: 0 };
  /** The newest wire frame (header + stamped JPEG). */
  latest: Uint8Array | null = null;
  /** The newest frame for the HTTP side. */
  current: HubFrame | null = null;
  framesIn = 0;
  #waiters: ((frame: HubFrame) => void)[] = [];

  publish(jpeg: Uint8Array): void {
    const frame = stampFrame(jpeg, wallClockMs());
    const bare = frame.subarray(HEADER_SIZE);
    this.latest = frame;
    this.framesIn++;
    this.current = { seq: this.framesIn, jpeg: bare };
    if (this.direct?.pending) this.direct.scan();
    for (const viewer of this.viewers) viewer.sender.offer(frame);
    for (const sink of this.jpegSinks) sink.offer(bare);
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake(this.current);
  }

  /** Forgets the newest frame, which is stale once the capture is off. */
  clear(): void {
    this.latest = null;
    this.current = null;
  }

  /** Resolves with the first frame whose `seq` is above `seq`. */
  next(seq: number): Promise<HubFrame> {
    const current = this.current;
    if (current !== null && current.seq > seq) return Promise.resolve(current);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }
}

function resolveSource(
  source: string,
  device: string,
  os: Os,
): { kind: SourceKind; input: string; explicit: boolean } {
  if (source === "test") return { kind: "test", input: "", explicit: true };
  if (source === "camera") {
    return { kind: "camera", input: device, explicit: true };
  }
  if (source === "-") return { kind: "stdin", input: "-", explicit: true };
  if (source === "auto") {
    // Linux names its cameras in /dev; elsewhere ffmpeg tells by trying.
    if (os === "linux" && !pathExists(device)) {
      return { kind: "test", input: "", explicit: false };
    }
    return { kind: "camera", input: device, explicit: false };
  }
  return { kind: "file", input: source, explicit: true };
}

function pathExists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

function describeSource(kind: SourceKind, input: string): string {
  switch (kind) {
    case "camera":
      return `camera ${input}`;
    case "test":
      return "test pattern (testsrc2)";
    case "file":
      return isUrl(input) ? `stream ${input}` : `file ${input}`;
    case "stdin":
      return "MJPEG on stdin";
  }
}

async function firstDshowDevice(ffmpeg: string): Promise<string> {
  const { stderr } = await spawn(ffmpeg, {
    args: words("-hide_banner -list_devices true -f dshow -i dummy"),
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  const [name] = parseDshowVideoDevices(new TextDecoder().decode(stderr));
  if (name === undefined) {
    throw new CamwireError(
      'Cannot open a camera: ffmpeg lists no dshow video device (use --source test, or --device "video=NAME")',
    );
  }
  return `video=${name}`;
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

/** {@linkcode limitSendQueue}, or a line saying why it could not be. */
function boundSendQueue(
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

/**
 * Compares two strings in time that depends only on their lengths, so that
 * response times do not reveal how much of a guessed token was right.
 */
export function constantTimeEqual(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  }
  return diff === 0;
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

interface ServerSettings {
  /** The TCP port speaks TLS: never write to its sockets directly. */
  tls: boolean;
  sendQueue: number;
  onDemand: boolean;
  idleStopMs: number;
  publishers: Publisher[];
  http:
    | { hostname: string; port: number; tls: ServerOptions["tls"] }
    | undefined;
  sourceName: string;
  clientTimeoutMs: number;
  maxClients: number;
  token: string | undefined;
  log: (line: string) => void;
}

/** How often the server logs its numbers. */
const STATUS_EVERY_S = 10;

class Server implements CamwireServer {
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

function closeQuietly(resource: { close(): void }): void {
  try {
    resource.close();
  } catch {
    // Already closed.
  }
}

/**
 * Reads what a viewer sends: its token line, if one is required, and then
 * nothing. A viewer that keeps sending is dropped, so it cannot make the
 * server buffer or spin.
 */
class ViewerInput {
  #conn: Deno.Conn;
  #buf = new Uint8Array(MAX_VIEWER_INPUT);
  #have = 0;

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  /**
   * Reads one `\n`-terminated line within `timeoutMs`.
   *
   * @returns The line without its end, or `null` on timeout, EOF or a line
   * longer than the input limit.
   */
  async readLine(timeoutMs: number): Promise<string | null> {
    const timer = setTimeout(() => closeQuietly(this.#conn), timeoutMs);
    try {
      while (true) {
        const end = this.#buf.subarray(0, this.#have).indexOf(0x0a);
        if (end !== -1) {
          const line = new TextDecoder().decode(this.#buf.subarray(0, end));
          this.#buf.copyWithin(0, end + 1, this.#have);
          this.#have -= end + 1;
          return line.replace(/\r$/, "");
        }
        if (this.#have === this.#buf.length) return null;
        const n = await this.#conn.read(this.#buf.subarray(this.#have));
        if (n === null) return null;
        this.#have += n;
      }
    } catch {
      return null; // closed by the timer, or reset
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Waits until the viewer goes away.
   *
   * @returns Why: it disconnected, it was closed, or it sent too much.
   */
  async watch(): Promise<string> {
    try {
      while (true) {
        const n = await this.#conn.read(this.#buf.subarray(this.#have));
        if (n === null) return "disconnected";
        this.#have += n;
        if (this.#have >= this.#buf.length) {
          return `dropped: it sent ${this.#have} bytes, viewers send nothing`;
        }
      }
    } catch (error) {
      return error instanceof Deno.errors.Interrupted ||
          error instanceof Deno.errors.BadResource
        ? "closed"
        : message(error);
    }
  }
}

/**
 * Arguments for an ffplay window that shows a live MJPEG pipe with the
 * least delay. ffplay assumes 25 fps for a piped MJPEG; a 30 fps stream
 * then queues frames without end, so timestamps come from the wall clock.
 *
 * @param title Window title.
 * @returns ffplay's argument list, reading from stdin.
 */
export function ffplayArgs(title: string): string[] {
  return [
    ...words("-hide_banner -loglevel error -fflags nobuffer -flags low_delay"),
    // -autoexit: should we die without closing it, the window goes too.
    ...words("-framedrop -autoexit -probesize 32 -analyzeduration 0"),
    ...words("-use_wallclock_as_timestamps 1 -window_title"),
    title,
    ...words("-f mjpeg -i pipe:0"),
  ];
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Calls `stop` on SIGINT (Ctrl-C) and SIGTERM (`kill`, systemd). Without a
 * listener Deno would exit at once and leave its child processes running.
 *
 * @param stop What to do instead.
 */
export function onStopSignal(stop: () => void): void {
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    try {
      Deno.addSignalListener(signal, stop);
    } catch {
      // Windows before Deno 2.7.6 has no SIGTERM.
    }
  }
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

/** A bad command line: printed with a hint to --help, exit 2. */
export class UsageError extends Error {
  /** @param message What is wrong with which flag. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }

  /** Wraps a `parseArgs` error, its several lines joined into one. */
  static from(error: unknown): UsageError {
    return new UsageError(message(error).replace(/\s*\n\s*/g, " "));
  }
}

/**
 * Parses a command line strictly: unknown flags and stray words are errors.
 *
 * @param args Command-line arguments.
 * @param options The flags, as `node:util` `parseArgs` takes them.
 * @returns The flags' values.
 * @throws {UsageError} On an unknown flag or a missing value.
 */
export function parseFlags<const O extends ParseArgsOptionsConfig>(
  args: string[],
  options: O,
) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false })
      .values;
  } catch (error) {
    throw UsageError.from(error);
  }
}

/**
 * Reads an integer flag value within bounds.
 *
 * @param name Flag name, for the message.
 * @param value The flag's text.
 * @param range Smallest and largest allowed value.
 * @returns The number.
 * @throws {UsageError} When it is not an integer in range.
 */
export function intFlag(
  name: string,
  value: string,
  [min, max]: [number, number],
): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(
      `Invalid value for --${name}: "${value}" is not an integer from ${min} to ${max}`,
    );
  }
  return n;
}

/**
 * Reads a duration flag given in seconds.
 *
 * @param name Flag name, for the message.
 * @param value The flag's text, e.g. `2.5`.
 * @param range Smallest and largest allowed seconds.
 * @returns Milliseconds.
 * @throws {UsageError} When it is not a number of seconds in range.
 */
export function secondsFlag(
  name: string,
  value: string,
  [min, max]: [number, number],
): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n < min || n > max) {
    throw new UsageError(
      `Invalid value for --${name}: "${value}" is not a number of seconds from ${min} to ${max}`,
    );
  }
  return Math.round(n * 1000);
}

/**
 * Reads the token from its flag or, failing that, the environment.
 *
 * @param flag `--token`'s value.
 * @param env `CAMWIRE_TOKEN`'s value.
 * @returns The token, or `undefined` for none.
 * @throws {UsageError} When it is empty or has a line break or space.
 */
export function tokenFlag(
  flag: string | undefined,
  env: string | undefined,
): string | undefined {
  const token = flag ?? env;
  if (token === undefined) return undefined;
  if (!/^[\x21-\x7e]+$/.test(token)) {
    throw new UsageError(
      "Invalid value for --token: it must be printable ASCII without spaces, and not empty",
    );
  }
  return token;
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

/**
 * Reads a PEM file named by a flag.
 *
 * @param flag The flag, for the message.
 * @param path The file.
 * @returns Its text.
 * @throws {CamwireError} When it cannot be read.
 */
export function readPem(flag: string, path: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch (error) {
    throw new CamwireError(
      `Cannot read ${flag} file "${path}": ${message(error)}`,
    );
  }
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
