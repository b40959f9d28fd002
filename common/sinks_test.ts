// Copyright 2026 the camwire authors. MIT license.
import assert from "node:assert/strict";
import { runScript, startServerProcess } from "../testing/util.ts";
import { fileSink, OutputError, WINDOW_ALTERNATIVES } from "./sinks.ts";

Deno.test("client.ts with no display: one line pointing to --output FILE and the server's web page, exit 1 within 2 s", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const started = performance.now();
  // Neither DISPLAY nor WAYLAND_DISPLAY: an SSH session, say.
  const out = await runScript(
    "client.ts",
    ["--port", `${listener.addr.port}`],
    { PATH: Deno.env.get("PATH")!, HOME: Deno.env.get("HOME")! },
    { clearEnv: true, timeoutMs: 5000 },
  );
  const ms = performance.now() - started;
  assert.equal(out.code, 1);
  assert.ok(ms < 2000, `it took ${ms.toFixed(0)} ms`);
  assert.equal(
    out.stderr,
    `camwire: Cannot open a window: no display (DISPLAY and WAYLAND_DISPLAY are unset): ${WINDOW_ALTERNATIVES}\n`,
  );
  assert.match(WINDOW_ALTERNATIVES, /--output FILE.*--http-port/);
});

Deno.test("fileSink() says its output closed, instead of passing a broken pipe on as the server's", async () => {
  const sink = fileSink(
    new WritableStream({
      write() {
        throw new Deno.errors.BrokenPipe("Broken pipe (os error 32)");
      },
    }),
    "stdout",
  );
  await assert.rejects(
    async () => await sink.put(new Uint8Array([0xff, 0xd8, 0xff, 0xd9])),
    (error: unknown) =>
      error instanceof OutputError &&
      error.message ===
        "Cannot write to stdout: it was closed (whatever read it has ended)",
  );
});

Deno.test("client.ts --output - | head -c 100: the client blames its closed stdout, not the server, exit 1", async () => {
  const server = await startServerProcess(["--source", "test"]);
  try {
    const client = new URL("../client.ts", import.meta.url).pathname;
    const { stdout, stderr } = await new Deno.Command("bash", {
      args: [
        "-c",
        `"$0" run -A --quiet "$1" --port "$2" --output - | head -c 100 >/dev/null; echo "\${PIPESTATUS[0]}"`,
        Deno.execPath(),
        client,
        String(server.port),
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(new TextDecoder().decode(stdout).trim(), "1");
    assert.equal(
      new TextDecoder().decode(stderr).trim(),
      "camwire: Cannot write to stdout: it was closed (whatever read it has ended)",
    );
  } finally {
    await server.stop();
  }
});
