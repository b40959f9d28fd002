#!/usr/bin/env -S deno run --allow-net --allow-run --allow-write
// Copyright 2026 the camwire authors. MIT license.
/**
 * camwire client: connects to a camwire server, reads its u64-framed JPEGs
 * and shows them in an ffplay window, or writes them to a file or stdout.
 *
 * ```sh
 * deno run -A client.ts --host 192.168.56.1          # a window
 * deno run -A client.ts --output cam.mjpeg --frames 300
 * deno run -A client.ts --output - | ffplay -f mjpeg -i -
 * ```
 *
 * Importing this file has no side effects: {@linkcode runClient} is its
 * library.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { Deframer, FramingError } from "./framing.ts";
import {
  CamwireError,
  ffplayArgs,
  intFlag,
  LatestFrameSender,
  onStopSignal,
  UsageError,
} from "./server.ts";

/** Where received JPEGs go. */
export interface FrameSink {
  /** Takes one JPEG; a sink that keeps every frame returns its write. */
  put(jpeg: Uint8Array): Promise<void> | void;
  /** Settles when the sink ends on its own (the window was closed). */
  ended: Promise<void>;
  /** Flushes and releases the sink. */
  close(): Promise<void>;
}

/** Options of {@linkcode runClient}. */
export interface ClientOptions {
  /** Server address. @default {"127.0.0.1"} */
  host?: string;
  /** Server port. @default {9999} */
  port?: number;
  /** Stop after this many frames. @default {Infinity} */
  frames?: number;
  /** Where log lines go. @default {console.error} */
  log?: (line: string) => void;
  /** Aborting it stops the client cleanly. */
  signal?: AbortSignal;
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
 * @throws {CamwireError} When the server cannot be reached or its stream
 * is broken.
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
  const where = `tcp://${host}:${port}`;
  let conn: Deno.TcpConn;
  try {
    conn = await Deno.connect({ hostname: host, port });
  } catch (error) {
    throw connectError(error, where);
  }
  conn.setNoDelay(true);
  const stop = () => {
    try {
      conn.close(); // cancels the pending read
    } catch {
      // Already closed.
    }
  };
  let stopReason: ClientResult["reason"] | null = null;
  const stopFor = (reason: ClientResult["reason"]) => {
    stopReason ??= reason;
    stop();
  };
  options.signal?.addEventListener("abort", () => stopFor("aborted"));
  if (options.signal?.aborted) stopFor("aborted");
  sink.ended.then(() => stopFor("sink-closed"));

  const deframer = new Deframer();
  const reader = conn.readable.getReader();
  let frames = 0;
  try {
    while (frames < limit) {
      const { value, done } = await reader.read();
      if (done) {
        deframer.finish();
        break;
      }
      for (const jpeg of deframer.push(value)) {
        await sink.put(jpeg);
        if (++frames >= limit) break;
      }
    }
  } catch (error) {
    if (stopReason === null) throw streamError(error, where);
  } finally {
    reader.releaseLock();
    stop();
  }
  if (stopReason !== null) return { frames, reason: stopReason };
  return { frames, reason: frames >= limit ? "frames" : "server-closed" };
}

function connectError(error: unknown, where: string): Error {
  if (error instanceof Deno.errors.ConnectionRefused) {
    return new CamwireError(
      `Cannot connect to ${where}: connection refused (is the server running?)`,
    );
  }
  if (error instanceof Deno.errors.TimedOut) {
    return new CamwireError(`Cannot connect to ${where}: timed out`);
  }
  if (error instanceof Error) {
    return new CamwireError(`Cannot connect to ${where}: ${error.message}`);
  }
  return new Error(String(error));
}

function streamError(error: unknown, where: string): Error {
  if (error instanceof FramingError) {
    return new CamwireError(`Broken stream from ${where}: ${error.message}`);
  }
  if (
    error instanceof Deno.errors.ConnectionReset ||
    error instanceof Deno.errors.BrokenPipe
  ) {
    return new CamwireError(`Lost connection to ${where}: ${error.message}`);
  }
  return error instanceof Error ? error : new Error(String(error));
}

/**
 * A sink that writes every JPEG back to back (a playable MJPEG stream),
 * losing none: each write completes before the next frame is read.
 *
 * @param writable A file's or stdout's writable stream.
 * @returns The sink.
 */
export function fileSink(writable: WritableStream<Uint8Array>): FrameSink {
  const writer = writable.getWriter();
  return {
    put: (jpeg) => writer.write(jpeg),
    ended: new Promise(() => {}),
    close: () => writer.close().catch(() => {}),
  };
}

/**
 * A sink that shows frames in an ffplay window, newest first: when ffplay
 * falls behind, older frames are dropped so the picture is never late.
 *
 * @param title Window title.
 * @param program The ffplay program.
 * @returns The sink.
 * @throws {CamwireError} When ffplay is not installed.
 */
export function ffplaySink(title: string, program = "ffplay"): FrameSink {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(program, {
      args: ffplayArgs(title),
      stdin: "piped",
      stdout: "null",
      stderr: "inherit",
    }).spawn();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new CamwireError(
        "ffplay not found: install ffmpeg, which includes it, or use --output FILE",
      );
    }
    throw error;
  }
  const writer = child.stdin.getWriter();
  const sender = new LatestFrameSender(async (bytes) => {
    await writer.write(bytes);
    return bytes.length;
  }, () => {});
  const ended = child.status.then(() => {});
  return {
    put: (jpeg) => sender.offer(jpeg),
    ended,
    close: async () => {
      try {
        child.kill("SIGTERM");
      } catch {
        // The window was closed already.
      }
      await child.status;
      await writer.close().catch(() => {});
    },
  };
}

function printUsage(): void {
  console.log(`camwire client: watch a camwire stream

USAGE:
  deno run -A client.ts [options]

OPTIONS:
  --host <ADDR>       Server address (default 127.0.0.1)
  --port <PORT>       Server port (default 9999)
  --output <PATH>     Write the JPEGs back to back (a playable MJPEG file) instead
                      of opening a window; - writes to stdout (default: a window)
  --frames <N>        Stop after N frames (default: never)
  -h, --help          Show this help

The window is ffplay's: close it or press q to quit.`);
}

interface Flags {
  host: string;
  port: number;
  output: string | undefined;
  frames: number;
}

/**
 * Parses the client's command line.
 *
 * @param args Command-line arguments.
 * @returns Validated flags, or `"help"`.
 * @throws {UsageError} On an unknown flag or a bad value.
 */
export function parseClientFlags(args: string[]): Flags | "help" {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        host: { type: "string", default: "127.0.0.1" },
        port: { type: "string", default: "9999" },
        output: { type: "string" },
        frames: { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
    }));
  } catch (error) {
    throw UsageError.from(error);
  }
  if (values.help) return "help";
  if (values.host.trim() === "") {
    throw new UsageError(`Invalid value for --host: it is empty`);
  }
  if (values.output === "") {
    throw new UsageError(`Invalid value for --output: it is empty`);
  }
  return {
    host: values.host,
    port: intFlag("port", values.port, [1, 65535]),
    output: values.output,
    frames: values.frames === undefined
      ? Infinity
      : intFlag("frames", values.frames, [1, Number.MAX_SAFE_INTEGER]),
  };
}

async function openSink(flags: Flags): Promise<FrameSink> {
  if (flags.output === "-") return fileSink(Deno.stdout.writable);
  if (flags.output !== undefined) {
    try {
      const file = await Deno.open(flags.output, {
        write: true,
        create: true,
        truncate: true,
      });
      return fileSink(file.writable);
    } catch (error) {
      throw new CamwireError(
        `Cannot open "${flags.output}" for writing: ${
          error instanceof Error ? error.message : error
        }`,
      );
    }
  }
  return ffplaySink(`camwire tcp://${flags.host}:${flags.port}`);
}

async function main(): Promise<void> {
  let flags: Flags | "help";
  try {
    flags = parseClientFlags(Deno.args);
  } catch (error) {
    console.error(`camwire: ${(error as Error).message} (see --help)`);
    Deno.exit(2);
  }
  if (flags === "help") {
    printUsage();
    return;
  }
  const abort = new AbortController();
  onStopSignal(() => abort.abort());
  let sink: FrameSink | undefined;
  let code = 0;
  try {
    sink = await openSink(flags);
    const result = await runClient(sink, {
      host: flags.host,
      port: flags.port,
      frames: flags.frames,
      signal: abort.signal,
    });
    if (result.reason === "server-closed") {
      console.error(
        `camwire: the server closed the stream after ${result.frames} frames`,
      );
    }
  } catch (error) {
    console.error(`camwire: ${(error as Error).message}`);
    code = 1;
  } finally {
    await sink?.close();
  }
  Deno.exit(code);
}

if (import.meta.main) {
  main();
}
