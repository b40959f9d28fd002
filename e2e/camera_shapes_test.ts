// Copyright 2026 the camwire authors. MIT license.
// The driver shapes ARM boards have, end to end: the real server.ts (and
// client.ts) against the emulated camera (CAMWIRE_LIBC, for tests only: no
// V4L2 exists in this kernel, and no Pi or SoC board is here): the Pi's
// legacy bcm2835 camera (sizes and rates as ranges), a multi-planar node,
// a UVC metadata node, and frames the driver flags as damaged.

import assert from "node:assert/strict";
import { jpegSize } from "../common/jpeg.ts";
import {
  childPids,
  equalBytes,
  RawViewer,
  receiveFrames,
  runScript,
  startServerProcess,
  unstamped,
  within,
} from "../testing/util.ts";
import { webBase } from "../testing/http_client.ts";
import { FakeCameras, fromRecords } from "../testing/fake_camera.ts";
import { bcm2835Like } from "../testing/fake_camera_presets.ts";

const MJPEG_320 = { fourcc: "MJPG", width: 320, height: 240, fps: 30 };

/** The JPEGs a fake camera serves at 320x240, in order. */
async function records(cameras: FakeCameras): Promise<Uint8Array[]> {
  return fromRecords(await Deno.readFile(await cameras.frames(320, 240)));
}

/** Takes `count` frames from a raw TCP viewer, within 10 s. */
async function takeFrames(port: number, count: number): Promise<Uint8Array[]> {
  const viewer = await RawViewer.connect(port);
  try {
    const deadline = Date.now() + 10_000;
    while (viewer.frames.length < count && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return viewer.frames.slice(0, count).map((f) => f.jpeg);
  } finally {
    await viewer.close();
  }
}

Deno.test("e2e: a bcm2835-like camera (sizes 32x32–2592x1944 step 2) is asked for exactly 320x240: its JPEGs pass through byte for byte, no ffmpeg", async () => {
  await using cameras = await FakeCameras.create();
  const device = await cameras.device(bcm2835Like());
  const server = await startServerProcess(
    ["--device", device],
    { CAMWIRE_LIBC: cameras.library },
  );
  try {
    await server.waitForLine(
      /"mmal service 16\.1": MJPEG 320x240 at 30 fps, passed through/,
    );
    assert.deepEqual(childPids(server.child.pid, "ffmpeg"), []);
    const served = await records(cameras);
    const frames = await takeFrames(server.port, 10);
    assert.equal(frames.length, 10);
    for (const jpeg of frames) {
      assert.ok(
        served.some((r) => equalBytes(unstamped(jpeg), r.subarray(2))),
        "each frame is one of the camera's own JPEGs",
      );
    }
    assert.deepEqual(childPids(server.child.pid, "ffmpeg"), []);
  } finally {
    assert.equal(await server.stop(), 0);
  }
});

Deno.test("e2e: a camera's range of frame intervals gives --fps itself, within the range", async () => {
  await using cameras = await FakeCameras.create();
  const device = await cameras.device({
    modes: [MJPEG_320],
    intervals: { type: "stepwise", min: [1, 60], max: [1, 5], step: [1, 5] },
  });
  for (const [fps, expected] of [["25", 25], ["2", 5]] as const) {
    const server = await startServerProcess(
      ["--device", device, "--fps", fps],
      { CAMWIRE_LIBC: cameras.library },
    );
    try {
      await server.waitForLine(
        new RegExp(`MJPEG 320x240 at ${expected} fps, passed through`),
      );
    } finally {
      assert.equal(await server.stop(), 0);
    }
  }
});

Deno.test("e2e: a multi-planar camera's MJPEG (one plane) is passed through byte for byte, no ffmpeg", async () => {
  await using cameras = await FakeCameras.create();
  const device = await cameras.device({
    card: "rkcif",
    mplane: true,
    modes: [MJPEG_320],
  });
  const server = await startServerProcess(
    ["--device", device],
    { CAMWIRE_LIBC: cameras.library },
  );
  try {
    await server.waitForLine(
      /"rkcif": MJPEG 320x240 at 30 fps, passed through/,
    );
    assert.deepEqual(childPids(server.child.pid, "ffmpeg"), []);
    const served = await records(cameras);
    const frames = await takeFrames(server.port, 5);
    assert.equal(frames.length, 5);
    for (const jpeg of frames) {
      assert.ok(served.some((r) => equalBytes(unstamped(jpeg), r.subarray(2))));
    }
  } finally {
    assert.equal(await server.stop(), 0);
  }
});

Deno.test("e2e: a multi-planar camera's NV12, in two planes or one, is scaled and encoded by ffmpeg to 320 px", async () => {
  await using cameras = await FakeCameras.create();
  for (const fourcc of ["NM12", "NV12"]) {
    const device = await cameras.device({
      mplane: true,
      modes: [{ fourcc, width: 640, height: 480, fps: 30 }],
    });
    // --source camera: a camera that gave no frame would be an exit, not
    // the test pattern instead.
    const server = await startServerProcess(
      ["--source", "camera", "--device", device],
      { CAMWIRE_LIBC: cameras.library },
    );
    try {
      await server.waitForLine(
        new RegExp(
          `${fourcc} 640x480 at 30 fps, scaled to 320 px wide and encoded by ffmpeg`,
        ),
      );
      const sizes = await receiveFrames(server.port, 5);
      assert.deepEqual(sizes[4], { width: 320, height: 240 });
    } finally {
      assert.equal(await server.stop(), 0);
    }
  }
});

Deno.test("e2e: --list-devices prints a range of sizes and rates as a range, and names a metadata node as no camera", async () => {
  await using cameras = await FakeCameras.create();
  const pi = await cameras.device(bcm2835Like());
  const meta = await cameras.device({ modes: [], meta: true });
  const env = { CAMWIRE_LIBC: cameras.library };
  const out = await runScript(
    "server.ts",
    ["--list-devices", "--device", pi],
    env,
  );
  assert.equal(out.code, 0, out.stderr);
  const lines = new TextDecoder().decode(out.stdout).split("\n");
  assert.equal(
    lines[0],
    `${pi} "mmal service 16.1" (bm2835 mmal, platform:fakecam)`,
  );
  assert.ok(
    lines.includes("  MJPEG 32x32–2592x1944 step 2x2, 1–90 fps"),
    lines.join("\n"),
  );
  assert.ok(lines.includes("  JPEG 32x32–2592x1944 step 2x2, 1–90 fps"));
  const metaOut = await runScript(
    "server.ts",
    ["--list-devices", "--device", meta],
    env,
  );
  assert.equal(
    new TextDecoder().decode(metaOut.stdout),
    `${meta}: a metadata node, not a camera (a UVC camera's second /dev/videoN)\n`,
  );
});

Deno.test("e2e: frames the driver flags damaged never reach a viewer; they are counted in /stats and logged once per interval", async () => {
  await using cameras = await FakeCameras.create();
  const device = await cameras.device({ modes: [MJPEG_320], errorEvery: 3 });
  const server = await startServerProcess(
    ["--device", device, "--http-port", "0"],
    { CAMWIRE_LIBC: cameras.library },
  );
  try {
    await server.waitForLine(/passed through/);
    const served = await records(cameras);
    // 30 records, every third frame flagged: records 2, 5, 8, … always are.
    const frames = await takeFrames(server.port, 20);
    assert.equal(frames.length, 20);
    for (const jpeg of frames) {
      const index = served.findIndex((r) =>
        equalBytes(unstamped(jpeg), r.subarray(2))
      );
      assert.ok(index !== -1, "one of the camera's JPEGs");
      assert.notEqual(index % 3, 2, `record ${index} was flagged damaged`);
    }
    const stats = await (await fetch(`${await webBase(server)}/stats`)).json();
    assert.ok(stats.framesDropped >= 8, `${stats.framesDropped} dropped`);
    const logged = server.lines.filter((l) =>
      /dropped \d+ truncated or damaged/.test(l)
    );
    assert.equal(logged.length, 1, server.lines.join("\n"));
    assert.match(
      logged[0]!,
      /dropped 1 truncated or damaged frame\(s\) from camera/,
    );
  } finally {
    assert.equal(await server.stop(), 0);
  }
});

// A frame that came whole is not what makes the damaged ones go: the
// same camera without the flag sends every record (the check above can
// fail).
Deno.test("e2e: the same camera without damaged frames sends the records the flag would drop", async () => {
  await using cameras = await FakeCameras.create();
  const device = await cameras.device({ modes: [MJPEG_320] });
  const server = await startServerProcess(
    ["--device", device],
    { CAMWIRE_LIBC: cameras.library },
  );
  try {
    const served = await records(cameras);
    const frames = await within(takeFrames(server.port, 20), 15_000, "frames");
    const indexes = frames.map((jpeg) =>
      served.findIndex((r) => equalBytes(unstamped(jpeg), r.subarray(2)))
    );
    assert.ok(indexes.some((i) => i % 3 === 2), indexes.join(","));
    assert.ok(frames.every((j) => jpegSize(j)?.width === 320));
  } finally {
    assert.equal(await server.stop(), 0);
  }
});
