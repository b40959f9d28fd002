// Copyright 2026 the camwire authors. MIT license.
import assert from "node:assert/strict";
import { concatBytes, Deframer } from "../framing.ts";
import { ffmpegJpegs } from "../testing/fuzz_inputs.ts";
import { jpegSize, readStamp } from "../common/jpeg.ts";
import { reachableAddresses, startServer } from "../server.ts";
import { startXvfb } from "../testing/xvfb.ts";
import {
  childPids,
  eventually,
  isAlive,
  RawViewer,
  receiveFrames,
  runScript,
  sleep,
  spawnStdinServer,
  startServerProcess,
  within,
} from "../testing/util.ts";

/**
 * The one error line of a server that failed to start: besides it, only
 * the progress line `camwire: opening SOURCE` may come first.
 */
function errorLine(stderr: string): string {
  const lines = stderr.trim().split("\n").filter((l) =>
    !/^camwire: opening [^;]+$/.test(l)
  );
  assert.equal(lines.length, 1, `not one error line:\n${stderr}`);
  return lines[0]!;
}

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
      const n = await within(conn.read(buf), 5000, "10 frames");
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
      // Part of a frame, then gone.
      await within(conn.read(new Uint8Array(100)), 5000, "a first byte");
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
      await eventually(
        () => !isAlive(ffmpeg),
        2000,
        `ffmpeg ${ffmpeg} to end with the server`,
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
      errorLine(out.stderr),
      /^camwire: ffmpeg not found: install it \(.*apt install ffmpeg.*\) or put it on PATH$/,
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
    assert.equal(
      errorLine(out.stderr),
      `camwire: Cannot listen on 127.0.0.1:${listener.addr.port}: the port is in use (stop the other program or pick another --port)`,
    );
  });
  await t.step(
    "camera that is not there says so, and which cameras there are",
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
        errorLine(out.stderr),
        /^camwire: no camera at \/dev\/no-such-camera \(found: .+\)$/,
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
    assert.match(
      errorLine(out.stderr),
      /^camwire: Cannot open file \/no\/such\.mp4: .*No such file or directory$/,
    );
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
      assert.equal(
        errorLine(out.stderr),
        `camwire: Cannot listen on 127.0.0.1:${listener.addr.port}: the port is in use (stop the other program or pick another --http-port)`,
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
    (await within(held, 1000, "ffmpeg to connect to the silent source"))
      .close();
    assert.equal(out.code, 1);
    assert.match(
      errorLine(out.stderr),
      /^camwire: Cannot open stream tcp:\/\/127\.0\.0\.1:\d+: no frame within 10\.0 s$/,
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
  const server = spawnStdinServer([]);
  const piping = ffmpeg.stdout.pipeTo(server.stdin).catch(() => {});
  const reader = server.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const readUntil = async (pattern: RegExp) => {
    // One deadline for the pattern, not one per line: a server that
    // restarts its capture for good logs a line every second or so.
    const deadline = Date.now() + 10_000;
    while (!pattern.test(text)) {
      const { value, done } = await within(
        reader.read(),
        Math.max(deadline - Date.now(), 0),
        `${pattern} from the server; it printed:\n${text}`,
      );
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
    assert.equal(
      (await within(server.status, 5000, "the server to exit")).code,
      0,
    );
  } finally {
    try {
      server.kill("SIGKILL");
    } catch {
      // Exited by itself, as it should.
    }
    await server.status;
    await reader.cancel();
    try {
      ffmpeg.kill("SIGKILL");
    } catch {
      // Ended with its 3 s.
    }
    await ffmpeg.status;
    await piping;
  }
});

Deno.test("e2e: --source - of two JPEGs with --http-port and --pickle-port ends the server, exit 0 (the source ending while their modules loaded left it running for good)", async () => {
  const jpegs = await ffmpegJpegs(2);
  const server = spawnStdinServer(["--http-port", "0", "--pickle-port", "0"]);
  const writer = server.stdin.getWriter();
  await writer.write(concatBytes(jpegs));
  await writer.close();
  try {
    const { code, stderr } = await within(
      server.output(),
      15_000,
      "the server to exit when stdin ended",
    );
    assert.equal(code, 0, new TextDecoder().decode(stderr));
  } catch (error) {
    server.kill("SIGKILL");
    await server.status;
    throw error;
  }
});

Deno.test("e2e: --preview shows the frames in a real ffplay window under Xvfb; closing it keeps viewers streaming", async () => {
  await using x = await startXvfb();
  const server = await startServerProcess(["--source", "test", "--preview"], {
    DISPLAY: x.display,
  });
  try {
    let ids: string[] = [];
    await eventually(
      async () => (ids = await x.windows("^camwire preview$")).length === 1,
      10_000,
      'a window "camwire preview"',
    );
    const [ffplay] = childPids(server.child.pid, "ffplay");
    assert.ok(ffplay !== undefined, "the server runs no ffplay");
    // The stream's picture at the stream's size, not a black window.
    await eventually(
      async () => {
        const [luma, size] = await screenshot(x.display, ids[0]!);
        return luma > 64 && size === "320x240";
      },
      5000,
      "the 320x240 test pattern in the preview",
    );
    await receiveFrames(server.port, 30);

    Deno.kill(ffplay, "SIGTERM"); // as closing the window does
    await server.waitForLine(/preview closed; viewers keep streaming/, 5000);
    await receiveFrames(server.port, 30);
    assert.equal(childPids(server.child.pid, "ffmpeg").length, 1);
    assert.ok(isAlive(server.child.pid));
  } finally {
    await server.stop();
  }
});

/** A window's mean brightness (0–255) and size (`WxH`), by ImageMagick. */
async function screenshot(
  display: string,
  id: string,
): Promise<[number, string]> {
  const { success, stdout, stderr } = await within(
    new Deno.Command("import", {
      args: [
        "-display",
        display,
        "-window",
        id,
        ..."-colorspace Gray -format %[fx:mean*255]_%wx%h info:".split(" "),
      ],
    }).output(),
    5000,
    "a screenshot of the window",
  );
  assert.ok(success, new TextDecoder().decode(stderr));
  const [luma, size] = new TextDecoder().decode(stdout).split("_");
  return [Number(luma), size!];
}

Deno.test("e2e: --width, --fps and --quality shape the stream: 160-px frames, 10 fps, smaller at 31 than at 2", async () => {
  const [coarse, fine] = await Promise.all([
    startServerProcess(
      "--source test --width 160 --fps 10 --quality 31".split(" "),
    ),
    startServerProcess("--source test --width 160 --quality 2".split(" ")),
  ]);
  const viewers = [
    await RawViewer.connect(coarse.port),
    await RawViewer.connect(fine.port),
  ];
  try {
    await sleep(4000);
    const [atCoarse, atFine] = viewers.map((viewer) => {
      // Past the first second; the rate from the capture stamps.
      const frames = viewer.frames.slice(
        -Math.floor(viewer.frames.length * 0.7),
      );
      const first = readStamp(frames[0]!.jpeg)!;
      const last = readStamp(frames.at(-1)!.jpeg)!;
      const bytes = frames.reduce((sum, f) => sum + f.jpeg.length, 0);
      for (const frame of frames) {
        assert.deepEqual(jpegSize(frame.jpeg), { width: 160, height: 120 });
      }
      return {
        fps: (frames.length - 1) / ((last - first) / 1000),
        size: bytes / frames.length,
      };
    });
    assert.ok(
      atCoarse!.fps > 8.5 && atCoarse!.fps < 11.5,
      `--fps 10 gave ${atCoarse!.fps} fps`,
    );
    assert.ok(
      atFine!.fps > 25 && atFine!.fps < 35,
      `the default gave ${atFine!.fps} fps`,
    );
    assert.ok(
      atCoarse!.size < atFine!.size / 2,
      `--quality 31: ${atCoarse!.size} B a frame, --quality 2: ${
        atFine!.size
      } B`,
    );
  } finally {
    for (const viewer of viewers) await viewer.close();
    await coarse.stop();
    await fine.stop();
  }
});

Deno.test("e2e: --source auto with no camera streams the test pattern and says so", async () => {
  // No camera at the default device, whatever the machine has in /dev: an
  // empty folder stands for /dev (CAMWIRE_DEV, for tests only). A camera
  // named with --device is another matter: see server/camera.
  const dev = await Deno.makeTempDir({ prefix: "camwire-dev-" });
  const server = await startServerProcess(["--source", "auto"], {
    CAMWIRE_DEV: dev,
  });
  try {
    await server.waitForLine(
      new RegExp(
        `^camwire: no camera at ${dev}/video0; streaming the test pattern instead$`,
      ),
    );
    await server.waitForLine(/^camwire: source: test pattern/);
    const sizes = await receiveFrames(server.port, 10);
    assert.deepEqual(sizes[0], { width: 320, height: 240 });
  } finally {
    await server.stop();
    await Deno.remove(dev, { recursive: true });
  }
});

Deno.test("e2e: a file source loops at its native rate: a 2 s, 15 fps file gives 15 fps well past its end", async () => {
  const dir = await Deno.makeTempDir({ prefix: "camwire-file-" });
  const source = `${dir}/15fps.mp4`;
  const { success } = await within(
    new Deno.Command("ffmpeg", {
      args: [
        ..."-loglevel error -f lavfi -i testsrc2=size=640x480:rate=15 -t 2"
          .split(" "),
        ..."-c:v mjpeg -q:v 5 -y".split(" "),
        source,
      ],
      stdin: "null",
    }).output(),
    20_000,
    "ffmpeg to make the test file",
  );
  assert.ok(success, "ffmpeg could not make the test file");
  const server = await startServerProcess(["--source", source]);
  const viewer = await RawViewer.connect(server.port);
  try {
    await eventually(() => viewer.frames.length > 0, 5000, "a first frame");
    await sleep(5000);
    const stamps = viewer.frames.map((f) => readStamp(f.jpeg)!);
    const first = stamps[0]!;
    // From 1 s to 5 s: the file played twice over, at its rate.
    const late = stamps.filter((t) => t > first + 1000 && t <= first + 5000);
    const fps = late.length / 4;
    assert.ok(fps > 12 && fps < 18, `${fps} fps from a 15 fps file`);
    assert.ok(stamps.at(-1)! - first > 4500, "the frames stopped");
    // A loop, not a restart of a capture that ended.
    assert.deepEqual(server.lines.filter((l) => /capture lost/.test(l)), []);
  } finally {
    await viewer.close();
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("e2e: bound to every interface without --token, the server says that anyone can watch; on 127.0.0.1 or with a token it does not", async () => {
  const servers = await Promise.all([
    startServerProcess("--source test --host 0.0.0.0".split(" ")),
    startServerProcess(
      "--source test --host 0.0.0.0 --token s3cret".split(" "),
    ),
    startServerProcess("--source test".split(" ")),
  ]);
  const codes = [];
  for (const server of servers) codes.push(await server.stop());
  assert.deepEqual(codes, [0, 0, 0]);
  const warnings = servers.map((server) =>
    server.lines.filter((l) => /anyone/.test(l))
  );
  assert.deepEqual(warnings, [
    ["camwire: no --token: anyone who can reach this port can watch"],
    [],
    [],
  ]);
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
