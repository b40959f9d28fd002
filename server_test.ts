// Copyright 2026 the camwire authors. MIT license.
import assert from "node:assert/strict";
import { Deframer, readStamp } from "./framing.ts";
import { UsageError } from "./common/cli.ts";
import { parseServerFlags, reachableAddresses, startServer } from "./server.ts";
import {
  childPids,
  eventually,
  fakeFfplay,
  frameSizes,
  isAlive,
  receiveFrames,
  runScript,
  startServerProcess,
} from "./testing/util.ts";

Deno.test("parseServerFlags() applies defaults and rejects bad values", async (t) => {
  await t.step("defaults", () => {
    assert.deepEqual(parseServerFlags([]), {
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
    });
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

Deno.test("reachableAddresses() lists non-internal IPv4 and loopback for 0.0.0.0", () => {
  const interfaces = {
    lo: [{ address: "127.0.0.1", family: "IPv4", internal: true }],
    eth0: [
      { address: "192.168.56.1", family: "IPv4", internal: false },
      { address: "fe80::1", family: "IPv6", internal: false },
    ],
  } as unknown as Parameters<typeof reachableAddresses>[1];
  assert.deepEqual(reachableAddresses("0.0.0.0", interfaces), [
    "192.168.56.1",
    "127.0.0.1",
  ]);
  assert.deepEqual(reachableAddresses("10.0.0.5", interfaces), ["10.0.0.5"]);
});

Deno.test("e2e: two viewers each receive 320-px JPEGs from one ffmpeg", async () => {
  const server = await startServerProcess(["--source", "test"]);
  try {
    const both = await Promise.all([
      receiveFrames(server.port, 45),
      receiveFrames(server.port, 45),
    ]);
    for (const sizes of both) {
      for (const size of sizes) {
        assert.deepEqual(size, { width: 320, height: 240 });
      }
    }
    assert.equal(childPids(server.child.pid, "ffmpeg").length, 1);
    await server.waitForLine(
      /viewer 127\.0\.0\.1:\d+ connected \(2 watching\)/,
    );
    await server.waitForLine(/viewer 127\.0\.0\.1:\d+ left: .*\(0 watching\)/);
  } finally {
    await server.stop();
  }
});

Deno.test("e2e: a viewer's stream is the wire format with capture stamps", async () => {
  const server = await startServerProcess(["--source", "test"]);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  try {
    const deframer = new Deframer();
    const frames: Uint8Array[] = [];
    const buf = new Uint8Array(65536);
    while (frames.length < 10) {
      const n = await conn.read(buf);
      assert.notEqual(n, null);
      frames.push(...deframer.push(buf.slice(0, n!)));
    }
    const now = Date.now();
    for (const frame of frames) {
      const stamp = readStamp(frame);
      assert.ok(stamp !== undefined, "frame without a capture stamp");
      // Both clocks are this machine's wall clock, read in whole ms here.
      assert.ok(
        stamp <= now + 1 && now - stamp < 5000,
        `stamp ${stamp}, now ${now}`,
      );
    }
  } finally {
    conn.close();
    await server.stop();
  }
});

Deno.test("e2e: a viewer vanishing mid-frame does not disturb the others", async () => {
  const server = await startServerProcess(["--source", "test"]);
  try {
    for (let i = 0; i < 5; i++) {
      const conn = await Deno.connect({
        hostname: "127.0.0.1",
        port: server.port,
      });
      await conn.read(new Uint8Array(100)); // part of a frame, then gone
      conn.close();
    }
    await receiveFrames(server.port, 30);
    assert.ok(isAlive(server.child.pid));
  } finally {
    await server.stop();
  }
});

Deno.test("e2e: SIGTERM and SIGINT stop the server with exit 0 and no ffmpeg left", async (t) => {
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    await t.step(signal, async () => {
      const server = await startServerProcess(["--source", "test"]);
      const conn = await Deno.connect({
        hostname: "127.0.0.1",
        port: server.port,
      });
      const [ffmpeg] = childPids(server.child.pid, "ffmpeg");
      assert.ok(ffmpeg !== undefined && isAlive(ffmpeg));
      const code = await server.stop(signal);
      conn.close();
      assert.equal(code, 0);
      assert.ok(
        await eventually(() => !isAlive(ffmpeg)),
        `ffmpeg ${ffmpeg} outlived the server`,
      );
    });
  }
});

Deno.test("e2e: server errors are one clear line and a non-zero exit", async (t) => {
  await t.step("ffmpeg missing", async () => {
    const out = await runScript("server.ts", [
      "--source",
      "test",
      "--port",
      "0",
    ], { PATH: "" });
    assert.equal(out.code, 1);
    assert.match(
      out.stderr,
      /^camwire: ffmpeg not found: install it \(.*apt install ffmpeg/m,
    );
  });
  await t.step("port in use", async () => {
    using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const out = await runScript("server.ts", [
      "--source",
      "test",
      "--host",
      "127.0.0.1",
      "--port",
      `${listener.addr.port}`,
    ]);
    assert.equal(out.code, 1);
    assert.match(
      out.stderr,
      /^camwire: Cannot listen on 127\.0\.0\.1:\d+: the port is in use/m,
    );
  });
  await t.step(
    "camera that cannot be opened shows ffmpeg's reason",
    async () => {
      const out = await runScript("server.ts", [
        "--source",
        "camera",
        "--device",
        "/dev/no-such-camera",
        "--port",
        "0",
      ]);
      assert.equal(out.code, 1);
      assert.match(
        out.stderr,
        /^camwire: Cannot open camera \/dev\/no-such-camera: .*No such file or directory/m,
      );
    },
  );
  await t.step("file that cannot be opened", async () => {
    const out = await runScript("server.ts", [
      "--source",
      "/no/such.mp4",
      "--port",
      "0",
    ]);
    assert.equal(out.code, 1);
    assert.match(out.stderr, /^camwire: Cannot open file \/no\/such\.mp4: /m);
  });
  await t.step(
    "HTTP port in use names --http-port",
    async () => {
      using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const out = await runScript("server.ts", [
        ..."--source test --host 127.0.0.1 --port 0 --http-port".split(" "),
        `${listener.addr.port}`,
      ]);
      assert.equal(out.code, 1);
      assert.match(
        out.stderr,
        /the port is in use \(stop the other program or pick another --http-port\)$/m,
      );
    },
  );
  await t.step("a source that opens but sends no frame", async () => {
    // A TCP "stream" that accepts and stays silent: ffmpeg waits for data.
    using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const held = listener.accept();
    const out = await runScript("server.ts", [
      "--source",
      `tcp://127.0.0.1:${listener.addr.port}`,
      "--port",
      "0",
    ]);
    (await held).close();
    assert.equal(out.code, 1);
    assert.match(
      out.stderr,
      /^camwire: Cannot open stream tcp:\/\/127\.0\.0\.1:\d+: no frame within 10\.0 s$/m,
    );
  });
  await t.step("bad flag value", async () => {
    const out = await runScript("server.ts", ["--quality", "99"]);
    assert.equal(out.code, 2);
    assert.equal(
      out.stderr.trim(),
      'camwire: Invalid value for --quality: "99" is not an integer from 2 to 31 (see --help)',
    );
  });
  await t.step("unknown flag", async () => {
    const out = await runScript("server.ts", ["--prot", "1"]);
    assert.equal(out.code, 2);
    assert.match(out.stderr, /Unknown option '--prot'/);
  });
});

Deno.test("e2e: server --help lists every flag with its default", async () => {
  const out = await runScript("server.ts", ["--help"]);
  assert.equal(out.code, 0);
  const help = new TextDecoder().decode(out.stdout);
  for (
    const flag of [
      "--host",
      "--port",
      "--source",
      "--device",
      "--width",
      "--fps",
      "--quality",
      "--preview",
    ]
  ) {
    assert.ok(help.includes(flag), `${flag} missing from --help`);
  }
  for (const value of ["0.0.0.0", "9999", "auto", "320", "30", "5"]) {
    assert.ok(help.includes(`default ${value}`), `default ${value} missing`);
  }
});

Deno.test("e2e: --source - streams MJPEG from stdin and exits 0 when it ends", async () => {
  // A live producer: -re paces it at 30 fps for 3 s, then it ends.
  const ffmpeg = new Deno.Command("ffmpeg", {
    args:
      "-loglevel error -re -f lavfi -i testsrc2=size=640x360:rate=30 -t 3 -q:v 5 -f mjpeg pipe:1"
        .split(" "),
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const server = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--quiet",
      new URL("server.ts", import.meta.url).pathname,
      "--source",
      "-",
      "--host",
      "127.0.0.1",
      "--port",
      "0",
    ],
    stdin: "piped",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const piping = ffmpeg.stdout.pipeTo(server.stdin).catch(() => {});
  const reader = server.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const readUntil = async (pattern: RegExp) => {
    while (!pattern.test(text)) {
      const { value, done } = await reader.read();
      assert.ok(!done, `no ${pattern} in:\n${text}`);
      text += value;
    }
    return text.match(pattern)!;
  };
  try {
    const [, port] = await readUntil(/127\.0\.0\.1:(\d+)/);
    const sizes = await receiveFrames(port!, 20);
    assert.deepEqual(sizes[0], { width: 320, height: 180 });
    await readUntil(/the source ended/);
    assert.equal((await server.status).code, 0);
  } finally {
    try {
      server.kill("SIGTERM");
    } catch {
      // Exited by itself, as it should.
    }
    await server.status;
    await reader.cancel();
    await ffmpeg.status;
    await piping;
  }
});

Deno.test("e2e: --preview feeds ffplay the same frames; closing it keeps viewers streaming", async () => {
  const ffplay = await fakeFfplay(40_000);
  const server = await startServerProcess(["--source", "test", "--preview"], {
    PATH: `${ffplay.dir}:${Deno.env.get("PATH")}`,
  });
  try {
    await server.waitForLine(/preview closed; viewers keep streaming/);
    const args = await ffplay.args();
    assert.equal(args[args.indexOf("-window_title") + 1], "camwire preview");
    const shown = await ffplay.received();
    assert.equal(shown.length, 40_000);
    assert.deepEqual([...shown.subarray(0, 2)], [0xff, 0xd8]); // bare JPEGs
    const sizes = frameSizes(shown);
    assert.ok(sizes.length >= 3, `${sizes.length} frames`);
    for (const size of sizes) {
      assert.deepEqual(size, { width: 320, height: 240 });
    }
    await receiveFrames(server.port, 30);
    assert.equal(childPids(server.child.pid, "ffmpeg").length, 1);
  } finally {
    await server.stop();
    await ffplay.remove();
  }
});

Deno.test("startServer() that cannot open its source leaves nothing running", async () => {
  // The sanitizers fail this test if a restart timer, a listener or a child
  // process outlives the failed start.
  await assert.rejects(
    startServer({
      source: "/no/such/camwire-source.mp4",
      host: "127.0.0.1",
      port: 0,
      directSend: false,
      sendQueue: 0,
      log: () => {},
    }),
    /Cannot open file \/no\/such\/camwire-source\.mp4/,
  );
  await new Promise((resolve) => setTimeout(resolve, 300)); // past the grace
});
