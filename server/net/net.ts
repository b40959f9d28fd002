// Copyright 2026 the camwire authors. MIT license.
/**
 * The server's sockets as Deno sees them: listening (with a backlog for
 * bursts and a bounded send queue), the words for a listen failure, a
 * connection's name in log lines, and closing what may be closed already.
 *
 * @module
 */

import { CamwireError, message } from "../../common/cli.ts";
import { sleep } from "../../common/time.ts";
import {
  cutSocket,
  limitSendQueue,
  SocketCallsUnavailable,
} from "./sockets.ts";
import type { LogTally } from "./tally.ts";

/**
 * Deno's default listen backlog (511) silently drops connects when a
 * classroom of viewers arrives at once; the kernel caps this at somaxconn.
 */
const LISTEN_BACKLOG = 4096;

/** What a listener is told to be: its address, and TLS when given. */
export interface ListenOptions {
  hostname: string;
  port: number;
  /** PEM certificate and key: serve over TLS. */
  tls?: { cert: string; key: string } | undefined;
  /** The flag that chose the port, for the message when it is taken. */
  flag: string;
}

/**
 * Listens for TCP (or TLS) connections.
 *
 * @param options Where, with TLS or not, and the flag to blame.
 * @returns The listener.
 * @throws {CamwireError} When the port is taken, the address is not this
 * machine's, the port needs privileges or the certificate is bad.
 */
export function listen(options: ListenOptions): Deno.Listener {
  const { hostname, port, tls } = options;
  const bind = { hostname, port, tcpBacklog: LISTEN_BACKLOG };
  try {
    if (tls) return Deno.listenTls({ ...bind, ...tls });
    return Deno.listen(bind);
  } catch (error) {
    throw listenError(error, options);
  }
}

/**
 * Turns a failure to listen into camwire's words.
 *
 * @param error What Deno threw.
 * @param options What was asked for.
 * @returns A {@linkcode CamwireError} for the failures a user can mend.
 */
export function listenError(error: unknown, options: ListenOptions): Error {
  const where = `Cannot listen on ${options.hostname}:${options.port}`;
  if (error instanceof Deno.errors.AddrInUse) {
    return new CamwireError(
      `${where}: the port is in use (stop the other program or pick another ${options.flag})`,
    );
  }
  if (error instanceof Deno.errors.AddrNotAvailable) {
    return new CamwireError(
      `${where}: no network interface has that address (check --host)`,
    );
  }
  if (error instanceof Deno.errors.PermissionDenied) {
    return new CamwireError(
      `${where}: permission denied (ports below 1024 need privileges)`,
    );
  }
  if (
    options.tls !== undefined &&
    (error instanceof Deno.errors.InvalidData || error instanceof TypeError)
  ) {
    return new CamwireError(
      `${where}: bad TLS certificate or key: ${message(error)}`,
    );
  }
  return error instanceof Error ? error : new Error(String(error));
}

/** The servers (by their log) told that the send queue cannot be bound. */
const toldUnavailable = new WeakSet<(line: string) => void>();

/**
 * {@linkcode limitSendQueue} for a listening port, or a line saying why it
 * could not be (once per server where it cannot be at all): the server
 * works without it, slow viewers then lag.
 *
 * @param port The listening port.
 * @param bytes Most unsent bytes per connection; 0 for no bound.
 * @param log Where the warning goes.
 */
export function boundSendQueue(
  port: number,
  bytes: number,
  log: (line: string) => void,
): void {
  if (bytes <= 0) return;
  try {
    limitSendQueue(port, bytes);
  } catch (error) {
    if (error instanceof SocketCallsUnavailable) {
      // The same for every port of this server: said once.
      if (toldUnavailable.has(log)) return;
      toldUnavailable.add(log);
      log(
        `camwire: --send-queue is not available here (${error.message}): slow viewers may see frames seconds late`,
      );
      return;
    }
    log(
      `camwire: cannot bound the send queue of port ${port} (${
        message(error)
      }): slow viewers may see frames seconds late`,
    );
  }
}

/**
 * A connection's far end for log lines.
 *
 * @param addr `conn.remoteAddr`.
 * @returns `host:port`, an IPv6 host in brackets.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const v6: Deno.NetAddr = { transport: "tcp", hostname: "::1", port: 9 };
 * assert.equal(peerName(v6), "[::1]:9");
 * ```
 */
export function peerName(addr: Deno.Addr): string {
  if (addr.transport !== "tcp" && addr.transport !== "udp") {
    return addr.transport;
  }
  const host = addr.hostname.includes(":")
    ? `[${addr.hostname}]`
    : addr.hostname;
  return `${host}:${addr.port}`;
}

/**
 * Closes a connection or listener that may be closed already. A TLS
 * connection is cut beneath Deno ({@linkcode cutSocket}): its `close()`
 * alone left silent and stalled ones ESTABLISHED.
 *
 * @param resource What to close.
 */
export function closeQuietly(resource: { close(): void }): void {
  if ("handshake" in resource) return cutSocket(resource as Deno.TlsConn);
  try {
    resource.close();
  } catch {
    // Already closed.
  }
}

/** The longest pause of {@linkcode acceptEach} while fds are exhausted. */
const MAX_ACCEPT_PAUSE_MS = 500;
/** Other accept failures in a row before {@linkcode acceptEach} pauses. */
const ACCEPT_FAILURES_PER_PAUSE = 16;
/** That pause: a few ms, so that a failure that persists cannot spin. */
const ACCEPT_FAILURE_PAUSE_MS = 5;

/**
 * Whether an error is the process or the system running out of fds
 * (EMFILE, ENFILE): the one accept failure worth a pause.
 *
 * @param error What `accept` threw.
 * @returns True for "Too many open files" (os error 24 or 23).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.ok(outOfFds(new Error("Too many open files (os error 24)")));
 * assert.ok(!outOfFds(new Error("Transport endpoint is not connected (os error 107)")));
 * ```
 */
export function outOfFds(error: unknown): boolean {
  return /\(os error 2[34]\)/.test(message(error));
}

/** How {@linkcode acceptEach} reports. */
export interface AcceptOptions {
  /** e.g. `--http-port 8080`, for its log lines. */
  what: string;
  log: (line: string) => void;
  /** Where other accept failures are counted (rate-limited lines). */
  tally: LogTally;
  /** True once the server is closing: a failure then ends the loop. */
  closing: () => boolean;
}

/**
 * Accepts connections until the listener is closed, handing each to
 * `handle`. It never throws and never stops for a failure: a peer that
 * reset before it was accepted (ENOTCONN; 200 of them once delayed the
 * next viewer by 20 s while the loop paused 100 ms for each) is counted
 * and the loop goes on at once (only 16 failures in a row pause it, 5 ms,
 * so that one that persists, ENOBUFS or ENOMEM, cannot spin a core);
 * running out of fds pauses it (50 ms doubling to 0.5 s), logged once,
 * and it says when it accepts again.
 *
 * @param listener The listener.
 * @param handle Takes each connection; must not throw.
 * @param options Names and logs.
 * @returns Resolves when the listener is closed.
 */
export async function acceptEach(
  listener: Deno.Listener,
  handle: (conn: Deno.Conn) => void,
  options: AcceptOptions,
): Promise<void> {
  let pause = 0;
  /** Failures other than fd exhaustion since the last accept. */
  let failures = 0;
  while (true) {
    let conn: Deno.Conn;
    try {
      conn = await listener.accept();
    } catch (error) {
      if (options.closing() || error instanceof Deno.errors.BadResource) {
        return;
      }
      if (!outOfFds(error)) {
        options.tally.note(
          "accept failed",
          `camwire: ${options.what}: accept failed: ${message(error)}`,
        );
        // A failure that persists (ENOBUFS, ENOMEM) would spin a core:
        // a short pause every so many in a row, which a burst of resets
        // (200: 12 pauses) barely feels.
        if (++failures % ACCEPT_FAILURES_PER_PAUSE === 0) {
          await sleep(ACCEPT_FAILURE_PAUSE_MS);
        }
        continue;
      }
      if (pause === 0) {
        options.log(
          `camwire: ${options.what}: out of file descriptors (${
            message(error)
          }): new connections wait; viewers connected keep streaming`,
        );
      }
      pause = Math.min(Math.max(pause * 2, 50), MAX_ACCEPT_PAUSE_MS);
      await sleep(pause);
      continue;
    }
    failures = 0;
    if (pause !== 0) {
      pause = 0;
      options.log(`camwire: ${options.what}: accepting connections again`);
    }
    handle(conn);
  }
}
