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

/** Linux constants, from <sys/socket.h>, <netinet/tcp.h>, <errno.h>. */
const IPPROTO_TCP = 6;
const TCP_NOTSENT_LOWAT = 25;
const AF_INET = 2;
const MSG_DONTWAIT = 0x40;
const MSG_NOSIGNAL = 0x4000;
const EINTR = 4;
const EAGAIN = 11;

const SYMBOLS = {
  setsockopt: {
    parameters: ["i32", "i32", "i32", "buffer", "u32"],
    result: "i32",
  },
  // The length is a usize, passed as a bigint: as a number it would leave
  // V8's fast call path and cost twice as much.
  send: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  getpeername: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

type Libc = Deno.DynamicLibrary<typeof SYMBOLS>;
let libc: Libc | null | undefined;

/** libc, or `null` where it cannot be had (not Linux, no --allow-ffi). */
function openLibc(): Libc | null {
  if (libc !== undefined) return libc;
  libc = null;
  if (Deno.build.os !== "linux") return null;
  try {
    libc = Deno.dlopen("libc.so.6", SYMBOLS);
  } catch {
    // No FFI permission, or no glibc: the portable paths remain.
  }
  return libc;
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
 * @returns `""` when done, else why it could not be.
 */
export function limitSendQueue(port: number, bytes: number): string {
  const lib = openLibc();
  if (lib === null) return "needs Linux and --allow-ffi";
  try {
    const fd = listeningFd(port);
    if (fd === undefined) return "listening socket not found in /proc";
    const value = new Int32Array([bytes]);
    const rc = lib.symbols.setsockopt(
      fd,
      IPPROTO_TCP,
      TCP_NOTSENT_LOWAT,
      value,
      4,
    );
    return rc === 0 ? "" : "setsockopt failed";
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
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
  #errno: Deno.UnsafePointerView;
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
    this.#errno = new Deno.UnsafePointerView(lib.symbols.__errno_location()!);
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
    const errno = this.#errno.getInt32(0);
    return errno === EAGAIN || errno === EINTR ? WOULD_BLOCK : SEND_FAILED;
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
