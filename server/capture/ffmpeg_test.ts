// Copyright 2026 the camwire authors. MIT license.
import assert from "node:assert/strict";
import {
  captureArgs,
  type CaptureOptions,
  changesPicture,
  defaultDevice,
  overlayFilter,
  parseDshowVideoDevices,
  type Picture,
  publishFormat,
  relayArgs,
  videoFilters,
} from "./ffmpeg.ts";
import { JpegSplitter } from "../../framing.ts";
import { jpegSize } from "../../common/jpeg.ts";

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

Deno.test("videoFilters() scales first, then turns, mirrors and draws the overlay", () => {
  // Each row: the picture options, and the filter chain after the scale.
  const table: [Picture, string][] = [
    [{}, ""],
    [{ rotate: 0 }, ""],
    [{ rotate: 90 }, ",transpose=clock"],
    [{ rotate: 180 }, ",hflip,vflip"],
    [{ rotate: 270 }, ",transpose=cclock"],
    [{ flip: "h" }, ",hflip"],
    [{ flip: "v" }, ",vflip"],
    [{ flip: "hv" }, ",hflip,vflip"],
    [{ rotate: 90, flip: "h" }, ",transpose=clock,hflip"],
    [{ overlay: "cam" }, `,${overlayFilter("cam")}`],
    [{ rotate: 270, overlay: "x" }, `,transpose=cclock,${overlayFilter("x")}`],
  ];
  for (const [picture, chain] of table) {
    assert.equal(
      videoFilters(320, picture),
      `scale=320:-2${chain}`,
      JSON.stringify(picture),
    );
    assert.equal(
      changesPicture(picture),
      chain !== "",
      JSON.stringify(picture),
    );
  }
});

Deno.test("overlayFilter() escapes the text for ffmpeg's three parsers", () => {
  // Each row: the text, and what drawtext's `text` option is in the graph.
  const table: [string, string][] = [
    ["cam", String.raw`%{localtime\\:cam}`],
    ["%H:%M", String.raw`%{localtime\\:%H\\\\\\:%M}`],
    ["a,b", String.raw`%{localtime\\:a\,b}`],
    ["it's", String.raw`%{localtime\\:it\\\\\\\'s}`],
    ["[x];y", String.raw`%{localtime\\:\[x\]\;y}`],
    [" a", String.raw`%{localtime\\:\\\\ a}`],
  ];
  for (const [text, escaped] of table) {
    const filter = overlayFilter(text);
    assert.equal(
      filter.slice(0, filter.indexOf(":x=8")),
      `drawtext=text=${escaped}`,
      text,
    );
  }
});

Deno.test("captureArgs() gives the picture filters to the MJPEG output and to the H.264 one", () => {
  const picture: Picture = { rotate: 90, flip: "v", overlay: "%H:%M:%S" };
  const args = captureArgs({
    ...base,
    kind: "test",
    picture,
    relays: ["udp://127.0.0.1:5000"],
  });
  const chains = args.flatMap((arg, i) => args[i - 1] === "-vf" ? [arg] : []);
  assert.deepEqual(chains, [
    videoFilters(320, picture),
    videoFilters(320, picture),
  ]);
});

Deno.test("captureArgs() --rotate 90 of a 320x240 source at --width 320 gives 240x320 frames, 270 likewise, 180 keeps 320x240 (real ffmpeg)", async () => {
  const source = await testJpeg(320, 240);
  const table: [Picture, { width: number; height: number }][] = [
    [{ rotate: 90 }, { width: 240, height: 320 }],
    [{ rotate: 270 }, { width: 240, height: 320 }],
    [{ rotate: 180 }, { width: 320, height: 240 }],
    [{ rotate: 0 }, { width: 320, height: 240 }],
  ];
  for (const [picture, size] of table) {
    const out = await throughCapture(source, picture);
    assert.deepEqual(jpegSize(out), size, JSON.stringify(picture));
  }
});

Deno.test("captureArgs() --flip h mirrors the picture left to right, v top to bottom, pixel for pixel (real ffmpeg)", async () => {
  const source = await testJpeg(320, 240);
  const plain = await grayPixels(await throughCapture(source, {}));
  for (const flip of ["h", "v"] as const) {
    const flipped = await grayPixels(await throughCapture(source, { flip }));
    const mirrored = mirror(plain.pixels, plain.width, plain.height, flip);
    // JPEG encodes a mirrored picture into slightly different blocks.
    const error = meanDifference(flipped.pixels, mirrored);
    assert.ok(error < 3, `--flip ${flip}: mean difference ${error.toFixed(2)}`);
    // And the test can tell: the unflipped picture is far from it.
    const unflipped = meanDifference(flipped.pixels, plain.pixels);
    assert.ok(
      unflipped > 8,
      `--flip ${flip} left the picture as it was (${unflipped.toFixed(2)})`,
    );
  }
});

Deno.test("captureArgs() --overlay draws in the top left corner and leaves the rest (real ffmpeg)", async () => {
  const source = await testJpeg(320, 240);
  const plain = await grayPixels(await throughCapture(source, {}));
  const labelled = await grayPixels(
    await throughCapture(source, { overlay: "%Y-%m-%d %H:%M:%S" }),
  );
  const corner = (p: Uint8Array) => region(p, 320, [0, 0, 160, 40]);
  const rest = (p: Uint8Array) => region(p, 320, [0, 120, 320, 240]);
  const inCorner = meanDifference(
    corner(labelled.pixels),
    corner(plain.pixels),
  );
  const elsewhere = meanDifference(rest(labelled.pixels), rest(plain.pixels));
  assert.ok(inCorner > 15, `the corner changed by ${inCorner.toFixed(2)} only`);
  assert.ok(
    elsewhere < 1,
    `the bottom half changed by ${elsewhere.toFixed(2)}`,
  );
});

Deno.test("overlayFilter() text reaches drawtext as written: the same pixels as drawtext reading it from a file (real ffmpeg)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "camwire-overlay-" });
  try {
    for (const text of [String.raw`Cam 1: it's [a], b; c\d {e}`, " lead"]) {
      const file = `${dir}/text.txt`;
      await Deno.writeTextFile(file, text);
      const style = overlayFilter("x").slice(
        overlayFilter("x").indexOf(":x=8"),
      );
      const ours = await drawOn(overlayFilter(text));
      const reference = await drawOn(
        `drawtext=textfile=${file}:expansion=none${style}`,
      );
      assert.ok(equal(ours, reference), `"${text}" was drawn differently`);
    }
    // And the comparison can fail: other text, other pixels.
    assert.ok(
      !equal(
        await drawOn(overlayFilter("a")),
        await drawOn(overlayFilter("b")),
      ),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Runs ffmpeg with `input` on stdin; returns stdout, failing on an error. */
async function ffmpeg(args: string[], input?: Uint8Array): Promise<Uint8Array> {
  const child = new Deno.Command("ffmpeg", {
    args,
    stdin: input ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (input) {
    const writer = child.stdin.getWriter();
    await writer.write(input);
    await writer.close();
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  const output = await Promise.race([
    child.output(),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new Error(`ffmpeg ${args.join(" ")}: no exit within 15 s`));
      }, 15_000);
    }),
  ]).finally(() => clearTimeout(timer));
  assert.ok(
    output.success,
    `ffmpeg ${args.join(" ")}: ${new TextDecoder().decode(output.stderr)}`,
  );
  return output.stdout;
}

/** One JPEG of testsrc2 (asymmetric: a mirror shows) at this size. */
function testJpeg(width: number, height: number): Promise<Uint8Array> {
  return ffmpeg([
    ..."-hide_banner -loglevel error -f lavfi -i".split(" "),
    `testsrc2=size=${width}x${height}:rate=1`,
    ..."-frames:v 1 -q:v 2 -f mjpeg pipe:1".split(" "),
  ]);
}

/**
 * One JPEG through the stdin capture's own command line. It goes in
 * three times: ffmpeg's MJPEG input keeps each frame until the next one
 * begins, so the last one in never comes out.
 */
async function throughCapture(
  jpeg: Uint8Array,
  picture: Picture,
): Promise<Uint8Array> {
  const out = await ffmpeg(
    captureArgs({ ...base, kind: "stdin", input: "-", quality: 2, picture }),
    new Uint8Array([...jpeg, ...jpeg, ...jpeg]),
  );
  const [first] = new JpegSplitter().push(out);
  assert.ok(first, "no JPEG came out of the capture's ffmpeg");
  return first;
}

/** Decodes a JPEG to 8-bit gray pixels. */
async function grayPixels(
  jpeg: Uint8Array,
): Promise<{ pixels: Uint8Array; width: number; height: number }> {
  const { width, height } = jpegSize(jpeg)!;
  const pixels = await ffmpeg(
    "-hide_banner -loglevel error -f mjpeg -i pipe:0 -f rawvideo -pix_fmt gray pipe:1"
      .split(" "),
    jpeg,
  );
  assert.equal(pixels.length, width * height);
  return { pixels, width, height };
}

/** A 160x120 gray picture with `filter` applied, as raw gray pixels. */
function drawOn(filter: string): Promise<Uint8Array> {
  return ffmpeg([
    ..."-hide_banner -loglevel error -f lavfi -i color=c=gray:s=320x240:d=1 -vf"
      .split(" "),
    filter,
    ..."-frames:v 1 -f rawvideo -pix_fmt gray pipe:1".split(" "),
  ]);
}

function mirror(
  pixels: Uint8Array,
  width: number,
  height: number,
  flip: "h" | "v",
): Uint8Array {
  const out = new Uint8Array(pixels.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const [sx, sy] = flip === "h" ? [width - 1 - x, y] : [x, height - 1 - y];
      out[y * width + x] = pixels[sy * width + sx]!;
    }
  }
  return out;
}

/** The pixels of a rectangle [x0, y0, x1, y1). */
function region(
  pixels: Uint8Array,
  width: number,
  [x0, y0, x1, y1]: [number, number, number, number],
): Uint8Array {
  const out: number[] = [];
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) out.push(pixels[y * width + x]!);
  }
  return new Uint8Array(out);
}

function meanDifference(a: Uint8Array, b: Uint8Array): number {
  assert.equal(a.length, b.length);
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i]! - b[i]!);
  return sum / a.length;
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
