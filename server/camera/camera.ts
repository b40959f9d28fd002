// Copyright 2026 the camwire authors. MIT license.
/**
 * The camera, decided: which backend captures it (`--capture auto|v4l2|
 * rpicam|ffmpeg`), in which mode (read through V4L2, chosen by
 * mode.ts), what happens when V4L2 cannot be used, and
 * `--list-devices`.
 *
 * `auto` (Linux) uses V4L2 through FFI when the device is a V4L2 capture
 * device, and rpicam-vid when it is the Raspberry Pi camera's pipeline
 * (rpicam.ts). It must be safe on hardware it has never met: when V4L2 fails
 * for a reason other than busy, no permission or no such device (an ioctl
 * the driver rejects, say), it falls back to ffmpeg with one line that
 * names the failing call and its errno. A camera that is missing, busy or
 * gone is an error that says which cameras there are instead.
 *
 * @module
 */

import { CamwireError, message, UsageError } from "../../common/cli.ts";
import { spawn, words } from "../../common/child.ts";
import type { Libc } from "../sys/libc.ts";
import {
  V4l2Device,
  V4l2Error,
  type V4l2Identity,
  type V4l2Mode,
  videoNodes,
} from "./v4l2.ts";
import {
  applyControls,
  checkControls,
  type ControlChange,
  ControlError,
  type ControlSetting,
  describeControl,
  readControlFlag,
} from "./controls.ts";
import {
  chooseMode,
  describeChoice,
  describeModes,
  formatLabel,
  formatNamed,
  type ModeChoice,
  type ModeRequest,
  PIXEL_FORMATS,
} from "./mode.ts";
import { CameraCapture } from "./capture.ts";
import { devFolder, nodeOf, persistentNames } from "./names.ts";
import {
  findRpicam,
  listSensors,
  piPipelineNode,
  rpicamBackend,
} from "./rpicam.ts";
import { SourceOpenError, type SupervisedCapture } from "../capture/capture.ts";
import {
  type CaptureOptions,
  changesPicture,
  type Os,
  type Picture,
} from "../capture/ffmpeg.ts";

/** `--capture`: who reads the camera. */
export type CaptureBackend = "auto" | "v4l2" | "rpicam" | "ffmpeg";

/** errno values the camera choice tells apart, from <errno.h>. */
const ENOENT = 2;
const ENOTTY = 25;

/** The camera and the mode chosen for it. */
export interface CameraPlan {
  device: string;
  /** Its name, e.g. `HD Webcam C270`. */
  card: string;
  modes: V4l2Mode[];
  choice: ModeChoice;
  /** The `--control` changes, checked against the camera's controls. */
  controls: ControlChange[];
}

/**
 * Opens the camera, reads what it is and what it offers, chooses the mode,
 * checks `--control`, and closes it again.
 *
 * @param request The mode asked for, and the `--control` settings.
 * @throws {V4l2Error} When a V4L2 call fails.
 * @throws {SourceOpenError} When the device is a metadata node.
 * @throws {ModeError} When nothing it offers fits the request.
 * @throws {ControlError} When a `--control` names no control it has, or a
 * value the control does not take.
 * @throws {Error} When there is no libc to call (not Linux, no FFI).
 */
export function planCamera(
  device: string,
  request: ModeRequest & { controls?: ControlSetting[] | undefined },
  libc?: Libc | null,
): CameraPlan {
  const camera = V4l2Device.open(device, libc);
  try {
    return planOf(camera, device, camera.identify(), request);
  } finally {
    camera.closeNow();
  }
}

/** {@linkcode planCamera} of a camera open and identified. */
function planOf(
  camera: V4l2Device,
  device: string,
  identity: V4l2Identity,
  request: ModeRequest & { controls?: ControlSetting[] | undefined },
): CameraPlan {
  if (identity.metadata) {
    throw new SourceOpenError(
      `Cannot open camera ${device}: it is a metadata node, not a camera (a UVC camera's second /dev/videoN; --list-devices lists the cameras)`,
    );
  }
  if (!identity.canCapture) {
    throw new V4l2Error("VIDIOC_QUERYCAP (no video capture)", ENOTTY, device);
  }
  const modes = camera.modes();
  const choice = chooseMode(modes, request);
  let controls: ControlChange[] = [];
  const settings = request.controls ?? [];
  if (settings.length > 0) {
    try {
      controls = checkControls(camera.controls(), settings);
    } catch (error) {
      if (!(error instanceof ControlError)) throw error;
      throw new ControlError(`--control ${error.message}`);
    }
  }
  return { device, card: identity.card, modes, choice, controls };
}

/**
 * What a node is (VIDIOC_QUERYCAP), before anything else is asked of it:
 * the Pi camera's pipeline, a metadata node, or another that captures no
 * video, is told apart here.
 *
 * @throws {V4l2Error} When it cannot be opened or asked.
 */
function identifyNode(node: string, libc: Libc | null | undefined) {
  const camera = V4l2Device.open(node, libc);
  try {
    return camera.identify();
  } finally {
    camera.closeNow();
  }
}

/** What the capture supervisor runs for a camera. */
export interface CameraBackend {
  /**
   * `v4l2`, `rpicam` (rpicam-vid's JPEGs), or `ffmpeg` (which then opens
   * the camera itself).
   */
  kind: "v4l2" | "rpicam" | "ffmpeg";
  /** The V4L2 or rpicam-vid capture; undefined for ffmpeg. */
  launch?: (onFrame: (jpeg: Uint8Array) => void) => SupervisedCapture;
  /** For ffmpeg: the mode to ask for, and the rate. */
  cameraMode?: CaptureOptions["cameraMode"];
  fps: number;
  /** The line logged at start, e.g. `camera /dev/video0 "C270": MJPEG …`. */
  line: string;
  /** What the source is called in `/stats`, when not `camera <device>`. */
  source?: string;
}

/** What {@linkcode cameraBackend} needs to know. */
export interface CameraSettings extends ModeRequest {
  device: string;
  /** `--control NAME=VALUE`, set after the mode. */
  controls?: ControlSetting[] | undefined;
  capture: CaptureBackend;
  /**
   * The user named the device or the backend (`--device`, `--capture`
   * other than auto): only that camera will do. @default {false}
   */
  named?: boolean | undefined;
  quality: number;
  ffmpeg: string;
  /** Publish relays: frames cannot pass through, ffmpeg must encode H.264. */
  relays: string[];
  /** `--rotate`, `--flip`, `--overlay`: frames cannot pass through either. */
  picture?: Picture | undefined;
  os: Os;
  log: (line: string) => void;
  /** libc, or the emulated camera (tests). @default {openLibc()} */
  libc?: Libc | null | undefined;
  /**
   * Where to look for rpicam-vid, as a PATH (tests give a folder of a
   * stand-in's). @default {the environment's PATH}
   */
  searchPath?: string | undefined;
}

/**
 * Decides who captures the camera and in which mode.
 *
 * @returns The backend.
 * @throws {SourceOpenError} When the camera is missing, busy, forbidden,
 * gone or not a camera (or V4L2 fails with `--capture v4l2`), saying which
 * cameras there are instead; with the V4L2 error as cause.
 * @throws {ModeError} When nothing the camera offers fits the request.
 * @throws {CamwireError} With `--capture v4l2` where V4L2 cannot be had.
 */
export async function cameraBackend(
  settings: CameraSettings,
): Promise<CameraBackend> {
  const { device, capture, os, log } = settings;
  if (capture === "rpicam") return await piCamera(settings, undefined);
  if (os !== "linux") return ffmpegBackend(settings, undefined);
  const node = nodeOf(device);
  let plan: CameraPlan | undefined;
  try {
    // Opened once to be told apart and planned: some cameras take a
    // moment to open, and a Pi's sensor powers up at each open.
    const camera = V4l2Device.open(node, settings.libc);
    let piCameraWhy: string | undefined;
    let notCamera: string | undefined;
    try {
      const identity = camera.identify();
      const pipeline = piPipelineNode(identity);
      if (pipeline !== undefined) {
        const what =
          `${device} "${identity.card}" is the Raspberry Pi camera's ${
            pipeline === "unicam" || pipeline === "rp1-cfe"
              ? "CSI receiver"
              : "pipeline"
          } (${pipeline}), which only libcamera streams`;
        if (capture === "auto") {
          piCameraWhy = what;
        } else {
          log(
            `camwire: warning: ${what}: --capture ${capture} will fail at VIDIOC_STREAMON; --capture rpicam (or auto) reads it through rpicam-vid`,
          );
        }
      }
      if (piCameraWhy === undefined) {
        notCamera = identity.metadata
          ? "it is a metadata node, not a camera (a UVC camera's second /dev/videoN)"
          : !identity.canCapture
          ? `"${identity.card}" (${identity.driver}) is not a video capture node`
          : undefined;
        if (notCamera === undefined) {
          plan = planOf(camera, node, identity, settings);
        }
      }
    } finally {
      camera.closeNow();
    }
    if (plan === undefined) {
      if (piCameraWhy !== undefined) {
        return await piCamera(settings, piCameraWhy);
      }
      // Said once it is closed: the list opens every node, this one too.
      throw new SourceOpenError(
        `Cannot open camera ${device}: ${notCamera} (found: ${
          foundCameras(settings.libc)
        })`,
      );
    }
  } catch (error) {
    if (error instanceof V4l2Error) return await unopened(settings, error);
    // ModeError, ControlError, SourceOpenError (not a camera)
    if (error instanceof CamwireError) throw error;
    if (capture === "v4l2") {
      throw new CamwireError(`--capture v4l2: ${message(error)}`);
    }
    return ffmpegBackend(settings, undefined);
  }
  if (capture === "ffmpeg") {
    // ffmpeg sets no control: set them now; the driver keeps them.
    if (plan.controls.length > 0) {
      const camera = V4l2Device.open(node, settings.libc);
      try {
        applyControls(camera, plan.controls, log);
      } finally {
        camera.closeNow();
      }
    }
    return ffmpegBackend(settings, plan);
  }
  let choice = plan.choice;
  if (choice.path === "passthrough" && settings.relays.length > 0) {
    // Publishing needs ffmpeg to encode H.264: feed it the camera's JPEGs.
    choice = { ...choice, path: "scale" };
  }
  if (choice.path === "passthrough" && changesPicture(settings.picture)) {
    // A turned, mirrored or labelled picture is a new picture: ffmpeg
    // decodes the camera's JPEGs and encodes the result.
    log(
      "camwire: --rotate, --flip and --overlay re-encode the picture: the camera's own JPEGs are not passed through",
    );
    choice = { ...choice, path: "scale" };
  }
  let lastNode = node;
  return {
    kind: "v4l2",
    fps: choice.fps,
    line: describeChoice(device, plan.card, choice, settings.width) +
      (node === device ? "" : ` (${node})`),
    launch: (onFrame) => {
      // Through its name, anew each time: a camera plugged back in may
      // come back at another /dev/videoN, and its by-id name follows it.
      const now = nodeOf(device);
      if (now !== lastNode && now !== device) {
        log(`camwire: camera ${device} is now ${now}`);
        lastNode = now;
      }
      return new CameraCapture({
        device: now,
        choice,
        width: settings.width,
        quality: settings.quality,
        ffmpeg: settings.ffmpeg,
        relays: settings.relays,
        picture: settings.picture,
        controls: plan.controls,
        onFrame,
        log,
        libc: settings.libc,
      });
    },
  };
}

/**
 * What follows from a V4L2 failure while the camera is looked at: an
 * error that says what there is instead, the Pi camera (nothing at the
 * default device, but rpicam-vid), or ffmpeg with a warning.
 */
async function unopened(
  settings: CameraSettings,
  error: V4l2Error,
): Promise<CameraBackend> {
  const { device, capture, named, libc, log } = settings;
  if (error.call === "open" && error.errno === ENOENT) {
    if (exists(device)) {
      // The node is there, its driver is not: unplugged a moment ago.
      throw new SourceOpenError(
        `Cannot open camera ${device}: ${device}: open failed: ENOENT: the camera is gone (unplugged?)`,
        error,
      );
    }
    if (
      capture === "auto" && !named &&
      findRpicam(settings.searchPath) !== undefined
    ) {
      return await piCamera(settings, `no camera at ${device}`);
    }
    throw new SourceOpenError(
      `no camera at ${device} (found: ${foundCameras(libc)})`,
      error,
    );
  }
  if (error.call === "VIDIOC_QUERYCAP" && error.errno === ENOTTY) {
    throw new SourceOpenError(
      `Cannot open camera ${device}: it is not a V4L2 device (found: ${
        foundCameras(libc)
      })`,
      error,
    );
  }
  if (error.unavailable || capture === "v4l2") {
    throw new SourceOpenError(
      `Cannot open camera ${device}: ${error.message}`,
      error,
    );
  }
  if (capture === "auto") log(fallbackLine(error));
  return ffmpegBackend(settings, undefined);
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * The video capture nodes there are, for an error about the one asked
 * for: `/dev/video0 "USB Camera" (/dev/v4l/by-id/…), …`, or `none`.
 */
export function foundCameras(libc?: Libc | null): string {
  let nodes: string[];
  try {
    nodes = videoNodes(devFolder());
  } catch {
    // Deno lets only -A read /dev: the error is still about the camera.
    return "cannot tell, Deno lets only -A list /dev";
  }
  const found: string[] = [];
  for (const node of nodes) {
    try {
      const identity = identifyNode(node, libc);
      if (!identity.canCapture) continue;
      const [name] = persistentNames(node);
      found.push(
        `${node} "${identity.card}"${name === undefined ? "" : ` (${name})`}`,
      );
    } catch {
      // Busy, gone or not a camera: not one to offer.
    }
  }
  return found.length === 0 ? "none" : found.join(", ");
}

/** The Raspberry Pi camera, through rpicam-vid (see rpicam.ts). */
async function piCamera(
  settings: CameraSettings,
  reason: string | undefined,
): Promise<CameraBackend> {
  return { kind: "rpicam", ...await rpicamBackend(settings, reason) };
}

/**
 * The ffmpeg backend to fall back to when the V4L2 capture failed to
 * start, or `undefined` when it must not (not `auto`, or the camera is
 * busy, forbidden or gone: ffmpeg would fail the same way).
 *
 * @param error What the V4L2 supervisor's start threw.
 */
export function ffmpegFallback(
  settings: CameraSettings,
  backend: CameraBackend,
  error: unknown,
): CameraBackend | undefined {
  const cause = error instanceof Error ? error.cause : undefined;
  if (
    settings.capture !== "auto" || backend.kind !== "v4l2" ||
    !(cause instanceof V4l2Error) || cause.unavailable
  ) return undefined;
  settings.log(fallbackLine(cause));
  return ffmpegBackend(settings, undefined);
}

function fallbackLine(error: V4l2Error): string {
  return `camwire: warning: V4L2 capture failed at ${error.call} (${error.message}); capturing with ffmpeg instead (please report this with the camera's name)`;
}

function ffmpegBackend(
  settings: CameraSettings,
  plan: CameraPlan | undefined,
): CameraBackend {
  const { device, inputFormat, inputSize } = settings;
  if (plan === undefined) {
    // No mode read from the camera: only what the user said, if anything.
    const format = inputFormat === undefined
      ? undefined
      : formatNamed(inputFormat)?.ffmpeg ?? inputFormat;
    const cameraMode: CaptureOptions["cameraMode"] = {};
    if (format !== undefined) cameraMode.inputFormat = format;
    if (inputSize !== undefined) {
      cameraMode.videoSize = `${inputSize.width}x${inputSize.height}`;
    }
    return {
      kind: "ffmpeg",
      cameraMode,
      fps: settings.fps,
      line: `camera ${device}: read by ffmpeg`,
    };
  }
  const { mode, format, fps } = plan.choice;
  return {
    kind: "ffmpeg",
    cameraMode: {
      inputFormat: format.ffmpeg,
      videoSize: `${mode.width}x${mode.height}`,
    },
    fps,
    line: `camera ${device} "${plan.card}": ${
      formatLabel(mode.fourcc)
    } ${mode.width}x${mode.height} at ${fps} fps, read and re-encoded by ffmpeg (--capture ffmpeg)`,
  };
}

/**
 * `--list-devices`: every camera with its name, path and the formats,
 * sizes and rates it offers. V4L2 through FFI on Linux; ffmpeg's own
 * listing on Windows and macOS.
 *
 * @param options `device`: list only this one (else every /dev/videoN).
 * @returns The lines to print.
 */
export async function listDevices(options: {
  os: Os;
  ffmpeg: string;
  device?: string | undefined;
  libc?: Libc | null | undefined;
  /** Where the nodes are. @default {"/dev"} */
  dir?: string | undefined;
}): Promise<string[]> {
  if (options.os !== "linux") return await ffmpegListing(options);
  const nodes = options.device === undefined
    ? videoNodes(options.dir ?? devFolder())
    : [options.device];
  if (nodes.length === 0) return ["no camera found (no /dev/video* device)"];
  const lines: string[] = [];
  for (const path of nodes) {
    let camera: V4l2Device;
    const node = nodeOf(path);
    try {
      camera = V4l2Device.open(node, options.libc);
    } catch (error) {
      lines.push(`${path}: ${message(error).replace(`${node}: `, "")}`);
      continue;
    }
    try {
      const described = describeCamera(camera, nodeName(path, node));
      // A metadata node is left out of the list, but said when asked for.
      lines.push(
        ...(described.length === 0 && options.device !== undefined
          ? [
            `${path}: a metadata node, not a camera (a UVC camera's second /dev/videoN)`,
          ]
          : described),
      );
    } catch (error) {
      lines.push(`${path}: ${message(error).replace(`${node}: `, "")}`);
    } finally {
      camera.closeNow();
    }
  }
  if (options.device === undefined) lines.push(...await piCameras());
  return lines.length === 0 && options.device === undefined
    ? ["no camera found (no /dev/video* device captures video)"]
    : lines;
}

/** The Raspberry Pi cameras rpicam-vid lists, when it is installed. */
async function piCameras(): Promise<string[]> {
  const program = findRpicam();
  if (program === undefined) return [];
  try {
    return (await listSensors(program)).map((s) =>
      `Raspberry Pi camera ${s.index}: ${s.model} ${s.width}x${s.height} (${s.id}), through ${program} (--capture rpicam)`
    );
  } catch (error) {
    return [`${program}: ${message(error)}`];
  }
}

/**
 * How `--list-devices` names a node: its path, and beside it the name
 * that survives a replug (by-id, else by-path), or the node when the path
 * given is such a name.
 */
function nodeName(path: string, node: string): string {
  const [name] = node === path ? persistentNames(node) : [node];
  return `${path}${name === undefined ? "" : ` (${name})`}`;
}

/**
 * The `--list-devices` lines of one open node: its name, driver and bus,
 * its modes by format, and its controls; none for a metadata node (a UVC
 * camera's second /dev/videoN is no camera of its own).
 */
function describeCamera(camera: V4l2Device, name: string): string[] {
  const id = camera.identify();
  if (id.metadata) return [];
  if (piPipelineNode(id) !== undefined) {
    return [
      `${name} "${id.card}" (${id.driver}, ${id.busInfo}): the Raspberry Pi camera's pipeline, read through rpicam-vid (--capture rpicam)`,
    ];
  }
  if (!id.canCapture) {
    return [`${name} "${id.card}": not a video capture node`];
  }
  const planes = id.multiplanar ? ", multi-planar" : "";
  const lines = [`${name} "${id.card}" (${id.driver}, ${id.busInfo}${planes})`];
  const byFormat = new Map<string, V4l2Mode[]>();
  for (const m of camera.modes()) {
    byFormat.set(m.fourcc, [...(byFormat.get(m.fourcc) ?? []), m]);
  }
  for (const group of byFormat.values()) {
    lines.push(`  ${describeModes(group)}`);
  }
  const controls = camera.controls();
  if (controls.length > 0) {
    lines.push("  controls:");
    for (const control of controls) {
      lines.push(`    ${describeControl(control)}`);
    }
  }
  return lines;
}

async function ffmpegListing(
  options: { os: Os; ffmpeg: string },
): Promise<string[]> {
  const args = options.os === "windows"
    ? words("-hide_banner -list_devices true -f dshow -i dummy")
    : [...words("-hide_banner -f avfoundation -list_devices true -i"), ""];
  const { stderr } = await spawn(options.ffmpeg, {
    args,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  return new TextDecoder().decode(stderr).split(/\r?\n/)
    .filter((line) =>
      line.trim() !== "" && !/Error opening input|dummy/.test(line)
    );
}

/** The camera flags, read: see {@linkcode readCameraFlags}. */
export interface CameraFlags {
  capture: CaptureBackend;
  inputFormat: string | undefined;
  inputSize: { width: number; height: number } | undefined;
  listDevices: boolean;
  /** `--control NAME=VALUE`, in order (checked against the camera later). */
  controls: ControlSetting[];
}

/**
 * Reads and checks `--capture`, `--input-format`, `--input-size`,
 * `--control` and `--list-devices`.
 *
 * @param values The flags' texts, as `parseArgs` gives them.
 * @param os The operating system (`--capture v4l2` needs Linux).
 * @returns The flags.
 * @throws {UsageError} On a bad value, with one line saying which.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const flags = readCameraFlags(
 *   { capture: "v4l2", "input-size": "640x480", "list-devices": false },
 *   "linux",
 * );
 * assert.deepEqual(flags.inputSize, { width: 640, height: 480 });
 * assert.throws(() => readCameraFlags({ capture: "vfw", "list-devices": false }, "linux"));
 * ```
 */
export function readCameraFlags(values: {
  capture: string;
  "input-format"?: string | undefined;
  "input-size"?: string | undefined;
  "list-devices": boolean;
  control?: string[] | undefined;
}, os: Os): CameraFlags {
  const capture = values.capture;
  if (
    capture !== "auto" && capture !== "v4l2" && capture !== "rpicam" &&
    capture !== "ffmpeg"
  ) {
    throw new UsageError(
      `Invalid value for --capture: "${capture}" is not auto, v4l2, rpicam or ffmpeg`,
    );
  }
  if (capture === "v4l2" && os !== "linux") {
    throw new UsageError("--capture v4l2 needs Linux (V4L2)");
  }
  if (capture === "rpicam" && os !== "linux") {
    throw new UsageError(
      "--capture rpicam needs a Raspberry Pi (Linux, with rpicam-vid)",
    );
  }
  const inputFormat = values["input-format"];
  if (inputFormat !== undefined && formatNamed(inputFormat) === undefined) {
    throw new UsageError(
      `Invalid value for --input-format: "${inputFormat}" is not one of ${
        PIXEL_FORMATS.map((f) => f.name).join(", ")
      }`,
    );
  }
  const sizeText = values["input-size"];
  let inputSize: { width: number; height: number } | undefined;
  if (sizeText !== undefined) {
    const m = /^(\d{1,5})x(\d{1,5})$/.exec(sizeText);
    const [width, height] = [Number(m?.[1]), Number(m?.[2])];
    if (!m || width < 16 || height < 16 || width > 7680 || height > 4320) {
      throw new UsageError(
        `Invalid value for --input-size: "${sizeText}" is not WIDTHxHEIGHT, e.g. 640x480`,
      );
    }
    inputSize = { width, height };
  }
  const controls = (values.control ?? []).map(readControlFlag);
  if (controls.length > 0 && os !== "linux") {
    throw new UsageError("--control needs Linux (V4L2)");
  }
  return {
    capture,
    inputFormat,
    inputSize,
    listDevices: values["list-devices"],
    controls,
  };
}
