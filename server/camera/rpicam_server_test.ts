// Copyright 2026 the camwire authors. MIT license.
// The Raspberry Pi camera end to end: the real server.ts, with a STAND-IN
// for rpicam-vid on PATH (testing/bin/rpicam-vid: no Pi, no libcamera and
// no camera sensor exist on these machines; it checks the arguments it
// gets and writes MJPEG from ffmpeg's testsrc2) and the emulated camera
// (CAMWIRE_LIBC, for tests only) playing the Pi's CSI receiver, unicam.
// What these prove is camwire's side: the choice, rpicam-vid's command
// line, and its JPEGs passed through untouched. No real Pi camera ran.

import assert from "node:assert/strict";
import { jpegSize, readStamp } from "../../common/jpeg.ts";
import {
  childPids,
  equalBytes,
  eventually,
  meanLuma,
  RawViewer,
  type Received,
  runScript,
  startServerProcess,
  unstamped,
  within,
} from "../../testing/util.ts";
import { cameraBackend } from "./camera.ts";
import { FakeCameras } from "../../testing/fake_camera.ts";
import { ownFfmpeg } from "../../testing/own_ffmpeg.ts";
import {
  rpicamStandIn,
  type StandIn,
  unicamNode,
} from "../../testing/rpicam_standin.ts";

const COMMON = "--codec mjpeg --width 320 --height 240 --framerate 30 -q 86 " +
  "-t 0 -n --flush -o -";

/** Luma below which a frame is the dark "no signal" picture. */
const DARK = 64;

/** Takes `n` frames from the server, and checks each is the stand-in's. */
async function passedThrough(
  port: number,
  pi: StandIn,
  n = 10,
): Promise<Received[]> {
  const viewer = await RawViewer.connect(port);
  try {
    await eventually(() => viewer.frames.length >= n, 10_000, `${n} frames`);
  } finally {
    await viewer.close();
  }
  const written = await pi.jpegs();
  for (const frame of viewer.frames.slice(0, n)) {
    assert.ok(readStamp(frame.jpeg) !== undefined, "the capture stamp");
    const picture = unstamped(frame.jpeg);
    assert.ok(
      written.some((jpeg) => equalBytes(picture, jpeg.subarray(2))),
      "byte for byte one of the JPEGs rpicam-vid (the stand-in) wrote",
    );
  }
  return viewer.frames;
}

Deno.test("e2e: --source camera on the emulated unicam node, the rpicam-vid stand-in on PATH: rpicam-vid's JPEGs are passed through, stamped, with no ffmpeg child", async () => {
  await using cameras = await FakeCameras.create();
  const device = await unicamNode(cameras);
  const pi = rpicamStandIn(cameras.dir);
  const server = await startServerProcess(
    ["--source", "camera", "--device", device],
    { CAMWIRE_LIBC: cameras.library, ...pi.env },
  );
  try {
    await server.waitForLine(
      /"unicam" is the Raspberry Pi camera's CSI receiver \(unicam\), which only libcamera streams: reading it through \S*testing\/bin\/rpicam-vid$/,
    );
    await server.waitForLine(
      /Raspberry Pi camera imx219 \(3280x2464\) through \S+: MJPEG 320x240 at 30 fps, passed through$/,
    );
    await server.waitForLine(
      /source: Raspberry Pi camera imx219 \(rpicam-vid\)/,
    );
    // The stand-in's own ffmpeg (its grandchild) stands in for libcamera.
    assert.deepEqual(childPids(server.child.pid, "ffmpeg"), []);
    assert.equal(childPids(server.child.pid, "rpicam-vid").length, 1);
    const frames = await passedThrough(server.port, pi);
    assert.deepEqual(jpegSize(frames[0]!.jpeg), { width: 320, height: 240 });
    assert.deepEqual(await pi.runs(), ["--list-cameras", COMMON]);
  } finally {
    assert.equal(await server.stop(), 0);
  }
});

Deno.test("e2e: the bare command (auto) on a Pi whose /dev/video0 is unicam streams the Pi camera (the stand-in's imx708, 16:9: 320x180)", async () => {
  await using cameras = await FakeCameras.create();
  await unicamNode(cameras); // video0 of the emulated /dev
  const pi = rpicamStandIn(cameras.dir, "imx708");
  const server = await startServerProcess([], {
    CAMWIRE_LIBC: cameras.library,
    CAMWIRE_DEV: cameras.dir,
    ...pi.env,
  });
  try {
    await server.waitForLine(/MJPEG 320x180 at 30 fps, passed through$/);
    const frames = await passedThrough(server.port, pi);
    assert.deepEqual(jpegSize(frames[0]!.jpeg), { width: 320, height: 180 });
    assert.deepEqual((await pi.runs())[1], COMMON.replace("240", "180"));
  } finally {
    assert.equal(await server.stop(), 0);
  }
});

Deno.test("e2e: --rotate 180 and --flip keep rpicam-vid's JPEGs passed through (its own --rotation and --hflip); --rotate 90 puts ffmpeg behind it", async () => {
  await using cameras = await FakeCameras.create();
  const device = await unicamNode(cameras);
  const pi = rpicamStandIn(cameras.dir);
  const env = { CAMWIRE_LIBC: cameras.library, ...pi.env };
  const half = await startServerProcess(
    ["--device", device, "--rotate", "180", "--flip", "h"],
    env,
  );
  try {
    await half.waitForLine(/MJPEG 320x240 at 30 fps, passed through$/);
    assert.deepEqual(childPids(half.child.pid, "ffmpeg"), []);
    await passedThrough(half.port, pi);
    assert.equal((await pi.runs())[1], `${COMMON} --rotation 180 --hflip`);
  } finally {
    assert.equal(await half.stop(), 0);
  }
  const quarter = await startServerProcess(
    ["--device", device, "--rotate", "90"],
    env,
  );
  try {
    await quarter.waitForLine(/MJPEG 320x240 at 30 fps, re-encoded by ffmpeg$/);
    assert.equal(childPids(quarter.child.pid, "ffmpeg").length, 1);
    // rpicam-vid cannot turn by 90°: it is asked for none.
    assert.equal((await pi.runs()).at(-1), COMMON);
    const viewer = await RawViewer.connect(quarter.port);
    await eventually(() => viewer.frames.length >= 3, 10_000, "3 frames");
    await viewer.close();
    assert.deepEqual(jpegSize(viewer.frames[2]!.jpeg), {
      width: 240,
      height: 320,
    });
  } finally {
    assert.equal(await quarter.stop(), 0);
  }
});

Deno.test("e2e: an rpicam-vid (the stand-in) that dies is restarted by the supervisor, with the no-signal picture meanwhile", async () => {
  await using cameras = await FakeCameras.create();
  const device = await unicamNode(cameras);
  const pi = rpicamStandIn(cameras.dir);
  const server = await startServerProcess(
    ["--device", device],
    { CAMWIRE_LIBC: cameras.library, ...pi.env },
  );
  const viewer = await RawViewer.connect(server.port);
  try {
    await eventually(() => viewer.frames.length >= 5, 10_000, "5 frames");
    const [first] = childPids(server.child.pid, "rpicam-vid");
    assert.ok(first !== undefined);
    Deno.kill(first, "SIGKILL");
    await server.waitForLine(
      /capture lost: rpicam-vid exited \(SIGKILL\); restarting in 0\.5 s/,
    );
    await server.waitForLine(/capture recovered/);
    const [second] = childPids(server.child.pid, "rpicam-vid");
    assert.ok(second !== undefined && second !== first, "a new rpicam-vid");
    const seen = viewer.frames.length;
    await eventually(() => viewer.frames.length >= seen + 5, 10_000, "more");
    const written = await pi.jpegs();
    const foreign = viewer.frames.filter((f) =>
      !written.some((j) => equalBytes(unstamped(f.jpeg), j.subarray(2)))
    );
    assert.ok(foreign.length >= 1, "the no-signal picture went out");
    assert.ok(await meanLuma(foreign[0]!.jpeg) < DARK, "and it is dark");
    assert.deepEqual((await pi.runs()).slice(1), [COMMON, COMMON]);
  } finally {
    await viewer.close();
    assert.equal(await server.stop(), 0);
  }
});

Deno.test("e2e: with no /dev/video node at all, auto asks rpicam-vid (the stand-in): its camera if it lists one, else the test pattern", async () => {
  await using cameras = await FakeCameras.create(); // an empty /dev
  const pi = rpicamStandIn(cameras.dir);
  const env = { CAMWIRE_LIBC: cameras.library, CAMWIRE_DEV: cameras.dir };
  const server = await startServerProcess([], { ...env, ...pi.env });
  try {
    await server.waitForLine(
      /no camera at \S+\/video0: reading it through \S+rpicam-vid$/,
    );
    await passedThrough(server.port, pi, 3);
  } finally {
    assert.equal(await server.stop(), 0);
  }
  const none = rpicamStandIn(cameras.dir, "none");
  const fallback = await startServerProcess([], { ...env, ...none.env });
  try {
    await fallback.waitForLine(
      /Cannot open camera \S+\/video0: no camera at \S+\/video0; \S+rpicam-vid --list-cameras lists no camera .*; streaming the test pattern instead$/,
    );
    await fallback.waitForLine(/source: test pattern/);
  } finally {
    assert.equal(await fallback.stop(), 0);
  }
});

Deno.test("e2e: --capture rpicam without rpicam-vid is one line and exit 1 within 2 s; a USB webcam on the Pi (uvcvideo) keeps V4L2 under auto", async () => {
  await using cameras = await FakeCameras.create();
  const webcam = await cameras.device({
    driver: "uvcvideo",
    card: "USB Camera",
    modes: [{ fourcc: "MJPG", width: 320, height: 240, fps: 30 }],
  });
  const started = performance.now();
  const out = await runScript(
    "server.ts",
    ["--capture", "rpicam", "--port", "0"],
    { CAMWIRE_LIBC: cameras.library, PATH: "/usr/bin:/bin" },
  );
  assert.ok(performance.now() - started < 2000, "within 2 s");
  assert.equal(out.code, 1);
  assert.deepEqual(out.stderr.split("\n").filter((l) => /Cannot/.test(l)), [
    "camwire: Cannot open the Raspberry Pi camera: rpicam-vid is not installed (sudo apt install rpicam-apps), or not on PATH",
  ]);
  const pi = rpicamStandIn(cameras.dir);
  const server = await startServerProcess(
    ["--device", webcam],
    { CAMWIRE_LIBC: cameras.library, ...pi.env },
  );
  try {
    await server.waitForLine(
      /"USB Camera": MJPEG 320x240 at 30 fps, passed through/,
    );
    assert.deepEqual(childPids(server.child.pid, "rpicam-vid"), []);
    assert.deepEqual(await pi.runs(), [], "rpicam-vid never ran");
  } finally {
    assert.equal(await server.stop(), 0);
  }
});

Deno.test("e2e: --capture v4l2 on the unicam node warns that it is the Pi camera's and fails at STREAMON: one line, exit 1", async () => {
  await using cameras = await FakeCameras.create();
  const device = await unicamNode(cameras);
  const out = await runScript(
    "server.ts",
    ["--device", device, "--capture", "v4l2", "--port", "0"],
    { CAMWIRE_LIBC: cameras.library },
  );
  assert.equal(out.code, 1);
  assert.match(
    out.stderr,
    /warning: \S+ "unicam" is the Raspberry Pi camera's CSI receiver \(unicam\), which only libcamera streams: --capture v4l2 will fail at VIDIOC_STREAMON; --capture rpicam \(or auto\) reads it through rpicam-vid\n/,
  );
  assert.match(
    out.stderr,
    /camwire: Cannot open camera \S+: \S+: VIDIOC_STREAMON failed: EINVAL\n$/,
  );
});

Deno.test("cameraBackend --capture rpicam with --publish puts ffmpeg behind rpicam-vid (the stand-in, found on the search path it is given): H.264 needs it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "camwire-rpicam-" });
  const pi = rpicamStandIn(dir);
  await using ffmpeg = await ownFfmpeg();
  try {
    const backend = await cameraBackend({
      device: "/dev/video0",
      capture: "rpicam",
      width: 320,
      fps: 30,
      quality: 5,
      ffmpeg: ffmpeg.path,
      relays: ["udp://127.0.0.1:9?pkt_size=1316"],
      picture: { rotate: 180 },
      os: "linux",
      log: () => {},
      searchPath: pi.searchPath,
    });
    assert.equal(backend.kind, "rpicam");
    assert.match(
      backend.line,
      /MJPEG 320x240 at 30 fps, re-encoded by ffmpeg$/,
    );
    const frames: Uint8Array[] = [];
    const capture = backend.launch!((jpeg) => frames.push(jpeg));
    try {
      await within(capture.firstFrame, 10_000, "the first frame");
      assert.deepEqual(childPids(Deno.pid, ffmpeg.name), [capture.pid]);
    } finally {
      await capture.stop();
    }
    // ffmpeg turns the picture: rpicam-vid is asked for none of it.
    assert.equal((await pi.runs()).at(-1), COMMON);
    assert.deepEqual(jpegSize(frames[0]!), { width: 320, height: 240 });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
