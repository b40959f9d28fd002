// Copyright 2026 the camwire authors. MIT license.
/**
 * The portable path: camwire without libc through FFI, as on macOS and
 * Windows (no `libc.so.6`), here with `--deny-ffi` or `CAMWIRE_LIBC`
 * naming a missing file. No send-queue bound, no direct sends, no V4L2;
 * everything else as on Linux.
 */
import assert from "node:assert/strict";
import {
  eventually,
  RawViewer,
  runScript,
  startScript,
  within,
} from "../testing/util.ts";
import { webBase } from "../testing/http_client.ts";

/** Reads `/stream.mjpg` until `parts` JPEGs came; how many came. */
async function httpFrames(port: number, parts: number): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${port}/stream.mjpg`);
  assert.equal(response.status, 200);
  const reader = response.body!.getReader();
  let seen = 0;
  try {
    while (seen < parts) {
      const { value, done } = await within(
        reader.read(),
        10_000,
        "an HTTP stream's bytes",
      );
      if (done) break;
      for (let i = 0; i + 1 < value.length; i++) {
        if (value[i] === 0xff && value[i + 1] === 0xd8) seen++;
      }
    }
  } finally {
    await reader.cancel();
  }
  return seen;
}

Deno.test("e2e: without FFI (--deny-ffi): TCP and HTTP viewers stream, a stalled viewer is still dropped and closed, --send-queue says once that it is not available", async () => {
  // Big frames (1280 px at the best quality) fill a stalled viewer's
  // socket buffers, which no send-queue bound keeps small here, in a
  // second or two.
  const server = startScript("server.ts", [
    ...["--host", "127.0.0.1", "--port", "0", "--source", "test"],
    ...["--width", "1280", "--quality", "2", "--client-timeout", "1"],
    ...["--http-port", "0", "--pickle-port", "0"],
  ], { permissions: ["-A", "--deny-ffi"] });
  let stalled: Deno.Conn | undefined;
  try {
    const port = Number(
      (await server.waitForLine(/streaming on tcp:\/\/127\.0\.0\.1:\d+$/))
        .match(/:(\d+)$/)![1],
    );
    const httpPort = Number(new URL(await webBase(server)).port);
    const viewer = await RawViewer.connect(port);
    try {
      await eventually(
        () => viewer.frames.length >= 10,
        10_000,
        "10 frames for a TCP viewer",
      );
    } finally {
      await viewer.close();
    }
    assert.ok(await httpFrames(httpPort, 3) >= 3);

    stalled = await Deno.connect({ hostname: "127.0.0.1", port });
    await server.waitForLine(/left: dropped: a frame took over 1\.0 s/, 20_000);
    // Closed for real: what the kernel held is read, then the end.
    const buffer = new Uint8Array(1 << 20);
    const drained = (async () => {
      try {
        while (await stalled!.read(buffer) !== null) { /* its frames */ }
      } catch (error) {
        if (!(error instanceof Deno.errors.ConnectionReset)) throw error;
      }
    })();
    await within(drained, 10_000, "the stalled viewer's connection to end");

    const told = server.lines.filter((l) => /send.queue/i.test(l));
    assert.deepEqual(told, [
      "camwire: --send-queue is not available here (FFI is not allowed without -A or --allow-ffi): slow viewers may see frames seconds late",
    ]);
  } finally {
    stalled?.close();
    assert.equal(await server.stop(), 0);
  }
});

Deno.test("e2e: without FFI, --capture v4l2 is one clear line and exit 1", async (t) => {
  const cases: [string, string[], Record<string, string>, string][] = [
    [
      "--deny-ffi",
      ["-A", "--deny-ffi"],
      {},
      "FFI is not allowed without -A or --allow-ffi",
    ],
    [
      "CAMWIRE_LIBC naming a missing file",
      ["-A"],
      { CAMWIRE_LIBC: "/nonexistent/libc.so.6" },
      "cannot open /nonexistent/libc.so.6 through FFI",
    ],
  ];
  for (const [name, permissions, env, why] of cases) {
    await t.step(name, async () => {
      const started = performance.now();
      const out = await runScript(
        "server.ts",
        [
          ...["--host", "127.0.0.1", "--port", "0", "--source", "camera"],
          ...["--device", "/dev/video0", "--capture", "v4l2"],
        ],
        env,
        { permissions, timeoutMs: 10_000 },
      );
      assert.equal(out.code, 1, out.stderr);
      assert.equal(
        out.stderr.trimEnd().split("\n").at(-1),
        `camwire: --capture v4l2: V4L2 cannot be used here: ${why}`,
      );
      const seconds = (performance.now() - started) / 1000;
      assert.ok(seconds < 5, `${seconds.toFixed(1)} s to say so`);
    });
  }
});
