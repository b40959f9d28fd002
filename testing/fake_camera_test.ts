// Copyright 2026 the camwire authors. MIT license.
// What the emulated camera (testing/fake_camera.c) offers a program other
// than camwire, as bench/peer.ts runs ustreamer on it: ioctl requests
// passed sign-extended, select() that waits for a frame, and the DQBUF
// stamp in each JPEG.

import assert from "node:assert/strict";
import { ABI } from "../server/camera/v4l2_abi.ts";
import { V4l2Device } from "../server/camera/v4l2.ts";
import { FakeCameras, openFakeLibc } from "./fake_camera.ts";

/** The calls a C program makes, as it makes them. */
const C_SYMBOLS = {
  open: { parameters: ["buffer", "i32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  ioctl: { parameters: ["i32", "u64", "buffer"], result: "i32" },
  select: {
    parameters: ["i32", "buffer", "buffer", "buffer", "buffer"],
    result: "i32",
  },
} as const;

/** An fd_set holding `fd` (1024 bits). */
function fdSet(fd: number): Uint8Array {
  const set = new Uint8Array(128);
  set[fd >> 3] = 1 << (fd & 7);
  return set;
}

function isSet(set: Uint8Array, fd: number): boolean {
  return (set[fd >> 3]! & (1 << (fd & 7))) !== 0;
}

function cString(text: string): Uint8Array {
  return new TextEncoder().encode(text + "\0");
}

Deno.test("the emulated camera takes an ioctl request sign-extended from an int, as ustreamer passes it", async () => {
  await using cameras = await FakeCameras.create();
  const device = await cameras.device({
    card: "Sign Extended",
    modes: [{ fourcc: "MJPG", width: 320, height: 240, fps: 30 }],
  });
  const lib = Deno.dlopen(cameras.library, C_SYMBOLS);
  try {
    const fd = lib.symbols.open(cString(device), 2);
    assert.ok(fd >= 0);
    try {
      const cap = new Uint8Array(ABI["sizeof v4l2_capability"]);
      // (int)0x80685600, as a C int argument widened to unsigned long.
      const request = BigInt.asUintN(64, BigInt(ABI.VIDIOC_QUERYCAP | 0));
      assert.equal(request, 0xffffffff80685600n);
      assert.equal(lib.symbols.ioctl(fd, request, cap), 0);
      const card = cap.subarray(ABI["v4l2_capability.card"]);
      assert.equal(
        new TextDecoder().decode(card.subarray(0, card.indexOf(0))),
        "Sign Extended",
      );
    } finally {
      lib.symbols.close(fd);
    }
  } finally {
    lib.close();
  }
});

Deno.test("select() on the emulated camera waits for a frame: readable then, never writable", async () => {
  await using cameras = await FakeCameras.create();
  const device = await cameras.device({
    // 5 fps: a frame is due 200 ms after STREAMON.
    modes: [{ fourcc: "MJPG", width: 320, height: 240, fps: 5 }],
  });
  using lib = openFakeLibc(cameras.library);
  const c = Deno.dlopen(cameras.library, C_SYMBOLS);
  const camera = V4l2Device.open(device, lib);
  try {
    camera.setMode("MJPG", 320, 240, 5);
    camera.stream();
    const started = performance.now();
    const read = fdSet(camera.fd);
    const write = fdSet(camera.fd);
    const except = fdSet(camera.fd);
    const timeout = new BigInt64Array([2n, 0n]); // struct timeval: 2 s
    const ready = c.symbols.select(camera.fd + 1, read, write, except, timeout);
    const waited = performance.now() - started;
    assert.equal(ready, 1);
    assert.ok(isSet(read, camera.fd), "readable: a frame is ready");
    assert.ok(!isSet(write, camera.fd), "a camera is never writable");
    assert.ok(!isSet(except, camera.fd), "no event");
    assert.ok(waited >= 150, `waited for the frame (${waited} ms)`);
    assert.ok(waited < 1500, `did not wait out the timeout (${waited} ms)`);
  } finally {
    await camera.close();
    c.close();
  }
});

Deno.test("stamp=1: each dequeued JPEG carries the time of its DQBUF after SOI", async () => {
  await using cameras = await FakeCameras.create();
  const device = await cameras.device({
    modes: [{ fourcc: "MJPG", width: 320, height: 240, fps: 30 }],
    stamp: true,
  });
  using lib = openFakeLibc(cameras.library);
  const camera = V4l2Device.open(device, lib);
  try {
    camera.setMode("MJPG", 320, 240, 30);
    camera.stream();
    let frame = null;
    for (let i = 0; i < 20 && frame === null; i++) {
      frame = await camera.nextFrame(100);
    }
    const now = Date.now();
    assert.ok(frame !== null);
    const bytes = frame.bytes;
    assert.deepEqual([...bytes.subarray(0, 4)], [0xff, 0xd8, 0xff, 0xfe]);
    const end = 4 + ((bytes[4]! << 8) | bytes[5]!);
    const text = new TextDecoder().decode(bytes.subarray(6, end));
    const m = /^camera t=(\d+\.\d{3})$/.exec(text);
    assert.ok(m, text);
    const stamp = Number(m[1]);
    assert.ok(now - stamp >= -1 && now - stamp < 1000, `${now - stamp} ms`);
    // The JPEG goes on whole after the stamp: the next segment, the end.
    assert.equal(bytes[end], 0xff);
    assert.deepEqual([...bytes.subarray(-2)], [0xff, 0xd9]);
  } finally {
    await camera.close();
  }
});
