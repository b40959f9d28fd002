// Copyright 2026 the camwire authors. MIT license.
/**
 * The ffplay window that shows a live MJPEG pipe: the client's window and
 * the server's `--preview`.
 *
 * @module
 */

import { words } from "./child.ts";

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
