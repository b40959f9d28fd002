// Copyright 2026 the camwire authors. MIT license.
// The mode choice, for the kinds of camera camwire may meet.

import assert from "node:assert/strict";
import { chooseMode, describeModes, ModeError } from "./mode.ts";
import type { V4l2Mode } from "./v4l2.ts";

/** A typical UVC webcam: MJPEG up to 1280x720 at 30, YUYV slow when large. */
const WEBCAM: V4l2Mode[] = [
  { fourcc: "YUYV", width: 640, height: 480, fps: [30, 15] },
  { fourcc: "YUYV", width: 1280, height: 720, fps: [10, 5] },
  { fourcc: "MJPG", width: 1280, height: 720, fps: [30, 15] },
  { fourcc: "MJPG", width: 640, height: 480, fps: [30, 15] },
  { fourcc: "MJPG", width: 320, height: 240, fps: [30, 15] },
];

function pick(modes: V4l2Mode[], request: Parameters<typeof chooseMode>[1]) {
  const { mode, fps, path } = chooseMode(modes, request);
  return `${mode.fourcc} ${mode.width}x${mode.height}@${fps} ${path}`;
}

Deno.test("chooseMode passes the camera's MJPEG through when it is exactly --width wide at --fps", () => {
  assert.equal(
    pick(WEBCAM, { width: 320, fps: 30 }),
    "MJPG 320x240@30 passthrough",
  );
  assert.equal(
    pick(WEBCAM, { width: 640, fps: 15 }),
    "MJPG 640x480@15 passthrough",
  );
});

Deno.test("chooseMode scales the smallest MJPEG at least --width wide", () => {
  assert.equal(pick(WEBCAM, { width: 400, fps: 30 }), "MJPG 640x480@30 scale");
  assert.equal(pick(WEBCAM, { width: 800, fps: 30 }), "MJPG 1280x720@30 scale");
});

Deno.test("chooseMode prefers the sensor's aspect among MJPEG sizes", () => {
  const modes: V4l2Mode[] = [
    { fourcc: "MJPG", width: 1920, height: 1080, fps: [30] },
    { fourcc: "MJPG", width: 640, height: 360, fps: [30] },
    { fourcc: "MJPG", width: 640, height: 480, fps: [30] },
  ];
  assert.equal(pick(modes, { width: 400, fps: 30 }), "MJPG 640x360@30 scale");
  const sensor43 = [{ ...modes[0]!, width: 2592, height: 1944 }, ...modes];
  assert.equal(
    pick(sensor43, { width: 400, fps: 30 }),
    "MJPG 640x480@30 scale",
  );
});

Deno.test("chooseMode encodes a raw format when the camera has no MJPEG", () => {
  const yuyvOnly = WEBCAM.filter((m) => m.fourcc === "YUYV");
  assert.equal(
    pick(yuyvOnly, { width: 320, fps: 30 }),
    "YUYV 640x480@30 encode",
  );
  // 1280 wide YUYV only reaches 10 fps: the widest that reaches 30 wins.
  assert.equal(
    pick(yuyvOnly, { width: 800, fps: 30 }),
    "YUYV 640x480@30 encode",
  );
});

Deno.test("chooseMode takes a raw mode that reaches --fps over an MJPEG that does not", () => {
  const modes: V4l2Mode[] = [
    { fourcc: "MJPG", width: 640, height: 480, fps: [15] },
    { fourcc: "YUYV", width: 640, height: 480, fps: [30] },
  ];
  assert.equal(pick(modes, { width: 320, fps: 30 }), "YUYV 640x480@30 encode");
});

Deno.test("chooseMode follows --input-format and --input-size", () => {
  assert.equal(
    pick(WEBCAM, { width: 320, fps: 30, inputFormat: "yuyv" }),
    "YUYV 640x480@30 encode",
  );
  assert.equal(
    pick(WEBCAM, {
      width: 320,
      fps: 30,
      inputSize: { width: 1280, height: 720 },
    }),
    "MJPG 1280x720@30 scale",
  );
  assert.equal(
    pick(WEBCAM, {
      width: 640,
      fps: 30,
      inputFormat: "mjpeg",
      inputSize: { width: 640, height: 480 },
    }),
    "MJPG 640x480@30 passthrough",
  );
});

Deno.test("chooseMode refuses an impossible request in one line listing what the camera offers", () => {
  assert.throws(
    () =>
      chooseMode(WEBCAM, {
        width: 320,
        fps: 30,
        inputSize: { width: 800, height: 600 },
      }),
    ModeError,
  );
  try {
    chooseMode(WEBCAM, { width: 320, fps: 30, inputFormat: "nv12" });
    assert.fail("chose a format the camera does not offer");
  } catch (error) {
    assert.ok(error instanceof ModeError);
    assert.equal(
      error.message,
      "The camera offers no --input-format nv12; it offers: YUYV 640x480 (30, 15 fps), 1280x720 (10, 5 fps); MJPEG 1280x720 (30, 15 fps), 640x480 (30, 15 fps), 320x240 (30, 15 fps)",
    );
    assert.ok(!error.message.includes("\n"));
  }
});

Deno.test("chooseMode takes the widest mode, scaled up, when none is as wide as --width", () => {
  assert.equal(
    pick(WEBCAM, { width: 1920, fps: 30 }),
    "MJPG 1280x720@30 scale",
  );
});

Deno.test("chooseMode asks for the slowest offered rate at or above --fps", () => {
  assert.equal(
    pick(WEBCAM, { width: 320, fps: 10 }),
    "MJPG 320x240@15 passthrough",
  );
});

Deno.test("describeModes lists nothing for a camera without modes", () => {
  assert.equal(describeModes([]), "");
});
