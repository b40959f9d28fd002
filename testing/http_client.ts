// Copyright 2026 the camwire authors. MIT license.
/**
 * The HTTP side's end-to-end helpers: a `--http-port` server process, fetch
 * and read, a `multipart/x-mixed-replace` parser of our own, a strict
 * Prometheus text parser, and ffprobe or any program run to its end.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { ServerStats } from "../server/server.ts";
import { BOUNDARY } from "../server/http/http.ts";
import {
  type ScriptProcess,
  type ServerProcess,
  startServerProcess,
} from "./util.ts";

/** Runs a program to its end (20 s at most) and returns its trimmed stdout. */
export async function run(program: string, args: string[]): Promise<string> {
  const { success, stdout, stderr } = await new Deno.Command(program, {
    args,
    stdin: "null",
    signal: AbortSignal.timeout(20_000),
  }).output();
  assert.ok(success, `${program} failed: ${new TextDecoder().decode(stderr)}`);
  return new TextDecoder().decode(stdout).trim();
}

/**
 * Where a server process serves HTTP (`--http-port`), as it printed it.
 *
 * @param server A server started on 127.0.0.1 with `--http-port`.
 * @returns `http://127.0.0.1:PORT` (or `https://`), without a slash at
 * the end.
 */
export async function webBase(
  server: Pick<ScriptProcess, "waitForLine">,
): Promise<string> {
  const line = await server.waitForLine(
    /web page on https?:\/\/127\.0\.0\.1:\d+\/$/,
  );
  return line.match(/(https?:\/\/127\.0\.0\.1:\d+)\/$/)![1]!;
}

/** A server started by {@linkcode withHttpServer}. */
export interface HttpServer {
  server: ServerProcess;
  /** `http://127.0.0.1:PORT` (or `https://`), without a slash at the end. */
  base: string;
}

/**
 * Runs `fn` with a `--source test --http-port 0` server, then stops it.
 *
 * @param args More server flags.
 * @param fn The test body.
 */
export async function withHttpServer(
  args: string[],
  fn: (http: HttpServer) => Promise<void>,
): Promise<void> {
  const server = await startServerProcess([
    "--source",
    "test",
    "--http-port",
    "0",
    ...args,
  ]);
  try {
    await fn({ server, base: await webBase(server) });
  } finally {
    await server.stop();
  }
}

/** A response whose body has been read (or, for a stream, cancelled). */
export interface Fetched {
  status: number;
  headers: Headers;
  body: Uint8Array;
}

/**
 * Fetches `url` and reads the whole body; a 200 MJPEG stream's body is
 * cancelled instead, as it never ends.
 */
export async function fetchAll(
  url: string,
  init: RequestInit & { client?: Deno.HttpClient } = {},
): Promise<Fetched> {
  const res = await fetch(url, init);
  const type = res.headers.get("content-type") ?? "";
  if (res.status === 200 && type.startsWith("multipart/")) {
    await res.body?.cancel();
    return { status: res.status, headers: res.headers, body: new Uint8Array() };
  }
  return { status: res.status, headers: res.headers, body: await res.bytes() };
}

/** Reads `/stats`, with an `Authorization` header if given. */
export async function stats(
  base: string,
  authorization?: string,
): Promise<ServerStats> {
  const res = await fetch(`${base}/stats`, {
    headers: authorization ? { authorization } : {},
  });
  assert.equal(res.status, 200);
  return await res.json();
}

/** Request options with `token` as a Bearer token. */
export function bearer(token: string): RequestInit {
  return { headers: { authorization: `Bearer ${token}` } };
}

/** Runs ffprobe with `-v error -of csv=p=0` and returns its trimmed output. */
export async function ffprobe(args: string[]): Promise<string> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 20_000);
  try {
    const { success, stdout, stderr } = await new Deno.Command("ffprobe", {
      args: ["-v", "error", "-of", "csv=p=0", ...args],
      stdin: "null",
      signal: controller.signal,
    }).output();
    const errors = new TextDecoder().decode(stderr);
    assert.ok(success, `ffprobe failed: ${errors}`);
    assert.equal(errors, "");
    return new TextDecoder().decode(stdout).trim();
  } finally {
    clearTimeout(timer);
  }
}

/** One part of a multipart body. */
export interface Part {
  /** Header names in lower case. */
  headers: Map<string, string>;
  body: Uint8Array;
}

const CRLF = new Uint8Array([13, 10]);
const BLANK_LINE = new Uint8Array([13, 10, 13, 10]);

/** An open `/stream.mjpg`, read part by part. */
export interface MjpegStream {
  response: Response;
  /**
   * Reads the next part and checks its framing: the boundary line first,
   * then headers, a blank line, Content-Length bytes of body and a CRLF.
   */
  next(): Promise<Part>;
  /** Stops reading: cancels the body. */
  cancel(): Promise<void>;
}

/**
 * Fetches an MJPEG stream and parses `multipart/x-mixed-replace` by hand.
 *
 * @param url The stream's URL.
 * @returns The response and a part reader.
 */
export async function openStream(url: string): Promise<MjpegStream> {
  const response = await fetch(url);
  if (response.body === null) throw new Error(`No body from ${url}`);
  return partsOf(response);
}

/**
 * Parses a `multipart/x-mixed-replace` response by hand.
 *
 * @param response A response with a body.
 * @returns The response and a part reader.
 */
export function partsOf(response: Response): MjpegStream {
  if (response.body === null) throw new Error("No body in the response");
  const reader = response.body.getReader();
  let buffer = new Uint8Array(0);
  const fill = async (size: number) => {
    while (buffer.length < size) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`The stream ended within a part`);
      const joined = new Uint8Array(buffer.length + value.length);
      joined.set(buffer);
      joined.set(value, buffer.length);
      buffer = joined;
    }
  };
  const take = (size: number) => {
    const bytes = buffer.slice(0, size);
    buffer = buffer.subarray(size);
    return bytes;
  };
  return {
    response,
    async next() {
      let end: number;
      while ((end = indexOf(buffer, BLANK_LINE)) === -1) {
        assert.ok(buffer.length < 4096, "no blank line after part headers");
        await fill(buffer.length + 1);
      }
      const [delimiter, ...lines] = new TextDecoder().decode(take(end))
        .split("\r\n");
      take(BLANK_LINE.length);
      assert.equal(delimiter, `--${BOUNDARY}`);
      const headers = new Map<string, string>();
      for (const line of lines) {
        const match = line.match(/^([!-9;-~]+):[ \t]*(.*?)[ \t]*$/);
        assert.ok(match, `bad part header line: ${JSON.stringify(line)}`);
        headers.set(match[1]!.toLowerCase(), match[2]!);
      }
      const length = Number(headers.get("content-length"));
      assert.ok(Number.isSafeInteger(length) && length > 0, `length ${length}`);
      await fill(length + CRLF.length);
      const body = take(length);
      assert.deepEqual(take(CRLF.length), CRLF, "no CRLF after a part");
      return { headers, body };
    },
    async cancel() {
      await reader.cancel();
    },
  };
}

function indexOf(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) {
      if (haystack[i + j] !== needle[j]) continue outer;
    }
    return i;
  }
  return -1;
}

/**
 * Parses Prometheus text strictly: every line a `# HELP`/`# TYPE` comment
 * or `name{labels} value`, every sample's name declared by a `# TYPE`.
 *
 * @returns Each sample, keyed `name{labels}`.
 */
export function parsePrometheus(text: string): Map<string, number> {
  assert.ok(text.endsWith("\n"), "no newline at the end");
  const samples = new Map<string, number>();
  const types = new Map<string, string>();
  for (const line of text.slice(0, -1).split("\n")) {
    const type = line.match(
      /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/,
    );
    if (type) {
      types.set(type[1]!, type[2]!);
      continue;
    }
    if (/^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* \S.*$/.test(line)) continue;
    const sample = line.match(
      /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*")*)?\})? (-?\d+(?:\.\d+)?(?:e[+-]?\d+)?|NaN|[+-]Inf)$/,
    );
    assert.ok(sample, `not Prometheus text: ${JSON.stringify(line)}`);
    assert.ok(types.has(sample[1]!), `${sample[1]} has no # TYPE`);
    if (types.get(sample[1]!) === "counter") {
      assert.match(sample[1]!, /_total$/, "a counter's name ends in _total");
    }
    const key = sample[1]! + (sample[2] ?? "");
    assert.ok(!samples.has(key), `${key} twice`);
    samples.set(key, Number(sample[3]));
  }
  return samples;
}

/** Request options with HTTP Basic auth as `user` with `password`. */
export function basicAs(user: string, password: string): RequestInit {
  const bytes = new TextEncoder().encode(`${user}:${password}`);
  return {
    headers: {
      authorization: `Basic ${btoa(String.fromCharCode(...bytes))}`,
    },
  };
}

/** Closes a connection its readable stream may have closed already. */
export function closeConn(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Closed at its end.
  }
}

/** Reads a connection to its end, within `ms`. */
export async function readToEnd(
  conn: Deno.Conn,
  ms: number,
): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const timer = setTimeout(() => closeConn(conn), ms);
  try {
    for await (const chunk of conn.readable) chunks.push(chunk);
  } finally {
    clearTimeout(timer);
  }
  const bytes = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.length;
  }
  return bytes;
}
