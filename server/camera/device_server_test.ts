// Copyright 2026 the camwire authors. MIT license.
// Which camera, end to end: the real server.ts against the emulated camera
// (CAMWIRE_LIBC, for tests only: no V4L2 in this kernel, no camera here)
// in a /dev-like temporary folder (CAMWIRE_DEV, for tests only). A named
// camera (--device, --capture) that cannot be had at start is one line
// naming what there is instead, never the test pattern; a camera gone at
// start says so; by-id names work, are listed, and follow a camera
// replugged at another number.

import assert from "node:assert/strict";
import {
  equalBytes,
  eventually,
  meanLuma,
  RawViewer,
  runScript,
  startServerProcess,
  unstamped,
} from "../../testing/util.ts";
import {
  EBUSY,
  FakeCameras,
  fromRecords,
  makeFrameRecords,
} from "../../testing/fake_camera.ts";

const MJPEG_320 = { fourcc: "MJPG", width: 320, height: 240, fps: 30 } as const;
const BY_ID = "usb-Emulated_USB_Camera_0001-video-index0";
const ENXIO = 6;
const ENOENT = 2;
const ENODEV = 19;
const DARK = 64;

/** The ffmpeg processes started with this environment (still alive). */
function ffmpegsOf(dev: string): number[] {
  const pids: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const comm = Deno.readTextFileSync(`/proc/${entry.name}/comm`).trim();
      const environ = Deno.readTextFileSync(`/proc/${entry.name}/environ`);
      if (comm === "ffmpeg" && environ.includes(`CAMWIRE_DEV=${dev}\0`)) {
        pids.push(Number(entry.name));
      }
    } catch {
      // Gone, or not ours to read.
    }
  }
  return pids;
}

/** One "USB Camera" at video0 of an emulated /dev, with its by-id name. */
async function usbCamera(cameras: FakeCameras, extra = {}) {
  const device = await cameras.device({
    card: "USB Camera",
    modes: [MJPEG_320],
    ...extra,
  });
  await Deno.mkdir(`${cameras.dir}/v4l/by-id`, { recursive: true });
  const byId = `${cameras.dir}/v4l/by-id/${BY_ID}`;
  await Deno.symlink(`../../${device.split("/").at(-1)}`, byId);
  return { device, byId };
}

Deno.test("e2e: --device naming a camera that is not there is one line with what was found, exit 1 within 2 s, no ffmpeg left (not the test pattern)", async () => {
  await using cameras = await FakeCameras.create();
  const { device, byId } = await usbCamera(cameras);
  const env = { CAMWIRE_LIBC: cameras.library, CAMWIRE_DEV: cameras.dir };
  const missing = `${cameras.dir}/video7`;
  for (
    const args of [
      ["--device", missing],
      ["--device", missing, "--capture", "v4l2"],
      ["--device", missing, "--source", "camera"],
    ]
  ) {
    const started = performance.now();
    const out = await runScript("server.ts", [...args, "--port", "0"], env);
    const ms = performance.now() - started;
    assert.equal(out.code, 1, out.stderr);
    assert.ok(ms < 2000, `exit after ${ms.toFixed(0)} ms`);
    assert.deepEqual(out.stderr.trimEnd().split("\n").slice(1), [
      `camwire: no camera at ${missing} (found: ${device} "USB Camera" (${byId}))`,
    ]);
    assert.deepEqual(ffmpegsOf(cameras.dir), [], "no ffmpeg left");
  }
});

Deno.test("e2e: --capture v4l2 with no camera at the default device is an error naming it; the bare command still streams the test pattern", async () => {
  await using cameras = await FakeCameras.create(); // an empty /dev
  const env = { CAMWIRE_LIBC: cameras.library, CAMWIRE_DEV: cameras.dir };
  const out = await runScript(
    "server.ts",
    ["--capture", "v4l2", "--port", "0"],
    env,
  );
  assert.equal(out.code, 1);
  assert.match(
    out.stderr,
    new RegExp(
      `camwire: no camera at ${cameras.dir}/video0 \\(found: none\\)\\n$`,
    ),
  );
  const bare = await startServerProcess([], env);
  try {
    await bare.waitForLine(
      new RegExp(
        `no camera at ${cameras.dir}/video0; streaming the test pattern instead`,
      ),
    );
    await bare.waitForLine(/source: test pattern/);
  } finally {
    assert.equal(await bare.stop(), 0);
  }
});

Deno.test("e2e: a busy camera named with --device (auto) is one line and exit 1, not the test pattern", async () => {
  await using cameras = await FakeCameras.create();
  const { device } = await usbCamera(cameras, { openErrno: EBUSY });
  const out = await runScript(
    "server.ts",
    ["--device", device, "--port", "0"],
    { CAMWIRE_LIBC: cameras.library, CAMWIRE_DEV: cameras.dir },
  );
  assert.equal(out.code, 1);
  assert.doesNotMatch(out.stderr, /test pattern/);
  assert.match(out.stderr, /open failed: EBUSY: in use by another program\n$/);
});

Deno.test("e2e: a camera gone at start (open: ENODEV, ENXIO, ENOENT) is 'the camera is gone (unplugged?)', never 'please report': exit 1 when named, the test pattern under the bare auto", async () => {
  await using cameras = await FakeCameras.create();
  for (const errno of [ENODEV, ENXIO, ENOENT]) {
    const device = await cameras.device({
      modes: [MJPEG_320],
      openErrno: errno,
    });
    for (const capture of ["auto", "v4l2"]) {
      const out = await runScript(
        "server.ts",
        ["--device", device, "--capture", capture, "--port", "0"],
        { CAMWIRE_LIBC: cameras.library },
      );
      assert.equal(out.code, 1, `errno ${errno}, --capture ${capture}`);
      assert.doesNotMatch(out.stderr, /please report|ffmpeg instead/);
      assert.match(
        out.stderr,
        new RegExp(
          `\\ncamwire: Cannot open camera ${device}: ${device}: open failed: E\\w+: the camera is gone \\(unplugged\\?\\)\\n$`,
        ),
      );
    }
  }
  // The bare command's camera is the default device: gone, it streams the
  // test pattern, saying why in the same words.
  await Deno.rename(`${cameras.dir}/video0`, `${cameras.dir}/gone`);
  await Deno.rename(`${cameras.dir}/video1`, `${cameras.dir}/video0`);
  const bare = await startServerProcess([], {
    CAMWIRE_LIBC: cameras.library,
    CAMWIRE_DEV: cameras.dir,
  });
  try {
    await bare.waitForLine(
      /: the camera is gone \(unplugged\?\); streaming the test pattern instead$/,
    );
    assert.ok(!bare.lines.some((l) => /please report/.test(l)));
  } finally {
    assert.equal(await bare.stop(), 0);
  }
});

Deno.test("e2e: --list-devices prints each camera's by-id name beside its /dev/videoN, and the node beside a name given", async () => {
  await using cameras = await FakeCameras.create();
  const { device, byId } = await usbCamera(cameras);
  const env = { CAMWIRE_LIBC: cameras.library, CAMWIRE_DEV: cameras.dir };
  const all = await runScript("server.ts", ["--list-devices"], env);
  assert.equal(all.code, 0, all.stderr);
  assert.equal(
    new TextDecoder().decode(all.stdout),
    `${device} (${byId}) "USB Camera" (fakecam, platform:fakecam)\n` +
      "  MJPEG 320x240 (30, 15 fps)\n",
  );
  const one = await runScript(
    "server.ts",
    ["--list-devices", "--device", byId],
    env,
  );
  assert.equal(
    new TextDecoder().decode(one.stdout).split("\n")[0],
    `${byId} (${device}) "USB Camera" (fakecam, platform:fakecam)`,
  );
});

Deno.test("e2e: --device /dev/v4l/by-id/…: streams, and a camera replugged at another number is reopened through its name, with the no-signal picture meanwhile", async () => {
  await using cameras = await FakeCameras.create();
  // Unplugged after 45 frames (1.5 s); it comes back as video1, with
  // other pictures (SMPTE bars), and udev points the name there.
  const { device, byId } = await usbCamera(cameras, { unplugAfter: 45 });
  const bars = fromRecords(
    await Deno.readFile(
      await makeFrameRecords(
        "smptebars=size=320x240:rate=30",
        30,
        `${cameras.dir}/bars.bin`,
      ),
    ),
  );
  const replugged = await cameras.device({
    card: "USB Camera",
    modes: [{ ...MJPEG_320, frames: `${cameras.dir}/bars.bin` }],
  });
  const server = await startServerProcess(
    ["--device", byId],
    { CAMWIRE_LIBC: cameras.library },
  );
  const viewer = await RawViewer.connect(server.port);
  try {
    await server.waitForLine(
      new RegExp(
        `camera ${byId} "USB Camera": MJPEG 320x240 at 30 fps, passed through \\(${device}\\)`,
      ),
    );
    await eventually(() => viewer.frames.length >= 3, 5000, "3 frames");
    // The replug: the old node goes, the name points at the new one.
    await Deno.remove(byId);
    await Deno.remove(device);
    await Deno.symlink(`../../${replugged.split("/").at(-1)}`, byId);
    await server.waitForLine(/capture lost: .*ENODEV: the camera is gone/);
    await server.waitForLine(
      new RegExp(`camera ${byId} is now ${replugged}$`),
    );
    await server.waitForLine(/capture recovered/);
    const isBars = (jpeg: Uint8Array) =>
      bars.some((bar) => equalBytes(unstamped(jpeg), bar.subarray(2)));
    await eventually(
      () => viewer.frames.filter((f) => isBars(f.jpeg)).length >= 5,
      5000,
      "5 frames of the replugged camera",
    );
    const firstBar = viewer.frames.findIndex((f) => isBars(f.jpeg));
    const before = viewer.frames.slice(0, firstBar);
    const dark = await Promise.all(
      before.slice(-3).map(async (f) => await meanLuma(f.jpeg) < DARK),
    );
    assert.ok(dark.some((d) => d), "the no-signal picture just before");
  } finally {
    await viewer.close();
    assert.equal(await server.stop(), 0);
  }
});

Deno.test("e2e: a webcam's metadata node (device_caps META_CAPTURE, capabilities VIDEO_CAPTURE) named with --device is one line naming the camera found instead, exit 1, never ffmpeg; the bare auto on it streams the test pattern", async () => {
  await using cameras = await FakeCameras.create();
  // As udev numbers them: the video node first, its metadata node next.
  const { device } = await usbCamera(cameras);
  const meta = await cameras.device({
    card: "USB Camera",
    modes: [],
    meta: true,
  });
  const env = { CAMWIRE_LIBC: cameras.library, CAMWIRE_DEV: cameras.dir };
  for (const capture of ["auto", "v4l2"]) {
    const out = await runScript(
      "server.ts",
      ["--device", meta, "--capture", capture, "--port", "0"],
      env,
    );
    assert.equal(out.code, 1, out.stderr);
    assert.doesNotMatch(out.stderr, /please report|ffmpeg/);
    assert.ok(
      out.stderr.endsWith(
        `\ncamwire: Cannot open camera ${meta}: it is a metadata node, not a camera (a UVC camera's second /dev/videoN) (found: ${device} "USB Camera" (${cameras.dir}/v4l/by-id/${BY_ID}))\n`,
      ),
      out.stderr,
    );
  }
  // The bare command, with the metadata node where it looks first.
  await Deno.rename(device, `${cameras.dir}/video5`);
  await Deno.rename(meta, device);
  const bare = await startServerProcess([], env);
  try {
    await bare.waitForLine(
      /: it is a metadata node, not a camera .*; streaming the test pattern instead$/,
    );
  } finally {
    assert.equal(await bare.stop(), 0);
  }
});
