// Copyright 2026 the camwire authors. MIT license.
/**
 * Bytes per frame: camwire's stamped JPEG at the default quality (`-q:v 5`,
 * 320 px wide, the test source), as a viewer receives it, against the raw
 * 320×240×3 frame (230,400 bytes) that the original pickle design sent.
 *
 * ```sh
 * deno run -A bench/bytes_per_frame.ts [--seconds 5]
 * ```
 *
 * Starts `server.ts --source test` on a free 127.0.0.1 port, reads one
 * viewer's stream for `--seconds`, deframes it with {@linkcode Deframer} and
 * prints one line. `fanout.ts` prints the same line through
 * {@linkcode measureBytesPerFrame}.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { Deframer, HEADER_SIZE } from "../framing.ts";
import { readStamp } from "../common/jpeg.ts";
import { cleanupAll, ROOT, startServer } from "./bench_util.ts";

/** The raw frame the pickle design sent: 320 × 240 pixels × 3 bytes. */
export const RAW_FRAME_BYTES = 320 * 240 * 3;

/** What one viewer received. */
export interface BytesPerFrame {
  frames: number;
  /** Mean JPEG size, capture stamp included, header excluded. */
  meanJpegBytes: number;
  /** Frames that carried a capture stamp. */
  stamped: number;
}

/**
 * Reads one viewer's stream from `127.0.0.1:port` for `seconds`.
 *
 * @param port Server port.
 * @param seconds How long to read.
 * @returns Frame count and mean size.
 */
export async function measureBytesPerFrame(
  port: number,
  seconds: number,
): Promise<BytesPerFrame> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const deframer = new Deframer();
  const buf = new Uint8Array(64 * 1024);
  let frames = 0;
  let bytes = 0;
  let stamped = 0;
  const timer = setTimeout(() => conn.close(), seconds * 1000);
  try {
    while (true) {
      const n = await conn.read(buf);
      if (n === null) break;
      for (const jpeg of deframer.push(buf.slice(0, n))) {
        frames++;
        bytes += jpeg.length;
        if (readStamp(jpeg) !== undefined) stamped++;
      }
    }
    clearTimeout(timer);
    conn.close();
  } catch (error) {
    // Closed by the timer: the end of the window.
    if (
      !(error instanceof Deno.errors.Interrupted) &&
      !(error instanceof Deno.errors.BadResource)
    ) throw error;
  }
  return { frames, meanJpegBytes: bytes / frames, stamped };
}

/** The one-line report. */
export function bytesPerFrameLine(r: BytesPerFrame): string {
  const wire = r.meanJpegBytes + HEADER_SIZE;
  return `bytes/frame: camwire JPEG ${r.meanJpegBytes.toFixed(0)} B ` +
    `(+${HEADER_SIZE} B header; ${r.frames} frames, ${r.stamped} stamped) ` +
    `vs raw 320×240×3 ${RAW_FRAME_BYTES} B: ` +
    `${(RAW_FRAME_BYTES / wire).toFixed(1)}× fewer bytes ` +
    `(ratio ${(wire / RAW_FRAME_BYTES).toFixed(4)})`;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: { seconds: { type: "string", default: "5" } },
  });
  const seconds = Number(values.seconds);
  if (!(seconds > 0 && seconds <= 60)) {
    console.error("--seconds must be in (0, 60]");
    Deno.exit(2);
  }
  try {
    const server = await startServer(ROOT + "server.ts", [
      ...["--source", "test", "--host", "127.0.0.1", "--port", "0"],
    ]);
    console.log(
      bytesPerFrameLine(await measureBytesPerFrame(server.port, seconds)),
    );
  } finally {
    await cleanupAll();
  }
}
