// Copyright 2026 the camwire authors. MIT license.
// The server's flags (server/flags.ts) and its one-line messages at
// start, each with its exit code, from the real server.ts.

import assert from "node:assert/strict";
import { parseServerFlags, type ServerFlags } from "./flags.ts";
import { UsageError } from "../common/cli.ts";
import { runScript, startServerProcess } from "../testing/util.ts";

function flags(args: string[]): ServerFlags {
  const parsed = parseServerFlags(args);
  assert.notEqual(parsed, "help");
  return parsed as ServerFlags;
}

Deno.test("parseServerFlags() applies defaults and rejects bad values", async (t) => {
  await t.step("defaults", () => {
    // docs/server.md's table of flags and defaults (other flags may come).
    const flags = parseServerFlags([]);
    assert.ok(flags !== "help");
    const documented = {
      host: "0.0.0.0",
      port: 9999,
      source: "auto",
      device: undefined,
      width: 320,
      fps: 30,
      quality: 5,
      preview: false,
      httpPort: undefined,
      publish: [],
      onDemand: false,
      idleStopMs: 5000,
      stallTimeoutMs: 3000,
      exitOnSourceEnd: false,
      clientTimeoutMs: 10_000,
      maxClients: 1000,
      sendQueue: 16384,
      token: undefined,
      cert: undefined,
      key: undefined,
    };
    const given = Object.fromEntries(
      Object.keys(documented).map((key) => [
        key,
        flags[key as keyof typeof flags],
      ]),
    );
    assert.deepEqual(given, documented);
  });
  await t.step("help", () => assert.equal(parseServerFlags(["-h"]), "help"));
  const bad: [string[], RegExp][] = [
    [["--port", "70000"], /--port: "70000" is not an integer from 0 to 65535/],
    [["--port", "abc"], /--port: "abc"/],
    [["--quality", "1"], /--quality: "1" is not an integer from 2 to 31/],
    [["--quality", "32"], /--quality/],
    [["--width", "321"], /--width: "321" is not even/],
    [["--fps", "0"], /--fps/],
    [["--bogus"], /Unknown option '--bogus'/],
    [["--source", ""], /--source: it is empty/],
  ];
  for (const [args, pattern] of bad) {
    await t.step(args.join(" "), () => {
      assert.throws(() => parseServerFlags(args), (error: unknown) => {
        assert.ok(error instanceof UsageError);
        assert.match(error.message, pattern);
        return true;
      });
    });
  }
});

Deno.test("parseServerFlags() reads --rotate, --flip, --overlay and --status-interval", () => {
  const defaults = flags([]);
  assert.equal(defaults.rotate, 0);
  assert.equal(defaults.flip, undefined);
  assert.equal(defaults.overlay, undefined);
  // Not given: a status line when something changes, not periodically.
  assert.equal(defaults.statusIntervalS, undefined);
  const given = flags(
    "--rotate 270 --flip hv --overlay %H:%M --status-interval 0".split(" "),
  );
  assert.equal(given.rotate, 270);
  assert.equal(given.flip, "hv");
  assert.equal(given.overlay, "%H:%M");
  assert.equal(given.statusIntervalS, 0);
  // Each row: bad flags, and the message.
  const table: [string[], RegExp][] = [
    [["--rotate", "45"], /--rotate: "45" is not 0, 90, 180 or 270/],
    [["--flip", "x"], /--flip: "x" is not h, v or hv/],
    [["--overlay", " "], /--overlay: it is empty/],
    [
      ["--status-interval", "1.5"],
      /--status-interval: "1.5" is not an integer/,
    ],
  ];
  for (const [args, message] of table) {
    assert.throws(() => parseServerFlags(args), (error: unknown) => {
      assert.ok(error instanceof UsageError);
      assert.match(error.message, message);
      return true;
    });
  }
});

Deno.test("parseServerFlags() warns of flags that do nothing with the others", () => {
  // Each row: flags, and the warnings.
  const table: [string, string[]][] = [
    ["", []],
    ["--on-demand --idle-stop 9", []],
    ["--idle-stop 9", [
      "camwire: warning: --idle-stop does nothing without --on-demand",
    ]],
    ["--source camera --device /dev/video2", []],
    ["--device /dev/video2", []],
    ["--source test --device /dev/video2", [
      "camwire: warning: --device does nothing with --source test (only with a camera: --source auto or camera)",
    ]],
    ["--capture rpicam", []],
    ["--capture rpicam --device /dev/video2", [
      "camwire: warning: --device does nothing with --capture rpicam (rpicam-vid opens the Raspberry Pi camera itself)",
    ]],
  ];
  for (const [args, warnings] of table) {
    const given = flags(args === "" ? [] : args.split(" "));
    assert.deepEqual(given.warnings, warnings, args);
  }
});

Deno.test("parseServerFlags() refuses two services on one port, naming both flags", () => {
  assert.throws(
    () => parseServerFlags("--port 9000 --http-port 9000".split(" ")),
    /--port and --http-port are both 9000: give each its own port/,
  );
  assert.throws(
    () => parseServerFlags("--http-port 9001 --pickle-port 9001".split(" ")),
    /--http-port and --pickle-port are both 9001/,
  );
  // 0 picks any free port: never the same one twice.
  flags("--port 0 --http-port 0".split(" "));
});

/** Runs server.ts to its end; returns its exit code and stderr lines. */
async function server(
  args: string[],
  options: { env?: Record<string, string>; clearEnv?: boolean } = {},
) {
  const started = performance.now();
  const out = await runScript("server.ts", args, options.env ?? {}, {
    clearEnv: options.clearEnv ?? false,
    timeoutMs: 20_000,
  });
  const lines = out.stderr.trim().split("\n").filter((l) =>
    !/^camwire: opening /.test(l)
  );
  return { code: out.code, lines, ms: performance.now() - started };
}

Deno.test("server.ts --preview with no display is refused at start, with what to do instead, exit 1", async () => {
  const out = await server(
    "--source test --host 127.0.0.1 --port 0 --preview".split(" "),
    {
      env: { PATH: Deno.env.get("PATH")!, HOME: Deno.env.get("HOME")! },
      clearEnv: true,
    },
  );
  assert.equal(out.code, 1);
  assert.deepEqual(out.lines, [
    "camwire: --preview needs a display, and there is none (DISPLAY and WAYLAND_DISPLAY are unset): drop --preview, and watch with client.ts on a machine with a screen, save the stream with client.ts --output FILE, or serve the web page with --http-port PORT",
  ]);
  assert.ok(out.ms < 2000, `it took ${out.ms.toFixed(0)} ms`);
});

Deno.test("server.ts --host no-such-host.invalid names the host and the flag, exit 1", async () => {
  const out = await server(
    "--source test --host no-such-host.invalid --port 0".split(" "),
  );
  assert.equal(out.code, 1);
  assert.deepEqual(out.lines, [
    'camwire: Cannot listen on no-such-host.invalid:0: no such host "no-such-host.invalid" (check --host: an address of this machine, or 0.0.0.0 for all)',
  ]);
});

Deno.test("server.ts --http-port equal to --port says so, exit 2", async () => {
  const out = await server("--port 9000 --http-port 9000".split(" "));
  assert.equal(out.code, 2);
  assert.deepEqual(out.lines, [
    "camwire: --port and --http-port are both 9000: give each its own port (see --help)",
  ]);
});

Deno.test("server.ts --source - with an empty stdin is told in camwire's words, not ffmpeg's, exit 1", async () => {
  const out = await server("--source - --host 127.0.0.1 --port 0".split(" "));
  assert.equal(out.code, 1);
  assert.deepEqual(out.lines, [
    "camwire: --source -: stdin ended before a whole JPEG came (pipe a camera's MJPEG in, e.g. rpicam-vid --codec mjpeg -o - | deno run -A server.ts --source -)",
  ]);
});

Deno.test("server.ts --idle-stop without --on-demand, and --device with the test pattern: one warning line each, and it runs", async () => {
  const running = await startServerProcess(
    "--source test --idle-stop 3 --device /dev/video9".split(" "),
  );
  try {
    const warnings = running.lines.filter((l) => /warning/.test(l));
    assert.deepEqual(warnings, [
      "camwire: warning: --idle-stop does nothing without --on-demand",
      "camwire: warning: --device does nothing with --source test (only with a camera: --source auto or camera)",
    ]);
  } finally {
    assert.equal(await running.stop(), 0);
  }
});

Deno.test("server.ts --overlay with no font is one line at start that names the font, not a crash, exit 1", async () => {
  const dir = await Deno.makeTempDir({ prefix: "camwire-nofont-" });
  try {
    // A fontconfig that knows no font at all.
    await Deno.writeTextFile(
      `${dir}/fonts.conf`,
      '<?xml version="1.0"?><fontconfig></fontconfig>',
    );
    const out = await server(
      ["--source", "test", "--port", "0", "--overlay", "%H:%M:%S"],
      { env: { FONTCONFIG_FILE: `${dir}/fonts.conf` } },
    );
    assert.equal(out.code, 1);
    assert.deepEqual(out.lines, [
      "camwire: --overlay: ffmpeg cannot draw the text: Cannot find a valid font for the family Sans (install a font: apt install fonts-dejavu-core; macOS and Windows have one)",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
