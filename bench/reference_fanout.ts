// Copyright 2026 the camwire authors. MIT license.
/**
 * The fan-out "a user would write instead" of camwire, as a yardstick for
 * `fanout.ts`: node:net, one ffmpeg (the same arguments as
 * `server.ts --source test`), each JPEG cut with the project's
 * {@linkcode JpegSplitter}, stamped with {@linkcode stampFrame} (the same
 * wire bytes as camwire) and written with `socket.write` to every socket,
 * skipping a socket while more than its `writableHighWaterMark` (16 KiB) is
 * queued. No send-buffer bound, no timeouts, no access control.
 *
 * ```sh
 * deno run -A bench/reference_fanout.ts [--port 0]
 * ```
 *
 * Prints `reference: streaming on tcp://127.0.0.1:PORT` on stderr when the
 * first frame is in, then `reference: viewers=N skipped=N` every second
 * while the count changes. SIGINT/SIGTERM end ffmpeg and exit 0.
 *
 * @module
 */

import net from "node:net";
import { Buffer } from "node:buffer";
import { parseArgs } from "node:util";
import { JpegSplitter } from "../framing.ts";
import { stampFrame } from "../common/jpeg.ts";

/** `server.ts --source test`'s ffmpeg arguments at the defaults. */
const FFMPEG_ARGS = [
  ...["-hide_banner", "-loglevel", "error", "-nostdin"],
  ...["-re", "-f", "lavfi", "-i", "testsrc2=size=640x480:rate=30"],
  ...["-an", "-threads", "1", "-vf", "scale=320:-2"],
  ...["-c:v", "mjpeg", "-q:v", "5"],
  ...["-f", "mjpeg", "-flush_packets", "1", "pipe:1"],
];

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: { port: { type: "string", default: "0" } },
  });
  const sockets = new Set<net.Socket>();
  let skipped = 0;
  const server = net.createServer({ noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.on("error", () => {});
    socket.on("close", () => sockets.delete(socket));
    socket.resume(); // discard anything a viewer sends
  });
  const ffmpeg = new Deno.Command("ffmpeg", {
    args: FFMPEG_ARGS,
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const shutdown = async () => {
    try {
      ffmpeg.kill("SIGTERM");
    } catch {
      // Already exited.
    }
    await ffmpeg.status;
    for (const s of sockets) s.destroy();
    server.close();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGINT", shutdown);
  Deno.addSignalListener("SIGTERM", shutdown);

  let reported = -1;
  const ticker = setInterval(() => {
    if (sockets.size === reported) return;
    reported = sockets.size;
    console.error(`reference: viewers=${sockets.size} skipped=${skipped}`);
  }, 1000);
  let announced = false;
  const splitter = new JpegSplitter();
  for await (const chunk of ffmpeg.stdout) {
    for (const jpeg of splitter.push(chunk)) {
      const frame = stampFrame(
        jpeg,
        performance.timeOrigin + performance.now(),
      );
      const buf = Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
      for (const s of sockets) {
        if (s.writableLength > s.writableHighWaterMark) {
          skipped++;
          continue;
        }
        s.write(buf);
      }
      if (!announced) {
        announced = true;
        await new Promise<void>((resolve) => {
          server.listen(
            { host: "127.0.0.1", port: Number(values.port), backlog: 4096 },
            resolve,
          );
        });
        const { port } = server.address() as net.AddressInfo;
        console.error(`reference: streaming on tcp://127.0.0.1:${port}`);
      }
    }
  }
  clearInterval(ticker);
  console.error(`reference: ffmpeg ended (${(await ffmpeg.status).code})`);
  for (const s of sockets) s.destroy();
  server.close();
  Deno.exit(1);
}

if (import.meta.main) await main();
