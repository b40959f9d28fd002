// Copyright 2026 the camwire authors. MIT license.
/**
 * End-to-end tests of camwire under faults and hostile peers: a capture
 * that dies or stalls, viewers that stall, read slowly, chatter or crowd
 * in, access control with a token and TLS, and a client facing a server
 * that drips, dies and comes back.
 */
import assert from "node:assert/strict";
import { encodeHeader } from "../framing.ts";
import { jpegSize, readStamp } from "../common/jpeg.ts";
import {
  childPids,
  clientAgainst,
  equalBytes,
  eventually,
  frameSizes,
  freePort,
  isAlive,
  makeCertificate,
  meanLuma,
  RawViewer,
  receiveFrames,
  rssBytes,
  runScript,
  sleep,
  startScript,
  startServerProcess,
  unstamped,
  within,
} from "../testing/util.ts";
import { webBase } from "../testing/http_client.ts";

/** Records a few seconds of the test pattern as an MJPEG file. */
async function recordMjpeg(path: string, seconds: number): Promise<void> {
  const { success } = await within(
    new Deno.Command("ffmpeg", {
      args: [
        ..."-loglevel error -f lavfi -i testsrc2=size=640x480:rate=30 -t".split(
          " ",
        ),
        String(seconds),
        ..."-q:v 5 -f mjpeg -y".split(" "),
        path,
      ],
      stdin: "null",
    }).output(),
    20_000,
    "ffmpeg to record the test file",
  );
  assert.ok(success, "ffmpeg could not record the test file");
}

/** Luma below which a frame counts as dark: the placeholder is ~20, the test pattern ~130. */
const DARK = 64;

Deno.test("e2e: a killed ffmpeg whose source is gone: a dark placeholder unlike any live frame, /stats placeholder and restarting, retries with backoff, then live again", async () => {
  const dir = await Deno.makeTempDir({ prefix: "camwire-faults-" });
  const source = `${dir}/cam.mjpeg`;
  await recordMjpeg(source, 2);
  const server = await startServerProcess([
    "--source",
    source,
    "--http-port",
    "0",
  ]);
  const stats = `${await webBase(server)}/stats`;
  const viewer = await RawViewer.connect(server.port);
  // /stats, polled all along: each state as it changes.
  const states: string[] = [];
  let polling = true;
  const poller = (async () => {
    while (polling) {
      const { state } = await (await fetch(stats)).json();
      if (states.at(-1) !== state) states.push(state);
      await sleep(20);
    }
  })();
  try {
    await eventually(() => viewer.frames.length >= 10, 10_000, "10 frames");
    await eventually(() => states.includes("live"), 5000, "/stats live");
    const [ffmpeg] = childPids(server.child.pid, "ffmpeg");
    assert.ok(ffmpeg !== undefined, "no ffmpeg runs");
    await Deno.rename(source, `${source}.away`);
    const killedAt = Date.now();
    Deno.kill(ffmpeg, "SIGKILL");
    await server.waitForLine(
      /capture lost: ffmpeg exited \(SIGKILL\); restarting in 0\.5 s/,
    );
    await server.waitForLine(
      /capture lost: .*No such file or directory; restarting in 1\.0 s/,
    );
    await server.waitForLine(/restarting in 2\.0 s/);

    // Frames stamped before the kill (or read from ffmpeg's pipe just
    // after it) are live; the placeholder goes out 0.1 s after the exit,
    // and then once a second.
    const stamp = (f: { jpeg: Uint8Array }) => readStamp(f.jpeg)!;
    const outage = () => viewer.frames.filter((f) => stamp(f) > killedAt + 80);
    await eventually(
      () => outage().length >= 2,
      5000,
      "two frames during the outage (the placeholder, once a second)",
    );
    const live = viewer.frames.filter((f) => stamp(f) <= killedAt + 80);
    const placeholder = unstamped(outage()[0]!.jpeg);
    for (const frame of outage()) {
      assert.ok(
        equalBytes(unstamped(frame.jpeg), placeholder),
        "the frames during the outage are not one picture",
      );
    }
    assert.ok(
      live.every((f) => !equalBytes(unstamped(f.jpeg), placeholder)),
      "the outage picture is one of the live frames, not the placeholder",
    );
    assert.equal(jpegSize(outage()[0]!.jpeg)?.width, 320);
    const dark = await meanLuma(outage()[0]!.jpeg);
    const bright = await meanLuma(live.at(-1)!.jpeg);
    assert.ok(dark < DARK, `the placeholder is not dark: luma ${dark}`);
    assert.ok(bright > DARK, `a live frame is dark: luma ${bright}`);
    await eventually(
      () => states.includes("placeholder") && states.includes("restarting"),
      8000,
      `/stats placeholder and restarting during the outage (seen: ${states})`,
    );
    assert.ok(isAlive(server.child.pid));

    await Deno.rename(`${source}.away`, source);
    const recovered = await server.waitForLine(
      /capture recovered after \d+\.\d s/,
    );
    const recoveredAt = Date.now();
    await eventually(
      () => {
        const after = viewer.frames.filter((f) => stamp(f) > recoveredAt);
        return after.length >= 10 &&
          after.every((f) => !equalBytes(unstamped(f.jpeg), placeholder));
      },
      5000,
      `10 live frames after "${recovered}"`,
    );
    await eventually(() => states.at(-1) === "live", 3000, "/stats live again");
    assert.equal(
      server.lines.filter((l) => /viewer .* left/.test(l)).length,
      0,
    );
  } finally {
    polling = false;
    await within(poller, 5000, "the /stats poller to stop");
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
    await eventually(() => viewer.frames.length >= 5, 10_000, "5 frames");
    const [ffmpeg] = childPids(server.child.pid, "ffmpeg");
    assert.ok(ffmpeg !== undefined, "no ffmpeg runs");
    Deno.kill(ffmpeg, "SIGSTOP");
    const stalled = await server.waitForLine(
      /no frame from ffmpeg for \d+\.\d s; restarting it/,
    );
    // Checked four times a stall timeout: 1.0 s and a little, or more on
    // a loaded machine, but never less.
    const silent = Number(stalled.match(/for (\d+\.\d) s/)![1]);
    assert.ok(silent >= 1 && silent < 5, stalled);
    await server.waitForLine(/capture recovered after/);
    await eventually(
      () => !isAlive(ffmpeg),
      5000,
      `the stalled ffmpeg ${ffmpeg} to be gone`,
    );
    const [fresh] = childPids(server.child.pid, "ffmpeg");
    assert.ok(fresh !== undefined && fresh !== ffmpeg);
    const count = viewer.frames.length;
    await eventually(
      () => viewer.frames.length >= count + 15,
      5000,
      "15 frames from the new ffmpeg",
    );
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
    assert.ok(ffmpeg !== undefined, "no ffmpeg runs");
    await server.waitForLine(/the source ended/, 10_000);
    assert.equal((await server.exited(5000)).code, 0);
    assert.ok(!isAlive(ffmpeg), `ffmpeg ${ffmpeg} outlived the server`);
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
    // The server's status line tells of the skipped frames (at most every
    // 10 s, and when viewers come or go).
    const status = server.lines.filter((l) =>
      /^camwire: \d+ viewers, \d+\.\d fps in, .* kbit\/s out, [1-9]\d* frames skipped for slow viewers \(last 10 s\)$/
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

/**
 * A viewer in python3 that reads at `rate` bytes/s and prints each frame's
 * arrival time and age (from its capture stamp) in ms. Its receive buffer
 * is 16 KiB (SO_RCVBUF, which Deno cannot set): on loopback the reader's
 * own buffer stands in for a slow link, whose queue would be in the
 * network, so that what the frame ages measure is the server's queue.
 */
const SLOW_VIEWER = `
import socket, struct, sys, time
port, rate, seconds = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
s.connect(("127.0.0.1", port))
start = time.time()
got = 0
def recv_exact(n):
    global got
    buf = b""
    while len(buf) < n:
        allowed = int(rate * (time.time() - start)) - got
        if allowed < 1024:
            time.sleep(0.01)
            continue
        chunk = s.recv(min(n - len(buf), allowed))
        if not chunk:
            sys.exit("the server closed the stream")
        got += len(chunk)
        buf += chunk
    return buf
while time.time() - start < seconds:
    (n,) = struct.unpack("<Q", recv_exact(8))
    jpeg = recv_exact(n)
    stamp = float(jpeg[6:4 + ((jpeg[4] << 8) | jpeg[5])].decode().split("t=")[1])
    print(f"{(time.time() - start) * 1000:.0f} {time.time() * 1000 - stamp:.1f}", flush=True)
`;

/** Runs {@linkcode SLOW_VIEWER}: each frame's `[arrival ms, age ms]`. */
async function slowViewer(
  port: number,
  rate: number,
  seconds: number,
): Promise<[number, number][]> {
  const { success, stdout, stderr } = await within(
    new Deno.Command("/usr/bin/python3", {
      args: ["-c", SLOW_VIEWER, `${port}`, `${rate}`, `${seconds}`],
      stdin: "null",
    }).output(),
    (seconds + 10) * 1000,
    "the python3 slow viewer",
  );
  assert.ok(success, new TextDecoder().decode(stderr));
  return new TextDecoder().decode(stdout).trim().split("\n").map((line) =>
    line.split(" ").map(Number) as [number, number]
  );
}

/**
 * The bytes the kernel holds unsent (or unacknowledged) on each
 * established connection from local port `port`, from /proc/net/tcp.
 */
function sendQueues(port: number): number[] {
  const queues: number[] = [];
  for (const line of Deno.readTextFileSync("/proc/net/tcp").split("\n")) {
    const [, local, , state, queue] = line.trim().split(/\s+/);
    if (state !== "01" || local === undefined || queue === undefined) continue;
    if (parseInt(local.split(":")[1]!, 16) !== port) continue;
    queues.push(parseInt(queue.split(":")[0]!, 16));
  }
  return queues;
}

Deno.test("e2e: --send-queue: a viewer reading at half the stream's rate gets frames under 1 s old (with --send-queue 0 older and older); one that never reads holds little", async () => {
  const [bounded, unbounded] = await Promise.all([
    startServerProcess(["--source", "test"]),
    startServerProcess(["--source", "test", "--send-queue", "0"]),
  ]);
  const paused: Deno.Conn[] = [];
  try {
    // The stream's byte rate, from a viewer that reads all.
    const probe = await RawViewer.connect(bounded.port);
    await sleep(1500);
    const firstBytes = probe.bytes;
    await sleep(2000);
    const rate = (probe.bytes - firstBytes) / 2;
    await probe.close();
    assert.ok(rate > 100_000, `the stream is ${rate} B/s`);
    for (const server of [bounded, unbounded]) {
      paused.push(
        await Deno.connect({ hostname: "127.0.0.1", port: server.port }),
      );
    }
    const [fresh, stale] = await Promise.all([
      slowViewer(bounded.port, rate / 2, 6),
      slowViewer(unbounded.port, rate / 2, 6),
    ]);
    // Past the first 2 s (the queues filling), every frame is fresh.
    const late = (ages: [number, number][]) =>
      ages.filter(([at]) => at >= 2000).map(([, age]) => age);
    assert.ok(late(fresh).length >= 30, `${late(fresh).length} frames in 4 s`);
    assert.ok(
      Math.max(...late(fresh)) < 1000,
      `frame ages ${late(fresh).join(", ")} ms`,
    );
    // Without the bound, the kernel queues seconds of frames.
    assert.ok(
      Math.max(...late(stale)) > 1500,
      `frame ages without --send-queue ${late(stale).join(", ")} ms`,
    );
    // A viewer that never reads: all the server sends it waits unsent.
    const [held] = sendQueues(bounded.port).sort((a, b) => b - a);
    const [heldUnbounded] = sendQueues(unbounded.port).sort((a, b) => b - a);
    assert.ok(held! < 128 * 1024, `${held} B queued for a paused viewer`);
    assert.ok(
      heldUnbounded! > 512 * 1024,
      `${heldUnbounded} B queued for a paused viewer without the bound`,
    );
  } finally {
    for (const conn of paused) conn.close();
    await bounded.stop();
    await unbounded.stop();
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
    await chatty.endedWithin(5000, "the server to close the chatty viewer");
    const count = quiet.frames.length;
    await eventually(
      () => quiet.frames.length >= count + 10,
      5000,
      "10 more frames for the quiet viewer",
    );
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
    await third.endedWithin(5000, "the server to close a third viewer");
    assert.equal(third.bytes, 0);
    await server.waitForLine(
      /refused: 2 connections already \(--max-clients\)/,
    );
    await eventually(
      () => viewers.every((v) => v.frames.length >= 5),
      5000,
      "5 frames for each of the two viewers",
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
    // Well after the 5 s limit: the server has closed it by then.
    const lateSend = sleep(8000).then(() =>
      late.send(new TextEncoder().encode("camwire s3cret\n"))
    ).catch(() => {}); // closed, as it should be
    try {
      await eventually(
        () => right.frames.length >= 10,
        5000,
        "10 frames for the right token",
      );
      await within(
        Promise.all([wrong.ended, prefix.ended, silent.ended]),
        8000,
        "the server to close the viewers with a wrong or no token",
      );
      await within(lateSend, 10_000, "the late token to be sent");
      await sleep(500); // video for the late token, if any, would come now
      for (const refused of [wrong, prefix, silent, late]) {
        assert.equal(refused.bytes, 0);
      }
      await late.endedWithin(1000, "the server to close the late viewer");
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
    // One line that names the likely cause.
    assert.match(
      denied.stderr,
      new RegExp(
        `^camwire: tcp://127\\.0\\.0\\.1:${server.port} closed the connection before sending a frame\\b[^\\n]*is the token right\\?[^\\n]*\\n$`,
      ),
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
      await eventually(
        () => right.frames.length >= 10,
        5000,
        "10 frames over TLS",
      );
      await wrong.endedWithin(5000, "the server to close a wrong token");
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
      /^camwire: .*tls:\/\/127\.0\.0\.1:\d+.*(certificate|UnknownIssuer)[^\n]*\n$/,
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
  const port = freePort(); // nothing listens there, yet
  const path = await Deno.makeTempFile({ suffix: ".mjpeg" });
  const client = startScript("client.ts", [
    ..."--reconnect --frames 120 --output".split(" "),
    path,
    "--port",
    `${port}`,
  ]);
  let server;
  try {
    await client.waitForLine(
      /connection refused \(is the server running\?\); reconnecting/,
    );
    await sleep(1500); // several refused attempts: still one line
    assert.equal(
      client.lines.filter((l) => /reconnecting/.test(l)).length,
      1,
    );
    server = await startServerProcess([
      "--source",
      "test",
      "--port",
      `${port}`,
    ]);
    await client.waitForLine(/connected to tcp:\/\/127\.0\.0\.1:\d+/);
    await sleep(1000);
    assert.equal(await server.stop(), 0);
    await client.waitForLine(
      /(server closed the stream|Lost connection).*; reconnecting/,
    );
    server = await startServerProcess([
      "--source",
      "test",
      "--port",
      `${port}`,
    ]);
    assert.equal((await client.exited(15_000)).code, 0);
    // Once per server start.
    await client.waitForLine(/connected to tcp:/, 1000, 2);
    const sizes = frameSizes(await Deno.readFile(path));
    assert.equal(sizes.length, 120);
  } finally {
    await client.stop();
    await server?.stop();
    await Deno.remove(path);
  }
});
