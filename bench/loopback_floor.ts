// Copyright 2026 the camwire authors. MIT license.
/**
 * The physical limit a fan-out server works against: how fast one process
 * can push 8 KB writes (about one camwire frame) into one loopback TCP
 * socket, and the CPU each write costs, read by another process that
 * discards everything. Two writers:
 *
 * - `deno conn.write`: an awaited `conn.write(buf)` loop, the cheapest way
 *   Deno itself can write (one op and one promise a write);
 * - `python3 sendall`: a blocking `sendall` loop, close to the bare syscall.
 *
 * ```sh
 * deno run -A bench/loopback_floor.ts [--seconds 2]
 * ```
 *
 * Prints a markdown table. `fanout.ts` runs the same measurement through
 * {@linkcode measureLoopbackFloor}.
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  BENCH,
  delay,
  fmt,
  markdownTable,
  onCleanup,
  selfCpuSeconds,
  stopChild,
} from "./bench_util.ts";

const WRITE_SIZE = 8192;

/** One writer's result. */
export interface FloorResult {
  label: string;
  writesPerSec: number;
  gbPerSec: number;
  usCpuPerWrite: number;
  cpuPct: number;
}

const PYTHON_WRITER = `
import json, os, socket, sys, time
secs = float(sys.argv[1])
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(1)
print(l.getsockname()[1], flush=True)
c, _ = l.accept(); c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
buf = bytes(${WRITE_SIZE}); n = 0
t0 = time.monotonic(); c0 = sum(os.times()[:2]); end = t0 + secs
while time.monotonic() < end:
    for _ in range(64):
        c.sendall(buf); n += 1
wall = time.monotonic() - t0; used = sum(os.times()[:2]) - c0
c.close()
print(json.dumps({"writes": n, "wall": wall, "cpu": used}), flush=True)
`;

/** Starts a reader process that drains 127.0.0.1:port until EOF. */
function startReader(port: number): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: [
      ...["run", "-A", "--quiet", BENCH + "loopback_floor.ts"],
      ...["--read", String(port)],
    ],
    stdin: "null",
    stdout: "null",
    stderr: "inherit",
  }).spawn();
}

async function readRole(port: number): Promise<void> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const buf = new Uint8Array(256 * 1024);
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline && (await conn.read(buf)) !== null) {
    // discard
  }
  conn.close();
}

async function denoWriter(seconds: number): Promise<FloorResult> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const reader = startReader(listener.addr.port);
  const unregister = onCleanup(() => stopChild(reader));
  try {
    const conn = await listener.accept();
    conn.setNoDelay(true);
    const buf = new Uint8Array(WRITE_SIZE);
    let writes = 0;
    let bytes = 0;
    const t0 = performance.now();
    const c0 = selfCpuSeconds();
    const end = t0 + seconds * 1000;
    while (performance.now() < end) {
      for (let k = 0; k < 64; k++) {
        bytes += await conn.write(buf);
        writes++;
      }
    }
    const wall = (performance.now() - t0) / 1000;
    const cpu = selfCpuSeconds() - c0;
    conn.close();
    return result("deno conn.write", writes, bytes, wall, cpu);
  } finally {
    listener.close();
    await Promise.race([reader.status, delay(5000)]);
    await stopChild(reader);
    unregister();
  }
}

async function pythonWriter(seconds: number): Promise<FloorResult> {
  const writer = new Deno.Command("/usr/bin/python3", {
    args: ["-c", PYTHON_WRITER, String(seconds)],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  let reader: Deno.ChildProcess | undefined;
  const unregister = onCleanup(async () => {
    await stopChild(writer);
    if (reader) await stopChild(reader);
  });
  try {
    const lines = writer.stdout.pipeThrough(new TextDecoderStream());
    let text = "";
    for await (const piece of lines) {
      text += piece;
      if (reader === undefined && text.includes("\n")) {
        reader = startReader(Number(text.split("\n")[0]));
      }
    }
    const report = JSON.parse(text.trim().split("\n").at(-1)!);
    return result(
      "python3 sendall",
      report.writes,
      report.writes * WRITE_SIZE,
      report.wall,
      report.cpu,
    );
  } finally {
    await stopChild(writer);
    if (reader) {
      await Promise.race([reader.status, delay(5000)]);
      await stopChild(reader);
    }
    unregister();
  }
}

function result(
  label: string,
  writes: number,
  bytes: number,
  wall: number,
  cpu: number,
): FloorResult {
  return {
    label,
    writesPerSec: writes / wall,
    gbPerSec: bytes / wall / 1e9,
    usCpuPerWrite: cpu * 1e6 / writes,
    cpuPct: 100 * cpu / wall,
  };
}

/**
 * Measures both writers one after the other.
 *
 * @param seconds How long each writes.
 * @returns Deno's result, then python3's (absent when python3 is missing).
 */
export async function measureLoopbackFloor(
  seconds: number,
): Promise<FloorResult[]> {
  const results = [await denoWriter(seconds)];
  try {
    results.push(await pythonWriter(seconds));
  } catch (error) {
    console.error(`loopback floor: python3 writer skipped: ${error}`);
  }
  return results;
}

/** The floor results as a markdown table. */
export function floorTable(results: FloorResult[]): string {
  return markdownTable(
    ["8 KB writer", "writes/s", "GB/s", "µs CPU/write", "writer CPU %"],
    results.map((r) => [
      r.label,
      fmt(r.writesPerSec, 0),
      fmt(r.gbPerSec, 2),
      fmt(r.usCpuPerWrite, 2),
      fmt(r.cpuPct, 0),
    ]),
  );
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      seconds: { type: "string", default: "2" },
      read: { type: "string" },
    },
  });
  if (values.read !== undefined) {
    await readRole(Number(values.read));
  } else {
    const seconds = Number(values.seconds);
    if (!(seconds > 0 && seconds <= 60)) {
      console.error("--seconds must be in (0, 60]");
      Deno.exit(2);
    }
    console.log(floorTable(await measureLoopbackFloor(seconds)));
  }
}
