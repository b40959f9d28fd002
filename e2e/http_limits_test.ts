// Copyright 2026 the camwire authors. MIT license.
/**
 * The HTTP side's limits through a real server process: a request head
 * over 8 KiB is 431 at once and leaves the server answering (an off-by-one
 * there once meant one request froze the whole server), and a request
 * with a body is 400 with nothing served (the request-smuggling guard).
 *
 * @module
 */

import assert from "node:assert/strict";
import { type HostileServer, spawnServer } from "../testing/hostile.ts";
import { get, hasJpeg, rawRequest } from "../testing/raw_http.ts";

/** Runs `body` against a fresh server with an HTTP port, stopped after. */
async function withHttp(
  body: (server: HostileServer, port: number) => Promise<void>,
): Promise<void> {
  const server = await spawnServer(["--http-port", "0"]);
  try {
    await body(server, server.httpPort!);
  } finally {
    await server.stop();
  }
}

/** The server still answers: `GET /stats` is 200 within 1 s. */
async function answersStats(port: number): Promise<void> {
  const answer = await rawRequest(port, get("/stats"), { ms: 1000 });
  assert.equal(answer.status, 200, answer.text);
  assert.match(answer.text, /"uptimeSeconds"/);
}

/**
 * A `GET /stats` head of exactly `size` bytes, blank line included
 * (padded with one long header).
 */
function headOf(size: number): string {
  const start = "GET /stats HTTP/1.1\r\nHost: camwire\r\nX-Pad: ";
  const end = "\r\n\r\n";
  return start + "a".repeat(size - start.length - end.length) + end;
}

Deno.test("http: a request line and over 8 KiB of headers with no blank line get 431 within 1 s, the connection closed, and the next request is answered within 1 s", async () => {
  await withHttp(async (_server, port) => {
    // 9,000 bytes of headers, never ended.
    const head = "GET /stats HTTP/1.1\r\nHost: camwire\r\n" +
      "X-Pad: " + "a".repeat(9000);
    const answer = await rawRequest(port, head, { ms: 1000 });
    assert.equal(answer.status, 431, answer.text);
    assert.ok(answer.closed);
    assert.doesNotMatch(answer.text, /"uptimeSeconds"/);
    await answersStats(port);
  });
});

Deno.test("http: a request head of exactly 8 KiB is answered; one byte more is 431, and the server goes on answering", async () => {
  await withHttp(async (_server, port) => {
    const atLimit = await rawRequest(port, headOf(8192), { ms: 1000 });
    assert.equal(atLimit.status, 200, atLimit.text.slice(0, 200));
    assert.match(atLimit.text, /"uptimeSeconds"/);
    const past = await rawRequest(port, headOf(8193), { ms: 1000 });
    assert.equal(past.status, 431, past.text);
    assert.ok(past.closed);
    await answersStats(port);
  });
});

Deno.test("http: a request body (Transfer-Encoding: chunked, Content-Length) on GET /stats and /stream.mjpg is 400, nothing served, the connection closed", async () => {
  await withHttp(async (server, port) => {
    const bodies: [string, string][] = [
      ["chunked", "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"],
      ["Content-Length", "Content-Length: 5\r\n\r\nhello"],
    ];
    for (const path of ["/stats", "/stream.mjpg"]) {
      for (const [what, rest] of bodies) {
        const request = `GET ${path} HTTP/1.1\r\nHost: camwire\r\n${rest}`;
        const answer = await rawRequest(port, request, { ms: 2000 });
        assert.equal(answer.status, 400, `${path} with ${what}`);
        assert.match(answer.text, /takes no request body/);
        assert.ok(answer.closed, `${path} with ${what}: left open`);
        assert.doesNotMatch(answer.text, /"uptimeSeconds"|camwireframe/);
        assert.ok(!hasJpeg(answer.bytes), `${path} with ${what}: a picture`);
      }
    }
    await answersStats(port);
    assert.ok(!server.lines.some((l) => /http viewer .* connected/.test(l)));
  });
});
