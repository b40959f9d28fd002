// Copyright 2026 the camwire authors. MIT license.
/**
 * HTTP/1.1 on the wire, as strictly as camwire needs it: the head of a
 * request without a body (the router answers the methods it knows, 405
 * for the rest) read from a connection (request line and headers,
 * at most {@linkcode MAX_HEAD_BYTES}, within a deadline) and parsed, and a
 * response serialized. Anything else — a body, a malformed line, a bad
 * Host — is an {@linkcode HttpWireError} carrying the status to answer
 * (400, 431), never a crash or a stack trace in the log.
 *
 * Why not `Deno.serve`: it cannot cut a connection whose write is stuck
 * (a stalled `/stream.mjpg` reader stayed ESTABLISHED for good), it dies
 * of EMFILE, and it has no header timeout; see server/http/serve.ts.
 *
 * @module
 */

import { closeQuietly } from "../net/net.ts";

/** Most bytes of a request line and headers (as nginx's default 8 KiB). */
export const MAX_HEAD_BYTES = 8192;

/** A request camwire will not serve, with the status that says why. */
export class HttpWireError extends Error {
  override name = "HttpWireError";
  /** The status to answer with: 400, 408 or 431. */
  readonly status: number;

  /**
   * @param status 400, 408 or 431.
   * @param reason For the log and the response body.
   */
  constructor(status: number, reason: string) {
    super(reason);
    this.status = status;
  }
}

/** The parsed head of a request. */
export interface RequestHead {
  /** e.g. `GET`. */
  method: string;
  /** The origin-form target, e.g. `/stream.mjpg?token=…`. */
  target: string;
  /** `HTTP/1.1` or `HTTP/1.0`. */
  version: string;
  headers: Headers;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Visible ASCII, space and tab: a header value without control bytes. */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
/** An origin-form target: a path, an optional query, no fragment. */
const TARGET = /^\/[!$&'()*+,\-./0-9:;=?@A-Z_a-z~%]*$/;
/** host[:port]: a DNS name or IPv4, or an IPv6 literal in brackets. */
const HOST =
  /^(?:[A-Za-z0-9\-._~%!$&'()*+,;=]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/**
 * Where the head of a request ends: after its blank line.
 *
 * @param bytes What has been read so far.
 * @returns The length of the head, or -1 when it has not ended yet.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const bytes = new TextEncoder().encode("GET / HTTP/1.1\r\nHost: a\r\n\r\nX");
 * assert.equal(headEnd(bytes), bytes.length - 1);
 * assert.equal(headEnd(bytes.subarray(0, 20)), -1);
 * ```
 */
export function headEnd(bytes: Uint8Array): number {
  for (let i = bytes.indexOf(0x0a); i !== -1; i = bytes.indexOf(0x0a, i + 1)) {
    // A line feed followed by CRLF or LF: the blank line.
    if (bytes[i + 1] === 0x0a) return i + 2;
    if (bytes[i + 1] === 0x0d && bytes[i + 2] === 0x0a) return i + 3;
  }
  return -1;
}

/**
 * Parses a request head: the request line, then `name: value` lines.
 *
 * @param bytes The head, up to and including its blank line.
 * @returns Method, target, version and headers.
 * @throws {HttpWireError} 400 for anything malformed: a bad request line,
 * an absolute or `*` target, folded or invalid header lines, a missing,
 * repeated or malformed `Host` in HTTP/1.1, a request with a body.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const head = parseRequestHead(new TextEncoder().encode(
 *   "GET /stats HTTP/1.1\r\nHost: cam:8080\r\n\r\n",
 * ));
 * assert.equal(head.target, "/stats");
 * assert.equal(head.headers.get("host"), "cam:8080");
 * assert.throws(
 *   () => parseRequestHead(new TextEncoder().encode(
 *     "GET / HTTP/1.1\r\nHost: a b<>\r\n\r\n",
 *   )),
 *   (e) => e instanceof HttpWireError && e.status === 400,
 * );
 * ```
 */
export function parseRequestHead(bytes: Uint8Array): RequestHead {
  // latin1: every byte is one char, so nothing fails to decode.
  const text = new TextDecoder("latin1").decode(bytes);
  const lines = text.split("\n").map((line) => line.replace(/\r$/, ""));
  while (lines.at(-1) === "") lines.pop();
  const [requestLine = "", ...fields] = lines;
  const parts = requestLine.split(" ");
  const [method = "", target = "", version = ""] = parts;
  if (parts.length !== 3 || !TOKEN.test(method)) {
    throw new HttpWireError(400, "Bad request line");
  }
  if (version !== "HTTP/1.1" && version !== "HTTP/1.0") {
    throw new HttpWireError(400, "Bad request: HTTP/1.0 or HTTP/1.1 only");
  }
  if (!TARGET.test(target)) throw new HttpWireError(400, "Bad request target");
  const headers = new Headers();
  let hosts = 0;
  for (const line of fields) {
    const colon = line.indexOf(":");
    const name = line.slice(0, colon);
    const value = line.slice(colon + 1).trim();
    // No name, space before the colon, obs-fold, control bytes: RFC 9112
    // says reject (smuggling starts with a lenient parser).
    if (colon <= 0 || !TOKEN.test(name) || !FIELD_VALUE.test(value)) {
      throw new HttpWireError(400, "Bad header line");
    }
    if (name.toLowerCase() === "host") hosts++;
    headers.append(name, value);
  }
  const host = headers.get("host");
  if (hosts > 1 || (host !== null && !HOST.test(host))) {
    throw new HttpWireError(400, "Bad Host header");
  }
  if (version === "HTTP/1.1" && host === null) {
    throw new HttpWireError(400, "Bad request: no Host header");
  }
  const length = headers.get("content-length");
  if (headers.has("transfer-encoding") || (length !== null && length !== "0")) {
    throw new HttpWireError(400, "Bad request: camwire takes no request body");
  }
  return { method, target, version, headers };
}

/**
 * Reads a request head from a connection within `timeoutMs` (slowloris:
 * a client that drips its headers is closed at the deadline).
 *
 * @param conn The connection.
 * @param timeoutMs The deadline for the whole head.
 * @returns The head, or `null` when the client closed before sending one.
 * @throws {HttpWireError} 408 at the deadline, 431 past
 * {@linkcode MAX_HEAD_BYTES}, 400 when malformed; a connection error as is.
 */
export async function readRequestHead(
  conn: Deno.Conn,
  timeoutMs: number,
): Promise<RequestHead | null> {
  const buf = new Uint8Array(MAX_HEAD_BYTES);
  let have = 0;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    closeQuietly(conn); // cancels the read below
  }, timeoutMs);
  try {
    while (true) {
      const n = await conn.read(buf.subarray(have)).catch((error) => {
        if (timedOut) return -1;
        throw error;
      });
      if (n === -1) {
        throw new HttpWireError(408, "Request headers not sent in time");
      }
      if (n === null) {
        if (have === 0) return null;
        throw new HttpWireError(400, "Bad request: cut short");
      }
      have += n;
      const end = headEnd(buf.subarray(0, have));
      // Bytes after the head (a pipelined request) are never read: every
      // response closes the connection.
      if (end !== -1) return parseRequestHead(buf.subarray(0, end));
      if (have === buf.length) {
        throw new HttpWireError(431, "Request header fields too large");
      }
    }
  } finally {
    clearTimeout(timer);
  }
}

const REASONS: Record<number, string> = {
  200: "OK",
  204: "No Content",
  400: "Bad Request",
  401: "Unauthorized",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  503: "Service Unavailable",
};

/**
 * The status line and headers of a response, ending in its blank line.
 * Every response says `Connection: close`: camwire answers one request
 * per connection (a stream lasts as long as the connection anyway).
 *
 * @param status The status code.
 * @param headers Its headers.
 * @returns The bytes to send before the body.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const head = new TextDecoder().decode(responseHead(204, new Headers()));
 * assert.equal(head, "HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n");
 * ```
 */
export function responseHead(status: number, headers: Headers): Uint8Array {
  let text = `HTTP/1.1 ${status} ${REASONS[status] ?? "Unknown"}\r\n`;
  for (const [name, value] of headers) {
    if (name !== "connection") text += `${name}: ${value}\r\n`;
  }
  text += "connection: close\r\n\r\n";
  return new TextEncoder().encode(text);
}

/**
 * A whole response, head and body, as bytes; for HEAD the body is left
 * out but its length kept (as `Deno.serve` does).
 *
 * @param response A response with a finite body.
 * @param head Whether the request was HEAD.
 * @returns The bytes to send.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const bytes = await serializeResponse(new Response("hi"), false);
 * assert.match(new TextDecoder().decode(bytes), /content-length: 2\r\n[^]*\r\n\r\nhi$/);
 * ```
 */
export async function serializeResponse(
  response: Response,
  head: boolean,
): Promise<Uint8Array> {
  const body = new Uint8Array(await response.arrayBuffer());
  const headers = new Headers(response.headers);
  if (response.status !== 204) {
    headers.set("content-length", String(body.length));
  }
  const start = responseHead(response.status, headers);
  if (head) return start;
  const bytes = new Uint8Array(start.length + body.length);
  bytes.set(start);
  bytes.set(body, start.length);
  return bytes;
}

/**
 * A plain-text error response for an {@linkcode HttpWireError}.
 *
 * @param error The error.
 * @returns The bytes to send.
 */
export function errorResponse(error: HttpWireError): Uint8Array {
  const body = new TextEncoder().encode(error.message + "\n");
  const headers = new Headers({
    "content-type": "text/plain; charset=utf-8",
    "content-length": String(body.length),
  });
  const start = responseHead(error.status, headers);
  const bytes = new Uint8Array(start.length + body.length);
  bytes.set(start);
  bytes.set(body, start.length);
  return bytes;
}
