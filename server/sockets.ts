// Copyright 2026 the camwire authors. MIT license.
/**
 * Linux socket calls that Deno has no API for, made through libc with FFI:
 * bounding what the kernel queues for a viewer, and sending to a viewer's
 * socket synchronously. Both are optional: where they do not apply (another
 * OS, no FFI permission; for direct sends also IPv6 and TLS) camwire works
 * without them.
 *
 * @module
 */

import { SEND_FAILED } from "../common/latest.ts";
import { EAGAIN, EINTR, errno, type Libc, openLibc } from "./libc.ts";

/** Linux constants, from <sys/socket.h>, <netinet/tcp.h>. */
const IPPROTO_TCP = 6;
const TCP_NOTSENT_LOWAT = 25;
const AF_INET = 2;
const MSG_DONTWAIT = 0x40;
const MSG_NOSIGNAL = 0x4000;

/** Why {@linkcode limitSendQueue} could not set its option. */
export class SocketOptionError extends Error {
  override name = "SocketOptionError";
}

/**
 * Bounds the bytes the kernel may hold unsent for every connection the
 * listener on `port` accepts (they inherit `TCP_NOTSENT_LOWAT`). Why: Linux
 * lets a send buffer grow to 4 MB, seconds of video that a slow viewer
 * would watch late before its writes ever block. With the bound, a write
 * blocks as soon as a few frames wait, and the viewer skips to the newest
 * frame. Unlike a small `SO_SNDBUF`, it does not limit the bytes in flight,
 * so a viewer far away (a long round trip) still gets the full rate.
 *
 * The listener's fd is found through `/proc/net/tcp{,6}` (its inode, by
 * port and LISTEN state) and `/proc/self/fd`.
 *
 * @param port The listening port.
 * @param bytes Most unsent bytes per connection.
 * @throws {SocketOptionError} With the reason, e.g. "needs Linux and
 * --allow-ffi": the server works without the bound.
 */
export function limitSendQueue(port: number, bytes: number): void {
  const lib = openLibc();
  if (lib === null) throw new SocketOptionError("needs Linux and --allow-ffi");
  let fd: number | undefined;
  try {
    fd = listeningFd(port);
  } catch (error) {
    throw new SocketOptionError(
      error instanceof Error ? error.message : String(error),
      { cause: error },
    );
  }
  if (fd === undefined) {
    throw new SocketOptionError("listening socket not found in /proc");
  }
  const value = new Int32Array([bytes]);
  const rc = lib.symbols.setsockopt(
    fd,
    IPPROTO_TCP,
    TCP_NOTSENT_LOWAT,
    value,
    4,
  );
  if (rc !== 0) {
    throw new SocketOptionError(`setsockopt failed: errno ${errno()}`);
  }
}

function listeningFd(port: number): number | undefined {
  const hexPort = port.toString(16).toUpperCase().padStart(4, "0");
  const inodes = new Set<string>();
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text = "";
    try {
      text = Deno.readTextFileSync(table);
    } catch {
      continue; // no IPv6
    }
    for (const line of text.split("\n").slice(1)) {
      // sl local_address rem_address st ... inode: local is ADDR:PORT in hex.
      const fields = line.trim().split(/\s+/);
      const LISTEN = "0A";
      if (fields[1]?.endsWith(`:${hexPort}`) && fields[3] === LISTEN) {
        inodes.add(fields[9]!);
      }
    }
  }
  for (const fd of openFds()) {
    try {
      const target = Deno.readLinkSync(`/proc/self/fd/${fd}`);
      const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
      if (inode !== undefined && inodes.has(inode)) return fd;
    } catch {
      // Closed meanwhile.
    }
  }
  return undefined;
}

function openFds(): number[] {
  const fds: number[] = [];
  for (const entry of Deno.readDirSync("/proc/self/fd")) {
    fds.push(Number(entry.name));
  }
  return fds;
}

/** What {@linkcode DirectSender.send} tells of one attempt. */
export const WOULD_BLOCK = 0;
export { SEND_FAILED };

/**
 * Sends to TCP sockets with one synchronous `send(2)` each, instead of an
 * async Deno write (a promise and an op per viewer per frame): the fan-out
 * to thousands of viewers then costs little more than the kernel's own
 * work. Deno does not expose a connection's fd, so fds are found in
 * batches: every socket in `/proc/self/fd` whose address pair, from
 * `getsockname`/`getpeername`, matches a waiting connection.
 *
 * The caller must stop using an fd before it closes its connection, since
 * the kernel reuses fd numbers.
 */
export class DirectSender {
  #lib: Libc;
  #address = new Uint8Array(128);
  #addressLength = new Uint32Array(1);
  /** Connections waiting for their fd, by "local>remote" address. */
  #waiting = new Map<string, { found: (fd: number) => void; since: number }>();
  /** fds in use, so that a scan skips them. */
  #known = new Set<number>();
  #lengthOf: Uint8Array | null = null;
  #length = 0n;

  private constructor(lib: Libc) {
    this.#lib = lib;
  }

  /** The sender, or `null` where it cannot work (see {@linkcode openLibc}). */
  static open(): DirectSender | null {
    const lib = openLibc();
    return lib === null ? null : new DirectSender(lib);
  }

  /** True while connections wait for their fd. */
  get pending(): boolean {
    return this.#waiting.size > 0;
  }

  /**
   * Asks for the fd of a plain TCP connection (never a TLS one: bytes sent
   * on its fd would bypass the encryption).
   *
   * @param conn The connection.
   * @param found Called with the fd once a scan finds it.
   * @returns A function that withdraws the request.
   */
  lookUp(conn: Deno.TcpConn, found: (fd: number) => void): () => void {
    const local = conn.localAddr;
    const remote = conn.remoteAddr;
    const key =
      `${local.hostname}:${local.port}>${remote.hostname}:${remote.port}`;
    this.#waiting.set(key, { found, since: performance.now() });
    return () => this.#waiting.delete(key);
  }

  /**
   * Finds the fds of waiting connections: one scan of `/proc/self/fd`.
   * A connection not found within 2 s (an IPv6 one, say) is given up: it
   * keeps Deno's own writes.
   */
  scan(): void {
    const now = performance.now();
    for (const [key, { since }] of this.#waiting) {
      if (now - since > 2000) this.#waiting.delete(key);
    }
    for (const fd of openFds()) {
      if (this.#known.has(fd)) continue;
      const local = this.#name(fd, this.#lib.symbols.getsockname);
      if (local === null) continue;
      const remote = this.#name(fd, this.#lib.symbols.getpeername);
      const key = `${local}>${remote}`;
      const waiting = this.#waiting.get(key);
      if (remote === null || waiting === undefined) continue;
      this.#waiting.delete(key);
      this.#known.add(fd);
      waiting.found(fd);
    }
  }

  /** Forgets an fd: call before its connection closes. */
  release(fd: number): void {
    this.#known.delete(fd);
  }

  /**
   * Sends what the socket takes now, without waiting.
   *
   * @returns Bytes sent, {@linkcode WOULD_BLOCK} when the socket is full,
   * or {@linkcode SEND_FAILED} when it is broken.
   */
  send(fd: number, bytes: Uint8Array): number {
    if (bytes !== this.#lengthOf) {
      // Every viewer gets the same frame in turn: one bigint per frame.
      this.#lengthOf = bytes;
      this.#length = BigInt(bytes.length);
    }
    const flags = MSG_DONTWAIT | MSG_NOSIGNAL;
    const n = Number(this.#lib.symbols.send(fd, bytes, this.#length, flags));
    if (n >= 0) return n;
    const error = errno();
    return error === EAGAIN || error === EINTR ? WOULD_BLOCK : SEND_FAILED;
  }

  /** "a.b.c.d:port" of an IPv4 socket's end, or `null`. */
  #name(
    fd: number,
    call: (fd: number, address: Uint8Array, length: Uint32Array) => number,
  ): string | null {
    const address = this.#address;
    this.#addressLength[0] = address.length;
    if (call(fd, address, this.#addressLength) !== 0) return null;
    if (address[0]! + (address[1]! << 8) !== AF_INET) return null;
    const port = (address[2]! << 8) | address[3]!;
    return `${address[4]}.${address[5]}.${address[6]}.${address[7]}:${port}`;
  }
}
