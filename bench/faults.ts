// Copyright 2026 the camwire authors. MIT license.
/**
 * Fault figures: how long viewers wait for live frames after ffmpeg is
 * killed, and what 50 viewers that never read cost a live one.
 *
 * ```sh
 * deno run -A bench/faults.ts [--kills 5] [--stalled 50] [--seconds 20]
 * ```
 *
 * 1. Recovery: the server (`--source test`) and one viewer; ffmpeg is killed
 *    (SIGKILL) `--kills` times, each after the previous recovery. Recovery
 *    time = from the kill to the first live frame at the viewer (the no
 *    signal placeholder does not count), and the server's own "recovered
 *    after" figure.
 * 2. Stalled viewers: after an 8 s warm-up (the JS heap grows by ~20 MB in
 *    the first seconds whatever happens), `--stalled` connections that never
 *    read plus one live viewer for `--seconds`: the live viewer's fps and the
 *    server's RSS growth.
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  childPids,
  eventually,
  RawViewer,
  rssBytes,
  startServerProcess,
  unstamped,
} from "../testing/util.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    kills: { type: "string", default: "5" },
    stalled: { type: "string", default: "50" },
    seconds: { type: "string", default: "20" },
  },
});

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

async function recovery(kills: number): Promise<void> {
  const server = await startServerProcess(["--source", "test"]);
  const viewer = await RawViewer.connect(server.port);
  try {
    await eventually(() => viewer.frames.length > 10);
    const times: number[] = [];
    for (let i = 0; i < kills; i++) {
      const [ffmpeg] = childPids(server.child.pid, "ffmpeg");
      const before = viewer.frames.length;
      const killedAt = performance.now();
      Deno.kill(ffmpeg!, "SIGKILL");
      // The placeholder goes out 0.1 s after the kill, the restart no
      // sooner than 0.5 s: at 0.3 s the newest frame is the placeholder
      // (live frames sent before the kill may still arrive before it).
      await sleep(300);
      const placeholder = unstamped(viewer.frames.at(-1)!.jpeg);
      const isPlaceholder = (f: { jpeg: Uint8Array }) =>
        sameBytes(unstamped(f.jpeg), placeholder);
      const firstLive = () => {
        const frames = viewer.frames.slice(before);
        const last = frames.findLastIndex(isPlaceholder);
        return frames.slice(last + 1).find((f) => !isPlaceholder(f));
      };
      const live = await eventually(() => firstLive() !== undefined, 15_000);
      const first = firstLive();
      if (!live || first === undefined) throw new Error("no recovery");
      times.push(first.at - killedAt);
      await sleep(2000);
    }
    const logged = server.lines.filter((l) => /recovered after/.test(l));
    console.log(`recovery after SIGKILL of ffmpeg, ${kills} times:`);
    console.log(
      `  kill → first live frame at the viewer: ${
        times.map((t) => `${t.toFixed(0)} ms`).join(", ")
      }; longest ${Math.max(...times).toFixed(0)} ms`,
    );
    console.log(`  server log: ${logged.map((l) => l.slice(9)).join("; ")}`);
  } finally {
    await viewer.close();
    await server.stop();
  }
}

async function stalledViewers(count: number, seconds: number): Promise<void> {
  const server = await startServerProcess(["--source", "test"]);
  const live = await RawViewer.connect(server.port);
  const stalled: Deno.Conn[] = [];
  try {
    await sleep(8000);
    const rssBefore = rssBytes(server.child.pid);
    for (let i = 0; i < count; i++) {
      stalled.push(
        await Deno.connect({ hostname: "127.0.0.1", port: server.port }),
      );
    }
    const start = live.frames.length;
    await sleep(seconds * 1000);
    const fps = (live.frames.length - start) / seconds;
    const growth = (rssBytes(server.child.pid) - rssBefore) / 1e6;
    const dropped = server.lines.filter((l) => /left: dropped/.test(l)).length;
    console.log(
      `${count} viewers that never read, ${seconds} s: live viewer ${
        fps.toFixed(1)
      } fps; server RSS ${growth >= 0 ? "+" : ""}${
        growth.toFixed(1)
      } MB; ${dropped} stalled viewers dropped by --client-timeout`,
    );
  } finally {
    for (const conn of stalled) conn.close();
    await live.close();
    await server.stop();
  }
}

await recovery(Number(values.kills));
await stalledViewers(Number(values.stalled), Number(values.seconds));
