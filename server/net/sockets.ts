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

import { SEND_FAILED } from "../../common/latest.ts";
import {
  EAGAIN,
  EINTR,
  errno,
  type Libc,
  libcUnavailable,
  openLibc,
} from "../sys/libc.ts";

/** Linux constants, from <sys/socket.h>, <netinet/tcp.h>. */
const IPPROTO_TCP = 6;
const TCP_NOTSENT_LOWAT = 25;
const TCP_INFO = 11;
/** Where `tcpi_bytes_received` (Linux 4.1+) is in `struct tcp_info`. */
const BYTES_RECEIVED_AT = 128;
const AF_INET = 2;
const MSG_DONTWAIT = 0x40;
const MSG_NOSIGNAL = 0x4000;

/** Why {@linkcode limitSendQueue} could not set its option. */
export class SocketOptionError extends Error {
  override name = "SocketOptionError";
}

/**
 * The socket calls cannot work in this process at all (another OS, no
 * FFI, no /proc): said once, not once per port.
 */
export class SocketCallsUnavailable extends SocketOptionError {
  override name = "SocketCallsUnavailable";
}

let procReadable: boolean | undefined;

/**
 * Why the socket calls of this module cannot work here, or `undefined`
 * when they can. They need libc through FFI, and `/proc/self/fd` to find
 * a connection's fd, which Deno 2.9.6 lets only `-A` read (not
 * `--allow-read`, nor a permission set).
 *
 * @returns The reason, e.g. `FFI is not allowed (…)`.
 */
export function socketCallsUnavailable(): string | undefined {
  if (openLibc() === null) return libcUnavailable();
  if (procReadable === undefined) {
    try {
      Deno.readDirSync("/proc/self/fd");
      procReadable = true;
    } catch {
      procReadable = false;
    }
  }
  return procReadable
    ? undefined
    : "finding a socket needs /proc, which Deno reads only with -A";
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
 * @throws {SocketCallsUnavailable} Where the socket calls cannot work
 * (see {@linkcode socketCallsUnavailable}): the server works without the
 * bound.
 * @throws {SocketOptionError} With the reason, for this port.
 */
export function limitSendQueue(port: number, bytes: number): void {
  const unavailable = socketCallsUnavailable();
  if (unavailable !== undefined) throw new SocketCallsUnavailable(unavailable);
  const lib = openLibc()!;
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

/**
 * The process's open fds, or none when they cannot be listed (listing
 * takes an fd itself: with none left, EMFILE).
 */
function openFds(): number[] {
  const fds: number[] = [];
  try {
    for (const entry of Deno.readDirSync("/proc/self/fd")) {
      fds.push(Number(entry.name));
    }
  } catch {
    // Out of fds: the next scan tries again.
  }
  return fds;
}

/** "local>remote" of a connection, as {@linkcode socketKey} names an fd. */
function connKey(conn: Deno.Conn): string | null {
  const local = conn.localAddr;
  const remote = conn.remoteAddr;
  if (!("hostname" in local) || !("hostname" in remote)) return null;
  return `${local.hostname}:${local.port}>${remote.hostname}:${remote.port}`;
}

/** Scratch space of {@linkcode socketKey}. */
const address = new Uint8Array(128);
const addressLength = new Uint32Array(1);

/** "a.b.c.d:port" of an IPv4 socket's end, or `null`. */
function endName(
  fd: number,
  call: (fd: number, address: Uint8Array, length: Uint32Array) => number,
): string | null {
  addressLength[0] = address.length;
  if (call(fd, address, addressLength) !== 0) return null;
  if (address[0]! + (address[1]! << 8) !== AF_INET) return null;
  const port = (address[2]! << 8) | address[3]!;
  return `${address[4]}.${address[5]}.${address[6]}.${address[7]}:${port}`;
}

/** "local>remote" of an IPv4 socket fd (as {@linkcode connKey}), or `null`. */
function socketKey(lib: Libc, fd: number): string | null {
  const local = endName(fd, lib.symbols.getsockname);
  if (local === null) return null;
  const remote = endName(fd, lib.symbols.getpeername);
  return remote === null ? null : `${local}>${remote}`;
}

const SHUT_RDWR = 2;
/** Connections to cut at the next microtask: one /proc scan for a batch. */
const toCut = new Set<Deno.Conn>();

/**
 * Closes a connection for real, even one that Deno's `close()` leaves
 * open: a TLS connection still in its handshake, or stuck in a write to a
 * peer that stopped reading, stayed ESTABLISHED after `close()` (measured
 * on Deno 2.9.6: 20 of 20; with `shutdown(2)` on its fd first, 0 of 20,
 * and Deno then freed the fds). The fd is found as {@linkcode DirectSender}
 * finds fds, by address pair; the connections cut in one synchronous run
 * (a sweep of stalled viewers) share one scan of `/proc/self/fd`. Where
 * libc cannot be had, or the fd is not found (IPv6), it is `close()` alone.
 *
 * @param conn The connection; closed now, its socket shut down at the next
 * microtask.
 *
 * @example Cutting an accepted connection (libc stays loaded afterwards)
 * ```ts ignore
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
 * const conn = await listener.accept();
 * cutSocket(conn);
 * await Promise.resolve();
 * client.close();
 * listener.close();
 * ```
 */
export function cutSocket(conn: Deno.Conn): void {
  if (socketCallsUnavailable() !== undefined || connKey(conn) === null) {
    return closeConn(conn);
  }
  if (toCut.size === 0) queueMicrotask(cutNow);
  toCut.add(conn);
}

/** Shuts down and closes every connection of {@linkcode toCut}. */
function cutNow(): void {
  const lib = openLibc()!;
  const conns = [...toCut];
  toCut.clear();
  const byKey = new Map<string, Deno.Conn>();
  for (const conn of conns) byKey.set(connKey(conn)!, conn);
  // The fds are looked up and shut down in one synchronous run: Deno
  // closes fds only between turns, so a number cannot change hands here.
  for (const fd of openFds()) {
    if (byKey.size === 0) break;
    const key = socketKey(lib, fd);
    if (key !== null && byKey.has(key)) {
      lib.symbols.shutdown(fd, SHUT_RDWR);
      byKey.delete(key);
    }
  }
  for (const conn of conns) closeConn(conn);
}

/** Scratch space of {@linkcode cutSilent}. */
const tcpInfo = new Uint8Array(256);
const tcpInfoLength = new Uint32Array(1);

/** Bytes the peer of a socket has sent so far, or -1 when unknown. */
function bytesReceived(lib: Libc, fd: number): number {
  tcpInfoLength[0] = tcpInfo.length;
  const rc = lib.symbols.getsockopt(
    fd,
    IPPROTO_TCP,
    TCP_INFO,
    tcpInfo,
    tcpInfoLength,
  );
  if (rc !== 0 || tcpInfoLength[0]! < BYTES_RECEIVED_AT + 8) return -1;
  return Number(
    new DataView(tcpInfo.buffer).getBigUint64(BYTES_RECEIVED_AT, true),
  );
}

/**
 * Of connections accepted on a TLS port, ends those whose peer has sent
 * nothing at all: each is sent `say` beneath Deno (its first and last
 * bytes on the wire: a TLS alert, which a plain client can recognize),
 * then shut down and closed. A TLS client sends its ClientHello as soon
 * as it connects; one that has sent nothing is a plain client waiting
 * for frames. Why TCP_INFO's byte count (`tcpi_bytes_received`) and not a
 * peek at the first byte: Deno's TLS reads a connection as soon as it is
 * accepted (measured on Deno 2.9.6: `recv(MSG_PEEK)` found the socket
 * empty once a ClientHello or any byte had come), and it answers a
 * first byte that is not a TLS record at once by itself (an alert, and the
 * handshake fails); silence is what it cannot tell from a slow client.
 *
 * @param conns The connections (their handshakes not done).
 * @param say The bytes to send each silent one.
 * @returns Those found silent, now closed; `null` where libc cannot be
 * had. One not found (IPv6) is left alone.
 */
export function cutSilent(
  conns: Iterable<Deno.Conn>,
  say: Uint8Array,
): Set<Deno.Conn> | null {
  const lib = openLibc();
  if (lib === null) return null;
  const byKey = new Map<string, Deno.Conn>();
  for (const conn of conns) {
    const key = connKey(conn);
    if (key !== null) byKey.set(key, conn);
  }
  const cut = new Set<Deno.Conn>();
  // One synchronous run, as in cutNow: no fd changes hands meanwhile.
  for (const fd of byKey.size === 0 ? [] : openFds()) {
    const key = socketKey(lib, fd);
    const conn = key === null ? undefined : byKey.get(key);
    if (conn === undefined) continue;
    byKey.delete(key!);
    if (bytesReceived(lib, fd) !== 0) continue;
    lib.symbols.send(fd, say, BigInt(say.length), MSG_DONTWAIT | MSG_NOSIGNAL);
    lib.symbols.shutdown(fd, SHUT_RDWR);
    cut.add(conn);
    if (byKey.size === 0) break;
  }
  for (const conn of cut) closeConn(conn);
  return cut;
}

function closeConn(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
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
    if (socketCallsUnavailable() !== undefined) return null;
    return new DirectSender(openLibc()!);
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
    const key = connKey(conn);
    if (key === null) return () => {};
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
      const key = socketKey(this.#lib, fd);
      const waiting = key === null ? undefined : this.#waiting.get(key);
      if (waiting === undefined) continue;
      this.#waiting.delete(key!);
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
}
