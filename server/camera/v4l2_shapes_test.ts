// Copyright 2026 the camwire authors. MIT license.
// The driver shapes ARM boards have, read and streamed by the real FFI code
// in-process against the emulated camera (testing/fake_camera.c loaded in
// place of libc: no V4L2 exists in this kernel and no such board here):
// sizes and intervals as ranges (the Pi's bcm2835 camera), a multi-planar
// node (Rockchip, Allwinner, i.MX), a UVC metadata node, and controls.

import assert from "node:assert/strict";
import { openLibc } from "../sys/libc.ts";
import { V4l2Device, V4l2Error } from "./v4l2.ts";
import { chooseMode } from "./mode.ts";
import { listDevices } from "./camera.ts";
import {
  fakeCameraHoldings,
  FakeCameras,
  fromRecords,
  openFakeLibc,
} from "../../testing/fake_camera.ts";
import { bcm2835Like, uvcControls } from "../../testing/fake_camera_presets.ts";

// libc is loaded once per process and kept: load it before any test, so
// that the sanitizers do not take it for a leak.
openLibc();

const MJPEG_320 = { fourcc: "MJPG", width: 320, height: 240, fps: 30 };

Deno.test("V4l2Device keeps a stepwise size range and a continuous interval range as ranges (the bcm2835 camera)", async () => {
  await using cameras = await FakeCameras.create();
  const device = await cameras.device(bcm2835Like());
  using lib = openFakeLibc(cameras.library);
  const camera = V4l2Device.open(device, lib);
  try {
    const modes = camera.modes();
    const mjpeg = modes.filter((m) => m.fourcc === "MJPG");
    assert.deepEqual(mjpeg, [{
      fourcc: "MJPG",
      width: 2592,
      height: 1944,
      fps: [],
      sizes: {
        min: { width: 32, height: 32 },
        max: { width: 2592, height: 1944 },
        step: { width: 2, height: 2 },
      },
      rates: { min: 1, max: 90 },
    }]);
    assert.equal(modes.length, 14, "every format once, as a range");
    // The mode choice asks for exactly --width at the sensor's aspect.
    const choice = chooseMode(modes, { width: 320, fps: 30 });
    assert.equal(choice.path, "passthrough");
    assert.deepEqual(
      [choice.mode.fourcc, choice.mode.width, choice.mode.height, choice.fps],
      ["MJPG", 320, 240, 30],
    );
    const set = camera.setMode("MJPG", 320, 240, 30);
    assert.deepEqual([set.width, set.height], [320, 240]);
  } finally {
    camera.closeNow();
  }
});

Deno.test("V4l2Device reads stepwise intervals of discrete sizes as a rate range; the choice asks for --fps within it", async () => {
  await using cameras = await FakeCameras.create();
  const device = await cameras.device({
    modes: [MJPEG_320],
    intervals: { type: "stepwise", min: [1, 60], max: [1, 5], step: [1, 5] },
  });
  using lib = openFakeLibc(cameras.library);
  const camera = V4l2Device.open(device, lib);
  try {
    const modes = camera.modes();
    assert.deepEqual(modes, [{
      fourcc: "MJPG",
      width: 320,
      height: 240,
      fps: [],
      rates: { min: 5, max: 60 },
    }]);
    assert.equal(chooseMode(modes, { width: 320, fps: 25 }).fps, 25);
    assert.equal(chooseMode(modes, { width: 320, fps: 120 }).fps, 60);
    assert.equal(chooseMode(modes, { width: 320, fps: 2 }).fps, 5);
  } finally {
    camera.closeNow();
  }
});

Deno.test("V4l2Device streams a multi-planar node: MJPEG in one plane byte for byte, NV12 in two planes and in one, nothing left open", async () => {
  await using cameras = await FakeCameras.create();
  const device = await cameras.device({
    mplane: true,
    modes: [
      MJPEG_320,
      { fourcc: "NM12", width: 64, height: 48, fps: 30 },
      { fourcc: "NV12", width: 64, height: 48, fps: 30 },
    ],
  });
  using lib = openFakeLibc(cameras.library);
  const before = fakeCameraHoldings("self", cameras.dir);
  const identity = V4l2Device.open(device, lib);
  try {
    const id = identity.identify();
    assert.equal(id.canCapture, true);
    assert.equal(id.multiplanar, true);
    assert.deepEqual(
      identity.modes().map((m) => m.fourcc),
      ["MJPG", "NM12", "NV12"],
    );
  } finally {
    identity.closeNow();
  }
  const records = fromRecords(
    await Deno.readFile(await cameras.frames(320, 240)),
  );
  for (
    const [fourcc, width, planes, mappings] of [
      ["MJPG", 320, 1, 4],
      ["NM12", 64, 2, 8],
      ["NV12", 64, 1, 4],
    ] as const
  ) {
    const camera = V4l2Device.open(device, lib);
    try {
      const set = camera.setMode(fourcc, width, width * 3 / 4, 30);
      assert.deepEqual([set.fourcc, set.planes], [fourcc, planes]);
      camera.stream();
      assert.equal(
        fakeCameraHoldings("self", cameras.dir).mappings,
        before.mappings + mappings,
        `${fourcc}: each plane of four buffers mmap'ed`,
      );
      let frame = null;
      for (let i = 0; i < 30 && frame === null; i++) {
        frame = await camera.nextFrame(100);
      }
      assert.ok(frame !== null, `${fourcc}: a frame within 3 s`);
      if (fourcc === "MJPG") {
        assert.deepEqual(frame.bytes, records[0], "the camera's own JPEG");
      } else {
        // NV12, whether in one plane or two: Y (the ramp), then UV (128).
        const y = 64 * 48;
        assert.equal(frame.bytes.length, y * 3 / 2);
        assert.deepEqual([...frame.bytes.subarray(0, 3)], [0, 1, 2]);
        assert.equal(frame.bytes[64], 1, "the next line starts one on");
        assert.ok(frame.bytes.subarray(y).every((b) => b === 128));
      }
    } finally {
      await camera.close();
    }
  }
  assert.deepEqual(fakeCameraHoldings("self", cameras.dir), before);
});

Deno.test("V4l2Device.identify tells a UVC metadata node by device_caps, though its capabilities say VIDEO_CAPTURE", async () => {
  await using cameras = await FakeCameras.create();
  const device = await cameras.device({ modes: [], meta: true });
  using lib = openFakeLibc(cameras.library);
  const camera = V4l2Device.open(device, lib);
  try {
    const id = camera.identify();
    assert.equal(id.metadata, true);
    assert.equal(id.canCapture, false);
  } finally {
    camera.closeNow();
  }
});

Deno.test("listDevices lists a UVC camera's video node and leaves its metadata node out", async () => {
  await using cameras = await FakeCameras.create();
  await cameras.device({ card: "HD Webcam C270", modes: [MJPEG_320] });
  await cameras.device({ card: "HD Webcam C270", modes: [], meta: true });
  using lib = openFakeLibc(cameras.library);
  const lines = await listDevices({
    os: "linux",
    ffmpeg: "ffmpeg",
    libc: lib,
    dir: cameras.dir,
  });
  assert.deepEqual(lines, [
    `${cameras.dir}/video0 "HD Webcam C270" (fakecam, platform:fakecam)`,
    "  MJPEG 320x240 (30, 15 fps)",
  ]);
});

Deno.test("V4l2Device.controls lists as v4l2-ctl does: class headers and disabled controls left out, menus with their holes, current values", async () => {
  await using cameras = await FakeCameras.create();
  using lib = openFakeLibc(cameras.library);
  for (const extended of [true, false]) {
    const device = await cameras.device({
      modes: [MJPEG_320],
      controls: uvcControls("new"),
      noExtCtrls: !extended,
    });
    const camera = V4l2Device.open(device, lib);
    try {
      const controls = camera.controls();
      const how = extended ? "QUERY_EXT_CTRL" : "QUERYCTRL";
      assert.deepEqual(controls.map((c) => c.name), [
        "brightness",
        "contrast",
        "white_balance_automatic",
        "power_line_frequency",
        "white_balance_temperature",
        "auto_exposure",
        "exposure_time_absolute",
        "focus_automatic_continuous",
      ], how);
      const exposure = controls.find((c) => c.name === "auto_exposure")!;
      assert.deepEqual(exposure.menu, [
        { index: 1, name: "Manual Mode" },
        { index: 3, name: "Aperture Priority Mode" },
      ]);
      assert.equal(exposure.value, 3);
      const temperature = controls.find((c) =>
        c.name === "white_balance_temperature"
      )!;
      assert.deepEqual(
        [temperature.min, temperature.max, temperature.step],
        [2800, 6500, 10],
      );
      assert.equal(temperature.inactive, true);
      assert.equal(camera.setControl(0x00980900, -20), -20);
      assert.equal(
        camera.controls().find((c) => c.name === "brightness")!.value,
        -20,
        `${how}: set and read back`,
      );
    } finally {
      camera.closeNow();
    }
  }
});

Deno.test("V4l2Device on a multi-planar node unplugged: ENODEV, then every plane unmapped and the fd closed", async () => {
  await using cameras = await FakeCameras.create();
  const device = await cameras.device({
    mplane: true,
    modes: [{ fourcc: "NM12", width: 64, height: 48, fps: 30 }],
    unplugAfter: 3,
  });
  using lib = openFakeLibc(cameras.library);
  const before = fakeCameraHoldings("self", cameras.dir);
  const camera = V4l2Device.open(device, lib);
  let failure: unknown;
  try {
    camera.setMode("NM12", 64, 48, 30);
    camera.stream();
    for (let i = 0; i < 40 && failure === undefined; i++) {
      await camera.nextFrame(100).catch((error) => failure = error);
    }
  } finally {
    await camera.close();
  }
  assert.ok(failure instanceof V4l2Error, String(failure));
  assert.equal(failure.errno, 19);
  assert.deepEqual(fakeCameraHoldings("self", cameras.dir), before);
});
