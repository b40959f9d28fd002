// Copyright 2026 the camwire authors. MIT license.
/**
 * End-to-end tests of camwire under faults and hostile peers: a capture
 * that dies or stalls, viewers that stall, chatter or crowd in, access
 * control with a token and TLS, and a client facing a server that drips,
 * dies and comes back.
 */
import assert from "node:assert/strict";
import { encodeHeader, jpegSize } from "./framing.ts";
import {
  childPids,
  clientAgainst,
  eventually,
  frameSizes,
  isAlive,
  makeCertificate,
  RawViewer,
  type Received,
  receiveFrames,
  rssBytes,
  runScript,
  startServerProcess,
  unstamped,
} from "./testing/util.ts";

/** Records a few seconds of the test pattern as an MJPEG file. */
async function recordMjpeg(path: string, seconds: number): Promise<void> {
  const { success } = await new Deno.Command("ffmpeg", {
    args: [
      ..."-loglevel error -f lavfi -i testsrc2=size=640x480:rate=30 -t".split(
        " ",
      ),
      String(seconds),
      ..."-q:v 5 -f mjpeg -y".split(" "),
      path,
    ],
    stdin: "null",
  }).output();
  assert.ok(success, "ffmpeg could not record the test file");
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** True when all frames carry the same picture (the placeholder's). */
function allSamePicture(frames: Received[]): boolean {
  const first = unstamped(frames[0]!.jpeg);
  return frames.every((f) => equalBytes(unstamped(f.jpeg), first));
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

Deno.test("e2e: a killed ffmpeg whose source is gone: placeholders and retries with backoff, then live again", async () => {
  const dir = await Deno.makeTempDir({ prefix: "camwire-faults-" });
  const source = `${dir}/cam.mjpeg`;
  await recordMjpeg(source, 2);
  const server = await startServerProcess(["--source", source]);
  const viewer = await RawViewer.connect(server.port);
  try {
    assert.ok(await eventually(() => viewer.frames.length >= 10));
    const [ffmpeg] = childPids(server.child.pid, "ffmpeg");
    await Deno.rename(source, `${source}.away`);
    const before = viewer.frames.length;
    Deno.kill(ffmpeg!, "SIGKILL");
    await server.waitForLine(
      /capture lost: ffmpeg exited \(SIGKILL\); restarting in 0\.5 s/,
    );
    await server.waitForLine(
      /capture lost: .*No such file or directory; restarting in 1\.0 s/,
    );
    await server.waitForLine(/restarting in 2\.0 s/);
    // Live frames sent before the kill may still arrive first; from the
    // first placeholder on, every frame must be the placeholder.
    const afterKill = viewer.frames.slice(before);
    const placeholderPicture = unstamped(afterKill.at(-1)!.jpeg);
    const outage = afterKill.slice(
      afterKill.findIndex((f) =>
        equalBytes(unstamped(f.jpeg), placeholderPicture)
      ),
    );
    assert.ok(outage.length >= 2, `${outage.length} placeholder frames`);
    assert.ok(
      allSamePicture(outage),
      "frames during the outage are not one placeholder",
    );
    assert.equal(jpegSize(outage[0]!.jpeg)?.width, 320);
    assert.ok(isAlive(server.child.pid));

    await Deno.rename(`${source}.away`, source);
    await server.waitForLine(/capture recovered after \d+\.\d s/);
    const placeholder = unstamped(outage[0]!.jpeg);
    assert.ok(
      await eventually(() =>
        viewer.frames.slice(-10).every((f) =>
          !equalBytes(unstamped(f.jpeg), placeholder)
        ) &&
        viewer.frames.length > before + outage.length + 10
      ),
      "no live frames after recovery",
    );
    assert.equal(
      server.lines.filter((l) => /viewer .* left/.test(l)).length,
      0,
    );
  } finally {
    await viewer.close();
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("e2e: a stalled ffmpeg (SIGSTOP) is killed after --stall-timeout and restarted", async () => {
  const server = await startServerProcess([
    "--source",
    "test",
    "--stall-timeout",
    "1",
  ]);
  const viewer = await RawViewer.connect(server.port);
  try {
    assert.ok(await eventually(() => viewer.frames.length >= 5));
    const [ffmpeg] = childPids(server.child.pid, "ffmpeg");
    Deno.kill(ffmpeg!, "SIGSTOP");
    await server.waitForLine(/no frame from ffmpeg for 1\.\d s; restarting it/);
    await server.waitForLine(/capture recovered after/);
    assert.ok(
      await eventually(() => !isAlive(ffmpeg!)),
      "the stalled ffmpeg was left behind",
    );
    const [fresh] = childPids(server.child.pid, "ffmpeg");
    assert.ok(fresh !== undefined && fresh !== ffmpeg);
    const count = viewer.frames.length;
    assert.ok(await eventually(() => viewer.frames.length >= count + 15));
  } finally {
    await viewer.close();
    await server.stop();
  }
});

Deno.test("e2e: --exit-on-source-end plays a file once, then exits 0 with no ffmpeg left", async () => {
  const dir = await Deno.makeTempDir({ prefix: "camwire-faults-" });
  const source = `${dir}/short.mjpeg`;
  await recordMjpeg(source, 1);
  const server = await startServerProcess([
    "--source",
    source,
    "--exit-on-source-end",
  ]);
  try {
    const [ffmpeg] = childPids(server.child.pid, "ffmpeg");
    await server.waitForLine(/the source ended/, 10_000);
    assert.equal((await server.child.status).code, 0);
    assert.ok(!isAlive(ffmpeg!));
  } finally {
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("e2e: 50 viewers that never read cost a live viewer nothing and memory little", async () => {
  const server = await startServerProcess(["--source", "test"]);
  const stalled: Deno.Conn[] = [];
  const live = await RawViewer.connect(server.port);
  try {
    // Warm up first: the JS heap grows by some 20 MB over the first
    // seconds whatever the viewers do, then holds steady.
    await sleep(8000);
    const rssBefore = rssBytes(server.child.pid);
    for (let i = 0; i < 50; i++) {
      stalled.push(
        await Deno.connect({ hostname: "127.0.0.1", port: server.port }),
      );
    }
    await server.waitForLine(/\(51 watching\)/);
    const start = live.frames.length;
    await sleep(20_000);
    const fps = (live.frames.length - start) / 20;
    const growth = rssBytes(server.child.pid) - rssBefore;
    assert.ok(fps >= 25, `live viewer got ${fps} fps`);
    assert.ok(growth < 20 * 1024 * 1024, `server RSS grew by ${growth} bytes`);
    // The server's status line, every 10 s, tells of the skipped frames.
    const status = server.lines.filter((l) =>
      /^camwire: 51 viewers, \d+\.\d fps in, .* kbit\/s out, [1-9]\d* frames skipped for slow viewers \(last 10 s\)$/
        .test(l)
    );
    assert.ok(status.length >= 1, server.lines.join("\n"));
    // They blocked within a frame or two (bounded send queue) and were
    // dropped after --client-timeout (10 s).
    const dropped = server.lines.filter((l) =>
      /left: dropped: a frame took over 10\.0 s/.test(l)
    );
    assert.equal(dropped.length, 50);
  } finally {
    for (const conn of stalled) conn.close();
    await live.close();
    await server.stop();
  }
});

Deno.test("e2e: a viewer that sends bytes is dropped after a small limit; others stream on", async () => {
  const server = await startServerProcess(["--source", "test"]);
  const chatty = await RawViewer.connect(server.port);
  const quiet = await RawViewer.connect(server.port);
  try {
    await chatty.send(new Uint8Array(2000).fill(0x41));
    await server.waitForLine(
      /left: dropped: it sent 1024 bytes, viewers send nothing/,
    );
    await chatty.ended; // the server closed it
    const count = quiet.frames.length;
    assert.ok(await eventually(() => quiet.frames.length >= count + 10));
  } finally {
    await chatty.close();
    await quiet.close();
    await server.stop();
  }
});

Deno.test("e2e: connections beyond --max-clients are closed at once and logged", async () => {
  const server = await startServerProcess([
    "--source",
    "test",
    "--max-clients",
    "2",
  ]);
  const viewers = [
    await RawViewer.connect(server.port),
    await RawViewer.connect(server.port),
  ];
  try {
    await server.waitForLine(/\(2 watching\)/);
    const third = await RawViewer.connect(server.port);
    await third.ended;
    assert.equal(third.bytes, 0);
    await server.waitForLine(
      /refused: 2 connections already \(--max-clients\)/,
    );
    assert.ok(
      await eventually(() => viewers.every((v) => v.frames.length >= 5)),
    );
  } finally {
    for (const viewer of viewers) await viewer.close();
    await server.stop();
  }
});

Deno.test("e2e: with --token only a viewer that sends the right token first gets video", async () => {
  const server = await startServerProcess([
    "--source",
    "test",
    "--token",
    "s3cret",
  ]);
  try {
    const right = await RawViewer.connect(server.port, {
      line: "camwire s3cret\n",
    });
    const wrong = await RawViewer.connect(server.port, {
      line: "camwire s3cre7\n",
    });
    const prefix = await RawViewer.connect(server.port, {
      line: "camwire s3cretX\n",
    });
    const silent = await RawViewer.connect(server.port);
    const late = await RawViewer.connect(server.port);
    const lateSend = sleep(5500).then(() =>
      late.send(new TextEncoder().encode("camwire s3cret\n"))
    )
      .catch(() => {}); // the server may have closed it already
    try {
      assert.ok(await eventually(() => right.frames.length >= 10));
      await Promise.all([wrong.ended, prefix.ended, silent.ended, late.ended]);
      await lateSend;
      for (const refused of [wrong, prefix, silent, late]) {
        assert.equal(refused.bytes, 0);
      }
      assert.equal(
        server.lines.filter((l) => /refused: wrong token/.test(l)).length,
        2,
      );
      assert.equal(
        server.lines.filter((l) => /refused: no token within 5 s/.test(l))
          .length,
        2,
      );
    } finally {
      for (const viewer of [right, wrong, prefix, silent, late]) {
        await viewer.close();
      }
    }
    await receiveFrames(server.port, 10, ["--token", "s3cret"]);
    const denied = await runScript("client.ts", [
      "--port",
      `${server.port}`,
      "--output",
      "-",
    ], {
      CAMWIRE_TOKEN: "guess",
    });
    assert.equal(denied.code, 1);
    assert.match(
      denied.stderr,
      /closed the connection before sending a frame \(is the token right\?\)/,
    );
    assert.equal(denied.stdout.length, 0);
  } finally {
    await server.stop();
  }
});

Deno.test("e2e: TLS with a token: the right token gets video, a wrong one or an untrusted CA none", async () => {
  const dir = await Deno.makeTempDir({ prefix: "camwire-tls-" });
  await makeCertificate(dir);
  const caCert = await Deno.readTextFile(`${dir}/ca.pem`);
  const server = await startServerProcess(
    [
      "--source",
      "test",
      "--cert",
      `${dir}/cert.pem`,
      "--key",
      `${dir}/key.pem`,
    ],
    { CAMWIRE_TOKEN: "tls-s3cret" },
  );
  try {
    assert.match(server.lines.join("\n"), /streaming on tls:\/\/127\.0\.0\.1:/);
    const right = await RawViewer.connect(server.port, {
      caCert,
      line: "camwire tls-s3cret\n",
    });
    const wrong = await RawViewer.connect(server.port, {
      caCert,
      line: "camwire nope\n",
    });
    try {
      assert.ok(await eventually(() => right.frames.length >= 10));
      await wrong.ended;
      assert.equal(wrong.bytes, 0);
    } finally {
      await right.close();
      await wrong.close();
    }
    const port = `${server.port}`;
    const tls = ["--tls", "--ca", `${dir}/ca.pem`, "--token", "tls-s3cret"];
    await receiveFrames(port, 10, tls);
    const untrusted = await runScript("client.ts", [
      "--port",
      port,
      "--tls",
      "--token",
      "tls-s3cret",
      "--output",
      "-",
    ]);
    assert.equal(untrusted.code, 1);
    assert.match(
      untrusted.stderr,
      /^camwire: .*tls:\/\/127\.0\.0\.1:\d+.*(certificate|UnknownIssuer)/im,
    );
  } finally {
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("e2e: client --timeout gives up on a server that drips a byte at a time", async () => {
  const out = await clientAgainst(async (conn) => {
    for (const byte of encodeHeader(5000)) {
      await conn.write(new Uint8Array([byte]));
      await sleep(300);
    }
    while (true) { // until the client hangs up
      await conn.write(new Uint8Array([0xff]));
      await sleep(300);
    }
  }, ["--output", "-", "--timeout", "1.5"]);
  assert.equal(out.code, 1);
  assert.equal(
    out.stderr.trim(),
    `camwire: No frame from tcp://127.0.0.1:${out.port} for 1.5 s (--timeout)`,
  );
});

Deno.test("e2e: client --reconnect waits for the server, survives its restart and keeps every frame", async () => {
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = probe.addr.port;
  probe.close(); // a port nothing listens on, yet
  const path = await Deno.makeTempFile({ suffix: ".mjpeg" });
  const client = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--quiet",
      new URL("client.ts", import.meta.url).pathname,
      "--port",
      `${port}`,
      "--reconnect",
      "--output",
      path,
      "--frames",
      "120",
    ],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr = client.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let log = "";
  const waitFor = async (pattern: RegExp) => {
    while (!pattern.test(log)) {
      const { value, done } = await stderr.read();
      assert.ok(!done, `client ended before ${pattern}:\n${log}`);
      log += value;
    }
  };
  let server;
  try {
    await waitFor(
      /connection refused \(is the server running\?\); reconnecting/,
    );
    await sleep(1500); // several refused attempts: still one line
    assert.equal(
      log.split("\n").filter((l) => /reconnecting/.test(l)).length,
      1,
    );
    server = await startServerProcess([
      "--source",
      "test",
      "--port",
      `${port}`,
    ]);
    await waitFor(/connected to tcp:\/\/127\.0\.0\.1:\d+/);
    await sleep(1000);
    assert.equal(await server.stop(), 0);
    await waitFor(/(server closed the stream|Lost connection).*; reconnecting/);
    server = await startServerProcess([
      "--source",
      "test",
      "--port",
      `${port}`,
    ]);
    assert.equal((await client.status).code, 0);
    await waitFor(/connected to[^]*connected to/); // once per server start

    const sizes = frameSizes(await Deno.readFile(path));
    assert.equal(sizes.length, 120);
  } finally {
    try {
      client.kill();
    } catch {
      // Exited already.
    }
    await client.status;
    await stderr.cancel();
    await server?.stop();
    await Deno.remove(path);
  }
});
