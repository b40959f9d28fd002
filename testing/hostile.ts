// Copyright 2026 the camwire authors. MIT license.
/**
 * Helpers of the hostile-network tests (e2e/hostile_test.ts): a server
 * process that may run under `prlimit`, its sockets counted from
 * `/proc/net/tcp`, raw connections that read wire frames with a deadline,
 * and bursts of reset connects. Every wait fails with what it waited for.
 *
 * @module
 */

import { type ScriptProcess, startServerProcess, within } from "./util.ts";
import { webBase } from "./http_client.ts";

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
export interface HostileServer extends ScriptProcess {
  pid: number;
  /** The TCP (or TLS) viewer port. */
  port: number;
  /** The HTTP port, with --http-port. */
  httpPort: number | undefined;
  /** Whether it is still running. */
  readonly running: boolean;
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
  const server = await startServerProcess(
    ["--source", "test", ...args],
    {},
    options.nofile === undefined
      ? {}
      : { runner: ["prlimit", `--nofile=${options.nofile}`] },
  );
  let running = true;
  server.child.status.then(() => running = false);
  try {
    const httpPort = args.includes("--http-port")
      ? Number(new URL(await webBase(server)).port)
      : undefined;
    return {
      ...server,
      pid: server.child.pid,
      httpPort,
      get running() {
        return running;
      },
    };
  } catch (error) {
    await server.stop("SIGKILL");
    throw error;
  }
}

/**
 * Runs `body` against a fresh {@linkcode spawnServer} server, stopped
 * after.
 *
 * @param args More server flags.
 * @param body The test.
 * @param options `nofile`: the fd limit to run the server under.
 */
export async function withServer(
  args: string[],
  body: (server: HostileServer) => Promise<void>,
  options: { nofile?: number } = {},
): Promise<void> {
  const server = await spawnServer(args, options);
  try {
    await body(server);
  } finally {
    await server.stop();
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

/** A plain connection to 127.0.0.1:`port`, within 5 s. */
export function connect(port: number): Promise<Deno.TcpConn> {
  return within(
    Deno.connect({ hostname: "127.0.0.1", port }),
    5000,
    `a connection to port ${port}`,
  );
}

/**
 * Connects (sending `camwire <token>` first, if given) and reads the
 * first wire frame within `ms`.
 *
 * @returns How long it took, in ms.
 */
export async function firstFrameWithin(
  port: number,
  ms: number,
  token?: string,
): Promise<number> {
  const start = performance.now();
  const conn = await connect(port);
  try {
    if (token !== undefined) {
      await conn.write(new TextEncoder().encode(`camwire ${token}\n`));
    }
    await within(readWireFrame(conn), ms, "a viewer's first frame");
    return performance.now() - start;
  } finally {
    closeAll([conn]);
  }
}
