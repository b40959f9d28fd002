// Copyright 2026 the camwire authors. MIT license.
/**
 * The door of the TCP and pickle ports: what a connection must get
 * through before it is a viewer — a place in the pending budget, its TLS
 * handshake within 3 s, its token within 5 s —, the log lines of those
 * turned away, through a {@linkcode LogTally} so that a flood writes a few
 * lines, not thousands, and the one way in for their viewers
 * ({@linkcode admitViewer}). The HTTP port holds its place in the same
 * budget ({@linkcode holdPlace}).
 *
 * @module
 */

import { message } from "../../common/cli.ts";
import type { DeliveryTotals } from "../../common/latest.ts";
import { addressOf, type Admission } from "../net/admission.ts";
import { closeQuietly, peerName } from "../net/net.ts";
import { cutSilent } from "../net/sockets.ts";
import type { LogTally } from "../net/tally.ts";
import { checkToken, Refusal, Viewer, ViewerInput } from "./viewers.ts";

/**
 * Time a TLS client has for its handshake. A LAN handshake takes a few ms;
 * one across the world a few round trips.
 */
const HANDSHAKE_TIMEOUT_MS = 3000;
/**
 * Time a TLS client has for its first byte. It sends its ClientHello right
 * behind the last packet of the TCP handshake, which is what makes the
 * server accept it: it comes at once, or, lost, after one resend (Linux's
 * shortest resend timeout is 200 ms, plus a round trip). A plain client on
 * the TLS port sends nothing, waiting for frames: it is told with a TLS
 * alert and closed here, within 1 s, not at the handshake deadline (3 s
 * before). Where the server cannot tell silence (no libc, IPv6), the
 * handshake deadline closes it.
 */
export const FIRST_BYTE_MS = 700;
/**
 * What a silent plain client on the TLS port is told: a fatal TLS alert
 * (handshake_failure), the record rustls answers a plain client's line
 * with; the client recognizes a TLS record (common/conn_errors.ts).
 */
const TLS_ALERT = new Uint8Array([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28]);

/** A connection's place in the pending budget (see {@linkcode holdPlace}). */
export interface Place {
  /** True once it was evicted: its connection is closed and counted. */
  readonly evicted: boolean;
  /** Gives the place back (once it owes nothing more, or failed). */
  leave(): void;
}

/**
 * Takes a place in the pending budget for a connection that owes
 * something (a handshake, a token, a request head). When the budget is
 * full the oldest such connection is evicted: closed, and counted in one
 * line (`camwire: <who> evicted: …`).
 *
 * @param conn The connection.
 * @param options The admission rules and the log.
 * @param who For the line, e.g. `viewer 10.0.0.2:4000`.
 * @param owing What it owes, e.g. `their request`.
 * @param onEvict Also called at eviction.
 * @returns Its place.
 */
export function holdPlace(
  conn: Deno.Conn,
  options: { admission: Admission; tally: LogTally },
  who: string,
  owing: string,
  onEvict: () => void = () => {},
): Place {
  const address = addressOf(conn.remoteAddr);
  let evicted = false;
  const leave = options.admission.enter(address, () => {
    evicted = true;
    onEvict();
    closeQuietly(conn);
    options.tally.note(
      "evicted",
      `camwire: ${who} evicted: the oldest of too many connections owing ${owing}`,
      address,
    );
  });
  return {
    get evicted() {
      return evicted;
    },
    leave,
  };
}

/** What {@linkcode passDoor} needs. */
export interface DoorOptions {
  admission: Admission;
  tally: LogTally;
  /** The token viewers must send first, if any. */
  token: string | undefined;
  /** For log lines and slots: `""` for the TCP port, `pickle`. */
  kind: string;
  /**
   * Connections in the door, closed by the server when it stops (which
   * also ends a token check's wait).
   */
  inDoor: Set<{ close(): void }>;
}

/**
 * Brings a connection through the door.
 *
 * @param conn A connection just accepted.
 * @param options The rules and the log.
 * @returns Its input (the token line read) when it may become a viewer;
 * `null` when it was refused, evicted, closed or failed: it is closed and
 * counted.
 */
export async function passDoor(
  conn: Deno.Conn,
  options: DoorOptions,
): Promise<ViewerInput | null> {
  const address = addressOf(conn.remoteAddr);
  const who = ["viewer", options.kind, peerName(conn.remoteAddr)]
    .filter(Boolean).join(" ");
  // Aborted when it is evicted or the server stops: ends the wait of a
  // token check slowed down for wrong tokens (up to 4 s).
  const gone = new AbortController();
  const refuse = (kind: string, reason = kind) => {
    closeQuietly(conn);
    if (!gone.signal.aborted) {
      options.tally.note(kind, `camwire: ${who} refused: ${reason}`, address);
    }
    return null;
  };
  const place = holdPlace(
    conn,
    options,
    who,
    "their token or handshake",
    () => gone.abort(),
  );
  const entry = {
    close() {
      gone.abort();
      closeQuietly(conn);
    },
  };
  options.inDoor.add(entry);
  try {
    await tlsHandshake(conn);
    const input = new ViewerInput(conn);
    if (options.token !== undefined) {
      await checkToken(input, options.token, {
        rules: options.admission,
        address,
        signal: gone.signal,
      });
    }
    // Evicted or closed while its check waited: its connection is closed.
    return gone.signal.aborted ? refuse("closed") : input;
  } catch (error) {
    if (!(error instanceof Refusal)) {
      return refuse("failed", `failed: ${message(error)}`);
    }
    const kind = error.message.startsWith("wrong token")
      ? "wrong token"
      : error.message;
    return refuse(kind, error.message);
  } finally {
    place.leave();
    options.inDoor.delete(entry);
  }
}

/** Where {@linkcode admitViewer} puts a viewer that came through the door. */
export interface ViewerHome {
  /** Delivery counters shared by every viewer. */
  readonly totals: DeliveryTotals;
  /** True once the server stops: a viewer through the door is closed. */
  closing(): boolean;
  /**
   * Asks for a slot under `--max-clients` and `--max-clients-per-ip`.
   *
   * @returns A release function, or `null` when refused (counted).
   */
  takeSlot(name: string, address: string): (() => void) | null;
  /** Takes the viewer in: it gets frames from now on. */
  add(viewer: Viewer, name: string): void;
  /** Lets it go (it must close it); may be called more than once. */
  remove(viewer: Viewer, reason: string): void;
}

/**
 * Runs one viewer of the TCP or pickle port: its door, its slot, its
 * frames, until it goes.
 *
 * @param conn A connection just accepted.
 * @param door The door's rules.
 * @param home Where the viewer goes.
 */
export async function admitViewer(
  conn: Deno.Conn,
  door: DoorOptions,
  home: ViewerHome,
): Promise<void> {
  const name = [door.kind, peerName(conn.remoteAddr)].filter(Boolean)
    .join(" ");
  const input = await passDoor(conn, door);
  if (input === null) return;
  if (home.closing()) return closeQuietly(conn);
  const release = home.takeSlot(name, addressOf(conn.remoteAddr));
  if (release === null) return closeQuietly(conn);
  try {
    if ("setNoDelay" in conn) (conn as Deno.TcpConn).setNoDelay(true);
    const viewer = new Viewer(
      conn,
      (v, reason) => home.remove(v, reason),
      home.totals,
    );
    home.add(viewer, name);
    home.remove(viewer, await viewer.watch(input));
  } finally {
    release();
  }
}

/**
 * Completes a TLS connection's handshake within 3 s; a plain connection
 * passes at once. One that has sent nothing at all after
 * {@linkcode FIRST_BYTE_MS} is no TLS client: it is sent a TLS alert and
 * closed then.
 *
 * @param conn The connection.
 * @throws {Refusal} When the handshake fails or does not end in time (the
 * connection is then cut).
 */
export async function tlsHandshake(conn: Deno.Conn): Promise<void> {
  if (!("handshake" in conn)) return;
  let late = false;
  let silent = false;
  const timer = setTimeout(() => {
    late = true;
    closeQuietly(conn);
  }, HANDSHAKE_TIMEOUT_MS);
  const sniff = setTimeout(
    () => checkSilent(conn, () => silent = true),
    FIRST_BYTE_MS,
  );
  try {
    await (conn as Deno.TlsConn).handshake();
  } catch (error) {
    throw new Refusal(
      silent
        ? `nothing sent within ${FIRST_BYTE_MS} ms: a plain client on the TLS port (told so with a TLS alert)`
        : late
        ? `no TLS handshake within ${HANDSHAKE_TIMEOUT_MS / 1000} s`
        : `TLS handshake failed: ${message(error)}`,
    );
  } finally {
    clearTimeout(timer);
    clearTimeout(sniff);
    toCheck.delete(conn);
  }
}

/** Connections past {@linkcode FIRST_BYTE_MS} in their handshake. */
const toCheck = new Map<Deno.Conn, () => void>();
/**
 * How long {@linkcode checkSilent} gathers connections for one scan of the
 * process's fds: a burst of silent connects then costs a few scans.
 */
const CHECK_BATCH_MS = 25;

/** Ends `conn` soon, with `onSilent` called first, if its peer sent nothing. */
function checkSilent(conn: Deno.Conn, onSilent: () => void): void {
  if (toCheck.size === 0) {
    setTimeout(() => {
      const batch = new Map(toCheck);
      toCheck.clear();
      // The cut handshakes reject later, once these are all marked.
      const found = cutSilent(batch.keys(), TLS_ALERT);
      for (const silent of found ?? []) batch.get(silent)!();
    }, CHECK_BATCH_MS);
  }
  toCheck.set(conn, onSilent);
}
