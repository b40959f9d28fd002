// Copyright 2026 the camwire authors. MIT license.
// rpicam-vid's command line, its camera listing, the sensor's aspect, and
// which V4L2 nodes are the Pi camera's pipeline, as tables; finding the
// program on PATH. Pure, but for findRpicam's temporary folders.

import assert from "node:assert/strict";
import {
  findRpicam,
  heightFor,
  parseCameraList,
  piPipelineNode,
  rpicamArgs,
  rpicamPicture,
  type RpicamRequest,
} from "./rpicam.ts";
import type { Picture } from "../capture/ffmpeg.ts";

const BASE: RpicamRequest = {
  width: 320,
  height: 240,
  fps: 30,
  qualityPercent: 86,
};
const COMMON = "--codec mjpeg --width 320 --height 240 --framerate 30 -q 86 " +
  "-t 0 -n --flush -o -";

Deno.test("rpicamArgs(): MJPEG at the size asked, to stdout, flushed per frame, forever, no preview; its own half turn and mirrors", () => {
  const table: [string, Partial<RpicamRequest>, string][] = [
    ["plain", {}, COMMON],
    [
      "another size, rate and quality",
      { width: 640, height: 360, fps: 15, qualityPercent: 95 },
      "--codec mjpeg --width 640 --height 360 --framerate 15 -q 95 -t 0 -n --flush -o -",
    ],
    ["a fractional rate", { fps: 7.5 }, COMMON.replace("30", "7.5")],
    [
      "--rotate 180",
      { picture: { rotation: 180, hflip: false, vflip: false } },
      `${COMMON} --rotation 180`,
    ],
    [
      "--flip h",
      { picture: { rotation: 0, hflip: true, vflip: false } },
      `${COMMON} --hflip`,
    ],
    [
      "--flip hv with --rotate 180",
      { picture: { rotation: 180, hflip: true, vflip: true } },
      `${COMMON} --rotation 180 --hflip --vflip`,
    ],
  ];
  for (const [what, request, expected] of table) {
    assert.equal(rpicamArgs({ ...BASE, ...request }).join(" "), expected, what);
  }
});

Deno.test("rpicamPicture(): a half turn and mirrors are rpicam-vid's own; a quarter turn or an overlay needs ffmpeg", () => {
  const table: [Picture | undefined, ReturnType<typeof rpicamPicture>][] = [
    [undefined, { rotation: 0, hflip: false, vflip: false }],
    [{ rotate: 0 }, { rotation: 0, hflip: false, vflip: false }],
    [{ rotate: 180 }, { rotation: 180, hflip: false, vflip: false }],
    [{ flip: "v" }, { rotation: 0, hflip: false, vflip: true }],
    [{ rotate: 180, flip: "hv" }, { rotation: 180, hflip: true, vflip: true }],
    [{ rotate: 90 }, undefined],
    [{ rotate: 270, flip: "h" }, undefined],
    [{ overlay: "%H:%M" }, undefined],
  ];
  for (const [picture, expected] of table) {
    assert.deepEqual(rpicamPicture(picture), expected, JSON.stringify(picture));
  }
});

// As rpicam-apps prints them (core/options.cpp; the listing in its docs,
// rpicam_options_common.adoc): before mid-2023 without the bit depth and
// Bayer order.
const IMX219_OLD = `Available cameras
-----------------
0 : imx219 [3280x2464] (/base/soc/i2c0mux/i2c@1/imx219@10)
    Modes: 'SRGGB10_CSI2P' : 640x480 [206.65 fps - (1000, 752)/1280x960 crop]
                             3280x2464 [21.19 fps - (0, 0)/3280x2464 crop]
           'SRGGB8' : 640x480 [206.65 fps - (1000, 752)/1280x960 crop]
1 : imx477 [4056x3040] (/base/soc/i2c0mux/i2c@1/imx477@1a)
    Modes: 'SRGGB10_CSI2P' : 1332x990 [120.05 fps - (696, 528)/2664x1980 crop]
`;

Deno.test("parseCameraList(): every camera's index, sensor, full size and id; none when none is available", () => {
  assert.deepEqual(parseCameraList(IMX219_OLD), [
    {
      index: 0,
      model: "imx219",
      width: 3280,
      height: 2464,
      id: "/base/soc/i2c0mux/i2c@1/imx219@10",
    },
    {
      index: 1,
      model: "imx477",
      width: 4056,
      height: 3040,
      id: "/base/soc/i2c0mux/i2c@1/imx477@1a",
    },
  ]);
  assert.deepEqual(
    parseCameraList(
      "Available cameras\n-----------------\n" +
        "0 : ov5647 [2592x1944 10-bit GBRG] (/base/axi/pcie@120000/rp1/i2c@88000/ov5647@36)\n",
    ).map((s) => [s.model, s.width, s.height]),
    [["ov5647", 2592, 1944]],
  );
  assert.deepEqual(parseCameraList("No cameras available!\n"), []);
});

Deno.test("heightFor(): the sensor's aspect at --width, even", () => {
  const table: [number, number, number, number][] = [
    // width, sensor width, sensor height, height
    [320, 3280, 2464, 240], // imx219, 4:3
    [640, 4608, 2592, 360], // imx708, 16:9
    [320, 4056, 3040, 240], // imx477
    [1920, 2592, 1944, 1440], // ov5647
    [322, 4608, 2592, 182], // 181.1 → the nearest even
  ];
  for (const [width, sw, sh, height] of table) {
    const sensor = { index: 0, model: "x", width: sw, height: sh, id: "" };
    assert.equal(heightFor(width, sensor), height, `${width} on ${sw}x${sh}`);
  }
});

Deno.test("piPipelineNode(): the Pi camera's pipeline by driver or card, never a webcam or the legacy camera", () => {
  const table: [string, string, string | undefined][] = [
    ["unicam", "unicam", "unicam"],
    ["rp1-cfe", "rp1-cfe", "rp1-cfe"],
    ["bcm2835-isp", "bcm2835-isp", "bcm2835-isp"],
    ["pispbe", "pispbe", "pispbe"],
    ["bcm2835-codec", "bcm2835-codec-encode_image", "bcm2835-codec"],
    ["uvcvideo", "HD Pro Webcam C920", undefined],
    // The legacy stack's camera streams MJPEG through V4L2 itself.
    ["bm2835 mmal", "mmal service 16.1", undefined],
    ["bcm2835 mmal", "mmal service 16.1", undefined],
    // libcamerify's shim: a V4L2 face on libcamera, usable as it is.
    ["libcamera", "/base/soc/i2c0mux/i2c@1/imx219@", undefined],
  ];
  for (const [driver, card, expected] of table) {
    assert.equal(piPipelineNode({ driver, card }), expected, driver);
  }
});

Deno.test("findRpicam(): rpicam-vid anywhere on PATH before libcamera-vid (its name before rpicam-apps 1.4); only an executable file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "camwire-path-" });
  try {
    const [a, b, c] = [`${dir}/a`, `${dir}/b`, `${dir}/c`];
    for (const d of [a, b, c]) await Deno.mkdir(d);
    const put = (path: string, mode: number) =>
      Deno.writeTextFile(path, "#!/bin/sh\n", { mode });
    await put(`${a}/libcamera-vid`, 0o755);
    await put(`${b}/rpicam-vid`, 0o755);
    await put(`${c}/rpicam-vid`, 0o644); // not executable
    await Deno.mkdir(`${c}/libcamera-vid`); // a folder
    assert.equal(findRpicam(`${a}:${b}`), `${b}/rpicam-vid`);
    assert.equal(findRpicam(`${a}:${c}`), `${a}/libcamera-vid`);
    assert.equal(findRpicam(c), undefined);
    assert.equal(findRpicam(""), undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
