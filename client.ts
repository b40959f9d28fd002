#!/usr/bin/env -S deno run --allow-net --allow-run --allow-write --allow-read --allow-env
// Copyright 2026 the camwire authors. MIT license.
/**
 * camwire client: connects to a camwire server, reads its u64-framed JPEGs
 * and shows them in an ffplay window, or writes them to a file or stdout.
 *
 * ```sh
 * deno run -A client.ts --host 192.168.56.1          # a window
 * deno run -A client.ts --output cam.mkv --seconds 60    # a recording with timing
 * deno run -A client.ts --output cam.mjpeg --frames 300
 * deno run -A client.ts --output - | ffplay -f mjpeg -i -
 * ```
 *
 * Importing this file has no side effects: {@linkcode runClient},
 * {@linkcode watch} and the sinks are its library.
 *
 * @module
 */

import { Deframer } from "./framing.ts";
import { readStamp } from "./common/jpeg.ts";
import {
  CamwireError,
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
import { Backoff } from "./common/backoff.ts";
import {
  ffplaySink,
  fileSink,
  type FrameSink,
  OutputError,
} from "./common/sinks.ts";
import { recordFormat, recordSink } from "./common/record.ts";
import {
  closedEarly,
  connectError,
  type Connection,
  isPlainHangUp,
  streamError,
} from "./common/conn_errors.ts";
import { MAX_PICKLE_SIZE, pickleSink } from "./common/pickle_sink.ts";
import { sleep, wallClockMs } from "./common/time.ts";

export { ffplaySink, fileSink, type FrameSink } from "./common/sinks.ts";

/** Who waits for each sink's end: one subscription per sink, not per run. */
const sinkWatchers = new WeakMap<
  FrameSink,
  { ended: boolean; listeners: Set<() => void> }
>();

/**
 * Calls `listener` when the sink ends on its own. A file sink never does,
 * so a `.then()` per connection would keep every closed connection of a
 * long `--reconnect` run alive; this subscribes to the sink once.
 *
 * @returns A function that stops the call.
 */
function whenEnded(sink: FrameSink, listener: () => void): () => void {
  let watch = sinkWatchers.get(sink);
  if (watch === undefined) {
    const created = { ended: false, listeners: new Set<() => void>() };
    sink.ended.then(() => {
      created.ended = true;
      for (const call of created.listeners) call();
    });
    sinkWatchers.set(sink, created);
    watch = created;
  }
  if (watch.ended) queueMicrotask(listener);
  const listeners = watch.listeners;
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Bytes read from the server at a time. */
const READ_BUFFER_SIZE = 64 * 1024;

/** Options of {@linkcode runClient}. */
export interface ClientOptions {
  /** Server address. @default {"127.0.0.1"} */
  host?: string;
  /** Server port. @default {9999} */
  port?: number;
  /** Stop after this many frames. @default {Infinity} */
  frames?: number;
  /**
   * Give up when connecting, or the next whole frame, takes longer than
   * this, in ms: a server that drips bytes cannot hang the client.
   * @default {10000}
   */
  timeoutMs?: number;
  /** Sent first as `camwire <token>\n`, for a server with `--token`. */
  token?: string | undefined;
  /** Connect over TLS, trusting these CA certificates besides the system's. */
  tls?: { caCerts: string[] } | undefined;
  /** Aborting it stops the client cleanly. */
  signal?: AbortSignal;
  /** Called once connected (and the token sent). */
  onConnected?: () => void;
  /** Called with each JPEG as it arrives, before the sink takes it. */
  onFrame?: ((jpeg: Uint8Array) => void) | undefined;
  /**
   * The payloads are pickled numpy pictures (the Python tutorial's wire),
   * not JPEGs: for a sink from `pickleSink()`. @default {false}
   */
  pickle?: boolean;
}

/** How a client run ended. */
export interface ClientResult {
  /** Frames received. */
  frames: number;
  /** Why it stopped. */
  reason: "server-closed" | "frames" | "sink-closed" | "aborted";
}

/**
 * Streams frames from a server into a sink until the server closes, the
 * frame count is reached, the sink ends or the signal aborts.
 *
 * @param sink Where frames go (see {@linkcode fileSink}, {@linkcode ffplaySink}).
 * @param options Server address and limits.
 * @returns How many frames arrived and why it stopped.
 * @throws {CamwireError} When the server cannot be reached, sends no frame
 * in time, closes before the first frame or its stream is broken.
 *
 * @example Save 30 frames
 * ```ts ignore
 * const file = await Deno.open("cam.mjpeg", { write: true, create: true });
 * await runClient(fileSink(file.writable), { host: "127.0.0.1", frames: 30 });
 * ```
 */
export async function runClient(
  sink: FrameSink,
  options: ClientOptions = {},
): Promise<ClientResult> {
  const host = options.host ?? "127.0.0.1";
  const port = options.port ?? 9999;
  const limit = options.frames ?? Infinity;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const where = `${options.tls ? "tls" : "tcp"}://${host}:${port}`;
  const about: Connection = {
    where,
    host,
    tls: options.tls !== undefined,
    token: options.token !== undefined,
  };
  if (options.signal?.aborted) return { frames: 0, reason: "aborted" };
  let conn: Deno.Conn;
  try {
    conn = await connect(host, port, options, timeoutMs, about);
  } catch (error) {
    if (options.signal?.aborted) return { frames: 0, reason: "aborted" };
    throw error;
  }
  let stopReason: ClientResult["reason"] | "timeout" | null = null;
  const stopFor = (reason: NonNullable<typeof stopReason>) => {
    stopReason ??= reason;
    try {
      conn.close(); // cancels the pending read
    } catch {
      // Already closed.
    }
  };
  const onAbort = () => stopFor("aborted");
  options.signal?.addEventListener("abort", onAbort);
  const stopWatchingSink = whenEnded(sink, () => stopFor("sink-closed"));
  let lastProgress = performance.now();
  const watchdog = setInterval(() => {
    if (performance.now() - lastProgress > timeoutMs) stopFor("timeout");
  }, Math.min(250, timeoutMs));

  const deframer = new Deframer(
    options.pickle ? { anyPayload: true, maxFrameSize: MAX_PICKLE_SIZE } : {},
  );
  let frames = 0;
  /** The first bytes that came, to tell a TLS port by its answer. */
  let first: Uint8Array | undefined;
  try {
    if (options.token !== undefined) {
      await writeAll(
        conn,
        new TextEncoder().encode(`camwire ${options.token}\n`),
      );
    }
    options.onConnected?.();
    // One read buffer for the whole stream: a stream's chunks are fresh
    // 64 KiB buffers, and a server that drips a byte per packet made
    // garbage faster than it was collected (a 300,000-byte drip: 95 MB of
    // RSS; with this buffer the deframer's copy of the frame is all).
    const buffer = new Uint8Array(READ_BUFFER_SIZE);
    while (frames < limit) {
      const n = await conn.read(buffer).catch((error) => {
        // A TLS server that hangs up without saying goodbye: the end.
        if (isPlainHangUp(error)) return null;
        throw error;
      });
      if (n === null) {
        deframer.finish();
        break;
      }
      const bytes = buffer.subarray(0, n);
      first ??= bytes.slice(0, 3);
      for (const view of deframer.push(bytes)) {
        // A frame inside one read is a view of the buffer the next read
        // overwrites: the sink gets a copy of its own.
        const jpeg = view.buffer === buffer.buffer ? view.slice() : view;
        lastProgress = performance.now();
        options.onFrame?.(jpeg);
        await sink.put(jpeg);
        if (++frames >= limit) break;
      }
    }
  } catch (error) {
    if (stopReason === null) throw streamError(error, about, first);
  } finally {
    clearInterval(watchdog);
    options.signal?.removeEventListener("abort", onAbort);
    stopWatchingSink();
    stopFor("frames");
  }
  // (Set by callbacks: TypeScript cannot see that it may not be null here.)
  const stopped = stopReason as NonNullable<typeof stopReason>;
  if (stopped === "timeout") {
    // A plain client at a TLS port that waits for its handshake hears
    // nothing at all.
    const silent = first === undefined && !about.tls
      ? ": nothing at all came (is it a TLS port? try --tls)"
      : "";
    throw new CamwireError(
      `No frame from ${where} for ${timeoutMs / 1000} s (--timeout)${silent}`,
    );
  }
  if (stopped !== "frames") return { frames, reason: stopped };
  if (frames >= limit) return { frames, reason: "frames" };
  if (frames === 0) throw new CamwireError(closedEarly(about));
  return { frames, reason: "server-closed" };
}

/** Connects within `timeoutMs`, or until `signal` aborts (then rejects). */
async function connect(
  hostname: string,
  port: number,
  options: ClientOptions,
  timeoutMs: number,
  about: Connection,
): Promise<Deno.Conn> {
  const { tls, signal } = options;
  const connecting: Promise<Deno.Conn> = tls
    ? Deno.connectTls({ hostname, port, caCerts: tls.caCerts })
    : Deno.connect({ hostname, port }).then((conn) => {
      conn.setNoDelay(true);
      return conn;
    });
  let timer: ReturnType<typeof setTimeout> | undefined;
  let onAbort = () => {};
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Deno.errors.TimedOut("timed out")),
      timeoutMs,
    );
    onAbort = () => reject(new Deno.errors.Interrupted("aborted"));
    signal?.addEventListener("abort", onAbort);
  });
  try {
    const conn = await Promise.race([connecting, timeout]);
    if (tls) await Promise.race([(conn as Deno.TlsConn).handshake(), timeout]);
    return conn;
  } catch (error) {
    // A connection that completes after the timeout must not leak.
    connecting.then((conn) => conn.close(), () => {});
    throw signal?.aborted ? error : connectError(error, about);
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", onAbort);
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let n = 0;
  while (n < bytes.length) n += await conn.write(bytes.subarray(n));
}

/** Options of {@linkcode watch}. */
export interface WatchOptions extends ClientOptions {
  /** Retry forever when the server is unreachable or the stream breaks. */
  reconnect?: boolean;
  /** Where state changes are reported. @default {console.error} */
  log?: (line: string) => void;
}

/**
 * {@linkcode runClient}, optionally kept alive: with `reconnect`, every
 * failure (unreachable, refused, timed out, broken, closed) is retried with
 * backoff, into the same sink, so an ffplay window stays open on the last
 * frame. One line is logged per change of state, not per attempt.
 *
 * @param sink Where frames go.
 * @param options Server, limits and `reconnect`.
 * @returns How many frames arrived in all and why it stopped.
 * @throws {CamwireError} Without `reconnect`, as {@linkcode runClient}.
 */
export async function watch(
  sink: FrameSink,
  options: WatchOptions = {},
): Promise<ClientResult> {
  const log = options.log ?? ((line: string) => console.error(line));
  const where = `${options.tls ? "tls" : "tcp"}://${
    options.host ?? "127.0.0.1"
  }:${options.port ?? 9999}`;
  let total = 0;
  const backoff = new Backoff();
  let lastProblem = "";
  // The window closed while the client waits to reconnect ends it too.
  const sinkEnded = sink.ended.then(() => false);
  while (true) {
    let problem: string;
    let got = 0;
    try {
      const result = await runClient(sink, {
        ...options,
        frames: (options.frames ?? Infinity) - total,
        onFrame: (jpeg) => {
          // Connected again only once frames come: a server that accepts
          // and then closes (a wrong token) is still a problem.
          if (got++ === 0 && lastProblem !== "") {
            log(`camwire: connected to ${where}`);
            lastProblem = "";
          }
          options.onFrame?.(jpeg);
        },
      });
      total += result.frames;
      if (!options.reconnect || result.reason !== "server-closed") {
        return { frames: total, reason: result.reason };
      }
      problem = `the server closed the stream after ${result.frames} frames`;
    } catch (error) {
      total += got;
      if (
        !options.reconnect || !(error instanceof CamwireError) ||
        error instanceof OutputError
      ) {
        throw error;
      }
      problem = error.message;
    }
    if (got > 0) backoff.reset(); // it worked for a while
    if (problem !== lastProblem) {
      log(`camwire: ${problem}; reconnecting`);
      lastProblem = problem;
    }
    const delay = backoff.next();
    if (!await Promise.race([sleep(delay, options.signal), sinkEnded])) {
      const reason = options.signal?.aborted ? "aborted" : "sink-closed";
      return { frames: total, reason };
    }
  }
}

/**
 * Per-second receive statistics for `--stats`: frames, bit rate, frames the
 * sink dropped, and the age of frames on arrival from their capture stamp
 * (meaningful when both clocks agree: the same machine, or NTP).
 */
export class ReceiveStats {
  #frames = 0;
  #bytes = 0;
  #ages: number[] = [];
  #dropped = 0;

  /** Counts one arrived JPEG. */
  add(jpeg: Uint8Array): void {
    this.#frames++;
    this.#bytes += jpeg.length + 8;
    const stamp = readStamp(jpeg);
    if (stamp !== undefined) this.#ages.push(wallClockMs() - stamp);
  }

  /**
   * Returns the line for the interval since the last call, and starts anew.
   *
   * @param seconds Length of the interval.
   * @param droppedTotal The sink's dropped-frame count so far.
   * @returns e.g. `30.0 fps, 2001 kbit/s, 0 dropped, latency p50 1.2 ms p99 3.4 ms`.
   */
  line(seconds: number, droppedTotal: number): string {
    const ages = this.#ages.sort((a, b) => a - b);
    const latency = ages.length === 0
      ? "no capture stamps"
      : `latency p50 ${percentile(ages, 0.5).toFixed(1)} ms p99 ${
        percentile(ages, 0.99).toFixed(1)
      } ms`;
    const text = `${(this.#frames / seconds).toFixed(1)} fps, ${
      Math.round(this.#bytes * 8 / 1000 / seconds)
    } kbit/s, ${droppedTotal - this.#dropped} dropped, ${latency}`;
    this.#frames = 0;
    this.#bytes = 0;
    this.#ages = [];
    this.#dropped = droppedTotal;
    return text;
  }
}

/**
 * Reads a percentile from sorted numbers (nearest rank).
 *
 * @param sorted Ascending values, not empty.
 * @param p Fraction from 0 to 1.
 * @returns The value at that rank.
 */
export function percentile(sorted: number[], p: number): number {
  const rank = Math.ceil(p * sorted.length) - 1;
  return sorted[Math.min(Math.max(rank, 0), sorted.length - 1)]!;
}

function printUsage(): void {
  console.log(`camwire client: watch a camwire stream

USAGE:
  deno run -A client.ts [options]

OPTIONS:
  --host <ADDR>       Server address (default 127.0.0.1)
  --port <PORT>       Server port (default 9999)
  --output <PATH>     Instead of a window: PATH.mkv records the JPEGs as they came,
                      with their timing, in Matroska; PATH.mp4 records H.264 (one
                      ffmpeg; stopped by --frames, --seconds or Ctrl-C, the file is
                      finished). Any other name gets the JPEGs back to back (an MJPEG
                      stream without timing); - writes them to stdout (default: a window)
  --frames <N>        Stop after N frames (default: never)
  --seconds <S>       Stop S seconds after the first frame (default: never)
  --timeout <S>       Fail (or reconnect) when no whole frame came for S seconds,
                      or connecting takes longer (default 10)
  --reconnect         Retry forever, 0.5 s doubling to 5 s, when the server is
                      unreachable or the stream breaks; the window stays open (default off)
  --token <SECRET>    Token of a server started with --token (default none);
                      or CAMWIRE_TOKEN
  --tls               Connect over TLS (default off)
  --ca <FILE>         PEM CA certificate to trust, e.g. a self-signed server's (default
                      the system's CAs)
  --stats             Print fps, kbit/s, dropped frames and latency every second to stderr
  --pickle            Watch the Python tutorial's wire (pickled numpy frames; a tutorial
                      server or camwire's --pickle-port): only numpy uint8 pictures are
                      accepted, anything else is refused and never run (default off)
  -h, --help          Show this help

The window is ffplay's: close it or press q to quit.`);
}

interface Flags {
  host: string;
  port: number;
  output: string | undefined;
  frames: number;
  /** Present with `--seconds`: stop this long after the first frame, in ms. */
  secondsMs?: number;
  timeoutMs: number;
  reconnect: boolean;
  token: string | undefined;
  tls: boolean;
  ca: string | undefined;
  stats: boolean;
  /** Present, and true, with `--pickle`. */
  pickle?: true;
}

/**
 * Parses the client's command line.
 *
 * @param args Command-line arguments.
 * @param env `CAMWIRE_TOKEN` from the environment.
 * @returns Validated flags, or `"help"`.
 * @throws {UsageError} On an unknown flag or a bad value.
 */
export function parseClientFlags(
  args: string[],
  env: { CAMWIRE_TOKEN?: string | undefined } = {},
): Flags | "help" {
  const values = parseFlags(args, {
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string", default: "9999" },
    output: { type: "string" },
    frames: { type: "string" },
    seconds: { type: "string" },
    timeout: { type: "string", default: "10" },
    reconnect: { type: "boolean", default: false },
    token: { type: "string" },
    tls: { type: "boolean", default: false },
    ca: { type: "string" },
    stats: { type: "boolean", default: false },
    pickle: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  });
  if (values.help) return "help";
  for (const name of ["host", "output", "ca"] as const) {
    if (values[name]?.trim() === "") {
      throw new UsageError(`Invalid value for --${name}: it is empty`);
    }
  }
  if (values.ca !== undefined && !values.tls) {
    throw new UsageError("--ca goes with --tls");
  }
  return {
    host: values.host,
    port: intFlag("port", values.port, [1, 65535]),
    output: values.output,
    frames: values.frames === undefined
      ? Infinity
      : intFlag("frames", values.frames, [1, Number.MAX_SAFE_INTEGER]),
    timeoutMs: secondsFlag("timeout", values.timeout, [0.1, 3600]),
    reconnect: values.reconnect,
    token: tokenFlag(values.token, env.CAMWIRE_TOKEN),
    tls: values.tls,
    ca: values.ca,
    stats: values.stats,
    ...(values.pickle ? { pickle: true } : {}),
    ...(values.seconds === undefined ? {} : {
      secondsMs: secondsFlag("seconds", values.seconds, [0.1, 366 * 86400]),
    }),
  };
}

async function openSink(flags: Flags): Promise<FrameSink> {
  if (flags.output === "-") return fileSink(Deno.stdout.writable, "stdout");
  const format = flags.output && recordFormat(flags.output);
  if (flags.output !== undefined && format) {
    return recordSink(flags.output, format);
  }
  if (flags.output !== undefined) {
    try {
      const file = await Deno.open(flags.output, {
        write: true,
        create: true,
        truncate: true,
      });
      return fileSink(file.writable, `"${flags.output}"`);
    } catch (error) {
      throw new CamwireError(
        `Cannot open "${flags.output}" for writing: ${message(error)}`,
      );
    }
  }
  const scheme = flags.tls ? "tls" : "tcp";
  return ffplaySink(`camwire ${scheme}://${flags.host}:${flags.port}`);
}

async function main(): Promise<void> {
  const flags = readCommandLine(parseClientFlags, printUsage);
  if (flags === undefined) return;
  const abort = new AbortController();
  onStopSignal(() => abort.abort());
  let sink: FrameSink | undefined;
  let statsTimer: ReturnType<typeof setInterval> | undefined;
  let secondsTimer: ReturnType<typeof setTimeout> | undefined;
  let code = 0;
  try {
    const tls = flags.tls
      ? { caCerts: flags.ca ? [readPem("--ca", flags.ca)] : [] }
      : undefined;
    sink = await openSink(flags);
    if (flags.pickle) sink = pickleSink(sink);
    const stats = new ReceiveStats();
    if (flags.stats) {
      const shown = sink;
      statsTimer = setInterval(() => {
        console.error(`camwire: ${stats.line(1, shown.dropped)}`);
      }, 1000);
    }
    const { secondsMs } = flags;
    const result = await watch(sink, {
      ...flags,
      tls,
      signal: abort.signal,
      onFrame: (jpeg) => {
        if (flags.stats) stats.add(jpeg);
        // --seconds counts from the first frame: a recording that long.
        if (secondsMs !== undefined && secondsTimer === undefined) {
          secondsTimer = setTimeout(() => abort.abort(), secondsMs);
        }
      },
    });
    if (result.reason === "server-closed") {
      console.error(
        `camwire: the server closed the stream after ${result.frames} frames`,
      );
    }
    if (sink.failure !== undefined) throw new CamwireError(sink.failure);
  } catch (error) {
    console.error(`camwire: ${message(error)}`);
    code = 1;
  } finally {
    clearInterval(statsTimer);
    clearTimeout(secondsTimer);
    await sink?.close();
  }
  // A recording is finished only once closed: that too may fail.
  if (code === 0 && sink?.failure !== undefined) {
    console.error(`camwire: ${sink.failure}`);
    code = 1;
  }
  Deno.exit(code);
}

if (import.meta.main) {
  main();
}
