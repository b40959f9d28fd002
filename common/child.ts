// Copyright 2026 the camwire authors. MIT license.
/**
 * Child processes (ffmpeg, ffplay): finding a program on PATH, starting
 * one with a clear error when it is not installed, reading its output line
 * by line, and ending it.
 *
 * @module
 */

import { CamwireError } from "./cli.ts";

/** Splits a run of space-separated arguments, which never contain spaces. */
export function words(text: string): string[] {
  return text.split(" ");
}

/** How to install ffmpeg, for the "ffmpeg not found" line. */
export const INSTALL_FFMPEG =
  "install it (Debian/Ubuntu: apt install ffmpeg; macOS: brew install ffmpeg; Windows: winget install ffmpeg) or put it on PATH";

/**
 * Finds a program on PATH: an executable file named as the first of
 * `names` that is in any folder of `path`, else as the next.
 *
 * @param names The program's names, preferred first.
 * @param path The PATH to search. @default {the environment's PATH}
 * @returns The program's path, or `undefined` when none is there.
 */
export function findProgram(
  names: readonly string[],
  path: string = environmentPath(),
): string | undefined {
  const dirs = path.split(":").filter((dir) => dir !== "");
  for (const name of names) {
    for (const dir of dirs) {
      const candidate = `${dir}/${name}`;
      try {
        const info = Deno.statSync(candidate);
        if (info.isFile && ((info.mode ?? 0o111) & 0o111) !== 0) {
          return candidate;
        }
      } catch {
        // Not there, or not readable: the next one.
      }
    }
  }
  return undefined;
}

function environmentPath(): string {
  try {
    return Deno.env.get("PATH") ?? "";
  } catch {
    return ""; // no --allow-env: nothing found
  }
}

/** Spawns a program, turning "not installed" into a clear error. */
export function spawn(
  program: string,
  options: Deno.CommandOptions,
): Deno.ChildProcess {
  try {
    return new Deno.Command(program, options).spawn();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound && program.endsWith("ffmpeg")) {
      throw new CamwireError(`ffmpeg not found: ${INSTALL_FFMPEG}`);
    }
    throw error;
  }
}

/**
 * The lines of a byte stream (a child's stderr, say), as they come.
 *
 * @param stream UTF-8 text.
 * @returns Each line, without its end.
 */
export async function* linesOf(
  stream: ReadableStream<Uint8Array>,
): AsyncGenerator<string> {
  let partial = "";
  for await (const piece of stream.pipeThrough(new TextDecoderStream())) {
    const parts = (partial + piece).split(/\r?\n/);
    partial = parts.pop()!;
    yield* parts;
  }
  if (partial) yield partial;
}

/** Sends a signal to a child that may have exited already. */
export function signalProcess(
  child: Deno.ChildProcess,
  signal: Deno.Signal,
): void {
  try {
    child.kill(signal);
  } catch {
    // Already exited.
  }
}

/**
 * Ends a child process: SIGTERM, and SIGKILL 2 s later for one stuck in a
 * network call (an ffmpeg writing to a hung media server ignores SIGTERM).
 *
 * @param child The process.
 * @param done What to wait for; by default its exit.
 */
export async function endProcess(
  child: Deno.ChildProcess,
  done: Promise<unknown> = child.status,
): Promise<void> {
  const killer = setTimeout(() => signalProcess(child, "SIGKILL"), 2000);
  signalProcess(child, "SIGTERM");
  try {
    await done;
  } finally {
    clearTimeout(killer);
  }
}
