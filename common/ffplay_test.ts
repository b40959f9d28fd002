// Copyright 2026 the camwire authors. MIT license.
import assert from "node:assert/strict";
import { JpegSplitter } from "../framing.ts";
import { FfplayWindow, hasDisplay, NoDisplayError } from "./ffplay.ts";
import { startXvfb } from "../testing/xvfb.ts";
import { eventually, isAlive } from "../testing/util.ts";

Deno.test("hasDisplay() needs DISPLAY or WAYLAND_DISPLAY on Linux only", () => {
  assert.equal(hasDisplay({}, "linux"), false);
  assert.equal(hasDisplay({ DISPLAY: "" }, "linux"), false);
  assert.equal(hasDisplay({ DISPLAY: ":0" }, "linux"), true);
  assert.equal(hasDisplay({ WAYLAND_DISPLAY: "wayland-0" }, "linux"), true);
  assert.equal(hasDisplay({}, "darwin"), true);
  assert.equal(hasDisplay({}, "windows"), true);
});

Deno.test("FfplayWindow.open() with no display refuses at once, starting nothing", () => {
  assert.throws(
    () => FfplayWindow.open("camwire test", { env: { PATH: "/usr/bin" } }),
    NoDisplayError,
  );
});

Deno.test("FfplayWindow shows JPEGs in a real ffplay window under Xvfb; close() leaves no ffplay", async () => {
  const frames = await testFrames(30);
  await using x = await startXvfb();
  const window = FfplayWindow.open("camwire window test", {
    env: { ...Deno.env.toObject(), DISPLAY: x.display },
    stderr: "null",
  });
  let ended = false;
  window.ended.then(() => ended = true);
  try {
    const feeder = setInterval(() => window.show(frames[0]!), 33);
    try {
      // A flag the real ffplay rejects would end it before any window.
      assert.ok(
        await eventually(
          async () => (await x.windows("camwire window test")).length === 1,
          10_000,
        ),
        "no ffplay window within 10 s",
      );
      assert.equal(ended, false);
    } finally {
      clearInterval(feeder);
    }
  } finally {
    await window.close();
  }
  assert.equal(ended, true);
  assert.ok(!isAlive(window.pid), `ffplay ${window.pid} still runs`);
});

Deno.test("FfplayWindow with a display that does not answer ends with a failure within 3 s", async () => {
  const window = FfplayWindow.open("camwire broken display", {
    // No X server listens on this display number.
    env: { ...Deno.env.toObject(), DISPLAY: ":4711", WAYLAND_DISPLAY: "" },
    stderr: "null",
  });
  try {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const status = await Promise.race([
      window.ended,
      new Promise<null>((resolve) => timer = setTimeout(resolve, 3000, null)),
    ]);
    clearTimeout(timer);
    assert.notEqual(status, null, "ffplay still runs without a display");
    assert.equal(status!.success, false);
  } finally {
    await window.close();
  }
});

Deno.test("FfplayWindow skips to the newest frame when ffplay falls behind, never queueing", async () => {
  // A stand-in for a window too slow to keep up: a program that never
  // reads its stdin (the real ffplay reads faster than this test can
  // show it frames). Its pipe takes one 64 KiB frame; the rest must be
  // replaced by newer ones, not written behind it.
  const dir = await Deno.makeTempDir({ prefix: "camwire-slow-window-" });
  const program = `${dir}/ffplay`;
  await Deno.writeTextFile(program, "#!/bin/sh\nexec sleep 30\n", {
    mode: 0o755,
  });
  const window = FfplayWindow.open("camwire slow window", {
    program,
    env: { ...Deno.env.toObject(), DISPLAY: ":0" },
    stderr: "null",
  });
  try {
    const frame = new Uint8Array(64 * 1024);
    for (let i = 0; i < 40; i++) {
      window.show(frame);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    assert.ok(window.dropped >= 35, `${window.dropped} of 40 frames dropped`);
  } finally {
    await window.close();
    await Deno.remove(dir, { recursive: true });
  }
});

/** `count` 320×240 test-pattern JPEGs made by ffmpeg. */
async function testFrames(count: number): Promise<Uint8Array[]> {
  const { stdout, success } = await new Deno.Command("ffmpeg", {
    args: [
      ..."-hide_banner -loglevel error -f lavfi -i".split(" "),
      "testsrc2=size=320x240:rate=30",
      "-frames:v",
      String(count),
      ..."-f mjpeg pipe:1".split(" "),
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).output();
  assert.ok(success, "ffmpeg made no test frames");
  return new JpegSplitter().push(stdout);
}
