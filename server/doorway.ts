// Copyright 2026 the camwire authors. MIT license.
/**
 * The door of the TCP and pickle ports: what a connection must get
 * through before it is a viewer — a place in the pending budget, its TLS
 * handshake within {@linkcode HANDSHAKE_TIMEOUT_MS}, its token within
 * 5 s — and the log lines of those turned away, through a
 * {@linkcode LogTally} so that a flood writes a few lines, not thousands.
 *
 * @module
 */

import { message } from "../common/cli.ts";
import { addressOf, type Admission } from "./admission.ts";
import { closeQuietly, peerName } from "./net.ts";
import type { LogTally } from "./tally.ts";
import { checkToken, Refusal, ViewerInput } from "./viewers.ts";

/**
 * Time a TLS client has for its handshake. A LAN handshake takes a few ms;
 * a plain TCP client on the TLS port sends no ClientHello and is closed at
 * this deadline (it then reports the close), not left waiting.
 */
export const HANDSHAKE_TIMEOUT_MS = 3000;

/** What {@linkcode passDoor} needs. */
export interface DoorOptions {
  admission: Admission;
  tally: LogTally;
  /** The token viewers must send first, if any. */
  token: string | undefined;
  /** For log lines: `viewer` or `viewer pickle`. */
  label: string;
  /** Connections in the door, closed by the server when it stops. */
  inDoor: Set<Deno.Conn>;
}

/**
 * Brings a connection through the door.
 *
 * @param conn A connection just accepted.
 * @param options The rules and the log.
 * @returns Its input (the token line read) when it may become a viewer;
 * `null` when it was refused, evicted or failed: it is closed and counted.
 */
export async function passDoor(
  conn: Deno.Conn,
  options: DoorOptions,
): Promise<ViewerInput | null> {
  const address = addressOf(conn.remoteAddr);
  const who = `${options.label} ${peerName(conn.remoteAddr)}`;
  let evicted = false;
  const refuse = (kind: string, reason = kind) => {
    closeQuietly(conn);
    if (!evicted) {
      options.tally.note(kind, `camwire: ${who} refused: ${reason}`, address);
    }
    return null;
  };
  const leave = options.admission.enter(address, () => {
    evicted = true;
    closeQuietly(conn);
    options.tally.note(
      "evicted",
      `camwire: ${who} evicted: the oldest of too many connections owing their token or handshake`,
      address,
    );
  });
  options.inDoor.add(conn);
  try {
    await tlsHandshake(conn);
    const input = new ViewerInput(conn);
    if (options.token !== undefined) {
      await checkToken(input, options.token, {
        rules: options.admission,
        address,
      });
    }
    return input;
  } catch (error) {
    if (!(error instanceof Refusal)) {
      return refuse("failed", `failed: ${message(error)}`);
    }
    const kind = error.message.startsWith("wrong token")
      ? "wrong token"
      : error.message;
    return refuse(kind, error.message);
  } finally {
    leave();
    options.inDoor.delete(conn);
  }
}

/**
 * Completes a TLS connection's handshake within
 * {@linkcode HANDSHAKE_TIMEOUT_MS}; a plain connection passes at once.
 *
 * @param conn The connection.
 * @throws {Refusal} When the handshake fails or does not end in time (the
 * connection is then cut).
 */
export async function tlsHandshake(conn: Deno.Conn): Promise<void> {
  if (!("handshake" in conn)) return;
  let late = false;
  const timer = setTimeout(() => {
    late = true;
    closeQuietly(conn);
  }, HANDSHAKE_TIMEOUT_MS);
  try {
    await (conn as Deno.TlsConn).handshake();
  } catch (error) {
    throw new Refusal(
      late
        ? `no TLS handshake within ${HANDSHAKE_TIMEOUT_MS / 1000} s`
        : `TLS handshake failed: ${message(error)}`,
    );
  } finally {
    clearTimeout(timer);
  }
}
