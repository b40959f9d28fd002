// Copyright 2026 the camwire authors. MIT license.
/**
 * The running server's status line: quiet while idle, at once when a
 * viewer comes or goes; `--status-interval S` keeps the periodic line.
 */
import assert from "node:assert/strict";
import {
  childPids,
  RawViewer,
  sleep,
  startServerProcess,
} from "../testing/util.ts";

const STATUS = /^camwire: \d+ viewers, /;

Deno.test("e2e: an idle server writes no status line after its rate settled; a viewer's arrival and departure each write one at once (under 0.5 s), twice", async () => {
  const server = await startServerProcess(["--source", "test"]);
  try {
    // One line once the capture's rate settled (10 s of it)...
    await server.waitForLine(STATUS, 20_000);
    // ...then nothing while nobody watches: the old default wrote one
    // every 10 s.
    await sleep(12_000);
    const idle = server.lines.filter((l) => STATUS.test(l));
    assert.equal(idle.length, 1, server.lines.join("\n"));

    // Twice, a viewer comes, watches and goes: each is told at once (a
    // line at the next once-a-second tick would come 0-1 s late).
    for (let round = 1; round <= 2; round++) {
      const arrived = performance.now();
      const viewer = await RawViewer.connect(server.port);
      try {
        const line = await server.waitForLine(
          /^camwire: 1 viewers, /,
          5000,
          round,
        );
        const after = (performance.now() - arrived) / 1000;
        assert.ok(
          after < 0.5,
          `the status line came ${after.toFixed(2)} s late`,
        );
        // After the line that says who came, not before it.
        const at = server.lines.indexOf(line);
        assert.match(server.lines[at - 1]!, /connected \(1 watching\)$/);
        // Lines come at most one a second: watch a little before leaving.
        await sleep(1200);
      } finally {
        await viewer.close();
      }
      const left = performance.now();
      await server.waitForLine(/^camwire: 0 viewers, /, 5000, round + 1);
      const after = (performance.now() - left) / 1000;
      assert.ok(after < 0.5, `the status line came ${after.toFixed(2)} s late`);
      await sleep(1200);
    }
  } finally {
    await server.stop();
  }
});

Deno.test("e2e: --status-interval 2 keeps a status line every 2 s", async () => {
  const server = await startServerProcess([
    ...["--source", "test", "--status-interval", "2"],
  ]);
  const viewer = await RawViewer.connect(server.port);
  try {
    // A watched server's numbers move, so each line differs.
    await server.waitForLine(
      /^camwire: 1 viewers, .* \(last 2 s\)$/,
      10_000,
      3,
    );
  } finally {
    await viewer.close();
    await server.stop();
  }
});

Deno.test("e2e: the status line tells when the capture is lost and when it is back, with the restarts between", async () => {
  const dir = await Deno.makeTempDir({ prefix: "camwire-status-" });
  const source = `${dir}/cam.mjpeg`;
  const made = await new Deno.Command("ffmpeg", {
    args: [
      ..."-v error -f lavfi -i testsrc2=size=320x240:rate=30 -t 2".split(" "),
      ...["-c:v", "mjpeg", "-f", "mjpeg", source],
    ],
  }).output();
  assert.ok(made.success, new TextDecoder().decode(made.stderr));
  const server = await startServerProcess(["--source", source]);
  try {
    const [ffmpeg] = childPids(server.child.pid, "ffmpeg");
    assert.ok(ffmpeg !== undefined, "no ffmpeg runs");
    // The source gone, the capture stays down through a few retries.
    await Deno.rename(source, `${source}.away`);
    Deno.kill(ffmpeg, "SIGKILL");
    await server.waitForLine(
      /^camwire: 0 viewers, \d+\.\d fps in \(capture (lost: no-signal frames|restarting)\), /,
      5000,
    );
    await server.waitForLine(/restarting in 2\.0 s/, 10_000);
    await Deno.rename(`${source}.away`, source);
    await server.waitForLine(/capture recovered after/, 10_000);
    await server.waitForLine(
      /^camwire: 0 viewers, \d+\.\d fps in, .*; since the last status line: [2-9] capture restarts$/,
      3000,
    );
  } finally {
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
