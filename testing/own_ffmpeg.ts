// Copyright 2026 the camwire authors. MIT license.
/**
 * ffmpeg under a name of one test's own, so that the test can count the
 * ffmpeg processes it started (`childPids(Deno.pid, ffmpeg.name)`) while
 * other test files run theirs in the same process (`deno test --parallel`
 * runs files side by side in one process).
 *
 * @module
 */

import { findProgram } from "../common/child.ts";

/** An ffmpeg reached through a symlink of its own name. */
export interface OwnFfmpeg extends AsyncDisposable {
  /** The symlink's path: give it where a program path is asked for. */
  path: string;
  /** Its name, which its processes carry (`/proc/PID/comm`). */
  name: string;
}

/**
 * Makes a symlink `ffmpeg-XXXXXX` to the ffmpeg on PATH in a temporary
 * folder; disposing of it removes the folder.
 *
 * @throws {Error} When there is no ffmpeg on PATH.
 */
export async function ownFfmpeg(): Promise<OwnFfmpeg> {
  const target = findProgram(["ffmpeg"]);
  if (target === undefined) throw new Error("No ffmpeg on PATH");
  const dir = await Deno.makeTempDir({ prefix: "camwire-ffmpeg-" });
  // A process's name keeps 15 characters: "ffmpeg-" and 6 of its own.
  const name = `ffmpeg-${crypto.randomUUID().slice(0, 6)}`;
  const path = `${dir}/${name}`;
  await Deno.symlink(target, path);
  return {
    path,
    name,
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}
