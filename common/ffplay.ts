// Copyright 2026 the camwire authors. MIT license.
/**
 * The ffplay window that shows a live MJPEG pipe, fed newest-first: the
 * client's window and the server's `--preview` are the same window.
 *
 * @module
 */

import { CamwireError } from "./cli.ts";
import { endProcess, words } from "./child.ts";
import { LatestFrameSender } from "./latest.ts";

/**
 * Arguments for an ffplay window that shows a live MJPEG pipe with the
 * least delay. ffplay assumes 25 fps for a piped MJPEG; a 30 fps stream
 * then queues frames without end, so timestamps come from the wall clock.
 *
 * @param title Window title.
 * @returns ffplay's argument list, reading from stdin.
 */
export function ffplayArgs(title: string): string[] {
  return [
    ...words("-hide_banner -loglevel error -fflags nobuffer -flags low_delay"),
    // -autoexit: should we die without closing it, the window goes too.
    ...words("-framedrop -autoexit -probesize 32 -analyzeduration 0"),
    ...words("-use_wallclock_as_timestamps 1 -window_title"),
    title,
    ...words("-f mjpeg -i pipe:0"),
  ];
}

/** Options of {@linkcode FfplayWindow.open}. */
export interface FfplayWindowOptions {
  /** The ffplay program. @default {"ffplay"} */
  program?: string;
  /** Where ffplay's own messages go. @default {"inherit"} */
  stderr?: "inherit" | "null";
}

/**
 * An ffplay window showing JPEGs newest-first: while ffplay still reads
 * one frame, newer ones replace the waiting one, so the picture is never
 * late and memory never grows.
 */
export class FfplayWindow {
  #child: Deno.ChildProcess;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #sender: LatestFrameSender;
  /** Settles with ffplay's exit status: the window was closed, or failed. */
  readonly ended: Promise<Deno.CommandStatus>;

  private constructor(child: Deno.ChildProcess) {
    this.#child = child;
    const writer = child.stdin.getWriter();
    this.#writer = writer;
    this.#sender = new LatestFrameSender(async (bytes) => {
      await writer.write(bytes);
      return bytes.length;
    }, () => {});
    this.ended = child.status;
  }

  /**
   * Opens a window.
   *
   * @param title Window title.
   * @param options The program and where its messages go.
   * @returns The window.
   * @throws {CamwireError} When ffplay is not installed.
   */
  static open(title: string, options: FfplayWindowOptions = {}): FfplayWindow {
    try {
      return new FfplayWindow(
        new Deno.Command(options.program ?? "ffplay", {
          args: ffplayArgs(title),
          stdin: "piped",
          stdout: "null",
          stderr: options.stderr ?? "inherit",
        }).spawn(),
      );
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        throw new CamwireError(
          "ffplay not found: install ffmpeg, which includes it",
        );
      }
      throw error;
    }
  }

  /** Shows a JPEG: now if ffplay is idle, else as the next one. */
  show(jpeg: Uint8Array): void {
    this.#sender.offer(jpeg);
  }

  /** Frames replaced by a newer one before ffplay could take them. */
  get dropped(): number {
    return this.#sender.skipped;
  }

  /** Closes the window and waits for ffplay to end. */
  async close(): Promise<void> {
    await endProcess(this.#child);
    await this.#writer.close().catch(() => {});
  }
}
