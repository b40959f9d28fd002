// Copyright 2026 the camwire authors. MIT license.
/**
 * End-to-end tests of publishing to a media server (a local nginx with the
 * RTMP module) and of on-demand capture.
 */
import assert from "node:assert/strict";
import { readStamp } from "../common/jpeg.ts";
import {
  childPids,
  eventually,
  freePort,
  isAlive,
  RawViewer,
  runScript,
  startServerProcess,
  within,
} from "../testing/util.ts";
import { webBase } from "../testing/http_client.ts";
import { type Nginx, startNginx } from "../testing/nginx.ts";

/** Starts a local nginx-rtmp server, on 127.0.0.1 only, with a `live` application. */
function startRtmpServer(port = freePort()): Promise<Nginx> {
  return startNginx(
    port,
    () =>
      `rtmp { server { listen 127.0.0.1:${port}; application live { live on; } } }\n`,
    ["/usr/lib/nginx/modules/ngx_rtmp_module.so"],
  );
}

/** ffprobe's `codec,width,height` of a stream's video, or its error. */
async function probe(url: string): Promise<string> {
  const { stdout, stderr } = await within(
    new Deno.Command("ffprobe", {
      args: [
        ..."-v error -rw_timeout 8000000 -select_streams v:0".split(" "),
        ..."-show_entries stream=codec_name,width,height -of csv=p=0".split(
          " ",
        ),
        url,
      ],
      stdin: "null",
    }).output(),
    15_000,
    `ffprobe ${url}`,
  );
  const text = new TextDecoder();
  return text.decode(stdout).trim() || text.decode(stderr).trim();
}

Deno.test("e2e: --publish sends H.264 to an RTMP server; its loss and return never stop TCP viewers", async () => {
  let rtmp = await startRtmpServer();
  const url = `rtmp://127.0.0.1:${rtmp.port}/live/cam`;
  const server = await startServerProcess([
    "--source",
    "test",
    "--publish",
    url,
  ]);
  const viewer = await RawViewer.connect(server.port);
  try {
    await server.waitForLine(
      /publishing to rtmp:\/\/127\.0\.0\.1:\d+\/live\/cam$/,
    );
    assert.equal(await probe(url), "h264,320,240");
    assert.equal(childPids(server.child.pid, "ffmpeg").length, 2); // capture + relay

    await rtmp.stop();
    await server.waitForLine(
      /publish to rtmp:.* failed: .*; retrying in 0\.5 s/,
    );
    const before = viewer.frames.length;
    await eventually(
      () => viewer.frames.length >= before + 45,
      3000,
      "45 frames in 3 s for the TCP viewer while the RTMP server is gone",
    );

    rtmp = await startRtmpServer(rtmp.port);
    await server.waitForLine(/publishing to rtmp:.*\/live\/cam again/, 20_000);
    assert.equal(await probe(url), "h264,320,240");
    assert.equal(server.lines.filter((l) => /capture lost/.test(l)).length, 0);
  } finally {
    await viewer.close();
    await server.stop();
    await rtmp.stop();
  }
});

Deno.test("e2e: --publish and --on-demand refuse bad combinations", async (t) => {
  await t.step("an unsupported publish scheme", async () => {
    const out = await runScript("server.ts", [
      "--publish",
      "http://example.test/x",
    ]);
    assert.equal(out.code, 2);
    assert.match(
      out.stderr,
      /--publish: "http:\/\/example\.test\/x" is not an rtmp:\/\//,
    );
  });
  await t.step("--on-demand with --publish", async () => {
    const out = await runScript("server.ts", [
      "--on-demand",
      "--publish",
      "rtmp://127.0.0.1:1935/live/x",
    ]);
    assert.equal(out.code, 2);
    assert.match(out.stderr, /--on-demand and --publish do not go together/);
  });
});

Deno.test("e2e: --on-demand runs ffmpeg only while someone watches, never two at once", async () => {
  const server = await startServerProcess([
    "--source",
    "test",
    "--on-demand",
    "--idle-stop",
    "1",
    "--http-port",
    "0",
  ]);
  const ffmpeg = () => childPids(server.child.pid, "ffmpeg");
  const stopping = /nobody watching for 1\.0 s: stopping the capture/;
  const starting = /a viewer arrived: starting the capture/;
  try {
    assert.deepEqual(ffmpeg(), [], "ffmpeg runs before the first viewer");

    const first = await RawViewer.connect(server.port);
    await eventually(
      () => first.frames.length > 0,
      10_000,
      "a frame for the first viewer",
    );
    assert.equal(ffmpeg().length, 1);
    await first.close();
    await server.waitForLine(stopping);
    await eventually(
      () => ffmpeg().length === 0,
      3000,
      "ffmpeg to end after the idle delay",
    );

    // A viewer arriving while the capture stops: once the last viewer
    // left, the ffmpeg is made slow to end (SIGSTOP: the SIGTERM waits,
    // the SIGKILL comes 2 s later), and a viewer connects in those 2 s.
    const second = await RawViewer.connect(server.port);
    await eventually(
      () => second.frames.length > 0,
      10_000,
      "a frame for the second viewer",
    );
    const [old] = ffmpeg();
    assert.ok(old !== undefined, "no ffmpeg for the second viewer");
    await second.close();
    await server.waitForLine(/left: .*\(0 watching\)/, 5000, 2);
    Deno.kill(old, "SIGSTOP");
    await server.waitForLine(stopping, 5000, 2);
    const third = await RawViewer.connect(server.port);
    assert.ok(isAlive(old), "the capture stopped before the viewer came");
    // Sampled all along: a camera cannot be opened twice.
    let most = 0;
    const sampler = setInterval(() => {
      most = Math.max(most, ffmpeg().length);
    }, 20);
    try {
      const connectedAt = Date.now();
      await eventually(
        () =>
          third.frames.filter((f) => readStamp(f.jpeg)! > connectedAt)
            .length >= 10,
        10_000,
        "10 fresh frames for the viewer who came while the capture stopped",
      );
    } finally {
      clearInterval(sampler);
      await third.close();
    }
    assert.ok(!isAlive(old), `the stopped ffmpeg ${old} still runs`);
    assert.equal(most, 1, "two ffmpeg ran at once");
    const log = server.lines.filter((l) => starting.test(l) || stopping.test(l))
      .map((l) => starting.test(l) ? "start" : "stop");
    assert.deepEqual(log.slice(0, 4), ["start", "stop", "start", "stop"]);
    assert.equal(log[4], "start", server.lines.join("\n"));

    // An HTTP viewer counts too.
    await eventually(
      () => ffmpeg().length === 0,
      5000,
      "ffmpeg to end after the last viewer",
    );
    const response = await within(
      fetch(`${await webBase(server)}/stream.mjpg`),
      5000,
      "the /stream.mjpg response",
    );
    const reader = response.body!.getReader();
    try {
      const { value } = await within(
        reader.read(),
        10_000,
        "a first part of /stream.mjpg",
      );
      assert.ok(value && value.length > 0);
      assert.equal(ffmpeg().length, 1);
    } finally {
      await reader.cancel();
    }
  } finally {
    await server.stop();
  }
});
