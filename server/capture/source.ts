// Copyright 2026 the camwire authors. MIT license.
/**
 * The choice of source: what `--source` and `--device` name, and on
 * Windows the first camera ffmpeg lists.
 *
 * @module
 */

import { spawn, words } from "../../common/child.ts";
import { type Os, parseDshowVideoDevices, type SourceKind } from "./ffmpeg.ts";
import { SourceOpenError } from "./capture.ts";

/**
 * Decides what `--source` and `--device` name.
 *
 * @param source `auto`, `camera`, `test`, `-` or a file path or URL.
 * @param device The camera device.
 * @param os The operating system.
 * @param named Whether the user named the camera (`--device`, or a
 * `--capture` backend): then `auto` means that camera, and a missing one
 * is an error, never the test pattern.
 * @returns The kind and input, and whether the user named it (`auto`
 * falls back to the test pattern, a named source never does).
 */
export function resolveSource(
  source: string,
  device: string,
  os: Os,
  named = false,
): { kind: SourceKind; input: string; explicit: boolean } {
  if (source === "test") return { kind: "test", input: "", explicit: true };
  if (source === "camera" || (source === "auto" && named)) {
    return { kind: "camera", input: device, explicit: true };
  }
  if (source === "-") return { kind: "stdin", input: "-", explicit: true };
  if (source === "auto") {
    // Linux names its cameras in /dev; elsewhere ffmpeg tells by trying.
    if (os === "linux" && !pathExists(device)) {
      return { kind: "test", input: "", explicit: false };
    }
    return { kind: "camera", input: device, explicit: false };
  }
  return { kind: "file", input: source, explicit: true };
}

function pathExists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch (error) {
    // Deno lets only -A look in /dev (not a permission set, -P=server):
    // unknown, so the capture tries it and says why it cannot.
    return error instanceof Deno.errors.NotCapable;
  }
}

/**
 * The first camera ffmpeg lists on Windows, as `video=NAME`.
 *
 * @param ffmpeg The ffmpeg program.
 * @returns The `--device` value.
 * @throws {SourceOpenError} When ffmpeg lists none.
 */
export async function firstDshowDevice(ffmpeg: string): Promise<string> {
  const { stderr } = await spawn(ffmpeg, {
    args: words("-hide_banner -list_devices true -f dshow -i dummy"),
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  const [name] = parseDshowVideoDevices(new TextDecoder().decode(stderr));
  if (name === undefined) {
    // A source open failure like any other: `--source auto` falls back to
    // the test pattern on it.
    throw new SourceOpenError(
      'Cannot open a camera: ffmpeg lists no dshow video device (use --source test, or --device "video=NAME")',
    );
  }
  return `video=${name}`;
}
