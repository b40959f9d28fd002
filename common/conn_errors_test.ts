// Copyright 2026 the camwire authors. MIT license.
// The client's TLS and connection failures in camwire's words, end to end:
// the real client against real TLS listeners (rustls, as the server uses),
// the real camwire server, and listeners that play a TLS port.

import assert from "node:assert/strict";
import { runScript, startServerProcess, within } from "../testing/util.ts";

/**
 * Makes a self-signed certificate for 127.0.0.1 in `dir`: `ca.pem` with
 * `ca-key.pem` as `openssl req -x509` makes it by default (marked a CA),
 * and `cert.pem` with `key.pem` as docs/tls.md's recipe does (CA:FALSE).
 */
async function certificates(dir: string): Promise<void> {
  const base =
    "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=camwire -addext subjectAltName=IP:127.0.0.1"
      .split(" ");
  for (
    const [cert, key, extra] of [
      ["ca.pem", "ca-key.pem", []],
      ["cert.pem", "key.pem", [
        "-addext",
        "basicConstraints=critical,CA:FALSE",
      ]],
    ] as const
  ) {
    const { success, stderr } = await within(
      new Deno.Command("openssl", {
        args: [
          ...base,
          ...extra,
          "-keyout",
          `${dir}/${key}`,
          "-out",
          `${dir}/${cert}`,
        ],
        stdout: "null",
        stderr: "piped",
      }).output(),
      20_000,
      "openssl",
    );
    assert.ok(success, new TextDecoder().decode(stderr));
  }
}

/** A TLS listener that completes handshakes and then closes. */
function tlsListener(dir: string, cert: string, key: string) {
  const listener = Deno.listenTls({
    hostname: "127.0.0.1",
    port: 0,
    cert: Deno.readTextFileSync(`${dir}/${cert}`),
    key: Deno.readTextFileSync(`${dir}/${key}`),
  });
  const served = (async () => {
    for await (const conn of listener) {
      await conn.handshake().catch(() => {});
      conn.close();
    }
  })().catch(() => {});
  return {
    port: listener.addr.port,
    async [Symbol.asyncDispose]() {
      listener.close();
      await served;
    },
  };
}

/** Runs the client to its end and times it. */
async function client(args: string[]) {
  const started = performance.now();
  const out = await runScript("client.ts", args, {}, { timeoutMs: 20_000 });
  return { ...out, ms: performance.now() - started };
}

Deno.test("client --tls: a CA certificate used as the server's own is named, with the remedy (CA:FALSE), exit 1", async () => {
  const dir = await Deno.makeTempDir({ prefix: "camwire-tls-" });
  try {
    await certificates(dir);
    await using server = tlsListener(dir, "ca.pem", "ca-key.pem");
    const out = await client([
      ..."--output - --tls --ca".split(" "),
      `${dir}/ca.pem`,
      "--port",
      `${server.port}`,
    ]);
    assert.equal(out.code, 1);
    assert.equal(
      out.stderr.trim(),
      `camwire: Cannot connect to tls://127.0.0.1:${server.port}: the server's certificate is a CA certificate, which TLS refuses as a server's own (make one with basicConstraints=critical,CA:FALSE, as docs/tls.md shows)`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("client --tls without --ca for a self-signed server: an unknown issuer, the remedy --ca, exit 1", async () => {
  const dir = await Deno.makeTempDir({ prefix: "camwire-tls-" });
  try {
    await certificates(dir);
    await using server = tlsListener(dir, "cert.pem", "key.pem");
    const out = await client([
      ..."--output - --tls --port".split(" "),
      `${server.port}`,
    ]);
    assert.equal(out.code, 1);
    assert.equal(
      out.stderr.trim(),
      `camwire: Cannot connect to tls://127.0.0.1:${server.port}: the server's certificate is not signed by a CA this client trusts (give its certificate, or the CA that signed it, with --ca FILE)`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("client --tls to a plain camwire port fails fast: the server does not speak TLS, exit 1", async () => {
  const dir = await Deno.makeTempDir({ prefix: "camwire-tls-" });
  const server = await startServerProcess(["--source", "test"]);
  try {
    await certificates(dir);
    const out = await client([
      ..."--output - --tls --ca".split(" "),
      `${dir}/cert.pem`,
      "--port",
      `${server.port}`,
    ]);
    assert.equal(out.code, 1);
    assert.equal(
      out.stderr.trim(),
      `camwire: Cannot connect to tls://127.0.0.1:${server.port}: the server does not speak TLS (is it a plain port? Drop --tls)`,
    );
    assert.ok(out.ms < 3000, `it took ${out.ms.toFixed(0)} ms`);
  } finally {
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("plain client to a TLS port that closes it after a handshake deadline: 'is it a TLS port? try --tls', without waiting out --timeout", async () => {
  // What a TLS server does with a client that never says hello: wait
  // for a ClientHello, give up after its deadline (here 1 s), close.
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const served = listener.accept().then(async (conn) => {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    conn.close();
  });
  const out = await client([
    ..."--output - --timeout 10 --port".split(" "),
    `${listener.addr.port}`,
  ]);
  await within(served, 5000, "the listener to close the connection");
  assert.equal(out.code, 1);
  assert.equal(
    out.stderr.trim(),
    `camwire: tcp://127.0.0.1:${listener.addr.port} closed the connection before sending a frame: it is full (--max-clients), or it needs --token; is it a TLS port? try --tls`,
  );
  assert.ok(out.ms < 4000, `it waited ${out.ms.toFixed(0)} ms`);
});

Deno.test("plain client answered with a TLS alert (a TLS port reading a token line): 'the server speaks TLS: use --tls (and --ca …)'", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const served = listener.accept().then(async (conn) => {
    // TLS 1.2 record: alert, fatal, decode_error.
    await conn.write(new Uint8Array([0x15, 0x03, 0x03, 0x00, 0x02, 2, 50]));
    conn.close();
  });
  const out = await client([
    ..."--output - --token s3cret --port".split(" "),
    `${listener.addr.port}`,
  ]);
  await within(served, 5000, "the listener to answer");
  assert.equal(out.code, 1);
  assert.equal(
    out.stderr.trim(),
    `camwire: tcp://127.0.0.1:${listener.addr.port}: the server speaks TLS: use --tls (and --ca FILE for a self-signed certificate)`,
  );
});

Deno.test("client --tls: the server going away after frames is told in camwire's words, no library text or link, exit 0", async () => {
  const dir = await Deno.makeTempDir({ prefix: "camwire-tls-" });
  try {
    await certificates(dir);
    const server = await startServerProcess([
      ..."--source test --cert".split(" "),
      `${dir}/cert.pem`,
      "--key",
      `${dir}/key.pem`,
    ]);
    const running = client([
      ..."--output - --tls --ca".split(" "),
      `${dir}/cert.pem`,
      "--port",
      `${server.port}`,
    ]);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await server.stop();
    const out = await running;
    assert.ok(out.stdout.length > 0, "no frame came");
    assert.equal(out.code, 0, out.stderr);
    assert.match(
      out.stderr.trim(),
      /^camwire: the server closed the stream after \d+ frames$/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("client at a camwire server that is full (--max-clients 1): 'it is full (--max-clients), or it needs --token', exit 1", async () => {
  const server = await startServerProcess(
    "--source test --max-clients 1".split(" "),
  );
  // The one viewer allowed, holding its slot.
  const first = await Deno.connect({
    hostname: "127.0.0.1",
    port: server.port,
  });
  try {
    const reader = first.readable.getReader();
    await within(reader.read(), 5000, "the first viewer's first bytes");
    reader.releaseLock();
    const out = await client([
      ..."--output - --port".split(" "),
      `${server.port}`,
    ]);
    assert.equal(out.code, 1);
    assert.equal(
      out.stderr.trim(),
      `camwire: tcp://127.0.0.1:${server.port} closed the connection before sending a frame: it is full (--max-clients), or it needs --token; is it a TLS port? try --tls`,
    );
  } finally {
    first.close();
    await server.stop();
  }
});
