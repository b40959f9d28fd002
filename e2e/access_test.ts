// Copyright 2026 the camwire authors. MIT license.
/**
 * Wrong tokens against a real server process on 127.0.0.1, measured on the
 * connections: a stale token repeated is no guess and slows nobody down;
 * distinct wrong ones keep their spacing (3 free, then 250 ms doubling to
 * 4 s, then refused unchecked) on every port — TCP, pickle, HTTP's Basic
 * auth and `?token=` — through one count per address, with one log line
 * per address when it starts being refused.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  closeAll,
  connect,
  firstFrameWithin,
  readWireFrame,
  withServer,
} from "../testing/hostile.ts";
import { get, hasJpeg, rawRequest } from "../testing/raw_http.ts";
import { basicAuth } from "../testing/http_fakes.ts";
import { sleep } from "../common/time.ts";
import { within } from "../testing/util.ts";

const encoder = new TextEncoder();

/**
 * Sends a token line on a new connection to `port`.
 *
 * @returns When the server closed it (`performance.now()`), having sent
 * no byte, within `ms`; it fails when a byte comes or it stays open.
 */
async function refusedAt(
  port: number,
  line: string,
  ms = 6000,
): Promise<{ sent: number; closed: Promise<number> }> {
  const conn = await connect(port);
  await conn.write(encoder.encode(line));
  const sent = performance.now();
  const closed = within(
    (async () => {
      const n = await conn.read(new Uint8Array(64)).catch(() => null);
      const at = performance.now();
      closeAll([conn]);
      assert.equal(n, null, `a byte came for "${line.trim()}"`);
      return at;
    })(),
    ms,
    `the server to close "${line.trim()}"`,
  );
  closed.catch(() => closeAll([conn]));
  return { sent, closed };
}

Deno.test("access: one client retrying a stale token does not lock out its address: 10 right-token viewers after it each get a first frame within 1 s", async () => {
  await withServer(["--token", "s3cret"], async (server) => {
    const stale = async () => {
      const { sent, closed } = await refusedAt(
        server.port,
        "camwire an-old-token\n",
      );
      return await closed - sent;
    };
    // What 8 s of a client retrying once a second leaves behind: 8 tries.
    // Back to back here; only their count matters (an address's tokens
    // are remembered for a minute), and each waits for its refusal.
    const staleMs: number[] = [];
    for (let i = 0; i < 8; i++) staleMs.push(await stale());
    // It goes on, once a second, while the viewers come.
    const stop = new AbortController();
    const going = (async () => {
      while (await sleep(1000, stop.signal)) staleMs.push(await stale());
    })();
    const viewerMs: number[] = [];
    try {
      for (let i = 0; i < 10; i++) {
        viewerMs.push(await firstFrameWithin(server.port, 1000, "s3cret"));
      }
    } finally {
      stop.abort();
      await going;
    }
    console.log(
      `stale tries refused in ${staleMs.map((ms) => ms.toFixed(0))} ms; ` +
        `first frames in ${viewerMs.map((ms) => ms.toFixed(0))} ms`,
    );
    // Refused at once every time: a repeat costs nothing.
    assert.ok(staleMs.every((ms) => ms < 1000), `${staleMs}`);
    assert.ok(!server.lines.some((l) => /slowed down/.test(l)));
  });
});

Deno.test("access: 10 distinct wrong tokens from one address still take ≥ 2 s in all before they are refused", async () => {
  await withServer(["--token", "s3cret"], async (server) => {
    const start = performance.now();
    const tries = [];
    for (let i = 0; i < 10; i++) {
      tries.push(await refusedAt(server.port, `camwire guess-${i}\n`));
    }
    const closed = await Promise.all(tries.map((t) => t.closed));
    const ms = Math.max(...closed) - start;
    console.log(`10 distinct wrong tokens refused after ${ms.toFixed(0)} ms`);
    assert.ok(ms >= 2000, `all 10 refused after ${ms} ms`);
  });
});

Deno.test("access: a right token sent after 10 distinct wrong ones from its address waits its turn before its first frame", async () => {
  await withServer(["--token", "s3cret"], async (server) => {
    const tries = [];
    for (let i = 0; i < 10; i++) {
      tries.push(await refusedAt(server.port, `camwire guess-${i}\n`));
    }
    // Right after them, before they are all answered.
    const ms = await firstFrameWithin(server.port, 8000, "s3cret");
    await Promise.all(tries.map((t) => t.closed));
    console.log(`the right token's first frame after ${ms.toFixed(0)} ms`);
    // Its turn comes after the 10th's (~3.25 s after the first guess).
    assert.ok(ms >= 1000, `the right token was let in after ${ms} ms`);
  });
});

Deno.test("access: wrong tokens slow their sender over TCP: after the free ones the refusals come 250 ms apart, doubling; a burst past 4 s is refused unchecked", async () => {
  await withServer(["--token", "s3cret"], async (server) => {
    // One after another, each waiting for its refusal.
    const closes: number[] = [];
    for (let i = 0; i < 7; i++) {
      const { closed } = await refusedAt(server.port, `camwire guess-${i}\n`);
      closes.push(await closed);
    }
    const gaps = closes.slice(1).map((at, i) => at - closes[i]!);
    console.log(`gaps between refusals: ${gaps.map((g) => g.toFixed(0))} ms`);
    // 3 free, the 4th checked at once but starting the spacing; then
    // 250, 500, 1000 ms (90 %: the closes are seen a few ms late or early).
    assert.ok(gaps.slice(0, 3).every((g) => g < 200), `${gaps}`);
    assert.ok(gaps[3]! >= 225, `${gaps}`);
    assert.ok(gaps[4]! >= 450 && gaps[4]! > gaps[3]!, `${gaps}`);
    assert.ok(gaps[5]! >= 900 && gaps[5]! > gaps[4]!, `${gaps}`);
    // A burst: the first waits its 2 s turn, the others' turns would be
    // more than 4 s away: refused at once, without a check.
    const burst = [];
    for (let i = 7; i < 11; i++) {
      burst.push(await refusedAt(server.port, `camwire guess-${i}\n`));
    }
    const waits = await Promise.all(
      burst.map(async ({ sent, closed }) => await closed - sent),
    );
    console.log(`the burst refused after ${waits.map((w) => w.toFixed(0))} ms`);
    assert.ok(waits[0]! >= 1500, `${waits}`);
    assert.ok(waits.slice(1).every((w) => w < 500), `${waits}`);
  });
});

Deno.test("access: wrong tokens over HTTP (Basic auth, ?token=) slow their sender as over TCP: 20 distinct take ≥ 2 s, none gets a picture, the address's refusal is logged, and the right token from another address is answered at once", async () => {
  await withServer(
    ["--token", "s3cret", "--http-port", "0", "--trusted-proxy", "127.0.0.1"],
    async (server) => {
      const port = server.httpPort!;
      const kinds = [
        ["Basic", "203.0.113.7", (i: number) =>
          get("/snapshot.jpg", {
            Authorization: basicAuth(`guess-${i}`),
            "X-Forwarded-For": "203.0.113.7",
          })],
        [
          "?token=",
          "203.0.113.8",
          (i: number) =>
            get(`/snapshot.jpg?token=guess-${i}`, {
              "X-Forwarded-For": "203.0.113.8",
            }),
        ],
      ] as const;
      for (const [kind, address, request] of kinds) {
        const start = performance.now();
        const guesses = Array.from(
          { length: 20 },
          (_, i) => rawRequest(port, request(i), { ms: 8000 }),
        );
        await sleep(50); // the guesses are in
        // Another viewer behind the same proxy, with the right token.
        const right = await rawRequest(
          port,
          get("/snapshot.jpg", {
            Authorization: basicAuth("s3cret"),
            "X-Forwarded-For": "198.51.100.1",
          }),
        );
        const answers = await Promise.all(guesses);
        const ms = performance.now() - start;
        const statuses = answers.map((a) => a.status);
        console.log(
          `${kind}: 20 wrong answered in ${ms.toFixed(0)} ms (${statuses}); ` +
            `the right token from another address in ${right.ms.toFixed(0)} ms`,
        );
        assert.equal(right.status, 200, right.text.slice(0, 200));
        assert.ok(hasJpeg(right.bytes));
        assert.ok(right.ms < 1000, `the right token took ${right.ms} ms`);
        assert.ok(ms >= 2000, `20 wrong tokens answered in ${ms} ms`);
        for (const answer of answers) {
          assert.ok([401, 429].includes(answer.status), answer.text);
          assert.ok(!hasJpeg(answer.bytes), "a picture for a wrong token");
        }
        assert.ok(statuses.includes(429), `${statuses}`);
        await server.waitForLine(
          new RegExp(
            `camwire: ${
              address.replaceAll(".", "\\.")
            } sent \\d+ wrong tokens: its token checks are refused`,
          ),
          2000,
        );
      }
      assert.ok(!server.lines.some((l) => /guess-|s3cret/.test(l)));
    },
  );
});

Deno.test("access: the TCP, pickle and HTTP ports count one address's wrong tokens together, and its refusal is one line with the count", async () => {
  await withServer(
    ["--token", "s3cret", "--http-port", "0", "--pickle-port", "0"],
    async (server) => {
      const line = await server.waitForLine(/pickled numpy frames .*:(\d+)$/);
      const picklePort = Number(line.match(/:(\d+)$/)![1]);
      const http = server.httpPort!;
      // Six distinct ones, two per port, one after another: the 5th and
      // 6th wait their turns, 250 and 500 ms.
      const times: number[] = [];
      for (const port of [server.port, picklePort]) {
        for (const i of [0, 1]) {
          const { sent, closed } = await refusedAt(
            port,
            `camwire guess-${port}-${i}\n`,
          );
          times.push(await closed - sent);
        }
      }
      let last = performance.now();
      for (const i of [0, 1]) {
        const answer = await rawRequest(http, get(`/stats?token=guess-${i}`));
        assert.equal(answer.status, 401);
        const now = performance.now();
        times.push(now - last);
        last = now;
      }
      console.log(`answered after ${times.map((t) => t.toFixed(0))} ms`);
      assert.ok(times.slice(0, 4).every((t) => t < 200), `${times}`);
      assert.ok(times[4]! >= 200 && times[5]! >= 400, `${times}`);
      // A burst on all three: some are refused unchecked; one line says so.
      const burst = [
        ...[0, 1].map((i) => refusedAt(server.port, `camwire more-${i}\n`)),
        ...[0, 1].map((i) => refusedAt(picklePort, `camwire more-p${i}\n`)),
      ];
      const answers = await Promise.all(
        [0, 1].map((i) => rawRequest(http, get(`/stats?token=more-${i}`))),
      );
      await Promise.all((await Promise.all(burst)).map((t) => t.closed));
      assert.ok(answers.every((a) => [401, 429].includes(a.status)));
      await server.waitForLine(
        /camwire: 127\.0\.0\.1 sent \d+ wrong tokens: its token checks are refused/,
        2000,
      );
      // Four were refused unchecked: still one line.
      await sleep(200);
      assert.equal(
        server.lines.filter((l) => /127\.0\.0\.1 sent \d+ wrong tokens/.test(l))
          .length,
        1,
      );
      // A viewer with the right token still gets in once its turn comes.
      const conn = await connect(server.port);
      try {
        await conn.write(encoder.encode("camwire s3cret\n"));
        await within(readWireFrame(conn), 10_000, "the right token's frame");
      } finally {
        closeAll([conn]);
      }
    },
  );
});
