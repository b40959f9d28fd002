// Copyright 2026 the camwire authors. MIT license.
/**
 * Helpers shared by camwire's end-to-end tests: run the real server and
 * client scripts as processes, read what they print, and wait for things
 * with a deadline. Every wait here fails with what it waited for instead
 * of hanging, and no helper swallows a failure.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Deframer, FramingError, JpegSplitter } from "../framing.ts";
import { jpegSize } from "../common/jpeg.ts";
import { linesOf } from "../common/child.ts";

const DIR = new URL("..", import.meta.url).pathname;

/** A process's exit code and output. */
export interface Output {
  code: number;
  stdout: Uint8Array;
  stderr: string;
}

/**
 * Waits for a promise, but no longer than `ms`: a test that waits must
 * fail, not hang, when what it waits for never comes.
 *
 * @param promise What to wait for.
 * @param ms The deadline, from now.
 * @param what What is awaited, for the error message.
 * @returns The promise's value.
 * @throws {Error} `Timed out after S s waiting for WHAT` at the deadline.
 */
export async function within<T>(
  promise: Promise<T>,
  ms: number,
  what: string,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(new Error(`Timed out after ${ms / 1000} s waiting for ${what}`)),
      ms,
    );
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Polls `predicate` until it holds, and fails when the time runs out.
 *
 * @param predicate Condition to wait for (an error it throws fails the wait).
 * @param timeoutMs How long to wait.
 * @param what What is awaited, for the error message.
 * @returns `true` (so that `assert.ok(await eventually(...))` still reads).
 * @throws {Error} `Timed out after S s waiting for WHAT` when it never held.
 */
export async function eventually(
  predicate: () => boolean | Promise<boolean>,
  timeoutMs = 5000,
  what = "a condition",
): Promise<true> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await predicate()) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  if (await predicate()) return true;
  throw new Error(`Timed out after ${timeoutMs / 1000} s waiting for ${what}`);
}

/** Waits `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * A port on 127.0.0.1 that nothing listens on (it was free a moment ago).
 *
 * @returns The port.
 */
export function freePort(): number {
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = probe.addr;
  probe.close();
  return port;
}

/** How {@linkcode runScript} and {@linkcode startScript} run a script. */
export interface ScriptOptions {
  /** Extra environment (e.g. `PATH: ""`), or all of it with `clearEnv`. */
  env?: Record<string, string>;
  /** Start from an empty environment: only `env` is passed. */
  clearEnv?: boolean;
  /** A program that runs the script, e.g. `["prlimit", "--nofile=256"]`. */
  runner?: string[];
  /** The Deno to run it with (e.g. an aarch64 one). @default {Deno.execPath()} */
  deno?: string;
  /** Deno's permission flags, e.g. `["-P=server"]`. @default {["-A"]} */
  permissions?: string[];
}

/**
 * The program and arguments that run a script: `[runner…] deno run
 * <permissions> --quiet <script> ...args`.
 */
function scriptCommand(
  script: string,
  args: string[],
  options: Omit<ScriptOptions, "env" | "clearEnv">,
): { program: string; programArgs: string[] } {
  const [program, ...programArgs] = [
    ...options.runner ?? [],
    options.deno ?? Deno.execPath(),
    ...["run", ...options.permissions ?? ["-A"], "--quiet", DIR + script],
    ...args,
  ];
  return { program: program!, programArgs };
}

/**
 * Runs `deno run -A <script> ...args` to completion, within `timeoutMs`
 * (else it is killed and the test fails).
 *
 * @param script `server.ts` or `client.ts`.
 * @param args Its flags.
 * @param env Extra environment (e.g. `PATH: ""`).
 * @param options `clearEnv`, the deadline (default 30 s), the permissions.
 * @returns Exit code, stdout bytes and stderr text.
 */
export async function runScript(
  script: string,
  args: string[],
  env: Record<string, string> = {},
  options: Omit<ScriptOptions, "env"> & { timeoutMs?: number } = {},
): Promise<Output> {
  const { program, programArgs } = scriptCommand(script, args, options);
  const child = new Deno.Command(program, {
    args: programArgs,
    env,
    clearEnv: options.clearEnv ?? false,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output = child.output();
  try {
    const { code, stdout, stderr } = await within(
      output,
      options.timeoutMs ?? 30_000,
      `${script} ${args.join(" ")} to exit`,
    );
    return { code, stdout, stderr: new TextDecoder().decode(stderr) };
  } catch (error) {
    try {
      child.kill("SIGKILL");
    } catch {
      // It exited just now.
    }
    await output;
    throw error;
  }
}

/** A script process started by {@linkcode startScript}. */
export interface ScriptProcess {
  child: Deno.ChildProcess;
  /** Every stderr line so far. */
  lines: string[];
  /**
   * Resolves with the `nth` line (past or future) matching `pattern`;
   * fails when the process exits or `timeoutMs` passes first.
   */
  waitForLine(
    pattern: RegExp,
    timeoutMs?: number,
    nth?: number,
  ): Promise<string>;
  /** Waits, at most `timeoutMs`, for the process to exit by itself. */
  exited(timeoutMs: number): Promise<Deno.CommandStatus>;
  /**
   * Sends a signal and waits for the exit (SIGKILL and a failure after
   * `timeoutMs`, default 10 s); returns the exit code.
   */
  stop(signal?: Deno.Signal, timeoutMs?: number): Promise<number>;
}

/**
 * Spawns the server on `--source -` (on 127.0.0.1, any port, and `args`),
 * its stdin piped to be fed MJPEG and its stderr piped to be read.
 */
export function spawnStdinServer(args: string[]): Deno.ChildProcess {
  const { program, programArgs } = scriptCommand(
    "server.ts",
    ["--source", "-", "--host", "127.0.0.1", "--port", "0", ...args],
    {},
  );
  return new Deno.Command(program, {
    args: programArgs,
    stdin: "piped",
    stdout: "null",
    stderr: "piped",
  }).spawn();
}

/**
 * Starts `deno run -A <script> ...args` and reads its stderr line by line.
 *
 * @param script `server.ts` or `client.ts`.
 * @param args Its flags.
 * @param options The environment.
 * @returns The running process; call `stop()` in a `finally`.
 */
export function startScript(
  script: string,
  args: string[],
  options: ScriptOptions = {},
): ScriptProcess {
  const { program, programArgs } = scriptCommand(script, args, options);
  const child = new Deno.Command(program, {
    args: programArgs,
    env: options.env ?? {},
    clearEnv: options.clearEnv ?? false,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  const wakeAll = () => {
    for (const wake of waiters) wake();
  };
  const drained = (async () => {
    for await (const line of linesOf(child.stderr)) {
      lines.push(line);
      wakeAll();
    }
  })();
  let exited = false;
  const status = child.status.then(async (s) => {
    await drained;
    exited = true;
    wakeAll();
    return s;
  });
  const waitForLine = async (pattern: RegExp, timeoutMs = 15_000, nth = 1) => {
    const deadline = Date.now() + timeoutMs;
    while (true) {
      const found = lines.filter((l) => pattern.test(l));
      if (found.length >= nth) return found[nth - 1]!;
      if (exited || Date.now() > deadline) {
        throw new Error(
          `No ${nth > 1 ? `${nth} lines` : "line"} matching ${pattern} ${
            exited ? "before it exited" : `within ${timeoutMs / 1000} s`
          }; ${script} printed:\n${lines.join("\n")}`,
        );
      }
      await new Promise<void>((resolve) => {
        const wake = () => {
          waiters.delete(wake);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(wake, 100);
        waiters.add(wake);
      });
    }
  };
  const exitedWithin = (timeoutMs: number) =>
    within(status, timeoutMs, `${script} to exit`).catch((error) => {
      throw new Error(`${error.message}; it printed:\n${lines.join("\n")}`);
    });
  const stop = async (signal: Deno.Signal = "SIGTERM", timeoutMs = 10_000) => {
    try {
      child.kill(signal);
    } catch {
      // Already exited.
    }
    try {
      const { code } = await within(
        status,
        timeoutMs,
        `${script} to exit on ${signal}`,
      );
      return code;
    } catch (error) {
      try {
        child.kill("SIGKILL");
      } catch {
        // It exited just now.
      }
      await status;
      throw error;
    }
  };
  return { child, lines, waitForLine, exited: exitedWithin, stop };
}

/**
 * Runs `client.ts` against a one-connection server of the test's own,
 * which plays `serve` on the connection and then closes it. The client
 * hanging up first (as it may on a bad stream: a broken pipe, a reset) is
 * no failure; any other failure of `serve` (an assertion, say) fails the
 * test.
 *
 * @param serve What the server does with the connection.
 * @param args Client flags besides `--port`.
 * @returns The client's exit code and output, and the server's port.
 */
export async function clientAgainst(
  serve: (conn: Deno.Conn) => Promise<void>,
  args: string[],
): Promise<Output & { port: number }> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  let failure: { error: unknown } | undefined;
  const serving = listener.accept().then(async (conn) => {
    try {
      await serve(conn);
    } catch (error) {
      if (!hungUp(error)) failure = { error };
    } finally {
      try {
        conn.close();
      } catch {
        // serve closed it.
      }
    }
  }, () => {/* no client came: the listener was closed */});
  let out: Output;
  try {
    out = await runScript("client.ts", ["--port", `${port}`, ...args]);
  } finally {
    listener.close();
  }
  await within(serving, 10_000, "the scripted server to finish");
  if (failure !== undefined) throw failure.error;
  return { ...out, port };
}

/** Whether an I/O error means that the peer hung up. */
function hungUp(error: unknown): boolean {
  return error instanceof Deno.errors.BrokenPipe ||
    error instanceof Deno.errors.ConnectionReset ||
    error instanceof Deno.errors.ConnectionAborted ||
    error instanceof Deno.errors.NotConnected;
}

/** A server process started by {@linkcode startServerProcess}. */
export interface ServerProcess extends ScriptProcess {
  port: number;
}

/**
 * Starts `server.ts` on a free loopback port and waits until it is ready.
 *
 * @param args Extra server flags, e.g. `["--source", "test"]` (a `--host`
 * among them overrides the 127.0.0.1 given first).
 * @param env Extra environment.
 * @param options How to run it (a runner, another Deno, the permissions),
 * and how long it may take to be ready (default 15 s).
 * @returns The running process; call `stop()` in a `finally`.
 */
export async function startServerProcess(
  args: string[],
  env: Record<string, string> = {},
  options: Omit<ScriptOptions, "env"> & { readyMs?: number } = {},
): Promise<ServerProcess> {
  const process = startScript(
    "server.ts",
    ["--host", "127.0.0.1", "--port", "0", ...args],
    { ...options, env },
  );
  try {
    const ready = await process.waitForLine(
      /streaming on (tcp|tls):\/\/127\.0\.0\.1:(\d+)/,
      options.readyMs,
    );
    const port = Number(ready.match(/:(\d+)$/)![1]);
    return { ...process, port };
  } catch (error) {
    await process.stop("SIGKILL");
    throw error;
  }
}

/**
 * Makes a test CA (`ca.pem`) and a server certificate it signed for
 * 127.0.0.1 and localhost (`cert.pem`, `key.pem`) in `dir`, with openssl.
 *
 * @param dir An existing (temporary) directory.
 */
export async function makeCertificate(dir: string): Promise<void> {
  await Deno.writeTextFile(
    `${dir}/san.cnf`,
    "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
  );
  const steps = [
    "req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=camwire-test-ca -keyout ca.key -out ca.pem",
    "req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout key.pem -out server.csr",
    "x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 -extfile san.cnf -out cert.pem",
  ];
  for (const step of steps) {
    const { success, stderr } = await new Deno.Command("openssl", {
      args: step.split(" "),
      cwd: dir,
      stdout: "null",
    }).output();
    if (!success) {
      throw new Error(
        `Cannot make a test certificate: openssl ${step}: ${
          new TextDecoder().decode(stderr)
        }`,
      );
    }
  }
}

/**
 * Runs `client.ts --output - --frames N` against a local server and checks
 * that it ended well with exactly N frames.
 *
 * @param port The server's port on 127.0.0.1.
 * @param frames How many frames to take.
 * @param flags More client flags (`--token`, `--tls`...).
 * @returns Each frame's size.
 */
export async function receiveFrames(
  port: number | string,
  frames: number,
  flags: string[] = [],
): Promise<({ width: number; height: number } | undefined)[]> {
  const out = await runScript("client.ts", [
    ...["--port", `${port}`, "--output", "-", "--frames", `${frames}`],
    ...flags,
  ]);
  assert.equal(out.code, 0, out.stderr);
  const sizes = frameSizes(out.stdout);
  assert.equal(sizes.length, frames);
  return sizes;
}

/**
 * Cuts an MJPEG byte stream into JPEGs and reads each one's size.
 *
 * @param bytes JPEGs back to back.
 * @returns Each frame's width and height (`undefined` for a bad frame).
 */
export function frameSizes(
  bytes: Uint8Array,
): ({ width: number; height: number } | undefined)[] {
  return new JpegSplitter().push(bytes).map(jpegSize);
}

/**
 * Lists the pids of live `name` processes whose parent is `parentPid`.
 *
 * @param parentPid Parent process id.
 * @param name Command name, e.g. `ffmpeg`.
 * @returns Matching child pids.
 */
export function childPids(parentPid: number, name: string): number[] {
  const pids: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const stat = readProc(`/proc/${entry.name}/stat`);
    if (stat === undefined) continue;
    // comm is in parentheses and may hold spaces: parse after the last ')'.
    const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (comm === name && Number(fields[1]) === parentPid && fields[0] !== "Z") {
      pids.push(Number(entry.name));
    }
  }
  return pids;
}

/**
 * Tells whether a process is alive (not gone, not a zombie).
 *
 * @param pid Process id.
 * @returns `true` while it runs.
 */
export function isAlive(pid: number): boolean {
  const stat = readProc(`/proc/${pid}/stat`);
  if (stat === undefined) return false;
  return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
}

function readProc(path: string): string | undefined {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return undefined;
  }
}

/** A frame as a {@linkcode RawViewer} received it. */
export interface Received {
  /** `performance.now()` on arrival. */
  at: number;
  /** The JPEG, capture stamp included. */
  jpeg: Uint8Array;
}

/**
 * A test viewer on a raw TCP (or TLS) connection: optionally sends a first
 * line, then reads and deframes in the background. A stream that does not
 * deframe (a bad length, not a JPEG) is no "fewer frames": reading
 * `frames` (or `close()`) then throws the {@linkcode FramingError}.
 */
export class RawViewer {
  /** Bytes received in all. */
  bytes = 0;
  /** Settles when the server closes the connection (or on `close()`). */
  readonly ended: Promise<void>;
  #frames: Received[] = [];
  #corrupt: FramingError | undefined;
  #conn: Deno.Conn;

  private constructor(conn: Deno.Conn) {
    this.#conn = conn;
    this.ended = this.#read();
  }

  /**
   * Connects to `127.0.0.1:port`.
   *
   * @param port Server port.
   * @param options `line` to send first; `caCert` to connect over TLS.
   */
  static async connect(
    port: number,
    options: { line?: string; caCert?: string } = {},
  ): Promise<RawViewer> {
    const conn = options.caCert
      ? await Deno.connectTls({
        hostname: "127.0.0.1",
        port,
        caCerts: [options.caCert],
      })
      : await Deno.connect({ hostname: "127.0.0.1", port });
    if (options.line !== undefined) {
      await conn.write(new TextEncoder().encode(options.line));
    }
    return new RawViewer(conn);
  }

  /**
   * The frames so far.
   *
   * @throws {FramingError} When the stream was corrupt.
   */
  get frames(): Received[] {
    this.#throwIfCorrupt();
    return this.#frames;
  }

  #throwIfCorrupt(): void {
    if (this.#corrupt !== undefined) {
      throw new FramingError(
        this.#corrupt.code,
        `the stream to a test viewer is corrupt after ${this.#frames.length} frames: ${this.#corrupt.message}`,
      );
    }
  }

  async #read(): Promise<void> {
    const deframer = new Deframer();
    try {
      for await (const chunk of this.#conn.readable) {
        this.bytes += chunk.length;
        const at = performance.now();
        for (const jpeg of deframer.push(chunk)) {
          this.#frames.push({ at, jpeg });
        }
      }
    } catch (error) {
      if (error instanceof FramingError) {
        this.#corrupt = error;
        try {
          this.#conn.close();
        } catch {
          // Closed already.
        }
      }
      // Otherwise closed by us or reset by the server: either way, ended.
    }
  }

  /**
   * Waits, at most `ms`, for the server to close the connection.
   *
   * @param ms The deadline.
   * @param what What that closing means, for the message.
   */
  endedWithin(ms: number, what: string): Promise<void> {
    return within(this.ended, ms, what);
  }

  /** Sends raw bytes to the server. */
  async send(bytes: Uint8Array): Promise<void> {
    await this.#conn.write(bytes);
  }

  /**
   * Closes the connection and waits for the reader to stop.
   *
   * @throws {FramingError} When the stream was corrupt.
   */
  async close(): Promise<void> {
    try {
      this.#conn.close();
    } catch {
      // The readable stream closed it already.
    }
    await within(this.ended, 5000, "a test viewer's reader to stop");
    this.#throwIfCorrupt();
  }
}

/**
 * The picture of a JPEG: its bytes after SOI and every comment segment
 * that follows it (camwire's capture stamps), for comparing frames
 * whatever their stamps.
 *
 * @param jpeg A stamped JPEG.
 * @returns The bytes after the comment segments.
 */
export function unstamped(jpeg: Uint8Array): Uint8Array {
  let pos = 2;
  while (jpeg[pos] === 0xff && jpeg[pos + 1] === 0xfe) {
    pos += 2 + ((jpeg[pos + 2]! << 8) | jpeg[pos + 3]!);
  }
  return jpeg.subarray(pos);
}

/**
 * Whether two byte arrays are equal.
 *
 * @param a One.
 * @param b The other.
 * @returns `true` when they hold the same bytes.
 */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

/**
 * The mean brightness of a JPEG, decoded by ffmpeg and averaged down to
 * one gray pixel.
 *
 * @param jpeg A JPEG.
 * @returns Luma from 0 (black) to 255 (white).
 */
export async function meanLuma(jpeg: Uint8Array): Promise<number> {
  const child = new Deno.Command("ffmpeg", {
    args: [
      ..."-hide_banner -loglevel error -f mjpeg -i pipe:0".split(" "),
      ..."-vf scale=1:1:flags=area,format=gray -frames:v 1".split(" "),
      ..."-f rawvideo pipe:1".split(" "),
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(jpeg);
  await writer.close();
  const { success, stdout, stderr } = await within(
    child.output(),
    10_000,
    "ffmpeg to decode a frame",
  );
  assert.ok(
    success && stdout.length === 1,
    `ffmpeg could not decode a frame: ${new TextDecoder().decode(stderr)}`,
  );
  return stdout[0]!;
}

/**
 * Reads a process's resident memory from /proc.
 *
 * @param pid Process id.
 * @returns RSS in bytes.
 */
export function rssBytes(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(status.match(/VmRSS:\s+(\d+) kB/)![1]) * 1024;
}
