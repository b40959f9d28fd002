// Copyright 2026 the camwire authors. MIT license.
/**
 * End-to-end tests of publishing to a media server (a local nginx with the
 * RTMP module) and of on-demand capture.
 */
import assert from "node:assert/strict";
import {
  childPids,
  eventually,
  RawViewer,
  runScript,
  startServerProcess,
} from "./testing/util.ts";

/** A local nginx-rtmp server, listening on 127.0.0.1 only. */
interface RtmpServer {
  port: number;
  stop(): Promise<void>;
}

/** Starts nginx with the RTMP module and a `live` application. */
async function startRtmpServer(port?: number): Promise<RtmpServer> {
  if (port === undefined) {
    const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    port = probe.addr.port;
    probe.close();
  }
  const dir = await Deno.makeTempDir({ prefix: "camwire-rtmp-" });
  await Deno.writeTextFile(
    `${dir}/nginx.conf`,
    `load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;
daemon off;
master_process off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log;
events {}
rtmp { server { listen 127.0.0.1:${port}; application live { live on; } } }
`,
  );
  const child = new Deno.Command("nginx", {
    args: ["-p", dir, "-c", `${dir}/nginx.conf`],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const listening = await eventually(async () => {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return true;
    } catch {
      return false;
    }
  });
  // SIGKILL: a server that goes away. (With a publisher connected, nginx
  // may take long to honour SIGTERM.)
  const stop = async () => {
    try {
      child.kill("SIGKILL");
    } catch {
      // Exited already.
    }
    await child.status;
    await Deno.remove(dir, { recursive: true });
  };
  if (!listening) {
    await stop();
    throw new Error(`nginx-rtmp did not listen on ${port}`);
  }
  return { port, stop };
}

/** ffprobe's `codec,width,height` of a stream's video, or its error. */
async function probe(url: string): Promise<string> {
  const { stdout, stderr } = await new Deno.Command("ffprobe", {
    args: [
      ..."-v error -rw_timeout 8000000 -select_streams v:0".split(" "),
      ..."-show_entries stream=codec_name,width,height -of csv=p=0".split(" "),
      url,
    ],
    stdin: "null",
  }).output();
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
    assert.ok(
      await eventually(() => viewer.frames.length >= before + 45, 3000),
      "the TCP viewer stalled while the RTMP server was gone",
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

Deno.test("e2e: --on-demand runs ffmpeg only while someone watches", async () => {
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
  try {
    assert.deepEqual(ffmpeg(), [], "ffmpeg runs before the first viewer");

    const connectedAt = performance.now();
    const first = await RawViewer.connect(server.port);
    assert.ok(await eventually(() => first.frames.length > 0), "no frame");
    const startupMs = first.frames[0]!.at - connectedAt;
    assert.ok(startupMs < 3000, `first frame after ${startupMs} ms`);
    assert.equal(ffmpeg().length, 1);
    await first.close();
    await server.waitForLine(
      /nobody watching for 1\.0 s: stopping the capture/,
    );
    assert.ok(
      await eventually(() => ffmpeg().length === 0),
      "ffmpeg outlived the idle delay",
    );

    // A viewer arriving while the capture stops gets it started again.
    const stops = () =>
      server.lines.filter((l) => /stopping the capture/.test(l)).length;
    const second = await RawViewer.connect(server.port);
    assert.ok(await eventually(() => second.frames.length > 0));
    await second.close();
    assert.ok(
      await eventually(() => stops() === 2),
      "the capture did not stop",
    );
    const third = await RawViewer.connect(server.port);
    try {
      assert.ok(
        await eventually(() => third.frames.length >= 10),
        "no frames after a restart",
      );
      assert.equal(ffmpeg().length, 1);
      const starts = server.lines.filter((l) =>
        /a viewer arrived: starting the capture/.test(l)
      );
      assert.equal(starts.length, 3);
    } finally {
      await third.close();
    }

    // An HTTP viewer counts too.
    await eventually(() => ffmpeg().length === 0);
    const line = await server.waitForLine(
      /web page on http:\/\/127\.0\.0\.1:(\d+)\//,
    );
    const httpPort = line.match(/:(\d+)\/$/)![1];
    const response = await fetch(`http://127.0.0.1:${httpPort}/stream.mjpg`);
    const reader = response.body!.getReader();
    const { value } = await reader.read();
    assert.ok(value && value.length > 0);
    assert.equal(ffmpeg().length, 1);
    await reader.cancel();
  } finally {
    await server.stop();
  }
});
