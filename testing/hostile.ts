// Copyright 2026 the camwire authors. MIT license.
/**
 * Helpers of the hostile-network tests (server/hostile_test.ts): a server
 * process that may run under `prlimit`, its sockets counted from
 * `/proc/net/tcp`, raw connections that read wire frames with a deadline,
 * and bursts of reset connects. Every wait fails with what it waited for.
 *
 * @module
 */

import { linesOf } from "../common/child.ts";

const DIR = new URL("..", import.meta.url).pathname;

/**
 * Polls `predicate` every 100 ms until it holds.
 *
 * @returns How long it took, in ms.
 * @throws {Error} `Timed out after S s waiting for WHAT (last: …)`.
 */
export async function until(
  predicate: () => boolean,
  ms: number,
  what: string,
  last: () => string = () => "",
): Promise<number> {
  const start = performance.now();
  while (performance.now() - start < ms) {
    if (predicate()) return performance.now() - start;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  if (predicate()) return performance.now() - start;
  throw new Error(
    `Timed out after ${ms / 1000} s waiting for ${what} (${last()})`,
  );
}

/** A server process of {@linkcode spawnServer}. */
export interface HostileServer {
  pid: number;
  /** The TCP (or TLS) viewer port. */
  port: number;
  /** The HTTP port, with --http-port. */
  httpPort: number | undefined;
  /** Every stderr line so far. */
  lines: string[];
  /** Whether it is still running. */
  readonly running: boolean;
  waitForLine(pattern: RegExp, ms?: number): Promise<string>;
  /** SIGTERM, and its exit code (within 10 s, else SIGKILL). */
  stop(): Promise<number>;
}

/**
 * Starts `server.ts --host 127.0.0.1 --port 0 --source test ...args`,
 * optionally under `prlimit --nofile=N`, and waits for its ready lines.
 *
 * @param args More flags (`--http-port 0` gets the HTTP port read too).
 * @param options `nofile`: the fd limit to run it under.
 */
export async function spawnServer(
  args: string[],
  options: { nofile?: number } = {},
): Promise<HostileServer> {
  const deno = [Deno.execPath(), "run", "-A", DIR + "server.ts"];
  const all = [...deno, "--host", "127.0.0.1", "--port", "0"];
  all.push("--source", "test", ...args);
  const [program, ...rest] = options.nofile === undefined
    ? all
    : ["prlimit", `--nofile=${options.nofile}`, ...all];
  const child = new Deno.Command(program!, {
    args: rest,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  let running = true;
  const reading = (async () => {
    for await (const line of linesOf(child.stderr)) {
      lines.push(line);
      for (const wake of waiters) wake();
    }
  })();
  const status = child.status.then((s) => {
    running = false;
    for (const wake of waiters) wake();
    return s;
  });
  const waitForLine = async (pattern: RegExp, ms = 15_000) => {
    const start = performance.now();
    while (true) {
      const line = lines.find((l) => pattern.test(l));
      if (line !== undefined) return line;
      if (!running) {
        throw new Error(
          `The server exited before printing ${pattern}:\n${lines.join("\n")}`,
        );
      }
      const left = ms - (performance.now() - start);
      if (left <= 0) {
        throw new Error(
          `Timed out after ${ms / 1000} s waiting for ${pattern}:\n${
            lines.join("\n")
          }`,
        );
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, left);
        function done() {
          clearTimeout(timer);
          waiters.delete(done);
          resolve();
        }
        waiters.add(done);
      });
    }
  };
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch {
      // Exited already.
    }
    const timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch {
        // Exited meanwhile.
      }
    }, 10_000);
    const { code } = await status;
    clearTimeout(timer);
    await reading;
    return code;
  };
  try {
    const ready = await waitForLine(/streaming on (tcp|tls):\/\/[\d.]+:(\d+)/);
    const port = Number(ready.match(/:(\d+)$/)![1]);
    let httpPort: number | undefined;
    if (args.includes("--http-port")) {
      const web = await waitForLine(/web page on https?:\/\/[\d.]+:(\d+)\//);
      httpPort = Number(web.match(/:(\d+)\/$/)![1]);
    }
    return {
      pid: child.pid,
      port,
      httpPort,
      lines,
      get running() {
        return running;
      },
      waitForLine,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * Sockets of this machine in the given state whose local port is `port`:
 * the server's side of its connections on that port.
 *
 * @param port The server's port.
 * @param state `01` ESTABLISHED (default), or any other /proc/net/tcp state.
 */
export function socketsOn(port: number, state = "01"): number {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, "0")}`;
  let n = 0;
  for (const line of Deno.readTextFileSync("/proc/net/tcp").split("\n")) {
    const fields = line.trim().split(/\s+/);
    if (fields[1]?.endsWith(hex) && fields[3] === state) n++;
  }
  return n;
}

/** Open fds of process `pid`. */
export function fdCount(pid: number): number {
  return [...Deno.readDirSync(`/proc/${pid}/fd`)].length;
}

/**
 * Reads one wire frame (u64 length, then the JPEG) from `conn`.
 *
 * @returns The JPEG.
 * @throws {Error} When the connection ends first.
 */
export async function readWireFrame(conn: Deno.Conn): Promise<Uint8Array> {
  const header = await readExactly(conn, 8);
  const length = Number(
    new DataView(header.buffer, header.byteOffset).getBigUint64(0, true),
  );
  if (length === 0 || length > 16 << 20) throw new Error(`length ${length}`);
  return await readExactly(conn, length);
}

/** Reads exactly `n` bytes, or throws when the connection ends first. */
export async function readExactly(
  conn: Deno.Conn,
  n: number,
): Promise<Uint8Array> {
  const bytes = new Uint8Array(n);
  let have = 0;
  while (have < n) {
    const got = await conn.read(bytes.subarray(have));
    if (got === null) throw new Error(`closed after ${have} of ${n} bytes`);
    have += got;
  }
  return bytes;
}

/**
 * Whether the server closed `conn`: a read gets EOF (or a reset) within
 * `ms`, skipping whatever the server sent before.
 */
export async function closedWithin(
  conn: Deno.Conn,
  ms: number,
): Promise<boolean> {
  const buf = new Uint8Array(64 * 1024);
  const end = performance.now() + ms;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"late">((resolve) => {
    timer = setTimeout(() => resolve("late"), ms);
  });
  try {
    while (performance.now() < end) {
      const n = await Promise.race([conn.read(buf), late]).catch(() => null);
      if (n === "late") return false;
      if (n === null) return true;
    }
    return false;
  } finally {
    clearTimeout(timer);
  }
}

/** Closes connections that may be closed already. */
export function closeAll(conns: Iterable<{ close(): void }>): void {
  for (const conn of conns) {
    try {
      conn.close();
    } catch {
      // Closed by the server's end already.
    }
  }
}

/**
 * Opens `count` connections to 127.0.0.1:`port` and resets each at once
 * (SO_LINGER {1, 0}, then close), from python3: a burst of 200 takes
 * ~10 ms, before the server accepts most of them.
 */
export async function resetConnects(
  port: number,
  count: number,
): Promise<void> {
  const script = `
import socket, struct
for _ in range(${count}):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    try:
        s.connect(("127.0.0.1", ${port}))
    except OSError:
        pass
    s.close()
`;
  const { success, stderr } = await new Deno.Command("/usr/bin/python3", {
    args: ["-c", script],
    stdout: "null",
  }).output();
  if (!success) {
    throw new Error(`python3 failed: ${new TextDecoder().decode(stderr)}`);
  }
}
