// Copyright 2026 the camwire authors. MIT license.
/**
 * Camera names: the `/dev/videoN` nodes, and the names udev gives them
 * that survive a replug (`/dev/v4l/by-id/usb-…-video-index0`, and
 * `/dev/v4l/by-path/…`). A `/dev/videoN` number changes when a camera is
 * plugged back in or a second one appears; the by-id name follows the
 * camera, so camwire resolves a name anew at every open.
 *
 * For tests only: the environment variable `CAMWIRE_DEV` names a folder
 * that stands for `/dev` (its `videoN` files are emulated cameras, its
 * `v4l/by-id` holds symlinks to them), as `CAMWIRE_LIBC` stands for libc.
 *
 * @module
 */

/**
 * The environment variable naming a folder to use in place of `/dev`: for
 * tests only, see the module doc.
 */
export const DEV_OVERRIDE_ENV = "CAMWIRE_DEV";

/**
 * The folder camera nodes are in: `/dev`, or `CAMWIRE_DEV` (tests).
 *
 * @param override The folder `CAMWIRE_DEV` names, if any.
 * @returns It, without a trailing slash.
 */
export function devFolder(
  override: string | undefined = devOverride(),
): string {
  return override?.replace(/\/+$/, "") || "/dev";
}

function devOverride(): string | undefined {
  try {
    return Deno.env.get(DEV_OVERRIDE_ENV);
  } catch {
    return undefined; // no --allow-env: the real one
  }
}

/**
 * The node a name stands for now: a by-id or by-path symlink resolved
 * (anew at every call: a replugged camera's name points at its new
 * number), any other path as it is.
 *
 * @param name `/dev/video0`, `/dev/v4l/by-id/usb-…-video-index0`, ….
 * @returns The node, or `name` itself when it does not resolve (a camera
 * unplugged: udev has removed its symlink), so that opening it fails with
 * ENOENT naming what the user gave.
 */
export function nodeOf(name: string): string {
  try {
    return Deno.realPathSync(name);
  } catch {
    return name;
  }
}

/**
 * The names that survive a replug for a node: by-id first, then by-path,
 * each sorted, as udev made them under `<dev>/v4l/`.
 *
 * @param node A `videoN` node (or a name of one).
 * @param dev The folder. @default {devFolder()}
 * @returns Their paths; none when udev made none (no serial, no USB).
 */
export function persistentNames(
  node: string,
  dev: string = devFolder(),
): string[] {
  const target = nodeOf(node);
  const names: string[] = [];
  for (const kind of ["by-id", "by-path"]) {
    const folder = `${dev}/v4l/${kind}`;
    const found: string[] = [];
    try {
      for (const entry of Deno.readDirSync(folder)) {
        const path = `${folder}/${entry.name}`;
        if (entry.isSymlink && nodeOf(path) === target) found.push(path);
      }
    } catch {
      // No such folder: no names of that kind.
    }
    names.push(...found.sort());
  }
  return names;
}
