// Copyright 2026 the camwire authors. MIT license.
/**
 * The per-address rules behind a reverse proxy, and `--max-clients-per-ip`
 * on a running server. The test plays the proxy: its requests come from
 * 127.0.0.1 and name the viewer in `X-Forwarded-For` or `Forwarded`, as
 * nginx and Caddy do. Without `--trusted-proxy` every proxied viewer is
 * the proxy's one address; with it, each is its own; from a peer that is
 * not trusted the headers are ignored, so that a client cannot name
 * itself.
 *
 * @module
 */

import assert from "node:assert/strict";
import { startServer } from "../server.ts";
import { RawViewer } from "../testing/util.ts";
import { withServer } from "../testing/hostile.ts";
import {
  get,
  hasJpeg,
  openRequest,
  rawRequest,
  type RawResponse,
} from "../testing/raw_http.ts";
import { sleep } from "../common/time.ts";
import { eventually, within } from "../testing/util.ts";
import { openLibc } from "../server/sys/libc.ts";

// libc stays loaded for the process's life once the server sends through
// it: loaded before any test, so that the sanitizers do not take it for a
// leak.
openLibc();

/**
 * 20 distinct wrong `?token=`s at once, each from the address `from(i)`
 * names (`X-Forwarded-For`), then the right token from `right`.
 *
 * @returns The wrong ones' answers, how long they took in all, and the
 * right token's answer.
 */
async function guessThenRight(
  port: number,
  from: (i: number) => string,
  right: string,
): Promise<{ wrong: RawResponse[]; ms: number; right: RawResponse }> {
  const start = performance.now();
  const guesses = Array.from({ length: 20 }, (_, i) =>
    rawRequest(
      port,
      get(`/snapshot.jpg?token=guess-${i}`, { "X-Forwarded-For": from(i) }),
      { ms: 8000 },
    ));
  await sleep(50); // the guesses are in
  const answer = await rawRequest(
    port,
    get("/snapshot.jpg?token=s3cret", { "X-Forwarded-For": right }),
    { ms: 8000 },
  );
  const wrong = await Promise.all(guesses);
  return { wrong, ms: performance.now() - start, right: answer };
}

/** Whether the right token was let in at once: 200 with a picture, < 1 s. */
function atOnce(answer: RawResponse): boolean {
  return answer.status === 200 && hasJpeg(answer.bytes) && answer.ms < 1000;
}

Deno.test("proxy: without --trusted-proxy every proxied viewer is the proxy's one address: a guesser behind it slows down a right token from another viewer", async () => {
  await withServer(
    ["--token", "s3cret", "--http-port", "0"],
    async (server) => {
      const { wrong, right } = await guessThenRight(
        server.httpPort!,
        () => "203.0.113.7",
        "198.51.100.1",
      );
      console.log(
        `right token: ${right.status} after ${right.ms.toFixed(0)} ms`,
      );
      assert.ok(!atOnce(right), `${right.status} after ${right.ms} ms`);
      assert.ok(wrong.every((a) => !hasJpeg(a.bytes)));
      await server.waitForLine(/camwire: 127\.0\.0\.1 sent \d+ wrong tokens/);
    },
  );
});

Deno.test("proxy: with --trusted-proxy the viewer's address comes from X-Forwarded-For: the guesser is slowed down and logged by its own address, another viewer behind the proxy is answered at once", async () => {
  await withServer(
    ["--token", "s3cret", "--http-port", "0", "--trusted-proxy", "127.0.0.0/8"],
    async (server) => {
      const { wrong, ms, right } = await guessThenRight(
        server.httpPort!,
        // A client's own claim at the left, then what the proxy saw.
        () => "10.6.6.6, 203.0.113.7",
        "198.51.100.1",
      );
      console.log(
        `20 wrong in ${
          ms.toFixed(0)
        } ms; the right token: ${right.status} after ${right.ms.toFixed(0)} ms`,
      );
      assert.ok(atOnce(right), `${right.status} after ${right.ms} ms`);
      assert.ok(ms >= 2000, `20 wrong tokens answered in ${ms} ms`);
      assert.ok(wrong.some((a) => a.status === 429));
      await server.waitForLine(/camwire: 203\.0\.113\.7 sent \d+ wrong tokens/);
      assert.ok(
        !server.lines.some((l) => /(10\.6\.6\.6|127\.0\.0\.1) sent/.test(l)),
      );
    },
  );
});

Deno.test("proxy: X-Forwarded-For and Forwarded from a peer that is not a trusted proxy are ignored: spoofed addresses do not escape the spacing", async () => {
  await withServer(
    ["--token", "s3cret", "--http-port", "0", "--trusted-proxy", "192.0.2.1"],
    async (server) => {
      const port = server.httpPort!;
      const start = performance.now();
      // Each guess claims another address, both ways.
      const guesses = Array.from({ length: 20 }, (_, i) =>
        rawRequest(
          port,
          get(`/stats?token=guess-${i}`, {
            "X-Forwarded-For": `198.18.0.${i}`,
            Forwarded: `for=198.18.1.${i}`,
          }),
          { ms: 8000 },
        ));
      const answers = await Promise.all(guesses);
      const ms = performance.now() - start;
      console.log(`20 spoofed guesses answered in ${ms.toFixed(0)} ms`);
      assert.ok(ms >= 2000, `answered in ${ms} ms`);
      assert.ok(answers.some((a) => a.status === 429));
      await server.waitForLine(/camwire: 127\.0\.0\.1 sent \d+ wrong tokens/);
      assert.ok(!server.lines.some((l) => /198\.18\./.test(l)));
    },
  );
});

Deno.test("--max-clients-per-ip on a running server, through --trusted-proxy: a third /stream.mjpg of one address is 503 with its log line (X-Forwarded-For or Forwarded), another address streams", async () => {
  await withServer(
    [
      ...["--http-port", "0", "--max-clients-per-ip", "2"],
      ...["--trusted-proxy", "127.0.0.1"],
    ],
    async (server) => {
      const port = server.httpPort!;
      const open: Deno.Conn[] = [];
      const stream = async (headers: Record<string, string>) => {
        const { response, conn } = await openRequest(
          port,
          get("/stream.mjpg", headers),
          { until: hasJpeg, ms: 5000 },
        );
        open.push(conn);
        return response;
      };
      try {
        for (let i = 0; i < 2; i++) {
          const ok = await stream({ "X-Forwarded-For": "203.0.113.9" });
          assert.equal(ok.status, 200);
        }
        for (
          const headers of [
            { "X-Forwarded-For": "203.0.113.9" },
            { Forwarded: 'for="203.0.113.9:4711";proto=http' },
          ]
        ) {
          const refused = await stream(headers);
          assert.equal(refused.status, 503, refused.text);
          assert.ok(refused.closed);
          assert.ok(!hasJpeg(refused.bytes));
        }
        await server.waitForLine(
          /viewer http 203\.0\.113\.9 via 127\.0\.0\.1:\d+ refused: 2 connections from 203\.0\.113\.9 already \(--max-clients-per-ip\)/,
          2000,
        );
        const other = await stream({ "X-Forwarded-For": "203.0.113.10" });
        assert.equal(other.status, 200);
        // Without the header it is the proxy: loopback, exempt.
        assert.equal((await stream({})).status, 200);
      } finally {
        for (const conn of open) conn.close();
      }
    },
  );
});

Deno.test("--max-clients-per-ip on a running server over TCP: startServer with the loopback exemption off closes the third viewer of 127.0.0.1 with its log line", async () => {
  const lines: string[] = [];
  const server = await startServer({
    source: "test",
    host: "127.0.0.1",
    port: 0,
    maxClientsPerIp: 2,
    exemptLoopback: false,
    statusIntervalS: 0,
    log: (line) => lines.push(line),
  });
  const viewers: RawViewer[] = [];
  try {
    for (let i = 0; i < 2; i++) {
      const viewer = await RawViewer.connect(server.addr.port);
      viewers.push(viewer);
      await eventually(() => viewer.frames.length > 0, 5000, "a frame");
    }
    const third = await RawViewer.connect(server.addr.port);
    viewers.push(third);
    await third.endedWithin(2000, "the server to close the third viewer");
    assert.equal(third.bytes, 0);
    assert.ok(
      lines.some((l) =>
        /viewer 127\.0\.0\.1:\d+ refused: 2 connections from 127\.0\.0\.1 already \(--max-clients-per-ip\)/
          .test(l)
      ),
      lines.join("\n"),
    );
    // One leaves: a place is free again.
    await viewers.shift()!.close();
    await eventually(
      () => lines.some((l) => /left/.test(l)),
      5000,
      "the server to see a viewer leave",
    );
    const next = await RawViewer.connect(server.addr.port);
    viewers.push(next);
    await eventually(() => next.frames.length > 0, 5000, "a frame");
  } finally {
    for (const viewer of viewers) await viewer.close();
    await within(server.close(), 10_000, "the server to stop");
  }
});
