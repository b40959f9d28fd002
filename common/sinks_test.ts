// Copyright 2026 the camwire authors. MIT license.
import assert from "node:assert/strict";
import { runScript } from "../testing/util.ts";
import { WINDOW_ALTERNATIVES } from "./sinks.ts";

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
