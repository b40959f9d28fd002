#!/usr/bin/env -S deno run --allow-net --allow-run --allow-read --allow-sys --allow-env
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

import { networkInterfaces } from "node:os";
import { parseArgs } from "node:util";
import { HEADER_SIZE, JpegSplitter, stampFrame } from "./framing.ts";

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
        args.push(...words("-re -stream_loop -1 -i"), input);
      }
      break;
    case "stdin":
      args.push(...lowDelay, ...smallProbe, ...words("-f mjpeg -i pipe:0"));
      break;
  }
  args.push(...words("-an -threads 1 -vf"), `scale=${width}:-2`);
  args.push(...words("-c:v mjpeg -q:v"), String(quality));
  args.push(...words("-f mjpeg -flush_packets 1 pipe:1"));
  return args;
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
  #pending: Uint8Array | null = null;
  #busySince = 0;
  #failed = false;
  /** Frames fully written. */
  sent = 0;
  /** Frames replaced by a newer one before they could be written. */
  skipped = 0;

  /**
   * @param write Writes some bytes, resolving to how many were written.
   * @param onError Called once when a write fails; later frames are ignored.
   */
  constructor(
    write: (bytes: Uint8Array) => Promise<number>,
    onError: (error: unknown) => void,
  ) {
    this.#write = write;
    this.#onError = onError;
  }

  /** `performance.now()` when the write in flight began, or 0 when idle. */
  get busySince(): number {
    return this.#busySince;
  }

  /** Queues a frame: written now if idle, else kept as the pending one. */
  offer(frame: Uint8Array): void {
    if (this.#failed) return;
    if (this.#busySince !== 0) {
      if (this.#pending !== null) this.skipped++;
      this.#pending = frame;
      return;
    }
    this.#busySince = performance.now();
    this.#send(frame);
  }

  async #send(frame: Uint8Array | null): Promise<void> {
    try {
      while (frame !== null) {
        let n = 0;
        while (n < frame.length) n += await this.#write(frame.subarray(n));
        this.sent++;
        frame = this.#pending;
        this.#pending = null;
        this.#busySince = frame === null ? 0 : performance.now();
      }
    } catch (error) {
      this.#failed = true;
      this.#pending = null;
      this.#onError(error);
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
  /** Process id of the current ffmpeg. */
  readonly ffmpegPid: number | undefined;
  /** Settles when the server stops; rejects if the capture fails for good. */
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

/** One ffmpeg process and the JPEGs it produces. */
class Capture {
  #child: Deno.ChildProcess;
  #stderrTail: string[] = [];
  #stderrDone: Promise<void>;
  /** Settles with ffmpeg's exit status once its stdout is drained. */
  readonly ended: Promise<Deno.CommandStatus>;
  readonly firstFrame: Promise<void>;

  constructor(
    program: string,
    args: string[],
    stdin: "inherit" | "null",
    onFrame: (jpeg: Uint8Array) => void,
  ) {
    try {
      this.#child = new Deno.Command(program, {
        args,
        stdin,
        stdout: "piped",
        stderr: "piped",
      }).spawn();
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        throw new CamwireError(`ffmpeg not found: ${INSTALL_FFMPEG}`);
      }
      throw error;
    }
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
    try {
      for await (const chunk of this.#child.stdout) {
        for (const jpeg of splitter.push(chunk)) onFrame(jpeg);
      }
    } catch {
      // The pipe broke because ffmpeg was killed: its status says the rest.
    }
    const status = await this.#child.status;
    await this.#stderrDone;
    return status;
  }

  async #drainStderr(): Promise<void> {
    const lines = this.#child.stderr.pipeThrough(new TextDecoderStream());
    let partial = "";
    try {
      for await (const text of lines) {
        const parts = (partial + text).split(/\r?\n/);
        partial = parts.pop()!;
        for (const line of parts) this.#remember(line);
      }
    } catch {
      // stderr closes with the process; nothing left to read.
    }
    this.#remember(partial);
  }

  #remember(line: string): void {
    if (line.trim() === "") return;
    this.#stderrTail.push(line.trim());
    if (this.#stderrTail.length > 20) this.#stderrTail.shift();
  }

  /** Ends ffmpeg (SIGTERM, then SIGKILL after 2 s) and waits for it. */
  async stop(): Promise<void> {
    const killer = setTimeout(() => this.#kill("SIGKILL"), 2000);
    this.#kill("SIGTERM");
    await this.ended;
    clearTimeout(killer);
  }

  #kill(signal: Deno.Signal): void {
    try {
      this.#child.kill(signal);
    } catch {
      // Already exited.
    }
  }
}

/** A connected TCP viewer. */
class Viewer {
  readonly conn: Deno.TcpConn;
  readonly name: string;
  readonly sender: LatestFrameSender;
  #closed = false;

  constructor(conn: Deno.TcpConn, onGone: (viewer: Viewer) => void) {
    this.conn = conn;
    const addr = conn.remoteAddr;
    this.name = `${addr.hostname}:${addr.port}`;
    this.sender = new LatestFrameSender(
      (bytes) => conn.write(bytes),
      () => onGone(this),
    );
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.conn.close();
    } catch {
      // Already closed by the peer's reset.
    }
  }
}

let clockAnchor = { wall: 0, mono: -Infinity };

/**
 * The wall-clock time in milliseconds with sub-millisecond resolution.
 * `performance.now()` is fine-grained but drifts from the wall clock over
 * days (NTP slews only the latter); `Date.now()` is whole milliseconds.
 * So the monotonic clock counts from a wall-clock anchor renewed each second.
 *
 * @returns Unix epoch milliseconds.
 */
export function wallClockMs(): number {
  const mono = performance.now();
  if (mono - clockAnchor.mono > 1000) {
    clockAnchor = { wall: Date.now(), mono };
  }
  return clockAnchor.wall + (mono - clockAnchor.mono);
}

/**
 * Fans each captured frame out: TCP viewers get the wire frame, sinks that
 * take bare JPEGs (the preview) a view of it without the header. Both are
 * built once per frame and shared.
 */
class Broadcaster {
  readonly viewers = new Set<Viewer>();
  readonly jpegSinks = new Set<LatestFrameSender>();
  /** The newest wire frame (header + stamped JPEG). */
  latest: Uint8Array | null = null;
  framesIn = 0;

  publish(jpeg: Uint8Array): void {
    const frame = stampFrame(jpeg, wallClockMs());
    const bare = frame.subarray(HEADER_SIZE);
    this.latest = frame;
    this.framesIn++;
    for (const viewer of this.viewers) viewer.sender.offer(frame);
    for (const sink of this.jpegSinks) sink.offer(bare);
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
  const { stderr } = await new Deno.Command(ffmpeg, {
    args: words("-hide_banner -list_devices true -f dshow -i dummy"),
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  const [name] = parseDshowVideoDevices(new TextDecoder().decode(stderr));
  if (name === undefined) {
    throw new CamwireError(
      'No camera found: ffmpeg lists no dshow video device (use --source test, or --device "video=NAME")',
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
  let device = options.device ?? defaultDevice(os);
  const source = resolveSource(options.source ?? "auto", device, os);

  let listener: Deno.TcpListener;
  try {
    listener = Deno.listen({ hostname: host, port });
  } catch (error) {
    throw listenError(error, host, port);
  }
  const broadcaster = new Broadcaster();
  let capture: Capture;
  let sourceName: string;
  try {
    if (source.kind === "camera" && device === "video=auto") {
      device = await firstDshowDevice(ffmpeg);
      source.input = device;
    }
    const settings = {
      width: options.width ?? 320,
      fps: options.fps ?? 30,
      quality: options.quality ?? 5,
      os,
    };
    const start = async (kind: SourceKind, input: string) => {
      const args = captureArgs({ kind, input, ...settings });
      const stdin = kind === "stdin" ? "inherit" : "null";
      const c = new Capture(
        ffmpeg,
        args,
        stdin,
        (jpeg) => broadcaster.publish(jpeg),
      );
      const failed = c.ended.then(() => false);
      if (await Promise.race([c.firstFrame.then(() => true), failed])) return c;
      const reason = c.lastError || "ffmpeg exited before the first frame";
      throw new CamwireError(
        `Cannot open ${describeSource(kind, input)}: ${reason}`,
      );
    };
    try {
      capture = await start(source.kind, source.input);
    } catch (error) {
      if (
        source.explicit || !(error instanceof CamwireError) ||
        error.message.startsWith("ffmpeg not found")
      ) {
        throw error;
      }
      log(`camwire: ${error.message}; streaming the test pattern instead`);
      source.kind = "test";
      capture = await start("test", "");
    }
    if (source.kind === "test" && !source.explicit && os === "linux") {
      log(
        `camwire: no camera at ${device}; streaming the test pattern instead`,
      );
    }
    sourceName = describeSource(source.kind, source.input);
  } catch (error) {
    listener.close();
    throw error;
  }

  const server = new Server(listener, broadcaster, capture, sourceName, log);
  if (options.preview) {
    server.startPreview(options.ffplay ?? "ffplay");
  }
  return server;
}

function listenError(error: unknown, host: string, port: number): Error {
  if (error instanceof Deno.errors.AddrInUse) {
    return new CamwireError(
      `Cannot listen on ${host}:${port}: the port is in use (stop the other program or pick another --port)`,
    );
  }
  if (error instanceof Deno.errors.AddrNotAvailable) {
    return new CamwireError(
      `Cannot listen on ${host}:${port}: no network interface has that address (check --host)`,
    );
  }
  if (error instanceof Deno.errors.PermissionDenied) {
    return new CamwireError(
      `Cannot listen on ${host}:${port}: permission denied (ports below 1024 need privileges)`,
    );
  }
  return error instanceof Error ? error : new Error(String(error));
}

class Server implements CamwireServer {
  readonly addr: Deno.NetAddr;
  readonly sourceName: string;
  readonly done: Promise<void>;
  #listener: Deno.TcpListener;
  #broadcaster: Broadcaster;
  #capture: Capture;
  #log: (line: string) => void;
  #closing: Promise<void> | null = null;
  #preview: { child: Deno.ChildProcess; sink: LatestFrameSender } | null = null;
  #accepting: Promise<void>;

  constructor(
    listener: Deno.TcpListener,
    broadcaster: Broadcaster,
    capture: Capture,
    sourceName: string,
    log: (line: string) => void,
  ) {
    this.#listener = listener;
    this.addr = listener.addr;
    this.#broadcaster = broadcaster;
    this.#capture = capture;
    this.sourceName = sourceName;
    this.#log = log;
    this.#accepting = this.#acceptLoop();
    this.done = this.#capture.ended.then(async (status) => {
      if (this.#closing) return;
      await this.close();
      throw new CamwireError(
        `ffmpeg stopped (exit code ${status.code}): ${
          this.#capture.lastError || "no error output"
        }`,
      );
    });
    this.done.catch(() => {}); // observed by whoever awaits it
  }

  get viewers(): number {
    return this.#broadcaster.viewers.size;
  }

  get framesIn(): number {
    return this.#broadcaster.framesIn;
  }

  get ffmpegPid(): number | undefined {
    return this.#capture.pid;
  }

  async #acceptLoop(): Promise<void> {
    while (true) {
      let conn: Deno.TcpConn;
      try {
        conn = await this.#listener.accept();
      } catch (error) {
        if (this.#closing) return;
        this.#log(`camwire: accept failed: ${message(error)}`);
        continue;
      }
      this.#addViewer(conn);
    }
  }

  #addViewer(conn: Deno.TcpConn): void {
    conn.setNoDelay(true);
    const viewers = this.#broadcaster.viewers;
    const viewer = new Viewer(
      conn,
      (v) => this.#removeViewer(v, "connection lost"),
    );
    viewers.add(viewer);
    this.#log(
      `camwire: viewer ${viewer.name} connected (${viewers.size} watching)`,
    );
    if (this.#broadcaster.latest) viewer.sender.offer(this.#broadcaster.latest);
    this.#watchInput(viewer);
  }

  /** Reads what a viewer sends, which is nothing until it disconnects. */
  async #watchInput(viewer: Viewer): Promise<void> {
    const buf = new Uint8Array(512);
    let reason = "disconnected";
    try {
      while (true) {
        const n = await viewer.conn.read(buf);
        if (n === null) break;
      }
    } catch (error) {
      reason = error instanceof Deno.errors.Interrupted ||
          error instanceof Deno.errors.BadResource
        ? "closed"
        : message(error);
    }
    this.#removeViewer(viewer, reason);
  }

  #removeViewer(viewer: Viewer, reason: string): void {
    viewer.close();
    const viewers = this.#broadcaster.viewers;
    if (!viewers.delete(viewer)) return;
    if (this.#closing) return;
    this.#log(
      `camwire: viewer ${viewer.name} left: ${reason} (${viewers.size} watching)`,
    );
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
      this.#log(
        `camwire: cannot open the preview: ${
          error instanceof Deno.errors.NotFound
            ? "ffplay not found"
            : message(error)
        }`,
      );
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
    try {
      this.#listener.close();
    } catch {
      // Already closed.
    }
    await this.#accepting;
    for (const viewer of this.#broadcaster.viewers) viewer.close();
    this.#broadcaster.viewers.clear();
    const preview = this.#preview;
    if (preview) {
      try {
        preview.child.kill("SIGTERM");
      } catch {
        // Already exited.
      }
      await preview.child.status;
    }
    await this.#capture.stop();
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
    ...words("-framedrop -probesize 32 -analyzeduration 0"),
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
  console.log(
    `camwire server: stream a camera to TCP viewers as u64-framed JPEGs

USAGE:
  deno run -A server.ts [options]

OPTIONS:
  --host <ADDR>       Address to bind (default 0.0.0.0: every interface;
                      127.0.0.1 keeps it to this machine, e.g. behind an SSH tunnel)
  --port <PORT>       TCP port (default 9999)
  --source <SOURCE>   auto | camera | test | a file path or URL | - (MJPEG on stdin)
                      (default auto: the camera if present, else the test pattern)
  --device <DEVICE>   Camera device (default ${
      defaultDevice(Deno.build.os)
    }; Linux /dev/video0,
                      Windows video=<name> (first listed), macOS avfoundation index 0)
  --width <PIXELS>    Frame width; the height keeps the aspect ratio (default 320)
  --fps <N>           Frames per second of the camera or test pattern (default 30)
  --quality <Q>       JPEG quality, ffmpeg -q:v from 2 (best) to 31 (smallest) (default 5)
  --preview           Also show the frames being sent in an ffplay window
  -h, --help          Show this help

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
 * Reads an integer flag value within bounds.
 *
 * @param name Flag name, for the message.
 * @param value The flag's text.
 * @param min Smallest allowed value.
 * @param max Largest allowed value.
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
 * Parses the server's command line.
 *
 * @param args Command-line arguments.
 * @returns Validated flags, or `"help"`.
 * @throws {UsageError} On an unknown flag or a bad value.
 */
export function parseServerFlags(args: string[]): Flags | "help" {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        host: { type: "string", default: "0.0.0.0" },
        port: { type: "string", default: "9999" },
        source: { type: "string", default: "auto" },
        device: { type: "string" },
        width: { type: "string", default: "320" },
        fps: { type: "string", default: "30" },
        quality: { type: "string", default: "5" },
        preview: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    }));
  } catch (error) {
    throw UsageError.from(error);
  }
  if (values.help) return "help";
  const width = intFlag("width", values.width, [16, 7680]);
  if (width % 2 !== 0) {
    throw new UsageError(`Invalid value for --width: "${width}" is not even`);
  }
  if (values.host.trim() === "") {
    throw new UsageError(`Invalid value for --host: it is empty`);
  }
  if (values.source.trim() === "") {
    throw new UsageError(`Invalid value for --source: it is empty`);
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
  };
}

async function main(): Promise<void> {
  let flags: Flags | "help";
  try {
    flags = parseServerFlags(Deno.args);
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
    server = await startServer(flags);
  } catch (error) {
    console.error(`camwire: ${message(error)}`);
    Deno.exit(1);
  }
  if (stopping) {
    stopping = false;
    await stop();
  }
  for (const address of reachableAddresses(flags.host, networkInterfaces())) {
    console.error(`camwire: streaming on tcp://${address}:${server.addr.port}`);
  }
  console.error(`camwire: source: ${server.sourceName}`);
  try {
    await server.done;
  } catch (error) {
    console.error(`camwire: ${message(error)}`);
    Deno.exit(1);
  }
}

if (import.meta.main) {
  main();
}
