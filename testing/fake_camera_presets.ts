// Copyright 2026 the camwire authors. MIT license.
/**
 * Emulated cameras shaped like real ones, for tests and benches (see
 * testing/fake_camera.ts; the shapes are sourced in the project's notes on
 * Raspberry Pi and ARM cameras): the Pi's legacy "bcm2835-like" camera,
 * and the controls of a UVC webcam under Linux 5.16 and later or before.
 *
 * @module
 */

import type { FakeCameraConfig, FakeControl } from "./fake_camera.ts";

/**
 * The formats of the Pi's legacy camera driver (bcm2835-v4l2), in its
 * ENUM_FMT order.
 */
export const BCM2835_FORMATS = [
  "YU12",
  "YUYV",
  "RGB3",
  "JPEG",
  "H264",
  "MJPG",
  "YVYU",
  "VYUY",
  "UYVY",
  "NV12",
  "BGR3",
  "YV12",
  "NV21",
  "BGR4",
];

/**
 * A camera shaped like the Pi's legacy one with a 5-megapixel sensor:
 * driver `bm2835 mmal` (sic, as kernels up to 5.15 spell it), card `mmal
 * service 16.1`, every format's sizes STEPWISE 32x32 to 2592x1944 step
 * 2x2, intervals CONTINUOUS 1/90 to 1/1 s, the JPEG quality control. The
 * emulation encodes nothing: it serves ffmpeg's JPEGs of the sizes in
 * `frameSizes` (the ones a test asks for).
 *
 * @param frameSizes Sizes to make JPEGs of. @default {[[320, 240]]}
 */
export function bcm2835Like(
  frameSizes: [number, number][] = [[320, 240]],
): FakeCameraConfig {
  return {
    driver: "bm2835 mmal",
    card: "mmal service 16.1",
    modes: [],
    ranges: BCM2835_FORMATS.map((fourcc) => ({
      fourcc,
      type: "stepwise" as const,
      min: [32, 32] as [number, number],
      max: [2592, 1944] as [number, number],
      step: [2, 2] as [number, number],
    })),
    frameSizes,
    intervals: { type: "continuous", min: [1, 90], max: [1, 1] },
    controls: [
      { id: 0x00980001, type: "class", name: "User Controls", flags: 0x44 },
      {
        id: 0x00980900,
        type: "int",
        name: "Brightness",
        min: 0,
        max: 100,
        step: 1,
        default: 50,
      },
      {
        id: 0x009d0001,
        type: "class",
        name: "JPEG Compression Controls",
        flags: 0x44,
      },
      {
        id: 0x009d0903,
        type: "int",
        name: "Compression Quality",
        min: 1,
        max: 100,
        step: 1,
        default: 30,
      },
    ],
  };
}

/**
 * A UVC webcam's controls, named as Linux 5.16 and later name them
 * (`new`) or as before (`old`): the same IDs, other names. Among them a
 * class header, a menu with holes (auto_exposure: 1 and 3 only), an
 * inactive control and a disabled one, as real webcams list them.
 */
export function uvcControls(names: "new" | "old"): FakeControl[] {
  const pick = (now: string, before: string) => names === "new" ? now : before;
  return [
    { id: 0x00980001, type: "class", name: "User Controls", flags: 0x44 },
    {
      id: 0x00980900,
      type: "int",
      name: "Brightness",
      min: -64,
      max: 64,
      step: 1,
      default: 0,
    },
    {
      id: 0x00980901,
      type: "int",
      name: "Contrast",
      min: 0,
      max: 64,
      step: 1,
      default: 32,
    },
    {
      id: 0x0098090c,
      type: "bool",
      name: pick("White Balance, Automatic", "White Balance Temperature, Auto"),
      min: 0,
      max: 1,
      step: 1,
      default: 1,
    },
    // Disabled: listed by the driver, never by camwire.
    {
      id: 0x00980913,
      type: "int",
      name: "Gain",
      min: 0,
      max: 100,
      step: 1,
      default: 0,
      flags: 1,
    },
    {
      id: 0x00980918,
      type: "menu",
      name: "Power Line Frequency",
      min: 0,
      max: 2,
      step: 1,
      default: 1,
      menu: { 0: "Disabled", 1: "50 Hz", 2: "60 Hz" },
    },
    {
      id: 0x0098091a,
      type: "int",
      name: "White Balance Temperature",
      min: 2800,
      max: 6500,
      step: 10,
      default: 4600,
      flags: 16,
    },
    { id: 0x009a0001, type: "class", name: "Camera Controls", flags: 0x44 },
    {
      id: 0x009a0901,
      type: "menu",
      name: pick("Auto Exposure", "Exposure, Auto"),
      min: 0,
      max: 3,
      step: 1,
      default: 3,
      menu: { 1: "Manual Mode", 3: "Aperture Priority Mode" },
    },
    {
      id: 0x009a0902,
      type: "int",
      name: pick("Exposure Time, Absolute", "Exposure (Absolute)"),
      min: 3,
      max: 2047,
      step: 1,
      default: 250,
      flags: 16,
    },
    {
      id: 0x009a090c,
      type: "bool",
      name: pick("Focus, Automatic Continuous", "Focus, Auto"),
      min: 0,
      max: 1,
      step: 1,
      default: 1,
    },
  ];
}
