// Copyright 2026 the camwire authors. MIT license.
/**
 * The rpicam-vid stand-in (testing/bin/rpicam-vid) for tests, and the
 * emulated camera playing a Raspberry Pi's CSI receiver. Neither a Pi, nor
 * libcamera, nor a camera sensor exists on the machines camwire is tested
 * on: the stand-in takes only the arguments camwire is meant to give the
 * real rpicam-vid (it fails loudly on any other), answers
 * `--list-cameras` as the real one does, and writes MJPEG made by ffmpeg's
 * testsrc2; the emulated node answers QUERYCAP as unicam does and fails
 * STREAMON with EINVAL, as unicam does without libcamera's pipeline.
 *
 * @module
 */

import { type FakeCameras, splitJpegs } from "./fake_camera.ts";
import { ABI } from "../server/camera/v4l2_abi.ts";

const BIN = new URL("./bin", import.meta.url).pathname;

/** A stand-in set up for one test: its environment and what it recorded. */
export interface StandIn {
  /** Environment for the server: the stand-in first on PATH. */
  env: Record<string, string>;
  /**
   * A folder holding an `rpicam-vid` that runs the stand-in with that
   * environment: the search path for a capture in this process
   * (`searchPath`), where changing this process's environment would
   * change it for every test running beside this one.
   */
  searchPath: string;
  /** The argument lines of each of its runs, oldest first. */
  runs(): Promise<string[]>;
  /** Every whole JPEG it has written to its stdout so far. */
  jpegs(): Promise<Uint8Array[]>;
}

/**
 * Puts the stand-in on PATH, recording into `dir`.
 *
 * @param dir A temporary folder of the test's.
 * @param sensor What `--list-cameras` lists: imx219 (4:3), imx708 (16:9)
 * or none.
 */
export function rpicamStandIn(
  dir: string,
  sensor: "imx219" | "imx708" | "none" = "imx219",
): StandIn {
  const argsFile = `${dir}/rpicam-args.txt`;
  const teeFile = `${dir}/rpicam-stdout.mjpg`;
  const read = async (path: string) => {
    try {
      return await Deno.readFile(path);
    } catch {
      return new Uint8Array(0); // no run yet
    }
  };
  const env = {
    RPICAM_STANDIN_SENSOR: sensor,
    RPICAM_STANDIN_ARGS: argsFile,
    RPICAM_STANDIN_TEE: teeFile,
  };
  const searchPath = `${dir}/rpicam-bin`;
  Deno.mkdirSync(searchPath, { recursive: true });
  const assignments = Object.entries(env).map(([name, value]) =>
    `${name}='${value}'`
  );
  Deno.writeTextFileSync(
    `${searchPath}/rpicam-vid`,
    `#!/bin/sh
${assignments.join(" ")} exec '${BIN}/rpicam-vid' "$@"
`,
    { mode: 0o755 },
  );
  return {
    env: { PATH: `${BIN}:${Deno.env.get("PATH") ?? ""}`, ...env },
    searchPath,
    runs: async () =>
      new TextDecoder().decode(await read(argsFile)).split("\n")
        .filter((line) => line !== ""),
    jpegs: async () => splitJpegs(await read(teeFile)),
  };
}

/**
 * The emulated camera as a Pi 0–4's CSI receiver: driver and card
 * `unicam`, YUYV, UYVY, RGB3 and pRAA listed, STREAMON failing (EINVAL).
 *
 * @returns Its device path.
 */
export function unicamNode(cameras: FakeCameras): Promise<string> {
  return cameras.device({
    driver: "unicam",
    card: "unicam",
    modes: ["YUYV", "UYVY", "RGB3", "pRAA"].map((fourcc) => ({
      fourcc,
      width: 640,
      height: 480,
      fps: 30,
    })),
    failIoctl: [ABI.VIDIOC_STREAMON, 22], // EINVAL
  });
}
