// Copyright 2026 the camwire authors. MIT license.
// The V4L2 capture in-process, the real FFI code end to end against the
// emulated camera (testing/fake_camera.c, loaded in place of libc: no V4L2
// exists in this kernel and no camera on these machines): passthrough,
// the scale and encode paths, Huffman tables, truncated frames, faults
// through the real supervisor, the ffmpeg fallback, and nothing left open.

import assert from "node:assert/strict";
import { jpegSize } from "../../common/jpeg.ts";
import { openLibc } from "../sys/libc.ts";
import {
  cameraBackend,
  type CameraPlan,
  ffmpegFallback,
  planCamera,
} from "./camera.ts";
import { CameraCapture } from "./capture.ts";
import { CaptureSupervisor, SourceOpenError } from "../capture/capture.ts";
import { ABI } from "./v4l2_abi.ts";
import type { Libc } from "../sys/libc.ts";
import { childPids } from "../../testing/util.ts";
import { type OwnFfmpeg, ownFfmpeg } from "../../testing/own_ffmpeg.ts";
import {
  EACCES,
  EBUSY,
  type FakeCameraConfig,
  fakeCameraHoldings,
  FakeCameras,
  openFakeLibc,
} from "../../testing/fake_camera.ts";

// libc is loaded once per process and kept: load it before any test, so
// that the sanitizers do not take it for a leak.
openLibc();

const MJPEG_320 = { fourcc: "MJPG", width: 320, height: 240, fps: 30 } as const;
const MJPEG_640 = { fourcc: "MJPG", width: 640, height: 480, fps: 30 } as const;
const YUYV_640 = { fourcc: "YUYV", width: 640, height: 480, fps: 30 } as const;

/** Every wait in these tests ends by this deadline. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what}: not within ${ms} ms`)),
      ms,
    );
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * The supervisor's grace after a capture ends (capture.ts): its timer
 * must run out before a test that stopped a supervisor ends.
 */
const EXIT_GRACE_MS = 100;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Runs one capture of a fake camera for `ms` and returns its frames. */
async function capture(
  config: FakeCameraConfig,
  ms: number,
  check?: (
    capture: CameraCapture,
    plan: CameraPlan,
    ffmpeg: OwnFfmpeg,
  ) => void,
): Promise<{ frames: Uint8Array[]; dropped: number; cameras: FakeCameras }> {
  await using ffmpeg = await ownFfmpeg();
  const cameras = await FakeCameras.create();
  using lib = openFakeLibc(cameras.library);
  const device = await cameras.device(config);
  const before = fakeCameraHoldings("self", cameras.dir);
  const plan = planCamera(device, { width: 320, fps: 30 }, lib);
  const frames: Uint8Array[] = [];
  const capture = new CameraCapture({
    device,
    choice: plan.choice,
    width: 320,
    quality: 5,
    ffmpeg: ffmpeg.path,
    relays: [],
    onFrame: (jpeg) => frames.push(jpeg),
    log: () => {},
    libc: lib,
  });
  try {
    await within(capture.firstFrame, 5000, "the first frame");
    await sleep(ms);
    check?.(capture, plan, ffmpeg);
  } finally {
    await capture.stop();
  }
  assert.deepEqual(
    fakeCameraHoldings("self", cameras.dir),
    before,
    "after stop, no fd and no buffer mapping of the camera is left",
  );
  assert.equal((await capture.ended).success, true);
  return { frames, dropped: capture.framesDropped, cameras };
}

Deno.test("CameraCapture passes a 320-wide MJPEG camera through: no ffmpeg, the camera's own JPEGs", async () => {
  const { frames, cameras } = await capture(
    { modes: [MJPEG_640, MJPEG_320] },
    700,
    (capture, plan, ffmpeg) => {
      assert.equal(plan.choice.path, "passthrough");
      assert.equal(capture.pid, undefined);
      assert.deepEqual(childPids(Deno.pid, ffmpeg.name), [], "no ffmpeg runs");
    },
  );
  await using _ = cameras;
  assert.ok(frames.length >= 15, `${frames.length} frames in 0.7 s at 30 fps`);
  const first = await firstRecord(await cameras.frames(320, 240));
  assert.deepEqual(frames[0], first, "passed through byte for byte");
});

async function firstRecord(file: string): Promise<Uint8Array> {
  const bytes = await Deno.readFile(file);
  const length = new DataView(bytes.buffer).getUint32(0, true);
  return bytes.subarray(4, 4 + length);
}

Deno.test("CameraCapture inserts the standard Huffman tables: frames then decode with ffprobe and OpenCV", async () => {
  const { frames, cameras } = await capture(
    { modes: [MJPEG_320], stripDht: true },
    200,
  );
  await using _ = cameras;
  const original = await firstRecord(await cameras.frames(320, 240));
  const repaired = frames[0]!;
  assert.equal(repaired.length, original.length, "420 bytes of tables back");
  const dir = cameras.dir;
  await Deno.writeFile(`${dir}/repaired.jpg`, repaired);
  await Deno.writeFile(`${dir}/original.jpg`, original);
  // OpenCV decodes the repaired frame to exactly the pixels of the frame
  // before its tables were taken out. (OpenCV's libjpeg-turbo, like
  // ffmpeg, would also guess the standard tables for the frame as the
  // camera sent it; stricter decoders do not, hence the repair.)
  const python = `
import sys, cv2, numpy as np
d = sys.argv[1]
r = cv2.imread(d + "/repaired.jpg", cv2.IMREAD_COLOR)
o = cv2.imread(d + "/original.jpg", cv2.IMREAD_COLOR)
print("repaired", r.shape, "equal" if np.array_equal(r, o) else "differ")
`;
  const out = await new Deno.Command("/usr/bin/python3", {
    args: ["-c", python, dir],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  assert.equal(
    new TextDecoder().decode(out.stdout),
    "repaired (240, 320, 3) equal\n",
  );
  const probe = await new Deno.Command("ffprobe", {
    args: [
      ...["-v", "error", "-show_entries", "stream=codec_name,width,height"],
      ...["-of", "csv=p=0", `${dir}/repaired.jpg`],
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(probe.code, 0, new TextDecoder().decode(probe.stderr));
  assert.equal(new TextDecoder().decode(probe.stdout).trim(), "mjpeg,320,240");
});

Deno.test("CameraCapture drops truncated frames and counts them", async () => {
  const { frames, dropped, cameras } = await capture(
    { modes: [MJPEG_320], truncateEvery: 3 },
    900,
  );
  await using _ = cameras;
  assert.ok(dropped >= 5, `${dropped} dropped`);
  // One frame in three is cut short: the counts say so, within a frame.
  assert.ok(
    Math.abs(frames.length - 2 * dropped) <= 2,
    `${frames.length} sent, ${dropped} dropped`,
  );
  for (const jpeg of frames) {
    assert.deepEqual([...jpeg.subarray(-2)], [0xff, 0xd9], "whole frames only");
  }
});

Deno.test("CameraCapture scales a 640x480 MJPEG camera with ffmpeg fed on stdin", async () => {
  const { frames, cameras } = await capture(
    { modes: [MJPEG_640] },
    500,
    (capture, plan, ffmpeg) => {
      assert.equal(plan.choice.path, "scale");
      assert.ok(capture.pid !== undefined);
      assert.deepEqual(childPids(Deno.pid, ffmpeg.name), [capture.pid]);
    },
  );
  await using _ = cameras;
  assert.ok(frames.length >= 10, `${frames.length} frames`);
  assert.deepEqual(jpegSize(frames.at(-1)!), { width: 320, height: 240 });
});

Deno.test("CameraCapture encodes a YUYV-only camera with ffmpeg", async () => {
  const { frames, cameras } = await capture(
    { modes: [YUYV_640] },
    500,
    (_capture, plan) => assert.equal(plan.choice.path, "encode"),
  );
  await using _ = cameras;
  assert.ok(frames.length >= 10, `${frames.length} frames`);
  assert.deepEqual(jpegSize(frames.at(-1)!), { width: 320, height: 240 });
});

/** A supervisor of V4L2 captures of a fake camera, with the real clock. */
async function supervise(
  config: FakeCameraConfig,
  stallTimeoutMs = 3000,
) {
  const cameras = await FakeCameras.create();
  const lib = openFakeLibc(cameras.library);
  const device = await cameras.device(config);
  const lines: string[] = [];
  const events: string[] = [];
  let framesIn = 0;
  const backend = await cameraBackend({
    device,
    capture: "auto",
    width: 320,
    fps: 30,
    quality: 5,
    ffmpeg: "ffmpeg",
    relays: [],
    os: "linux",
    log: (line) => lines.push(line),
    libc: lib,
  });
  const supervisor = new CaptureSupervisor({
    ffmpeg: "ffmpeg",
    args: [],
    stdin: "null",
    stallTimeoutMs,
    exitOnSourceEnd: false,
    onFrame: () => {
      framesIn++;
      if (events.at(-1) !== "frame") events.push("frame");
    },
    onNoSignal: () => events.push("no signal"),
    log: (line) => lines.push(line),
    launch: backend.launch!,
  });
  return {
    supervisor,
    lines,
    events,
    frames: () => framesIn,
    device,
    async [Symbol.asyncDispose]() {
      await supervisor.stop();
      await sleep(EXIT_GRACE_MS + 50);
      lib.close();
      await cameras[Symbol.asyncDispose]();
    },
  };
}

Deno.test("An unplugged camera: placeholder, restart with backoff, live again, through the supervisor", async () => {
  let device = "";
  {
    await using run = await supervise({ modes: [MJPEG_320], unplugAfter: 10 });
    device = run.device;
    await within(run.supervisor.start("camera"), 5000, "start");
    const lost = () => run.lines.some((l) => /capture lost/.test(l));
    for (let i = 0; i < 40 && !lost(); i++) await sleep(50);
    assert.match(
      run.lines.find((l) => /capture lost/.test(l)) ?? "",
      /capture lost: camera .*video0 exited \(code 1\): .*VIDIOC_DQBUF failed: ENODEV: the camera is gone \(unplugged\?\); restarting in 0\.5 s/,
    );
    const recovered = () => run.lines.some((l) => /recovered/.test(l));
    for (let i = 0; i < 40 && !recovered(); i++) await sleep(50);
    assert.ok(recovered(), run.lines.join("\n"));
    assert.deepEqual(run.events.slice(0, 3), ["frame", "no signal", "frame"]);
    assert.ok(run.frames() > 10, "frames from the camera plugged back in");
  }
  assert.deepEqual(
    fakeCameraHoldings("self", device),
    { fds: 0, mappings: 0 },
    "nothing left open",
  );
});

Deno.test("A camera that stops delivering is restarted after --stall-timeout", async () => {
  await using run = await supervise(
    { modes: [MJPEG_320], stallAfter: 5 },
    400,
  );
  await within(run.supervisor.start("camera"), 5000, "start");
  const stalled = () => run.lines.some((l) => /no frame from camera/.test(l));
  for (let i = 0; i < 40 && !stalled(); i++) await sleep(50);
  assert.match(
    run.lines.find((l) => /no frame from camera/.test(l)) ?? "",
    /no frame from camera .*video0 for 0\.\d s; restarting it/,
  );
  const relaunched = () => run.frames() > 5;
  for (let i = 0; i < 40 && !relaunched(); i++) await sleep(50);
  assert.ok(relaunched(), "the restarted camera delivers again");
});

Deno.test("cameraBackend: a busy camera or one without permission is one line, and no fallback", async () => {
  await using cameras = await FakeCameras.create();
  using lib = openFakeLibc(cameras.library);
  for (
    const [errno, reason] of [
      [EBUSY, "EBUSY: in use by another program"],
      [EACCES, "EACCES: no permission (add the user to the video group)"],
    ] as const
  ) {
    const device = await cameras.device({
      modes: [MJPEG_320],
      openErrno: errno,
    });
    for (const capture of ["auto", "v4l2"] as const) {
      const error = await catchError(() => backendOf(device, capture, lib, []));
      assert.ok(error instanceof SourceOpenError, String(error));
      assert.equal(
        error.message,
        `Cannot open camera ${device}: ${device}: open failed: ${reason}`,
      );
    }
  }
});

Deno.test("cameraBackend under auto falls back to ffmpeg, with one warning naming the call and errno, when the driver rejects an ioctl", async () => {
  await using cameras = await FakeCameras.create();
  using lib = openFakeLibc(cameras.library);
  // Rejected while reading the modes:
  const enumFails = await cameras.device({
    modes: [MJPEG_320],
    failIoctl: [ABI.VIDIOC_ENUM_FMT, 5],
  });
  const lines: string[] = [];
  const backend = await backendOf(enumFails, "auto", lib, lines);
  assert.equal(backend.kind, "ffmpeg");
  assert.deepEqual(lines, [
    `camwire: warning: V4L2 capture failed at VIDIOC_ENUM_FMT (${enumFails}: VIDIOC_ENUM_FMT failed: EIO: I/O error (unplugged, or a USB fault)); capturing with ffmpeg instead (please report this with the camera's name)`,
  ]);
  assert.ok(
    (await catchError(() => backendOf(enumFails, "v4l2", lib, []))) instanceof
      SourceOpenError,
    "--capture v4l2 does not fall back",
  );
  // Rejected when the capture starts (S_FMT): the supervisor's start fails,
  // and the server retries with ffmpeg.
  const setFails = await cameras.device({
    modes: [MJPEG_320],
    failIoctl: [ABI.VIDIOC_S_FMT, 22],
  });
  const settings = settingsOf(setFails, "auto", lib, lines);
  const v4l2 = await cameraBackend(settings);
  assert.equal(v4l2.kind, "v4l2");
  const supervisor = new CaptureSupervisor({
    ffmpeg: "ffmpeg",
    args: [],
    stdin: "null",
    stallTimeoutMs: 3000,
    exitOnSourceEnd: false,
    onFrame: () => {},
    onNoSignal: () => {},
    log: () => {},
    launch: v4l2.launch!,
  });
  const error = await supervisor.start("camera").then(() => null, (e) => e);
  assert.ok(error instanceof SourceOpenError);
  await sleep(EXIT_GRACE_MS + 50);
  lines.length = 0;
  const fallback = ffmpegFallback(settings, v4l2, error);
  assert.equal(fallback?.kind, "ffmpeg");
  assert.match(
    lines[0]!,
    /warning: V4L2 capture failed at VIDIOC_S_FMT .*EINVAL/,
  );
});

Deno.test("cameraBackend with --capture ffmpeg gives ffmpeg the chosen mode", async () => {
  await using cameras = await FakeCameras.create();
  using lib = openFakeLibc(cameras.library);
  const device = await cameras.device({
    modes: [YUYV_640, MJPEG_640, MJPEG_320],
  });
  const backend = await backendOf(device, "ffmpeg", lib, []);
  assert.equal(backend.kind, "ffmpeg");
  assert.deepEqual(backend.cameraMode, {
    inputFormat: "mjpeg",
    videoSize: "320x240",
  });
});

Deno.test("cameraBackend does not pass frames through when publishing: ffmpeg must encode H.264", async () => {
  await using cameras = await FakeCameras.create();
  using lib = openFakeLibc(cameras.library);
  const device = await cameras.device({ modes: [MJPEG_320] });
  const backend = await backendOf(device, "auto", lib, [], [
    "udp://127.0.0.1:9",
  ]);
  assert.match(
    backend.line,
    /MJPEG 320x240 at 30 fps, scaled to 320 px wide by ffmpeg/,
  );
});

function settingsOf(
  device: string,
  capture: "auto" | "v4l2" | "ffmpeg",
  lib: Libc,
  lines: string[],
  relays: string[] = [],
) {
  return {
    device,
    capture,
    width: 320,
    fps: 30,
    quality: 5,
    ffmpeg: "ffmpeg",
    relays,
    os: "linux" as const,
    log: (line: string) => lines.push(line),
    libc: lib,
  };
}

function backendOf(
  device: string,
  capture: "auto" | "v4l2" | "ffmpeg",
  lib: Libc,
  lines: string[],
  relays: string[] = [],
) {
  return cameraBackend(settingsOf(device, capture, lib, lines, relays));
}

async function catchError(fn: () => Promise<unknown>): Promise<unknown> {
  try {
    await fn();
  } catch (error) {
    return error;
  }
  return undefined;
}

Deno.test("cameraBackend with --rotate, --flip or --overlay does not pass frames through, says so, and ffmpeg turns the picture", async () => {
  await using cameras = await FakeCameras.create();
  using lib = openFakeLibc(cameras.library);
  const device = await cameras.device({ modes: [MJPEG_320] });
  const lines: string[] = [];
  const backend = await cameraBackend({
    ...settingsOf(device, "auto", lib, lines),
    picture: { rotate: 90 },
  });
  assert.deepEqual(lines, [
    "camwire: --rotate, --flip and --overlay re-encode the picture: the camera's own JPEGs are not passed through",
  ]);
  assert.match(backend.line, /MJPEG 320x240 at 30 fps, scaled to 320 px/);
  const frames: Uint8Array[] = [];
  const capture = backend.launch!((jpeg) => frames.push(jpeg));
  try {
    await within(capture.firstFrame, 5000, "the first turned frame");
  } finally {
    await capture.stop();
  }
  // Scaled to --width 320 first, then turned: 240 wide, 320 tall.
  assert.deepEqual(jpegSize(frames[0]!), { width: 240, height: 320 });
  // Without picture options the same camera is passed through.
  const plain = await backendOf(device, "auto", lib, []);
  assert.match(plain.line, /passed through/);
});
