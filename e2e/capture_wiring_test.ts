// Copyright 2026 the camwire authors. MIT license.
/**
 * The capture's wiring on the running server: a pickle viewer wakes an
 * on-demand capture, and `/metrics` counts the capture's restarts.
 */
import assert from "node:assert/strict";
import { unpickleArray } from "../common/pickle.ts";
import {
  fetchAll,
  parsePrometheus,
  stats,
  withHttpServer,
} from "../testing/http_client.ts";
import { PickleReader } from "../testing/pickle_reader.ts";
import { childPids, eventually } from "../testing/util.ts";

Deno.test("e2e: --on-demand: a pickle viewer alone wakes the capture (frames, the log line, /stats live) and it stops --idle-stop after the viewer left", async () => {
  await withHttpServer([
    ...["--on-demand", "--idle-stop", "1", "--pickle-port", "0"],
  ], async ({ server, base }) => {
    const line = await server.waitForLine(/pickled numpy frames .* on tcp:/);
    const port = Number(line.match(/:(\d+)$/)![1]);
    const ffmpegs = () => childPids(server.child.pid, "ffmpeg").length;
    assert.equal((await stats(base)).state, "idle");
    assert.equal(ffmpegs(), 0, "ffmpeg runs before anyone watches");

    const viewer = await PickleReader.connect(port);
    try {
      await eventually(
        () => viewer.frames.length >= 5,
        10_000,
        `5 pickles for the pickle viewer (got ${viewer.count})`,
      );
      const picture = unpickleArray(viewer.frames.at(-1)!);
      assert.deepEqual(
        [picture.height, picture.width, picture.channels],
        [240, 320, 3],
      );
      // Started for it, after it came.
      const came = server.lines.findIndex((l) =>
        /viewer pickle 127\.0\.0\.1:\d+ connected \(1 watching\)/.test(l)
      );
      const started = server.lines.findIndex((l) =>
        /a viewer arrived: starting the capture/.test(l)
      );
      assert.ok(came >= 0 && started > came, server.lines.join("\n"));
      await eventually(
        async () => {
          const now = await stats(base);
          return now.state === "live" && now.viewers.pickle === 1 &&
            now.fpsIn > 0;
        },
        5000,
        "/stats: live, one pickle viewer, frames coming in",
      );
    } finally {
      await viewer.close();
    }
    const left = performance.now();
    await server.waitForLine(/nobody watching for 1\.0 s: stopping/, 5000);
    const after = (performance.now() - left) / 1000;
    assert.ok(after >= 0.8, `stopped ${after.toFixed(2)} s after it left`);
    await eventually(
      () => ffmpegs() === 0,
      5000,
      "the capture's and the decoder's ffmpeg to end",
    );
    assert.equal((await stats(base)).state, "idle");
  });
});

Deno.test("e2e: /metrics counts the capture's restarts: 0, then 1 once a killed ffmpeg was replaced", async () => {
  await withHttpServer([], async ({ server, base }) => {
    const restarts = async () => {
      const res = await fetchAll(`${base}/metrics`);
      assert.equal(res.status, 200);
      const samples = parsePrometheus(new TextDecoder().decode(res.body));
      return samples.get("camwire_capture_restarts_total");
    };
    assert.equal(await restarts(), 0);
    const [ffmpeg] = childPids(server.child.pid, "ffmpeg");
    assert.ok(ffmpeg !== undefined, "no capture ffmpeg");
    Deno.kill(ffmpeg, "SIGKILL");
    await server.waitForLine(/capture recovered after/, 10_000);
    assert.equal(await restarts(), 1);
  });
});
