// Copyright 2026 the camwire authors. MIT license.
// camwire on 64-bit ARM (the Raspberry Pi's 64-bit OS, and most ARM boards),
// run here under qemu-user: Deno for aarch64 (npm's
// @deno/linux-arm64-glibc, the pinned version) under `qemu-aarch64-static`,
// with the aarch64 C library of libc6-dev-arm64-cross; `bash .ci/run`
// installs all of it. What this proves: the V4L2 ABI (the FFI structs and
// ioctl numbers) as aarch64's <linux/videodev2.h> has it, and the whole
// camera path of server.ts and client.ts running as aarch64 code, against
// the emulated camera cross-built for aarch64 (no V4L2 exists in this
// kernel, no Pi is here). What it does not: a real driver or camera.
// These are the camera tests that need no ffmpeg of their own (ffmpeg,
// native, only makes the test's JPEGs and the "no signal" picture).

import assert from "node:assert/strict";
import { ABI } from "../server/camera/v4l2_abi.ts";
import { STANDARD_DHT } from "../server/camera/jpeg.ts";
import {
  buildAbiProbe,
  FakeCameras,
  fromRecords,
} from "../testing/fake_camera.ts";
import { JpegSplitter } from "../framing.ts";
import { findProgram } from "../common/child.ts";
import {
  childPids,
  equalBytes,
  RawViewer,
  runScript,
  type ServerProcess,
  startServerProcess,
  unstamped,
} from "../testing/util.ts";

const CACHE = Deno.env.get("XDG_CACHE_HOME") ??
  `${Deno.env.get("HOME")}/.cache`;
/** Where .ci/run unpacks Deno for aarch64 (the same version as this one). */
const AARCH64_DENO = `${CACHE}/camwire/deno-${Deno.version.deno}-aarch64/deno`;
/** The aarch64 C library that qemu-user loads aarch64 programs with. */
const QEMU_ENV = { QEMU_LD_PREFIX: "/usr/aarch64-linux-gnu" };
const RUNNER = ["qemu-aarch64-static"];

/** Fails, in one line, when something the aarch64 run needs is missing. */
function requireAarch64(): void {
  const missing = [
    ...[AARCH64_DENO, "/usr/aarch64-linux-gnu/lib/libc.so.6"].filter((f) =>
      !exists(f)
    ),
    ...["qemu-aarch64-static", "aarch64-linux-gnu-gcc"].filter((p) =>
      findProgram([p]) === undefined
    ),
  ];
  if (missing.length > 0) {
    throw new Error(
      `The aarch64 run needs ${
        missing.join(", ")
      }: run bash .ci/run, which installs qemu-user-static, gcc-aarch64-linux-gnu, libc6-dev-arm64-cross and Deno ${Deno.version.deno} for aarch64 (npm pack @deno/linux-arm64-glibc)`,
    );
  }
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Starts server.ts on aarch64 Deno, on a free port, and waits for it. */
function startArmServer(
  args: string[],
  env: Record<string, string>,
): Promise<ServerProcess> {
  return startServerProcess(args, { ...QEMU_ENV, ...env }, {
    runner: RUNNER,
    deno: AARCH64_DENO,
    readyMs: 60_000,
  });
}

/** `client.ts --output - --frames N` on aarch64 Deno: the JPEGs it wrote. */
async function armClientFrames(
  port: number,
  frames: number,
): Promise<Uint8Array[]> {
  const out = await runScript(
    "client.ts",
    ["--port", `${port}`, "--output", "-", "--frames", `${frames}`],
    QEMU_ENV,
    { runner: RUNNER, deno: AARCH64_DENO, timeoutMs: 60_000 },
  );
  assert.equal(out.code, 0, out.stderr);
  return new JpegSplitter().push(out.stdout);
}

Deno.test("aarch64: the V4L2 ABI probe built for aarch64 prints exactly server/camera/v4l2_abi.ts's ioctl numbers, sizes and offsets", async () => {
  requireAarch64();
  const probe = await buildAbiProbe("aarch64");
  const { code, stdout, stderr } = await new Deno.Command(RUNNER[0]!, {
    args: [probe],
    env: QEMU_ENV,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  const header: Record<string, number> = JSON.parse(
    new TextDecoder().decode(stdout),
  );
  assert.deepEqual(Object.keys(header).sort(), Object.keys(ABI).sort());
  for (const [name, value] of Object.entries(ABI)) {
    assert.equal(value, header[name], name);
  }
  // And aarch64 Deno reads the same module: its FFI code runs with these.
  const out = await runScript(
    "testing/print_abi.ts",
    [],
    QEMU_ENV,
    { runner: RUNNER, deno: AARCH64_DENO, timeoutMs: 60_000 },
  );
  assert.equal(out.code, 0, out.stderr);
  assert.deepEqual(JSON.parse(new TextDecoder().decode(out.stdout)), {
    arch: "aarch64",
    abi: header,
  });
});

Deno.test("aarch64: server.ts passes the camera's JPEGs through byte for byte, with no ffmpeg, and client.ts --output reads them", async () => {
  requireAarch64();
  await using cameras = await FakeCameras.create("aarch64");
  const device = await cameras.device({
    card: "HD Webcam C270",
    modes: [{ fourcc: "MJPG", width: 320, height: 240, fps: 30 }],
  });
  const served = fromRecords(
    await Deno.readFile(await cameras.frames(320, 240)),
  );
  const server = await startArmServer(["--device", device], {
    CAMWIRE_LIBC: cameras.library,
  });
  try {
    await server.waitForLine(/MJPEG 320x240 at 30 fps, passed through/);
    assert.deepEqual(childPids(server.child.pid, "ffmpeg"), []);
    const jpegs = await armClientFrames(server.port, 10);
    assert.equal(jpegs.length, 10);
    for (const jpeg of jpegs) {
      assert.ok(
        served.some((r) => equalBytes(unstamped(jpeg), r.subarray(2))),
        "one of the camera's JPEGs, byte for byte",
      );
    }
  } finally {
    assert.equal(await server.stop(), 0);
  }
});

Deno.test("aarch64: truncated frames are dropped and missing Huffman tables put back", async () => {
  requireAarch64();
  await using cameras = await FakeCameras.create("aarch64");
  const device = await cameras.device({
    modes: [{ fourcc: "MJPG", width: 320, height: 240, fps: 30 }],
    stripDht: true,
    truncateEvery: 4,
  });
  const originals = fromRecords(
    await Deno.readFile(await cameras.frames(320, 240)),
  ).map(withoutTables);
  const server = await startArmServer(["--device", device], {
    CAMWIRE_LIBC: cameras.library,
  });
  try {
    const jpegs = await armClientFrames(server.port, 12);
    assert.equal(jpegs.length, 12);
    for (const jpeg of jpegs) {
      // The camera sent it without tables; the viewer gets the standard
      // ones back (the tables the frame was encoded with), and otherwise
      // the camera's frame, whole.
      const frame = new Uint8Array([0xff, 0xd8, ...unstamped(jpeg)]);
      assert.ok(contains(frame, STANDARD_DHT), "the standard tables");
      assert.ok(
        originals.some((o) => equalBytes(o, withoutTables(frame))),
        "one of the camera's frames, whole",
      );
    }
    await server.waitForLine(/dropped \d+ truncated or damaged frame/, 30_000);
  } finally {
    assert.equal(await server.stop(), 0);
  }
});

Deno.test("aarch64: an unplugged camera gives viewers the no-signal frame, is reopened, and streams again", async () => {
  requireAarch64();
  await using cameras = await FakeCameras.create("aarch64");
  const device = await cameras.device({
    modes: [{ fourcc: "MJPG", width: 320, height: 240, fps: 30 }],
    unplugAfter: 45,
  });
  const served = fromRecords(
    await Deno.readFile(await cameras.frames(320, 240)),
  );
  const server = await startArmServer(["--device", device], {
    CAMWIRE_LIBC: cameras.library,
  });
  // Each open of the emulated camera is "plugged in" anew for 45 frames:
  // the viewer sees camera frames, the no-signal frame, camera frames.
  const viewer = await RawViewer.connect(server.port);
  try {
    const kinds = () =>
      viewer.frames.map(({ jpeg }) =>
        served.some((r) => equalBytes(unstamped(jpeg), r.subarray(2)))
          ? "camera"
          : "no signal"
      ).filter((kind, i, all) => kind !== all[i - 1]);
    const deadline = Date.now() + 60_000;
    while (
      Date.now() < deadline && !/camera,no signal,camera/.test(`${kinds()}`)
    ) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.match(`${kinds()}`, /camera,no signal,camera/);
    await server.waitForLine(
      /capture lost: camera .* ENODEV: the camera is gone \(unplugged\?\); restarting/,
    );
  } finally {
    await viewer.close();
    assert.equal(await server.stop(), 0);
  }
});

Deno.test("aarch64: --list-devices names the camera, its formats, sizes and rates", async () => {
  requireAarch64();
  await using cameras = await FakeCameras.create("aarch64");
  const device = await cameras.device({
    card: "HD Webcam C270",
    modes: [
      { fourcc: "MJPG", width: 320, height: 240, fps: 30 },
      { fourcc: "YUYV", width: 640, height: 480, fps: 30 },
    ],
  });
  const out = await runScript(
    "server.ts",
    ["--list-devices", "--device", device],
    { ...QEMU_ENV, CAMWIRE_LIBC: cameras.library },
    { runner: RUNNER, deno: AARCH64_DENO, timeoutMs: 60_000 },
  );
  assert.equal(out.code, 0, out.stderr);
  assert.equal(
    new TextDecoder().decode(out.stdout),
    `${device} "HD Webcam C270" (fakecam, platform:fakecam)\n` +
      "  MJPEG 320x240 (30, 15 fps)\n" +
      "  YUYV 640x480 (30, 15 fps)\n",
  );
});

/** A JPEG without its DHT segments (those before the first SOS). */
function withoutTables(jpeg: Uint8Array): Uint8Array {
  const kept: number[] = [0xff, 0xd8];
  let pos = 2;
  while (pos + 4 <= jpeg.length && jpeg[pos] === 0xff) {
    const code = jpeg[pos + 1]!;
    if (code === 0xda) break;
    const end = pos + 2 + ((jpeg[pos + 2]! << 8) | jpeg[pos + 3]!);
    if (code !== 0xc4) kept.push(...jpeg.subarray(pos, end));
    pos = end;
  }
  return new Uint8Array([...kept, ...jpeg.subarray(pos)]);
}

/** Whether `bytes` holds `part` somewhere. */
function contains(bytes: Uint8Array, part: Uint8Array): boolean {
  outer: for (let i = 0; i + part.length <= bytes.length; i++) {
    for (let j = 0; j < part.length; j++) {
      if (bytes[i + j] !== part[j]) continue outer;
    }
    return true;
  }
  return false;
}
