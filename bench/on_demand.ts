// Copyright 2026 the camwire authors. MIT license.
/**
 * On-demand start-up delay: with `--on-demand`, how long a viewer who
 * connects to an idle server waits for its first frame (ffmpeg starting
 * with the test source; a real camera adds its own start-up time).
 *
 * ```sh
 * deno run -A bench/on_demand.ts [--runs 5]
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  childPids,
  eventually,
  RawViewer,
  startServerProcess,
} from "../testing/util.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { runs: { type: "string", default: "5" } },
});

const server = await startServerProcess([
  "--source",
  "test",
  "--on-demand",
  "--idle-stop",
  "0.5",
]);
try {
  const delays: number[] = [];
  for (let i = 0; i < Number(values.runs); i++) {
    await eventually(() => childPids(server.child.pid, "ffmpeg").length === 0);
    const connectedAt = performance.now();
    const viewer = await RawViewer.connect(server.port);
    await eventually(() => viewer.frames.length > 0, 10_000);
    delays.push(viewer.frames[0]!.at - connectedAt);
    await viewer.close();
  }
  const sorted = delays.toSorted((a, b) => a - b);
  console.log(
    `on-demand start-up (connect → first frame), ${delays.length} runs: ` +
      `${delays.map((d) => `${d.toFixed(0)} ms`).join(", ")}; median ${
        sorted[sorted.length >> 1]!.toFixed(0)
      } ms`,
  );
} finally {
  await server.stop();
}
