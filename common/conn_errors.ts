// Copyright 2026 the camwire authors. MIT license.
/**
 * The client's connection failures in camwire's words: what Deno and its
 * TLS library (rustls) say — `invalid peer certificate:
 * Other(OtherError(CaUsedAsEndEntity))`, `received corrupt message of type
 * InvalidContentType`, `peer closed connection without sending TLS
 * close_notify: https://docs.rs/…` — becomes one line that says what is
 * wrong and which flag mends it.
 *
 * @module
 */

import { FramingError } from "../framing.ts";
import { CamwireError, message } from "./cli.ts";

/** What a failure message needs to know about the connection. */
export interface Connection {
  /** e.g. `tls://127.0.0.1:9999`. */
  where: string;
  /** The `--host` given. */
  host: string;
  /** Whether the client speaks TLS (`--tls`). */
  tls: boolean;
  /** Whether the client sent a token. */
  token: boolean;
}

/**
 * Turns a failure to connect (or to finish the TLS handshake) into
 * camwire's words.
 *
 * @param error What Deno threw.
 * @param conn The connection tried.
 * @returns A {@linkcode CamwireError}, or the error itself when it is not
 * one a user can mend.
 *
 * @example A self-signed CA certificate used as the server's own
 * ```ts
 * import assert from "node:assert/strict";
 * const error = connectError(
 *   new Deno.errors.InvalidData("invalid peer certificate: Other(OtherError(CaUsedAsEndEntity))"),
 *   { where: "tls://cam:9999", host: "cam", tls: true, token: false },
 * );
 * assert.match(error.message, /is a CA certificate.*CA:FALSE/);
 * ```
 */
export function connectError(error: unknown, conn: Connection): Error {
  const where = `Cannot connect to ${conn.where}`;
  if (error instanceof Deno.errors.ConnectionRefused) {
    return new CamwireError(
      `${where}: connection refused (is the server running?)`,
    );
  }
  if (error instanceof Deno.errors.TimedOut) {
    return new CamwireError(`${where}: timed out`);
  }
  const text = message(error);
  if (/failed to lookup address|Name or service not known/i.test(text)) {
    return new CamwireError(
      `${where}: no such host "${conn.host}" (check --host)`,
    );
  }
  if (conn.tls) {
    const tls = tlsWords(error, conn);
    if (tls !== undefined) return new CamwireError(`${where}: ${tls}`);
  }
  if (error instanceof Error) {
    return new CamwireError(`${where}: ${withoutLinks(text)}`);
  }
  return new Error(String(error));
}

/** The words for a TLS failure, or `undefined` when it is not one. */
function tlsWords(error: unknown, conn: Connection): string | undefined {
  const text = message(error);
  if (/CaUsedAsEndEntity/.test(text)) {
    return "the server's certificate is a CA certificate, which TLS refuses as a server's own (make one with basicConstraints=critical,CA:FALSE, as docs/tls.md shows)";
  }
  if (/UnknownIssuer/.test(text)) {
    return "the server's certificate is not signed by a CA this client trusts (give its certificate, or the CA that signed it, with --ca FILE)";
  }
  if (/not valid for name/.test(text)) {
    return `the server's certificate is not for "${conn.host}" (use --host with a name or address in its subjectAltName)`;
  }
  if (/expired/i.test(text)) {
    return "the server's certificate has expired (make a new one)";
  }
  if (/NotValidYet/i.test(text)) {
    return "the server's certificate is not valid yet (is this machine's clock right?)";
  }
  if (/InvalidContentType|corrupt message|InvalidMessage/.test(text)) {
    return "the server does not speak TLS (is it a plain port? Drop --tls)";
  }
  if (
    error instanceof Deno.errors.UnexpectedEof ||
    error instanceof Deno.errors.ConnectionReset
  ) {
    return `the server closed the connection during the TLS handshake (is it a plain port? Drop --tls${
      conn.token ? "" : "; or it is full (--max-clients)"
    })`;
  }
  if (error instanceof Deno.errors.InvalidData) {
    return `TLS failed: ${withoutLinks(text)}`;
  }
  return undefined;
}

/**
 * Turns a failure while streaming into camwire's words.
 *
 * @param error What the read or the deframer threw.
 * @param conn The connection.
 * @param first The first bytes the server sent, if any: a TLS record
 * there means a plain client reached a TLS port.
 * @returns A {@linkcode CamwireError}, or the error itself when it is not
 * one a user can mend.
 *
 * @example A plain client at a TLS port reads a TLS alert as a length
 * ```ts
 * import assert from "node:assert/strict";
 * import { FramingError } from "../framing.ts";
 * const error = streamError(
 *   new FramingError("too-large", "Frame length 1 exceeds the 16 MiB limit"),
 *   { where: "tcp://cam:9999", host: "cam", tls: false, token: false },
 *   new Uint8Array([0x15, 0x03, 0x03, 0x00, 0x02]),
 * );
 * assert.match(error.message, /the server speaks TLS: use --tls \(and --ca/);
 * ```
 */
export function streamError(
  error: unknown,
  conn: Connection,
  first?: Uint8Array,
): Error {
  const { where } = conn;
  if (!conn.tls && first !== undefined && isTlsRecord(first)) {
    return new CamwireError(
      `${where}: the server speaks TLS: use --tls (and --ca FILE for a self-signed certificate)`,
    );
  }
  if (error instanceof FramingError) {
    return new CamwireError(`Broken stream from ${where}: ${error.message}`);
  }
  if (error instanceof Deno.errors.InvalidData) {
    return new CamwireError(
      `TLS failed with ${where}: ${withoutLinks(message(error))}`,
    );
  }
  if (
    error instanceof Deno.errors.ConnectionReset ||
    error instanceof Deno.errors.BrokenPipe ||
    error instanceof Deno.errors.UnexpectedEof
  ) {
    return new CamwireError(
      `Lost connection to ${where}: ${withoutLinks(message(error))}`,
    );
  }
  return error instanceof Error ? error : new Error(String(error));
}

/**
 * Whether a read error is only the server hanging up without TLS's
 * goodbye (`close_notify`), which servers often skip: an ordinary end of
 * the stream, not a failure to report with rustls's text and link.
 *
 * @param error What the read threw.
 * @returns Whether to treat it as the end of the stream.
 */
export function isPlainHangUp(error: unknown): boolean {
  return error instanceof Deno.errors.UnexpectedEof ||
    /close_notify/.test(message(error));
}

/**
 * The words for a server that closed before its first frame: full, a
 * token wanted or wrong, or (for a plain client) a TLS port.
 *
 * @param conn The connection.
 * @returns e.g. `tcp://cam:9999 closed the connection before sending a
 * frame: it is full (--max-clients), or it needs --token; is it a TLS
 * port? try --tls`.
 */
export function closedEarly(conn: Connection): string {
  const why = conn.token
    ? "is the token right? Or it is full (--max-clients)"
    : "it is full (--max-clients), or it needs --token";
  const tls = conn.tls ? "" : "; is it a TLS port? try --tls";
  return `${conn.where} closed the connection before sending a frame: ${why}${tls}`;
}

/**
 * Whether bytes start like a TLS record (an alert or a handshake, TLS
 * 1.0–1.3): what a TLS server answers a plain client with.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(isTlsRecord(new Uint8Array([0x15, 0x03, 0x01])), true);
 * assert.equal(isTlsRecord(new Uint8Array([0x10, 0x20, 0x00])), false);
 * ```
 */
export function isTlsRecord(bytes: Uint8Array): boolean {
  return bytes.length >= 3 && (bytes[0] === 0x15 || bytes[0] === 0x16) &&
    bytes[1] === 0x03 && bytes[2]! <= 0x04;
}

/** Library text without the web links rustls appends. */
function withoutLinks(text: string): string {
  return text.replace(/:?\s*https?:\/\/\S+/g, "").trim();
}
