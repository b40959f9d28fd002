// Copyright 2026 the camwire authors. MIT license.
/**
 * Helpers shared by camwire's end-to-end tests: run the real server and
 * client scripts as processes, and read what they print.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Deframer, jpegSize, JpegSplitter } from "../framing.ts";
import { linesOf } from "../common/child.ts";

const DIR = new URL("..", import.meta.url).pathname;

/** A process's exit code and output. */
export interface Output {
  code: number;
  stdout: Uint8Array;
  stderr: string;
}

/** A server process started by {@linkcode startServerProcess}. */
export interface ServerProcess {
  child: Deno.ChildProcess;
  port: number;
  /** Every stderr line so far. */
  lines: string[];
  /** Resolves with the first line (past or future) matching `pattern`. */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Sends a signal, waits for exit and returns the exit code. */
  stop(signal?: Deno.Signal): Promise<number>;
}

/**
 * Runs `deno run -A <script> ...args` to completion.
 *
 * @param script `server.ts` or `client.ts`.
 * @param args Its flags.
 * @param env Extra environment (e.g. `PATH: ""`).
 * @returns Exit code, stdout bytes and stderr text.
 */
export async function runScript(
  script: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<Output> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", DIR + script, ...args],
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code, stdout, stderr: new TextDecoder().decode(stderr) };
}

/**
 * Runs `client.ts` against a one-connection server of the test's own,
 * which plays `serve` on the connection and then closes it. A failure of
 * `serve` (the client hung up first, as it may on a bad stream) is ignored.
 *
 * @param serve What the server does with the connection.
 * @param args Client flags besides `--port`.
 * @returns The client's exit code and output, and the server's port.
 */
export async function clientAgainst(
  serve: (conn: Deno.Conn) => Promise<void>,
  args: string[],
): Promise<Output & { port: number }> {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const serving = listener.accept().then(async (conn) => {
    try {
      await serve(conn);
    } catch {
      // The client hung up first.
    } finally {
      conn.close();
    }
  });
  const out = await runScript("client.ts", [
    "--port",
    `${listener.addr.port}`,
    ...args,
  ]);
  await serving;
  return { ...out, port: listener.addr.port };
}

/**
 * Starts `server.ts` on a free loopback port and waits until it is ready.
 *
 * @param args Extra server flags, e.g. `["--source", "test"]`.
 * @returns The running process; call `stop()` in a `finally`.
 */
export async function startServerProcess(
  args: string[],
  env: Record<string, string> = {},
): Promise<ServerProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--quiet",
      DIR + "server.ts",
      "--host",
      "127.0.0.1",
      "--port",
      "0",
      ...args,
    ],
    env,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  const drained = (async () => {
    for await (const line of linesOf(child.stderr)) {
      lines.push(line);
      for (const wake of waiters) wake();
    }
    for (const wake of waiters) wake();
  })();
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  const waitForLine = async (pattern: RegExp, timeoutMs = 15_000) => {
    const deadline = Date.now() + timeoutMs;
    while (true) {
      const line = lines.find((l) => pattern.test(l));
      if (line !== undefined) return line;
      if (exited || Date.now() > deadline) {
        throw new Error(
          `No line matching ${pattern} (exited: ${exited}); stderr:\n${
            lines.join("\n")
          }`,
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
  const stop = async (signal: Deno.Signal = "SIGTERM") => {
    try {
      child.kill(signal);
    } catch {
      // Already exited.
    }
    const { code } = await status;
    await drained;
    return code;
  };
  try {
    const ready = await waitForLine(
      /streaming on (tcp|tls):\/\/127\.0\.0\.1:(\d+)/,
    );
    const port = Number(ready.match(/:(\d+)$/)![1]);
    return { child, port, lines, waitForLine, stop };
  } catch (error) {
    await stop("SIGKILL");
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

/**
 * Polls `predicate` until it holds or the time runs out.
 *
 * @param predicate Condition to wait for.
 * @param timeoutMs How long to wait.
 * @returns Whether it held in time.
 */
export async function eventually(
  predicate: () => boolean | Promise<boolean>,
  timeoutMs = 5000,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await predicate()) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return predicate();
}

/** A stand-in for ffplay, made by {@linkcode fakeFfplay}. */
export interface FakeFfplay {
  /** Put first on PATH so that scripts run it as `ffplay`. */
  dir: string;
  /** The arguments it was started with, one per line. */
  args(): Promise<string[]>;
  /** The bytes it read from stdin. */
  received(): Promise<Uint8Array>;
  /** Deletes it. */
  remove(): Promise<void>;
}

/**
 * Makes an `ffplay` that records its arguments and stdin, like a window
 * that shows `bytes` bytes of video and is then closed by the user (exit
 * 0); with `bytes` 0 it reads until killed.
 *
 * @param bytes How much of stdin to read before exiting.
 * @returns The fake, in a new temporary directory.
 */
export async function fakeFfplay(bytes: number): Promise<FakeFfplay> {
  const dir = await Deno.makeTempDir({ prefix: "camwire-ffplay-" });
  // exec: the reader itself is the process, so a signal reaches it.
  const read = bytes > 0 ? `exec head -c ${bytes}` : "exec cat";
  await Deno.writeTextFile(
    `${dir}/ffplay`,
    `#!/bin/sh\nprintf '%s\\n' "$@" > "${dir}/args"\n${read} > "${dir}/stdin"\n`,
    { mode: 0o755 },
  );
  return {
    dir,
    args: async () => (await Deno.readTextFile(`${dir}/args`)).split("\n"),
    received: () => Deno.readFile(`${dir}/stdin`),
    remove: () => Deno.remove(dir, { recursive: true }),
  };
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
 * line, then reads and deframes in the background.
 */
export class RawViewer {
  readonly frames: Received[] = [];
  /** Bytes received in all. */
  bytes = 0;
  /** Settles when the server closes the connection (or on `close()`). */
  readonly ended: Promise<void>;
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

  async #read(): Promise<void> {
    const deframer = new Deframer();
    try {
      for await (const chunk of this.#conn.readable) {
        this.bytes += chunk.length;
        const at = performance.now();
        for (const jpeg of deframer.push(chunk)) this.frames.push({ at, jpeg });
      }
    } catch {
      // Closed by us or reset by the server: either way, ended.
    }
  }

  /** Sends raw bytes to the server. */
  async send(bytes: Uint8Array): Promise<void> {
    await this.#conn.write(bytes);
  }

  /** Closes the connection and waits for the reader to stop. */
  async close(): Promise<void> {
    try {
      this.#conn.close();
    } catch {
      // The readable stream closed it already.
    }
    await this.ended;
  }
}

/**
 * The JPEG without camwire's capture-stamp comment, for comparing frames.
 *
 * @param jpeg A stamped JPEG.
 * @returns The bytes after the comment segment.
 */
export function unstamped(jpeg: Uint8Array): Uint8Array {
  if (jpeg[2] !== 0xff || jpeg[3] !== 0xfe) return jpeg;
  return jpeg.subarray(4 + ((jpeg[4]! << 8) | jpeg[5]!));
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
