// Copyright 2026 the camwire authors. MIT license.
/**
 * Raw HTTP requests for the tests of the server's HTTP side: the request
 * written byte for byte (headers a `fetch` would not send, heads of any
 * size), and every byte of the answer read with a deadline, together with
 * whether and when the server closed the connection.
 *
 * @module
 */

import { concatBytes } from "../framing.ts";
import { closeConn } from "./http_client.ts";
import { within } from "./util.ts";

/** What a raw request got. */
export interface RawResponse {
  /** The status code, or 0 when no status line came. */
  status: number;
  /** Every byte the server sent (up to `until`). */
  bytes: Uint8Array;
  /** `bytes` as latin1 text. */
  text: string;
  /** Whether the server closed the connection (EOF or reset). */
  closed: boolean;
  /** Milliseconds from the request's first byte to its end (close or `until`). */
  ms: number;
}

/** Options of {@linkcode rawRequest}. */
export interface RawOptions {
  /** How long to wait for the answer in all. @default {5000} */
  ms?: number;
  /**
   * Stop reading once this holds of the bytes so far (a stream never
   * ends): then `closed` is false unless the server closed first.
   */
  until?: (bytes: Uint8Array) => boolean;
}

/**
 * Writes `request` to 127.0.0.1:`port` on a new connection and reads the
 * answer until the server closes it, `until` holds or `ms` pass (then it
 * fails); the connection is closed after.
 *
 * @param port The HTTP port.
 * @param request The request's bytes or text (`\r\n` line ends).
 * @param options The deadline and when to stop reading.
 * @returns What came back.
 */
export async function rawRequest(
  port: number,
  request: string | Uint8Array,
  options: RawOptions = {},
): Promise<RawResponse> {
  const { response, conn } = await openRequest(port, request, options);
  closeConn(conn);
  return response;
}

/**
 * As {@linkcode rawRequest}, but the connection is left open (a stream
 * being watched): the caller closes it.
 *
 * @returns What came back, and the connection.
 */
export async function openRequest(
  port: number,
  request: string | Uint8Array,
  options: RawOptions = {},
): Promise<{ response: RawResponse; conn: Deno.Conn }> {
  const ms = options.ms ?? 5000;
  const conn = await within(
    Deno.connect({ hostname: "127.0.0.1", port }),
    ms,
    `a connection to port ${port}`,
  );
  const start = performance.now();
  try {
    const bytes = typeof request === "string"
      ? new TextEncoder().encode(request)
      : request;
    await conn.write(bytes).catch(() => {}); // the server may cut it short
    const got = await within(readAll(conn, options.until), ms, "an answer");
    const text = new TextDecoder("latin1").decode(got.bytes);
    const status = Number(/^HTTP\/1\.[01] (\d{3}) /.exec(text)?.[1] ?? 0);
    const response = { status, ...got, text, ms: performance.now() - start };
    return { response, conn };
  } catch (error) {
    closeConn(conn);
    throw error;
  }
}

async function readAll(
  conn: Deno.Conn,
  until?: (bytes: Uint8Array) => boolean,
): Promise<{ bytes: Uint8Array; closed: boolean }> {
  const chunks: Uint8Array[] = [];
  const buf = new Uint8Array(64 * 1024);
  while (true) {
    const n = await conn.read(buf).catch(() => null); // a reset ends it too
    if (n === null) return { bytes: concatBytes(chunks), closed: true };
    chunks.push(buf.slice(0, n));
    if (until?.(concatBytes(chunks))) {
      return { bytes: concatBytes(chunks), closed: false };
    }
  }
}

/**
 * A GET request's text.
 *
 * @param path The target, e.g. `/snapshot.jpg?token=x`.
 * @param headers More header lines, e.g. `{ "X-Forwarded-For": "…" }`.
 * @returns The request, ending in its blank line.
 */
export function get(
  path: string,
  headers: Record<string, string> = {},
): string {
  const lines = Object.entries({ Host: "camwire", ...headers })
    .map(([name, value]) => `${name}: ${value}\r\n`).join("");
  return `GET ${path} HTTP/1.1\r\n${lines}\r\n`;
}

/** Whether bytes hold a JPEG's start (FF D8 FF): a picture was sent. */
export function hasJpeg(bytes: Uint8Array): boolean {
  for (let i = bytes.indexOf(0xff); i !== -1; i = bytes.indexOf(0xff, i + 1)) {
    if (bytes[i + 1] === 0xd8 && bytes[i + 2] === 0xff) return true;
  }
  return false;
}
