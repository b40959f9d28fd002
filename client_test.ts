// Copyright 2026 the camwire authors. MIT license.
import assert from "node:assert/strict";
import { concatBytes, encodeFrame, encodeHeader } from "./framing.ts";
import { parseClientFlags } from "./client.ts";
import { UsageError } from "./common/cli.ts";
import {
  childPids,
  clientAgainst,
  eventually,
  fakeFfplay,
  frameSizes,
  isAlive,
  type Output,
  runScript,
  startServerProcess,
} from "./testing/util.ts";

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
      /^Option '--frames' argument is ambiguous\. .* use '--frames=-XYZ'\.$/,
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
  const out = await runScript(
    "client.ts",
    ["--port", `${listener.addr.port}`],
    { PATH: "" },
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
    const probe = await new Deno.Command("ffprobe", {
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
    }).output();
    assert.equal(new TextDecoder().decode(probe.stdout).trim(), "mjpeg,320,31");
  } finally {
    await Deno.remove(path);
    await server.stop();
  }
});

Deno.test("e2e: a Python client (struct 'Q' + cv2.imdecode) reads the stream", async () => {
  const server = await startServerProcess(["--source", "test"]);
  try {
    const { code, stdout, stderr } = await new Deno.Command(
      "/usr/bin/python3",
      {
        args: ["-c", PYTHON_CLIENT, String(server.port)],
      },
    ).output();
    assert.equal(code, 0, new TextDecoder().decode(stderr));
    assert.equal(
      new TextDecoder().decode(stdout).trim(),
      "30 frames of 320x240",
    );
  } finally {
    await server.stop();
  }
});

/** The README's Python client, reading 30 frames without a window. */
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

Deno.test("e2e: the client's ffplay window gets low-latency flags, a title and the JPEGs; closing it exits 0", async () => {
  const ffplay = await fakeFfplay(30_000);
  const server = await startServerProcess(["--source", "test"]);
  try {
    const out = await runScript("client.ts", ["--port", `${server.port}`], {
      PATH: `${ffplay.dir}:${Deno.env.get("PATH")}`,
    });
    assert.equal(out.code, 0, out.stderr);
    const args = await ffplay.args();
    assert.equal(
      args[args.indexOf("-window_title") + 1],
      `camwire tcp://127.0.0.1:${server.port}`,
    );
    for (
      const flag of [
        "-framedrop",
        "nobuffer",
        "low_delay",
        "-use_wallclock_as_timestamps",
      ]
    ) {
      assert.ok(args.includes(flag), `${flag} missing`);
    }
    const shown = await ffplay.received();
    assert.equal(shown.length, 30_000);
    assert.ok(frameSizes(shown).length >= 2);
  } finally {
    await server.stop();
    await ffplay.remove();
  }
});

Deno.test("e2e: SIGTERM and SIGINT end the client with exit 0 and no ffplay left", async (t) => {
  const server = await startServerProcess(["--source", "test"]);
  try {
    for (const signal of ["SIGTERM", "SIGINT"] as const) {
      await t.step(signal, async () => {
        const ffplay = await fakeFfplay(0);
        const client = new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "-A",
            "--quiet",
            new URL("client.ts", import.meta.url).pathname,
            "--port",
            `${server.port}`,
          ],
          env: { PATH: `${ffplay.dir}:${Deno.env.get("PATH")}` },
          stdout: "null",
          stderr: "null",
        }).spawn();
        try {
          assert.ok(
            await eventually(async () =>
              (await ffplay.received().catch(() => new Uint8Array())).length > 0
            ),
          );
          const [player] = childPids(client.pid, "cat");
          assert.ok(player !== undefined);
          client.kill(signal);
          assert.equal((await client.status).code, 0);
          assert.ok(
            await eventually(() => !isAlive(player)),
            "ffplay outlived the client",
          );
        } finally {
          try {
            client.kill("SIGKILL");
          } catch {
            // Exited already.
          }
          await client.status;
          await ffplay.remove();
        }
      });
    }
  } finally {
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
      "75",
      "--stats",
    ]);
    assert.equal(out.code, 0, out.stderr);
    const lines = out.stderr.trim().split("\n");
    assert.ok(lines.length >= 2, out.stderr);
    for (const line of lines) {
      const match = line.match(
        /^camwire: (\d+\.\d) fps, (\d+) kbit\/s, (\d+) dropped, latency p50 (\d+\.\d) ms p99 (\d+\.\d) ms$/,
      );
      assert.ok(match, `not a stats line: ${line}`);
      const [, fps, kbit, dropped, p50, p99] = match.map(Number);
      assert.ok(fps! >= 20 && fps! <= 40, line);
      assert.ok(kbit! > 500, line);
      assert.equal(dropped, 0); // a file loses no frame
      assert.ok(p50! >= 0 && p50! <= p99! && p99! < 1000, line);
    }
  } finally {
    await server.stop();
  }
});

Deno.test("client: an ffplay that cannot run (no display) is an error, exit 1", async () => {
  const dir = await Deno.makeTempDir({ prefix: "camwire-ffplay-" });
  await Deno.writeTextFile(`${dir}/ffplay`, "#!/bin/sh\nexit 1\n", {
    mode: 0o755,
  });
  const server = await startServerProcess(["--source", "test"]);
  try {
    const out = await runScript("client.ts", ["--port", `${server.port}`], {
      PATH: `${dir}:${Deno.env.get("PATH")}`,
    });
    assert.equal(out.code, 1);
    assert.equal(
      out.stderr.trim(),
      "camwire: ffplay failed (exit code 1): is there a display? Use --output FILE to save the stream instead",
    );
  } finally {
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
