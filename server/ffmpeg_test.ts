// Copyright 2026 the camwire authors. MIT license.
import assert from "node:assert/strict";
import {
  captureArgs,
  type CaptureOptions,
  defaultDevice,
  parseDshowVideoDevices,
  publishFormat,
  relayArgs,
} from "./ffmpeg.ts";

const base: CaptureOptions = {
  kind: "camera",
  input: "",
  width: 320,
  fps: 30,
  quality: 5,
  os: "linux",
};

/** The arguments from the input format flag to the input itself. */

function inputOf(args: string[]): string[] {
  return args.slice(args.indexOf("-f"), args.indexOf("-i") + 2);
}

Deno.test("captureArgs() builds each OS's camera input", async (t) => {
  await t.step("Linux uses v4l2", () => {
    const args = captureArgs({ ...base, input: "/dev/video2", fps: 15 });
    assert.deepEqual(inputOf(args), [
      "-f",
      "v4l2",
      "-framerate",
      "15",
      "-i",
      "/dev/video2",
    ]);
  });
  await t.step("Windows uses dshow", () => {
    const args = captureArgs({
      ...base,
      os: "windows",
      input: "video=USB Cam",
    });
    assert.deepEqual(inputOf(args), [
      "-f",
      "dshow",
      "-framerate",
      "30",
      "-i",
      "video=USB Cam",
    ]);
  });
  await t.step("macOS uses avfoundation", () => {
    const args = captureArgs({ ...base, os: "darwin", input: "0" });
    assert.deepEqual(inputOf(args), [
      "-f",
      "avfoundation",
      "-framerate",
      "30",
      "-i",
      "0",
    ]);
  });
  await t.step("default devices", () => {
    assert.equal(defaultDevice("linux"), "/dev/video0");
    assert.equal(defaultDevice("darwin"), "0");
    assert.match(defaultDevice("windows"), /^video=/);
  });
});

Deno.test("captureArgs() scales, encodes MJPEG to stdout with low-delay flags", () => {
  const args = captureArgs({ ...base, width: 640, quality: 9 });
  const joined = args.join(" ");
  assert.match(joined, /-vf scale=640:-2 /);
  assert.match(joined, /-c:v mjpeg -q:v 9 /);
  assert.match(joined, /-fflags nobuffer -flags low_delay/);
  assert.match(joined, /-f mjpeg -flush_packets 1 pipe:1$/);
  assert.ok(args.includes("-nostdin"));
});

Deno.test("captureArgs() reads files at native rate in a loop, stdin as MJPEG", async (t) => {
  await t.step("test pattern at the asked rate", () => {
    const args = captureArgs({ ...base, kind: "test", fps: 25 });
    assert.deepEqual(inputOf(args), [
      "-f",
      "lavfi",
      "-i",
      "testsrc2=size=640x480:rate=25",
    ]);
    assert.ok(args.includes("-re"));
  });
  await t.step("file loops", () => {
    const joined = captureArgs({ ...base, kind: "file", input: "a.mp4" }).join(
      " ",
    );
    assert.match(joined, /-stream_loop -1 -re -i a\.mp4/);
    const once = captureArgs({
      ...base,
      kind: "file",
      input: "a.mp4",
      loop: false,
    });
    assert.ok(!once.includes("-stream_loop"));
  });
  await t.step("URL is read live, not looped", () => {
    const args = captureArgs({ ...base, kind: "file", input: "rtsp://cam/1" });
    assert.ok(!args.includes("-stream_loop"));
    assert.ok(!args.includes("-re"));
    assert.equal(args[args.indexOf("-i") + 1], "rtsp://cam/1");
  });
  await t.step("stdin", () => {
    const args = captureArgs({ ...base, kind: "stdin" });
    assert.deepEqual(inputOf(args), ["-f", "mjpeg", "-i", "pipe:0"]);
    assert.ok(!args.includes("-nostdin"));
  });
});

Deno.test("parseDshowVideoDevices() keeps video devices in order", () => {
  const stderr = [
    '[dshow @ 0000] "Integrated Camera" (video)',
    '[dshow @ 0000]   Alternative name "@device_pnp_\\\\?\\usb"',
    '[dshow @ 0000] "Microphone (Realtek)" (audio)',
    '[dshow @ 0000] "OBS Virtual Camera" (video)',
  ].join("\n");
  assert.deepEqual(parseDshowVideoDevices(stderr), [
    "Integrated Camera",
    "OBS Virtual Camera",
  ]);
});

Deno.test("captureArgs() adds one H.264 tee output for publishing, to local relays", () => {
  const args = captureArgs({
    ...base,
    kind: "test",
    relays: [
      "udp://127.0.0.1:5000?pkt_size=1316",
      "udp://127.0.0.1:5001?pkt_size=1316",
    ],
  });
  const second = args.slice(args.indexOf("pipe:1") + 1).join(" ");
  assert.match(
    second,
    /^-map 0:v -vf scale=320:-2 -c:v libx264 -preset ultrafast -tune zerolatency /,
  );
  assert.match(second, /-force_key_frames expr:gte\(t,n_forced\*1\)/);
  assert.match(
    second,
    /-f tee \[f=mpegts:onfail=ignore\]udp:\/\/127\.0\.0\.1:5000\?pkt_size=1316\|\[f=mpegts:onfail=ignore\]udp:\/\/127\.0\.0\.1:5001/,
  );
  assert.equal(captureArgs({ ...base, kind: "test" }).at(-1), "pipe:1");
});

Deno.test("publishFormat() and relayArgs() pick the container by scheme", () => {
  assert.equal(publishFormat("rtmp://host/live/cam"), "flv");
  assert.equal(publishFormat("RTMPS://host/live/cam"), "flv");
  assert.equal(publishFormat("rtsp://host:8554/cam"), "rtsp");
  assert.equal(publishFormat("srt://host:9000"), "mpegts");
  assert.equal(publishFormat("http://host/x"), undefined);
  const args = relayArgs("udp://127.0.0.1:5000", "rtsp://host:8554/cam");
  assert.deepEqual(args.slice(-3), ["-f", "rtsp", "rtsp://host:8554/cam"]);
  assert.ok(args.includes("copy"));
  assert.equal(
    args[args.indexOf("-i") + 1]!.split("?")[0],
    "udp://127.0.0.1:5000",
  );
});
