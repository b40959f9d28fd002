// Copyright 2026 the camwire authors. MIT license.
// The V4L2 ABI and device calls: the module's numbers against
// <linux/videodev2.h> as gcc sees it, and V4l2Device against the emulated
// camera (testing/fake_camera.c: no V4L2 exists in this kernel).

import assert from "node:assert/strict";
import { openLibc } from "../sys/libc.ts";
import { ABI } from "./v4l2_abi.ts";
import {
  explainErrno,
  fourccCode,
  fourccName,
  V4l2Device,
  V4l2Error,
} from "./v4l2.ts";
import {
  buildAbiProbe,
  EBUSY,
  fakeCameraHoldings,
  FakeCameras,
  openFakeLibc,
} from "../../testing/fake_camera.ts";

// libc is loaded once per process and kept: load it before any test, so
// that the sanitizers do not take it for a leak.
openLibc();

Deno.test("V4L2 ABI: every ioctl number, struct size and offset matches <linux/videodev2.h>", async () => {
  const probe = await buildAbiProbe();
  const { code, stdout } = await new Deno.Command(probe, {
    stdout: "piped",
    stderr: "inherit",
  }).output();
  assert.equal(code, 0);
  const header: Record<string, number> = JSON.parse(
    new TextDecoder().decode(stdout),
  );
  assert.deepEqual(
    Object.keys(header).sort(),
    Object.keys(ABI).sort(),
    "the probe prints exactly the module's names",
  );
  for (const [name, value] of Object.entries(ABI)) {
    assert.equal(value, header[name], name);
  }
});

Deno.test("fourccCode and fourccName convert both ways", () => {
  assert.equal(fourccCode("MJPG"), 0x47504a4d);
  assert.equal(fourccName(0x56595559), "YUYV");
  assert.equal(fourccName(fourccCode("GREY")), "GREY");
});

Deno.test("explainErrno names the errno and says what to do", () => {
  assert.equal(explainErrno(16), "EBUSY: in use by another program");
  assert.match(explainErrno(13), /video group/);
  assert.match(explainErrno(19), /ENODEV.*unplugged/);
  assert.equal(explainErrno(999), "errno 999");
});

Deno.test("V4l2Device reads the emulated camera's identity and modes, streams, and leaves no fd or mapping", async () => {
  await using cameras = await FakeCameras.create();
  const device = await cameras.device({
    card: "HD Webcam C270",
    modes: [
      { fourcc: "MJPG", width: 320, height: 240, fps: 30 },
      { fourcc: "YUYV", width: 640, height: 480, fps: 30 },
    ],
  });
  using lib = openFakeLibc(cameras.library);
  const before = fakeCameraHoldings("self", cameras.dir);
  const camera = V4l2Device.open(device, lib);
  try {
    assert.deepEqual(camera.identify(), {
      driver: "fakecam",
      card: "HD Webcam C270",
      busInfo: "platform:fakecam",
      canCapture: true,
      multiplanar: false,
      metadata: false,
    });
    assert.deepEqual(camera.modes(), [
      { fourcc: "MJPG", width: 320, height: 240, fps: [30, 15] },
      { fourcc: "YUYV", width: 640, height: 480, fps: [30, 15] },
    ]);
    const set = camera.setMode("MJPG", 320, 240, 30);
    assert.deepEqual([set.fourcc, set.width, set.height], ["MJPG", 320, 240]);
    camera.stream();
    const during = fakeCameraHoldings("self", cameras.dir);
    assert.equal(during.fds, before.fds + 1);
    assert.equal(during.mappings, before.mappings + 4, "four mmap'ed buffers");
    let frame = null;
    for (let i = 0; i < 20 && frame === null; i++) {
      frame = await camera.nextFrame(100);
    }
    assert.ok(frame !== null, "a frame within 2 s");
    assert.deepEqual([...frame.bytes.subarray(0, 2)], [0xff, 0xd8]);
  } finally {
    await camera.close();
  }
  assert.deepEqual(fakeCameraHoldings("self", cameras.dir), before);
});

Deno.test("V4l2Device.open fails with the camera's errno (EBUSY)", async () => {
  await using cameras = await FakeCameras.create();
  const device = await cameras.device({
    modes: [{ fourcc: "MJPG", width: 320, height: 240, fps: 30 }],
    openErrno: EBUSY,
  });
  using lib = openFakeLibc(cameras.library);
  try {
    V4l2Device.open(device, lib);
    assert.fail("opened a busy camera");
  } catch (error) {
    assert.ok(error instanceof V4l2Error);
    assert.equal(error.call, "open");
    assert.equal(error.errno, EBUSY);
    assert.ok(error.unavailable);
    assert.equal(
      error.message,
      `${device}: open failed: EBUSY: in use by another program`,
    );
  }
});

Deno.test("V4l2Device.identify reports the driver and card the camera gives (the emulation's driver=, as unicam or bcm2835 would)", async () => {
  await using cameras = await FakeCameras.create();
  const device = await cameras.device({
    driver: "unicam",
    card: "unicam",
    modes: [{ fourcc: "YUYV", width: 640, height: 480, fps: 30 }],
  });
  using lib = openFakeLibc(cameras.library);
  const camera = V4l2Device.open(device, lib);
  try {
    const identity = camera.identify();
    assert.equal(identity.driver, "unicam");
    assert.equal(identity.card, "unicam");
  } finally {
    camera.closeNow();
  }
});
