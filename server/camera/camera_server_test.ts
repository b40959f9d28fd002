// Copyright 2026 the camwire authors. MIT license.
// The server command with a camera, end to end: the real server.ts against
// the emulated camera (CAMWIRE_LIBC, for tests only: no V4L2 exists in
// this kernel), ffmpeg reading the same emulated camera through
// LD_PRELOAD for --capture ffmpeg, --list-devices, a busy camera, and the
// Raspberry Pi recipe (MJPEG on stdin, as rpicam-vid writes it).

import assert from "node:assert/strict";
import { JpegSplitter } from "../../framing.ts";
import { readStamp } from "../../common/jpeg.ts";
import { findProgram } from "../../common/child.ts";
import {
  childPids,
  receiveFrames,
  runScript,
  spawnStdinServer,
  startServerProcess,
} from "../../testing/util.ts";
import {
  EBUSY,
  fakeCameraHoldings,
  FakeCameras,
  fromRecords,
} from "../../testing/fake_camera.ts";

const MJPEG_320 = { fourcc: "MJPG", width: 320, height: 240, fps: 30 } as const;
const MJPEG_640 = { fourcc: "MJPG", width: 640, height: 480, fps: 30 } as const;

Deno.test("e2e: the camera's 320-wide MJPEG is passed through with no ffmpeg, stamped, holding one fd and four buffer mappings", async () => {
  await using cameras = await FakeCameras.create();
  const device = await cameras.device({
    card: "HD Webcam C270",
    modes: [MJPEG_640, MJPEG_320],
  });
  const server = await startServerProcess(
    ["--device", device],
    { CAMWIRE_LIBC: cameras.library },
  );
  try {
    await server.waitForLine(
      new RegExp(
        `camera ${device} "HD Webcam C270": MJPEG 320x240 at 30 fps, passed through`,
      ),
    );
    assert.deepEqual(childPids(server.child.pid, "ffmpeg"), []);
    assert.deepEqual(fakeCameraHoldings(server.child.pid), {
      fds: 1,
      mappings: 4,
    });
    const sizes = await receiveFrames(server.port, 10);
    assert.deepEqual(sizes[9], { width: 320, height: 240 });
    const out = await runScript("client.ts", [
      ...["--port", `${server.port}`, "--output", "-", "--frames", "3"],
    ]);
    assert.equal(out.code, 0, out.stderr);
    const jpegs = new JpegSplitter().push(out.stdout);
    assert.equal(jpegs.length, 3);
    assert.ok(jpegs.every((j) => readStamp(j) !== undefined), "stamped");
  } finally {
    assert.equal(await server.stop(), 0);
  }
});

Deno.test("e2e: the camera is opened once to be told apart and planned, then once to stream (a Pi's sensor powers up at each open)", async () => {
  await using cameras = await FakeCameras.create();
  const device = await cameras.device({ modes: [MJPEG_320], trace: true });
  const server = await startServerProcess(
    ["--device", device],
    { CAMWIRE_LIBC: cameras.library },
  );
  try {
    await receiveFrames(server.port, 3);
    const opens = server.lines.filter((l) =>
      l.startsWith(`fake camera: open ${device} =`)
    );
    assert.equal(opens.length, 2, server.lines.join("\n"));
  } finally {
    assert.equal(await server.stop(), 0);
  }
});

Deno.test("e2e: --capture ffmpeg reads the camera in the chosen mode (-input_format, -video_size)", async () => {
  await using cameras = await FakeCameras.create();
  const device = await cameras.device({ modes: [MJPEG_640, MJPEG_320] });
  // ffmpeg opens the camera itself: give it the emulated camera too.
  const bin = `${cameras.dir}/bin`;
  await Deno.mkdir(bin);
  const realFfmpeg = findProgram(["ffmpeg"]);
  assert.ok(realFfmpeg !== undefined, "no ffmpeg on PATH");
  await Deno.writeTextFile(
    `${bin}/ffmpeg`,
    `#!/bin/sh\nLD_PRELOAD=${cameras.library} exec ${realFfmpeg} "$@"\n`,
    { mode: 0o755 },
  );
  const server = await startServerProcess(
    ["--device", device, "--capture", "ffmpeg"],
    {
      CAMWIRE_LIBC: cameras.library,
      PATH: `${bin}:${Deno.env.get("PATH")}`,
    },
  );
  try {
    await server.waitForLine(
      /MJPEG 320x240 at 30 fps, read and re-encoded by ffmpeg/,
    );
    const [ffmpeg] = childPids(server.child.pid, "ffmpeg");
    assert.ok(ffmpeg !== undefined, "ffmpeg captures");
    const cmdline = (await Deno.readTextFile(`/proc/${ffmpeg}/cmdline`))
      .split("\0").join(" ");
    assert.match(
      cmdline,
      /-f v4l2 -input_format mjpeg -video_size 320x240 -framerate 30 -i /,
    );
    const sizes = await receiveFrames(server.port, 10);
    assert.deepEqual(sizes[9], { width: 320, height: 240 });
  } finally {
    assert.equal(await server.stop(), 0);
  }
});

Deno.test("e2e: --list-devices names the camera, its formats, sizes and rates", async () => {
  await using cameras = await FakeCameras.create();
  const device = await cameras.device({
    card: "HD Webcam C270",
    modes: [MJPEG_320, MJPEG_640, { ...MJPEG_640, fourcc: "YUYV" }],
  });
  const out = await runScript(
    "server.ts",
    ["--list-devices", "--device", device],
    { CAMWIRE_LIBC: cameras.library },
  );
  assert.equal(out.code, 0, out.stderr);
  assert.equal(
    new TextDecoder().decode(out.stdout),
    `${device} "HD Webcam C270" (fakecam, platform:fakecam)\n` +
      "  MJPEG 320x240 (30, 15 fps), 640x480 (30, 15 fps)\n" +
      "  YUYV 640x480 (30, 15 fps)\n",
  );
});

Deno.test("e2e: a busy camera is one line and exit 1", async () => {
  await using cameras = await FakeCameras.create();
  const device = await cameras.device({
    modes: [MJPEG_320],
    openErrno: EBUSY,
  });
  const out = await runScript(
    "server.ts",
    ["--source", "camera", "--device", device, "--port", "0"],
    { CAMWIRE_LIBC: cameras.library },
  );
  assert.equal(out.code, 1);
  const errors = out.stderr.split("\n").filter((l) => /Cannot open/.test(l));
  assert.deepEqual(errors, [
    `camwire: Cannot open camera ${device}: ${device}: open failed: EBUSY: in use by another program`,
  ]);
});

Deno.test("e2e: an impossible --input-size is one line listing what the camera offers", async () => {
  await using cameras = await FakeCameras.create();
  const device = await cameras.device({ modes: [MJPEG_320] });
  const out = await runScript(
    "server.ts",
    ["--device", device, "--input-size", "800x600", "--port", "0"],
    { CAMWIRE_LIBC: cameras.library },
  );
  assert.equal(out.code, 1);
  assert.match(
    out.stderr,
    /camwire: The camera offers no --input-size 800x600; it offers: MJPEG 320x240 \(30, 15 fps\)\n$/,
  );
});

Deno.test("e2e: Raspberry Pi recipe: rpicam-vid's MJPEG on stdin (--source -) is streamed at 320x240", async () => {
  await using cameras = await FakeCameras.create();
  // What `rpicam-vid -t 0 --codec mjpeg --width 320 --height 240
  // --framerate 30 -o -` writes: bare JPEGs back to back.
  const jpegs = fromRecords(
    await Deno.readFile(await cameras.frames(320, 240)),
  );
  const child = spawnStdinServer([]);
  const writer = child.stdin.getWriter();
  const stderr = new Response(child.stderr).text();
  let feeding = true;
  const feed = (async () => {
    // 30 fps, at most 20 s: the test ends it sooner.
    for (let i = 0; feeding && i < 600; i++) {
      await writer.write(jpegs[i % jpegs.length]!);
      await new Promise((resolve) => setTimeout(resolve, 33));
    }
    await writer.close();
  })();
  try {
    const port = await portOf(child, 15_000);
    const sizes = await receiveFrames(port, 10);
    assert.deepEqual(sizes[9], { width: 320, height: 240 });
  } finally {
    feeding = false;
    await feed.catch(() => {});
  }
  const status = await child.status;
  const text = await stderr;
  assert.equal(status.code, 0, text);
  assert.match(text, /source: MJPEG on stdin/);
  assert.match(text, /the source ended/);
});

/** The port of a server whose stderr is being read (through /proc). */
async function portOf(
  child: Deno.ChildProcess,
  timeoutMs: number,
): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const port = listeningPort(child.pid);
    if (port !== undefined) return port;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error("the server did not listen in time");
}

/** The TCP port a process listens on, read from /proc. */
function listeningPort(pid: number): number | undefined {
  const inodes = new Set<string>();
  try {
    for (const entry of Deno.readDirSync(`/proc/${pid}/fd`)) {
      const target = Deno.readLinkSync(`/proc/${pid}/fd/${entry.name}`);
      const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
      if (inode) inodes.add(inode);
    }
  } catch {
    return undefined;
  }
  for (const line of Deno.readTextFileSync("/proc/net/tcp").split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f[3] === "0A" && inodes.has(f[9]!)) {
      return parseInt(f[1]!.split(":")[1]!, 16);
    }
  }
  return undefined;
}
