// Copyright 2026 the camwire authors. MIT license.
/**
 * The running server's status line: quiet while idle, at once when a
 * viewer comes or goes; `--status-interval S` keeps the periodic line.
 */
import assert from "node:assert/strict";
import { RawViewer, sleep, startServerProcess } from "../testing/util.ts";

const STATUS = /^camwire: \d+ viewers, /;

Deno.test("e2e: an idle server writes no status line after its rate settled; a viewer's arrival and departure each write one within 1 s", async () => {
  const server = await startServerProcess(["--source", "test"]);
  try {
    // One line once the capture's rate settled (10 s of it)...
    await server.waitForLine(STATUS, 20_000);
    // ...then nothing while nobody watches: the old default wrote one
    // every 10 s.
    await sleep(12_000);
    const idle = server.lines.filter((l) => STATUS.test(l));
    assert.equal(idle.length, 1, server.lines.join("\n"));

    const arrived = performance.now();
    const viewer = await RawViewer.connect(server.port);
    try {
      const line = await server.waitForLine(/^camwire: 1 viewers, /, 5000);
      const after = (performance.now() - arrived) / 1000;
      assert.ok(after < 1, `the status line came ${after.toFixed(2)} s late`);
      // After the line that says who came, not before it.
      const at = server.lines.indexOf(line);
      assert.match(server.lines[at - 1]!, /connected \(1 watching\)$/);
      // Lines come at most one a second: watch a little before leaving.
      await sleep(1500);
    } finally {
      await viewer.close();
    }
    const left = performance.now();
    await server.waitForLine(/^camwire: 0 viewers, /, 5000, 2);
    const after = (performance.now() - left) / 1000;
    assert.ok(after < 1, `the status line came ${after.toFixed(2)} s late`);
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
