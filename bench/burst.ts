// Copyright 2026 the camwire authors. MIT license.
/**
 * Connection burst: `--viewers` viewers connect to the server within the
 * same instant (a classroom reloading its page); how long until each has
 * its first whole frame, and does any connect get lost? A listen backlog
 * that is too small drops connects silently, which shows here as viewers
 * that wait for a SYN retry (1 s, then 3 s) or never get in.
 *
 * ```sh
 * deno run -A bench/burst.ts [--viewers 1000]
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { HEADER_SIZE } from "../framing.ts";
import { startServerProcess } from "../testing/util.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    viewers: { type: "string", default: "1000" },
    port: { type: "string" },
  },
});
const viewers = Number(values.viewers);

/** Connects, reads one whole frame, closes: ms from start, or the error. */
async function firstFrame(port: number, start: number): Promise<number> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const buf = new Uint8Array(256 * 1024);
    let have = 0;
    while (true) {
      const n = await conn.read(buf.subarray(have));
      if (n === null) throw new Error("closed before a frame");
      have += n;
      if (have >= HEADER_SIZE) {
        const length = Number(new DataView(buf.buffer).getBigUint64(0, true));
        if (have >= HEADER_SIZE + length) return performance.now() - start;
      }
    }
  } finally {
    conn.close();
  }
}

if (values.port !== undefined) {
  // The load side, in its own process with a raised fd limit.
  const start = performance.now();
  const results = await Promise.allSettled(
    Array.from(
      { length: viewers },
      () => firstFrame(Number(values.port), start),
    ),
  );
  const times = results.flatMap((r) =>
    r.status === "fulfilled" ? [r.value] : []
  );
  const errors = results.flatMap((r) =>
    r.status === "rejected" ? [String(r.reason?.message ?? r.reason)] : []
  );
  console.log(
    JSON.stringify({
      times,
      errors: errors.slice(0, 5),
      failed: errors.length,
    }),
  );
} else {
  const server = await startServerProcess([
    "--source",
    "test",
    "--max-clients",
    String(viewers + 100),
  ]);
  try {
    const ss = new TextDecoder().decode(
      (await new Deno.Command("ss", {
        args: ["-ltn", `sport = :${server.port}`],
      }).output()).stdout,
    );
    const backlog = ss.trim().split("\n")[1]?.trim().split(/\s+/)[2];
    const self = new URL(import.meta.url).pathname;
    const { stdout, stderr, success } = await new Deno.Command("sh", {
      args: [
        "-c",
        `ulimit -n 20000 && exec "${Deno.execPath()}" run -A "${self}" --viewers ${viewers} --port ${server.port}`,
      ],
    }).output();
    if (!success) throw new Error(new TextDecoder().decode(stderr));
    const { times, failed, errors } = JSON.parse(
      new TextDecoder().decode(stdout),
    ) as { times: number[]; failed: number; errors: string[] };
    const sorted = times.toSorted((a, b) => a - b);
    const at = (p: number) =>
      sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;
    const within3 = times.filter((t) => t <= 3000).length;
    console.log(
      `burst of ${viewers} connects (listen backlog ${backlog}): ` +
        `${within3} had a whole frame within 3 s, ${failed} failed; ` +
        `first frame p50 ${at(0.5).toFixed(0)} ms, p99 ${
          at(0.99).toFixed(0)
        } ms, ` +
        `max ${(sorted.at(-1) ?? NaN).toFixed(0)} ms` +
        (errors.length ? `; errors: ${errors.join("; ")}` : ""),
    );
  } finally {
    await server.stop();
  }
}
