// Copyright 2026 the camwire authors. MIT license.
// `--source -`: JPEGs on stdin pass through when they already are --width
// wide, else ffmpeg re-encodes them at stdin's pace. In-process with a
// stream of the test's, and end to end as the docs' recipe runs it:
// `rpicam-vid … -o - | server.ts --source -`, with the rpicam-vid
// STAND-IN (testing/bin/rpicam-vid: no Pi and no camera exist here).

import assert from "node:assert/strict";
import { jpegSize, readStamp } from "../../common/jpeg.ts";
import { StdinCapture } from "./stdin.ts";
import { captureArgs } from "./ffmpeg.ts";
import { fromRecords, makeFrameRecords } from "../../testing/fake_camera.ts";
import {
  childPids,
  equalBytes,
  eventually,
  RawViewer,
  spawnStdinServer,
  unstamped,
  within,
} from "../../testing/util.ts";
import { rpicamStandIn } from "../../testing/rpicam_standin.ts";

const ROOT = new URL("../..", import.meta.url).pathname;

/** 30 JPEGs of testsrc2 at this size. */
async function jpegsOf(dir: string, width: number, height: number) {
  const file = await makeFrameRecords(
    `testsrc2=size=${width}x${height}:rate=30`,
    30,
    `${dir}/frames-${width}.bin`,
  );
  return fromRecords(await Deno.readFile(file));
}

/** A stream of these JPEGs, cut into chunks that split frames. */
function streamOf(
  jpegs: Uint8Array[],
  chunk = 1000,
): ReadableStream<Uint8Array> {
  const bytes = new Uint8Array(jpegs.reduce((n, j) => n + j.length, 0));
  let at = 0;
  for (const jpeg of jpegs) {
    bytes.set(jpeg, at);
    at += jpeg.length;
  }
  let pos = 0;
  return new ReadableStream({
    pull(controller) {
      if (pos >= bytes.length) return controller.close();
      controller.enqueue(bytes.slice(pos, pos + chunk));
      pos += chunk;
    },
  });
}

async function run(
  input: ReadableStream<Uint8Array>,
  options: { width: number; reencode?: boolean },
) {
  const frames: Uint8Array[] = [];
  const args = captureArgs({
    kind: "stdin",
    input: "-",
    width: options.width,
    fps: 30,
    quality: 5,
    os: "linux",
  });
  const capture = new StdinCapture({
    input,
    width: options.width,
    reencode: options.reencode ?? false,
    ffmpeg: "ffmpeg",
    ffmpegArgs: args,
    onFrame: (jpeg) => frames.push(jpeg),
  });
  let pid: number | undefined;
  capture.firstFrame.then(() => pid = capture.pid);
  const status = await within(capture.ended, 20_000, "stdin's end");
  return { frames, status, pid, capture };
}

Deno.test("StdinCapture passes --width-wide JPEGs through, byte for byte, with no ffmpeg; ends when stdin ends", async () => {
  const dir = await Deno.makeTempDir({ prefix: "camwire-stdin-" });
  try {
    const jpegs = await jpegsOf(dir, 320, 240);
    const { frames, status, pid, capture } = await run(streamOf(jpegs), {
      width: 320,
    });
    assert.equal(status.success, true);
    assert.equal(pid, undefined, "no ffmpeg");
    assert.equal(capture.passesThrough, true);
    assert.equal(frames.length, 30);
    assert.ok(frames.every((f, i) => equalBytes(f, jpegs[i]!)));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("StdinCapture re-encodes JPEGs of another width with ffmpeg, at stdin's pace: a finite stream loses no frame to camwire", async () => {
  const dir = await Deno.makeTempDir({ prefix: "camwire-stdin-" });
  try {
    const jpegs = await jpegsOf(dir, 640, 480);
    const { frames, status, pid } = await run(streamOf(jpegs, 64 * 1024), {
      width: 320,
    });
    assert.equal(status.success, true, "ffmpeg ended by itself");
    assert.ok(pid !== undefined, "an ffmpeg ran");
    // ffmpeg's -fflags nobuffer costs the frame it probes with: reading
    // the same 30 JPEGs itself, with camwire's flags, it gives 29.
    assert.ok(frames.length >= 29, `${frames.length} of 30 out`);
    assert.deepEqual(jpegSize(frames.at(-1)!), { width: 320, height: 240 });
    // --rotate and the like re-encode whatever the width.
    const turned = await run(streamOf(await jpegsOf(dir, 320, 240)), {
      width: 320,
      reencode: true,
    });
    assert.ok(turned.pid !== undefined);
    assert.ok(!equalBytes(turned.frames[0]!, jpegs[0]!));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("StdinCapture: stdin that ends before a whole JPEG says so, with the bytes read", async () => {
  const garbage = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new TextEncoder().encode("not a jpeg at all"));
      controller.close();
    },
  });
  const { status, capture } = await run(garbage, { width: 320 });
  assert.equal(status.success, false);
  assert.equal(
    capture.lastError,
    "stdin ended before a whole JPEG came (17 bytes read: is it MJPEG?)",
  );
});

/** `rpicam-vid ARGS | server.ts --source - FLAGS`, as the docs say. */
function recipe(dir: string, width: number, flags: string[] = []) {
  const pi = rpicamStandIn(dir);
  const camera = new Deno.Command(`${ROOT}testing/bin/rpicam-vid`, {
    args: [
      ...["--codec", "mjpeg", "--width", "320", "--height", "240"],
      ...[
        "--framerate",
        "30",
        "-q",
        "86",
        "-t",
        "0",
        "-n",
        "--flush",
        "-o",
        "-",
      ],
    ],
    env: pi.env,
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const server = spawnStdinServer(["--width", `${width}`, ...flags]);
  const piping = camera.stdout.pipeTo(server.stdin).catch(() => {});
  const lines: string[] = [];
  const reading = (async () => {
    for await (
      const text of server.stderr.pipeThrough(new TextDecoderStream())
    ) lines.push(...text.split("\n"));
  })();
  const port = async () => {
    let found: number | undefined;
    await eventually(
      () => {
        const line = lines.find((l) =>
          /streaming on tcp:\/\/127\.0\.0\.1:/.test(l)
        );
        found = line === undefined ? undefined : Number(line.split(":").at(-1));
        return found !== undefined;
      },
      15_000,
      "the server's port",
    );
    return found!;
  };
  const stop = async () => {
    camera.kill("SIGTERM");
    await camera.status;
    await piping;
    const status = await within(server.status, 10_000, "the server's exit");
    await reading;
    return status.code;
  };
  return { pi, server, lines, port, stop };
}

Deno.test("e2e: the docs' recipe, rpicam-vid (the stand-in) piped into --source -: its 320-wide JPEGs are passed through, no ffmpeg, and the server ends with stdin", async () => {
  const dir = await Deno.makeTempDir({ prefix: "camwire-recipe-" });
  try {
    const run = await recipe(dir, 320);
    try {
      const viewer = await RawViewer.connect(await run.port());
      await eventually(() => viewer.frames.length >= 10, 10_000, "10 frames");
      await viewer.close();
      assert.deepEqual(childPids(run.server.pid, "ffmpeg"), []);
      const written = await run.pi.jpegs();
      for (const { jpeg } of viewer.frames.slice(0, 10)) {
        assert.ok(readStamp(jpeg) !== undefined);
        assert.ok(
          written.some((j) => equalBytes(unstamped(jpeg), j.subarray(2))),
          "byte for byte one of rpicam-vid's (the stand-in's) JPEGs",
        );
      }
    } finally {
      assert.equal(await run.stop(), 0, run.lines.join("\n"));
    }
    assert.ok(run.lines.some((l) => /the source ended/.test(l)));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("e2e: --source - at another --width is re-encoded by ffmpeg (160 wide from rpicam-vid's, the stand-in's, 320)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "camwire-recipe-" });
  try {
    const run = await recipe(dir, 160);
    try {
      const viewer = await RawViewer.connect(await run.port());
      await eventually(() => viewer.frames.length >= 5, 10_000, "5 frames");
      await viewer.close();
      assert.equal(childPids(run.server.pid, "ffmpeg").length, 1);
      assert.deepEqual(jpegSize(viewer.frames[4]!.jpeg), {
        width: 160,
        height: 120,
      });
    } finally {
      assert.equal(await run.stop(), 0, run.lines.join("\n"));
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
