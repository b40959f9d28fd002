// Copyright 2026 the camwire authors. MIT license.
/**
 * A real X display for tests of real windows: Xvfb on a free display
 * number, and xdotool to find the windows ffplay opens there.
 *
 * @module
 */

import { linesOf } from "../common/child.ts";

/** A running Xvfb, from {@linkcode startXvfb}. */
export interface Xvfb {
  /** e.g. `:99`. */
  display: string;
  /**
   * The ids of the visible windows whose name matches `name` (xdotool's
   * regular expression), empty when there is none.
   */
  windows(name: string): Promise<string[]>;
  /** Ends Xvfb. */
  close(): Promise<void>;
}

/**
 * Starts Xvfb on a display number it picks itself (`-displayfd`), so that
 * tests running side by side never collide.
 *
 * @returns The display, once Xvfb accepts clients.
 *
 * @example
 * ```ts ignore
 * await using x = await startXvfb();
 * // run ffplay with { DISPLAY: x.display }, then:
 * console.log(await x.windows("camwire"));
 * ```
 */
export async function startXvfb(): Promise<Xvfb & AsyncDisposable> {
  const child = new Deno.Command("Xvfb", {
    args: [
      "-displayfd",
      "1",
      "-screen",
      "0",
      "1024x768x24",
      "-nolisten",
      "tcp",
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const lines = linesOf(child.stdout);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const first = await Promise.race([
    lines.next(),
    new Promise<null>((resolve) => timer = setTimeout(resolve, 10_000, null)),
  ]);
  clearTimeout(timer);
  if (first === null || first.done || !/^\d+$/.test(first.value)) {
    child.kill("SIGKILL");
    await child.status;
    throw new Error("Xvfb did not report a display within 10 s");
  }
  const display = `:${first.value}`;
  const drained = (async () => {
    for await (const _ of lines) { /* Xvfb prints nothing more */ }
  })();
  const close = async () => {
    try {
      child.kill("SIGTERM");
    } catch {
      // Already ended.
    }
    await child.status;
    await drained;
  };
  return {
    display,
    async windows(name: string): Promise<string[]> {
      const { stdout } = await new Deno.Command("xdotool", {
        args: ["search", "--onlyvisible", "--name", name],
        env: { DISPLAY: display },
        stdout: "piped",
        stderr: "null",
      }).output();
      return new TextDecoder().decode(stdout).split("\n").filter((l) => l);
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
