// Copyright 2026 the camwire authors. MIT license.
/**
 * docs/server.md's reverse-proxy recipe, run as written: camwire with
 * `--trusted-proxy` behind the real nginx, reached by viewers from two
 * addresses of their own (127.0.0.2 and 127.0.0.3: Linux answers the whole
 * 127.0.0.0/8 on loopback), so that nginx, not the test, writes
 * `X-Forwarded-For`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { spawnServer } from "../testing/hostile.ts";
import { freePort } from "../testing/util.ts";
import { startNginx } from "../testing/nginx.ts";
import { fencedBlock, flagsOf, recipe } from "../testing/docs.ts";

/**
 * From python3 (Deno cannot choose a connection's own address): 20
 * requests with distinct wrong tokens from 127.0.0.3, all at once, then
 * one with the right token from 127.0.0.2, to nginx on `port`.
 *
 * @returns The guesses' statuses and how long they took in all; the right
 * one's status, its time, and whether it held a JPEG.
 */
async function guessesThroughProxy(port: number, token: string) {
  const script = `
import json, socket, time
def send(source, path):
    s = socket.socket()
    s.bind((source, 0))
    s.connect(("127.0.0.1", ${port}))
    s.sendall(("GET " + path + " HTTP/1.1\\r\\nHost: camera\\r\\nConnection: close\\r\\n\\r\\n").encode())
    return s
def read(s):
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    return data
start = time.monotonic()
guesses = [send("127.0.0.3", "/snapshot.jpg?token=guess-%d" % i) for i in range(20)]
time.sleep(0.05)
right_start = time.monotonic()
right = read(send("127.0.0.2", "/snapshot.jpg?token=${token}"))
right_ms = (time.monotonic() - right_start) * 1000
answers = [read(s) for s in guesses]
print(json.dumps({
    "wrong": [int(a.split(b" ")[1]) for a in answers],
    "wrong_jpeg": any(b"\\xff\\xd8\\xff" in a for a in answers),
    "ms": (time.monotonic() - start) * 1000,
    "right": int(right.split(b" ")[1]),
    "right_jpeg": b"\\xff\\xd8\\xff" in right,
    "right_ms": right_ms,
}))
`;
  // Killed at 20 s: a test that waits must fail, not hang.
  const { success, stdout, stderr } = await new Deno.Command(
    "/usr/bin/python3",
    { args: ["-c", script], signal: AbortSignal.timeout(20_000) },
  ).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  assert.ok(success, `python3 failed: ${decode(stderr)}`);
  return JSON.parse(decode(stdout)) as {
    wrong: number[];
    wrong_jpeg: boolean;
    ms: number;
    right: number;
    right_jpeg: boolean;
    right_ms: number;
  };
}

Deno.test("docs/server.md's reverse-proxy recipe: behind the real nginx with --trusted-proxy, a guesser is slowed down and logged by its own address, another viewer is answered at once", async () => {
  const heading = "### Behind a reverse proxy";
  const commands = await recipe("docs/server.md", heading);
  assert.equal(commands.length, 1, `not one command: ${commands}`);
  const site = await fencedBlock("docs/server.md", heading, "nginx");
  const httpPort = freePort();
  const proxyPort = freePort();
  const flags = flagsOf(commands[0]!, "server.ts")
    .map((flag) => flag === "8080" ? `${httpPort}` : flag);
  const token = flags[flags.indexOf("--token") + 1]!;
  assert.ok(site.includes("listen 443 ssl;"), site);
  assert.ok(site.includes("http://127.0.0.1:8080;"), site);
  // Plain HTTP on a free port for the test; the rest as written.
  const proxied = site
    .replace("listen 443 ssl;", `listen 127.0.0.1:${proxyPort};`)
    .replace("http://127.0.0.1:8080;", `http://127.0.0.1:${httpPort};`);
  const nginx = await startNginx(proxyPort, (dir) => {
    const temp = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"]
      .map((kind) => `${kind}_temp_path ${dir}/${kind};`).join("\n  ");
    return `http {\n  access_log off;\n  ${temp}\n${proxied}\n}\n`;
  });
  try {
    const server = await spawnServer(flags);
    try {
      assert.equal(server.httpPort, httpPort);
      const got = await guessesThroughProxy(proxyPort, token);
      assert.equal(got.right, 200);
      assert.ok(got.right_jpeg);
      assert.ok(got.right_ms < 1000, `the right token took ${got.right_ms} ms`);
      assert.ok(got.ms >= 2000, `20 wrong tokens answered in ${got.ms} ms`);
      assert.ok(got.wrong.every((s) => s === 401 || s === 429), `${got.wrong}`);
      assert.ok(got.wrong.includes(429), `${got.wrong}`);
      assert.ok(!got.wrong_jpeg);
      await server.waitForLine(/camwire: 127\.0\.0\.3 sent \d+ wrong tokens/);
      assert.ok(!server.lines.some((l) => /127\.0\.0\.(1|2) sent/.test(l)));
    } finally {
      await server.stop();
    }
  } finally {
    await nginx.stop();
  }
});
