// Copyright 2026 the camwire authors. MIT license.
import assert from "node:assert/strict";
import { concatBytes, encodeFrame, encodeHeader } from "../framing.ts";
import { parseClientFlags } from "../client.ts";
import { UsageError } from "../common/cli.ts";
import { startXvfb, type Xvfb } from "../testing/xvfb.ts";
import {
  childPids,
  clientAgainst,
  eventually,
  frameSizes,
  freePort,
  isAlive,
  type Output,
  runScript,
  type ScriptProcess,
  sleep,
  startScript,
  startServerProcess,
  within,
} from "../testing/util.ts";

/** A tiny valid-looking JPEG (SOI, one COM segment, EOI). */
const JPEG = new Uint8Array([0xff, 0xd8, 0xff, 0xfe, 0, 3, 0x41, 0xff, 0xd9]);

/** Runs `client.ts --output -` against a server that sends `bytes`. */
function clientReading(bytes: Uint8Array): Promise<Output> {
  return clientAgainst(async (conn) => {
    await conn.write(bytes);
  }, ["--output", "-"]);
}

Deno.test("parseClientFlags() applies defaults and rejects bad values", async (t) => {
  await t.step("defaults", () => {
    assert.deepEqual(parseClientFlags([]), {
      host: "127.0.0.1",
      port: 9999,
      output: undefined,
      frames: Infinity,
      timeoutMs: 10_000,
      reconnect: false,
      token: undefined,
      tls: false,
      ca: undefined,
      stats: false,
    });
  });
  const bad: [string[], RegExp][] = [
    [["--port", "0"], /--port: "0" is not an integer from 1 to 65535/],
    [["--frames=-3"], /--frames: "-3"/],
    [
      ["--frames", "-3"],
      /^Invalid value for --frames: "-3" must be a positive integer/,
    ],
    [["--frames", "2.5"], /--frames: "2.5"/],
    [["--output", ""], /--output: it is empty/],
    [["--hots", "x"], /Unknown option '--hots'/],
  ];
  for (const [args, pattern] of bad) {
    await t.step(args.join(" "), () => {
      assert.throws(() => parseClientFlags(args), (error: unknown) => {
        assert.ok(error instanceof UsageError);
        assert.match(error.message, pattern);
        return true;
      });
    });
  }
});

Deno.test("client: a normal end of stream is reported and exits 0", async () => {
  const out = await clientReading(
    concatBytes([encodeFrame(JPEG), encodeFrame(JPEG)]),
  );
  assert.equal(out.code, 0, out.stderr);
  assert.deepEqual(out.stdout, concatBytes([JPEG, JPEG]));
  assert.equal(
    out.stderr.trim(),
    "camwire: the server closed the stream after 2 frames",
  );
});

Deno.test("client: a hostile or broken stream is one clear error, exit 1", async (t) => {
  const cases: [string, Uint8Array, RegExp][] = [
    [
      "huge length",
      new Uint8Array(8).fill(0xff),
      /^camwire: Broken stream from tcp:\/\/127\.0\.0\.1:\d+: Frame length 18446744073709551615 exceeds the 16 MiB limit$/,
    ],
    ["zero length", encodeHeader(0), /Frame length 0 is not allowed$/],
    [
      "not a JPEG",
      encodeFrame(new TextEncoder().encode("<html>hello</html>")),
      /Frame payload is not a JPEG: it does not start with SOI$/,
    ],
    [
      "cut mid-frame",
      concatBytes([encodeFrame(JPEG), encodeFrame(JPEG).subarray(0, 12)]),
      /Stream ended inside a frame \(4 of 9 bytes\)$/,
    ],
    [
      "cut mid-header",
      encodeHeader(9).subarray(0, 5),
      /inside a frame header \(5 of 8 bytes\)$/,
    ],
  ];
  for (const [name, bytes, pattern] of cases) {
    await t.step(name, async () => {
      const out = await clientReading(bytes);
      assert.equal(out.code, 1);
      assert.match(out.stderr.trim(), pattern);
      assert.equal(out.stderr.trim().split("\n").length, 1);
    });
  }
});

Deno.test("client: an unreachable server is one clear error, exit 1", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close(); // nothing listens there now
  const out = await runScript("client.ts", [
    "--port",
    `${port}`,
    "--output",
    "-",
  ]);
  assert.equal(out.code, 1);
  assert.equal(
    out.stderr.trim(),
    `camwire: Cannot connect to tcp://127.0.0.1:${port}: connection refused (is the server running?)`,
  );
});

Deno.test("client: ffplay missing suggests --output, exit 1", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  // A display, so that the client gets as far as starting ffplay.
  const out = await runScript(
    "client.ts",
    ["--port", `${listener.addr.port}`],
    { PATH: "", DISPLAY: ":4711" },
  );
  assert.equal(out.code, 1);
  assert.equal(
    out.stderr.trim(),
    "camwire: ffplay not found: install ffmpeg, which includes it, or use --output FILE",
  );
});

Deno.test("client: bad flags exit 2 with the reason", async () => {
  const out = await runScript("client.ts", ["--frames", "none"]);
  assert.equal(out.code, 2);
  assert.match(out.stderr, /Invalid value for --frames: "none"/);
  const help = await runScript("client.ts", ["--help"]);
  assert.equal(help.code, 0);
  const text = new TextDecoder().decode(help.stdout);
  for (const flag of ["--host", "--port", "--output", "--frames", "--help"]) {
    assert.ok(text.includes(flag), `${flag} missing from --help`);
  }
});

Deno.test("e2e: client --frames writes exactly N frames to a playable file", async () => {
  const server = await startServerProcess(["--source", "test"]);
  const path = await Deno.makeTempFile({ suffix: ".mjpeg" });
  try {
    const out = await runScript("client.ts", [
      "--port",
      `${server.port}`,
      "--output",
      path,
      "--frames",
      "31",
    ]);
    assert.equal(out.code, 0, out.stderr);
    assert.equal(out.stderr, "");
    const bytes = await Deno.readFile(path);
    assert.equal(frameSizes(bytes).length, 31);
    const probe = await within(
      new Deno.Command("ffprobe", {
        args: [
          "-v",
          "error",
          "-count_frames",
          "-select_streams",
          "v:0",
          "-show_entries",
          "stream=codec_name,width,nb_read_frames",
          "-of",
          "csv=p=0",
          path,
        ],
      }).output(),
      20_000,
      "ffprobe",
    );
    assert.equal(new TextDecoder().decode(probe.stdout).trim(), "mjpeg,320,31");
  } finally {
    await Deno.remove(path);
    await server.stop();
  }
});

Deno.test("e2e: a Python client (struct 'Q' + cv2.imdecode) reads the stream", async () => {
  const server = await startServerProcess(["--source", "test"]);
  try {
    const { code, stdout, stderr } = await within(
      new Deno.Command("/usr/bin/python3", {
        args: ["-c", PYTHON_CLIENT, String(server.port)],
      }).output(),
      30_000,
      "the Python client",
    );
    assert.equal(code, 0, new TextDecoder().decode(stderr));
    assert.equal(
      new TextDecoder().decode(stdout).trim(),
      "30 frames of 320x240",
    );
  } finally {
    await server.stop();
  }
});

/** docs/wire.md's Python viewer, reading 30 frames without a window. */
const PYTHON_CLIENT = `
import socket, struct, sys
import cv2, numpy as np

sock = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
def recv_exact(n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError("server closed the stream")
        buf += chunk
    return buf

shapes = set()
for _ in range(30):
    (length,) = struct.unpack("<Q", recv_exact(8))
    frame = cv2.imdecode(np.frombuffer(recv_exact(length), np.uint8), cv2.IMREAD_COLOR)
    shapes.add(frame.shape)
(h, w, _), = shapes
print(f"30 frames of {w}x{h}")
`;

/**
 * The client's window: ffplay under Xvfb, titled after the server. When it
 * does not come, the error says what the client printed and which windows
 * there were, so that a failure in CI can be told apart from a slow start.
 */
async function clientWindow(
  x: Xvfb,
  port: number,
  client: ScriptProcess,
): Promise<string> {
  const title = `camwire tcp://127.0.0.1:${port}`;
  let ids: string[] = [];
  try {
    await eventually(
      async () => (ids = await x.windows(title)).length === 1,
      10_000,
      `a window "${title}"`,
    );
  } catch (error) {
    throw new Error(
      `${(error as Error).message}; windows: [${ids.join(", ")}], ffplay: ${
        childPids(client.child.pid, "ffplay").join(", ") || "none"
      }, the client said: ${client.lines.join(" | ") || "nothing"}`,
    );
  }
  return ids[0]!;
}

/** The client's ffplay, which runs as its child. */
function ffplayOf(client: ScriptProcess): number {
  const [ffplay] = childPids(client.child.pid, "ffplay");
  assert.ok(ffplay !== undefined, "the client runs no ffplay");
  return ffplay;
}

/** Runs xdotool on the display. */
async function xdotool(x: Xvfb, ...args: string[]): Promise<void> {
  const { success, stderr } = await within(
    new Deno.Command("xdotool", {
      args,
      env: { DISPLAY: x.display },
      stdout: "null",
    }).output(),
    5000,
    `xdotool ${args.join(" ")}`,
  );
  assert.ok(success, new TextDecoder().decode(stderr));
}

/** The mean brightness (0–255) of what a window shows, from a screenshot. */
async function windowLuma(x: Xvfb, id: string): Promise<number> {
  const { success, stdout, stderr } = await within(
    new Deno.Command("import", {
      args: [
        "-display",
        x.display,
        "-window",
        id,
        ..."-colorspace Gray -format %[fx:mean*255] info:".split(" "),
      ],
    }).output(),
    5000,
    "a screenshot of the window",
  );
  assert.ok(success, new TextDecoder().decode(stderr));
  return Number(new TextDecoder().decode(stdout));
}

Deno.test("e2e: the client shows the stream in a real ffplay window under Xvfb, titled with the server; q, SIGINT and SIGTERM end it with exit 0 and no ffplay left", async (t) => {
  await using x = await startXvfb();
  const server = await startServerProcess(["--source", "test"]);
  try {
    for (const ending of ["q", "SIGINT", "SIGTERM"] as const) {
      await t.step(ending, async () => {
        const client = startScript("client.ts", ["--port", `${server.port}`], {
          env: { DISPLAY: x.display },
        });
        try {
          const id = await clientWindow(x, server.port, client);
          const ffplay = ffplayOf(client);
          // The picture, not a black window: the test pattern is ~130.
          await eventually(
            async () => await windowLuma(x, id) > 64,
            5000,
            "the test pattern in the window",
          );
          if (ending === "q") {
            await xdotool(x, "windowfocus", "--sync", id);
            await xdotool(x, "key", "q");
          } else {
            client.child.kill(ending);
          }
          assert.equal((await client.exited(5000)).code, 0);
          await eventually(
            () => !isAlive(ffplay),
            2000,
            `ffplay ${ffplay} to end with the client`,
          );
          assert.deepEqual(await x.windows("camwire"), []);
        } finally {
          await client.stop("SIGKILL");
        }
      });
    }
  } finally {
    await server.stop();
  }
});

Deno.test("e2e: client --reconnect keeps its window open on the last frame while the server is down, and goes on when it returns", async () => {
  await using x = await startXvfb();
  const port = freePort();
  let server = await startServerProcess([
    "--source",
    "test",
    "--port",
    `${port}`,
  ]);
  const client = startScript("client.ts", [
    "--port",
    `${port}`,
    "--reconnect",
  ], { env: { DISPLAY: x.display } });
  try {
    const id = await clientWindow(x, port, client);
    const ffplay = ffplayOf(client);
    await eventually(
      async () => await windowLuma(x, id) > 64,
      5000,
      "the test pattern in the window",
    );
    assert.equal(await server.stop(), 0);
    await client.waitForLine(/the server closed the stream .*; reconnecting/);
    await client.waitForLine(/connection refused .*; reconnecting/);
    await sleep(1500);
    // Still the same window, still showing the last frame.
    assert.deepEqual(await x.windows(`camwire tcp://127.0.0.1:${port}`), [id]);
    assert.ok(isAlive(ffplay), "ffplay ended while the server was down");
    const luma = await windowLuma(x, id);
    assert.ok(luma > 64, `the window went dark (luma ${luma})`);

    server = await startServerProcess([
      "--source",
      "test",
      "--port",
      `${port}`,
    ]);
    await client.waitForLine(/connected to tcp:\/\/127\.0\.0\.1:\d+$/, 10_000);
    await server.waitForLine(/viewer 127\.0\.0\.1:\d+ connected/);
    assert.deepEqual(await x.windows(`camwire tcp://127.0.0.1:${port}`), [id]);
    assert.equal(ffplayOf(client), ffplay);
    assert.equal(await client.stop("SIGINT"), 0);
  } finally {
    await client.stop("SIGKILL");
    await server.stop();
  }
});

Deno.test("e2e: client --stats prints fps, bit rate, drops and latency each second", async () => {
  const server = await startServerProcess(["--source", "test"]);
  try {
    const out = await runScript("client.ts", [
      "--port",
      `${server.port}`,
      "--output",
      "-",
      "--frames",
      "105",
      "--stats",
    ]);
    assert.equal(out.code, 0, out.stderr);
    const lines = out.stderr.trim().split("\n");
    // 3.5 s of frames: three lines. The first second includes starting
    // and connecting: its rate is not the stream's.
    assert.ok(lines.length >= 3, out.stderr);
    for (const [i, line] of lines.entries()) {
      const match = line.match(
        /^camwire: (\d+\.\d) fps, (\d+) kbit\/s, (\d+) dropped, latency p50 (\d+\.\d) ms p99 (\d+\.\d) ms$/,
      );
      assert.ok(match, `not a stats line: ${line}`);
      const [, fps, kbit, dropped, p50, p99] = match.map(Number);
      assert.equal(dropped, 0, line); // a file loses no frame
      // Capture stamp to arrival, on this machine: a few ms, never 0.
      assert.ok(p50! > 0 && p50! <= p99! && p99! < 1000, line);
      if (i === 0) continue;
      assert.ok(fps! >= 20 && fps! <= 40, line);
      assert.ok(kbit! > 500, line);
    }
  } finally {
    await server.stop();
  }
});

Deno.test("e2e: client --stats counts the frames a window that falls behind never got", async () => {
  // A stand-in for a window too slow for the stream: an "ffplay" that
  // never reads its stdin (the real ffplay under Xvfb keeps up with 30
  // fps of 320-px frames, so it drops nothing to count). Its pipe takes
  // some 64 KiB; every frame after that is dropped, newest-first.
  const dir = await Deno.makeTempDir({ prefix: "camwire-slow-ffplay-" });
  await Deno.writeTextFile(`${dir}/ffplay`, "#!/bin/sh\nexec sleep 60\n", {
    mode: 0o755,
  });
  const server = await startServerProcess(["--source", "test"]);
  try {
    const out = await runScript(
      "client.ts",
      ["--port", `${server.port}`, "--frames", "100", "--stats"],
      { PATH: `${dir}:${Deno.env.get("PATH")}`, DISPLAY: ":4711" },
    );
    assert.equal(out.code, 0, out.stderr);
    const dropped = [...out.stderr.matchAll(/, (\d+) dropped, /g)].map((m) =>
      Number(m[1])
    );
    assert.ok(dropped.length >= 3, out.stderr);
    const total = dropped.reduce((a, b) => a + b, 0);
    // 100 frames, of which the pipe took at most ~10.
    assert.ok(total >= 60, `${total} dropped:\n${out.stderr}`);
    assert.ok(dropped.slice(1).every((n) => n >= 20), out.stderr);
  } finally {
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("client: a real ffplay that cannot open its window (a display that does not answer) is one line, exit 1", async () => {
  const server = await startServerProcess(["--source", "test"]);
  try {
    const out = await runScript(
      "client.ts",
      ["--port", `${server.port}`],
      { DISPLAY: ":4711", WAYLAND_DISPLAY: "" }, // no X server there
      { timeoutMs: 5000 },
    );
    assert.equal(out.code, 1);
    assert.equal(
      out.stderr.trim(),
      "camwire: ffplay failed (exit code 1): is there a display? Use --output FILE to save the stream instead",
    );
  } finally {
    await server.stop();
  }
});

Deno.test("e2e: client --reconnect waits 0.5, 1, 2 and 4 s between attempts", async () => {
  // A server of the test's own that closes every connection at once:
  // each is a failed attempt, and no frame resets the backoff.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted: number[] = [];
  const accepting = (async () => {
    for await (const conn of listener) {
      accepted.push(performance.now());
      conn.close();
    }
  })();
  const client = startScript("client.ts", [
    ..."--reconnect --output - --port".split(" "),
    `${listener.addr.port}`,
  ]);
  try {
    await eventually(
      () => accepted.length >= 5,
      15_000,
      `5 connection attempts (got ${accepted.length})`,
    );
    const gaps = accepted.slice(1, 5).map((at, i) =>
      (at - accepted[i]!) / 1000
    );
    const shown = gaps.map((g) => g.toFixed(2)).join(", ");
    for (const [i, expected] of [0.5, 1, 2, 4].entries()) {
      // Never early; late by the reconnect itself and a loaded machine.
      assert.ok(
        gaps[i]! >= expected * 0.9 && gaps[i]! <= expected + 0.5,
        `gaps between attempts ${shown} s, not 0.5, 1, 2, 4 s`,
      );
    }
    // One line for the one state, however many attempts.
    assert.equal(
      client.lines.filter((l) => /reconnecting/.test(l)).length,
      1,
      client.lines.join("\n"),
    );
  } finally {
    await client.stop();
    listener.close();
    await within(
      accepting.catch(() => {}),
      5000,
      "the test's listener to stop",
    );
  }
});

Deno.test("client: the frames that came before a broken one in the same read are kept, then one clear error, exit 1", async () => {
  const out = await clientReading(
    concatBytes([
      encodeFrame(JPEG),
      encodeFrame(JPEG),
      encodeFrame(JPEG),
      encodeFrame(new Uint8Array([1, 2, 3, 4])),
    ]),
  );
  assert.equal(out.code, 1);
  assert.deepEqual(out.stdout, concatBytes([JPEG, JPEG, JPEG]));
  assert.match(
    out.stderr.trim(),
    /^camwire: Broken stream from tcp:\/\/127\.0\.0\.1:\d+: .*SOI/,
  );
});

Deno.test("client: a server that drips a 16 MiB frame a byte per packet leaves the client under 64 MB of memory", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const client = startScript("client.ts", [
    "--port",
    String(listener.addr.port),
    "--output",
    "/dev/null",
    "--timeout",
    "60",
  ]);
  try {
    const conn = await within(listener.accept(), 10_000, "the client");
    try {
      conn.setNoDelay(true);
      await conn.write(encodeHeader(16 * 1024 * 1024));
      await conn.write(new Uint8Array([0xff, 0xd8]));
      const byte = new Uint8Array([0x42]);
      const started = performance.now();
      let sent = 0;
      // Measured: 300,000 such bytes took the old client to 400 MB (each
      // one-byte read kept its 64 KiB chunk alive), this one to ~57 MB,
      // of which ~43 MB is the idle client.
      while (sent < 300_000 && performance.now() - started < 20_000) {
        await conn.write(byte);
        if (++sent % 1000 === 0) await sleep(0);
      }
      assert.ok(sent >= 100_000, `only ${sent} bytes dripped in 20 s`);
      await sleep(300);
      const status = await Deno.readTextFile(
        `/proc/${client.child.pid}/status`,
      );
      const peak = Number(status.match(/VmHWM:\s+(\d+) kB/)![1]) * 1024;
      assert.ok(
        peak < 64 * 1024 * 1024,
        `the client's RSS peaked at ${(peak / 1e6).toFixed(1)} MB`,
      );
    } finally {
      conn.close();
    }
  } finally {
    listener.close();
    await client.stop();
  }
});
