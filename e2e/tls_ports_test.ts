// Copyright 2026 the camwire authors. MIT license.
/**
 * The wrong side of TLS, through the real server and client: a plain
 * client on a TLS port is told within 1 s (it used to wait out the 3 s
 * handshake deadline), and says the server speaks TLS; `--tls` against a
 * plain port still fails at once.
 *
 * @module
 */

import assert from "node:assert/strict";
import { makeCertificate, runScript, within } from "../testing/util.ts";
import { closeAll, connect, withServer } from "../testing/hostile.ts";

/** Runs `body` with a test CA and certificate in a temporary directory. */
async function withCertificate(
  body: (dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "camwire-tls-ports-" });
  try {
    await makeCertificate(dir);
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Runs client.ts to its end, timed. */
async function timedClient(args: string[]) {
  const start = performance.now();
  const out = await runScript("client.ts", args);
  return { ...out, ms: performance.now() - start };
}

Deno.test("tls: a plain connection that sends nothing on the TLS port is sent a TLS alert and closed within 1 s", async () => {
  await withCertificate(async (dir) => {
    await withServer(
      ["--cert", `${dir}/cert.pem`, "--key", `${dir}/key.pem`],
      async (server) => {
        const conn = await connect(server.port);
        const start = performance.now();
        try {
          const bytes: number[] = [];
          const buf = new Uint8Array(64);
          await within(
            (async () => {
              while (true) {
                const n = await conn.read(buf).catch(() => null);
                if (n === null) return;
                bytes.push(...buf.subarray(0, n));
              }
            })(),
            3000,
            "the server to close a silent plain connection",
          );
          const ms = performance.now() - start;
          console.log(`closed after ${ms.toFixed(0)} ms, sent ${bytes}`);
          assert.ok(ms < 1000, `closed after ${ms} ms`);
          // A TLS record: an alert, fatal.
          assert.deepEqual(bytes.slice(0, 3), [0x15, 0x03, 0x03]);
          assert.equal(bytes[5], 2);
        } finally {
          closeAll([conn]);
        }
        await server.waitForLine(/refused: nothing sent within \d+ ms/, 2000);
      },
    );
  });
});

Deno.test("tls: client.ts without --tls on the TLS port says within 1 s that the server speaks TLS, with or without a token", async () => {
  await withCertificate(async (dir) => {
    await withServer(
      [
        ...["--cert", `${dir}/cert.pem`, "--key", `${dir}/key.pem`],
        ...["--token", "s3cret"],
      ],
      async (server) => {
        for (const token of [[], ["--token", "s3cret"]]) {
          const out = await timedClient([
            ...["--port", `${server.port}`, "--output", "-", "--timeout", "20"],
            ...token,
          ]);
          console.log(
            `${token.join(" ") || "no token"}: ${
              out.ms.toFixed(0)
            } ms: ${out.stderr.trim()}`,
          );
          assert.equal(out.code, 1, out.stderr);
          assert.equal(
            out.stderr.trim(),
            `camwire: tcp://127.0.0.1:${server.port}: the server speaks TLS: use --tls (and --ca FILE for a self-signed certificate)`,
          );
          // The client's own start (~0.2 s) and the server's 0.8 s.
          assert.ok(out.ms < 1800, `the client took ${out.ms} ms`);
        }
      },
    );
  });
});

Deno.test("tls: client.ts --tls on a plain port fails at once, with or without a token on the server", async () => {
  await withCertificate(async (dir) => {
    for (const serverToken of [[], ["--token", "s3cret"]]) {
      await withServer(serverToken, async (server) => {
        const out = await timedClient([
          ...["--port", `${server.port}`, "--output", "-", "--timeout", "20"],
          ...["--tls", "--ca", `${dir}/ca.pem`, "--token", "s3cret"],
        ]);
        console.log(
          `server ${serverToken.join(" ") || "without token"}: ${
            out.ms.toFixed(0)
          } ms: ${out.stderr.trim()}`,
        );
        assert.equal(out.code, 1, out.stderr);
        assert.match(out.stderr, /is it a plain port\? Drop --tls/);
        assert.ok(out.ms < 1800, `the client took ${out.ms} ms`);
        // A TLS ClientHello is no token guess: it costs the address nothing.
        assert.ok(
          !server.lines.some((l) => /wrong token/.test(l)),
          server.lines.join("\n"),
        );
      });
    }
  });
});
