// Copyright 2026 the camwire authors. MIT license.
/**
 * The delivery engine's cost, in ratios measured in one run (the machine
 * is small and shared: absolute numbers drift, ratios hold better):
 *
 * 1. **HTTP vs TCP viewers**: camwire with N `/stream.mjpg` viewers
 *    against camwire with N TCP viewers (default 1,000 each), server CPU
 *    per delivered frame. Goal ≤ 1.2×.
 * 2. **camwire vs the C floor**: N TCP viewers (default 3,000) of camwire
 *    (TCP alone: no `--http-port`) against `floor_server.c` — one thread,
 *    `send(2)` of the same stamped frames, newest-frame rule, a frame not
 *    taken whole finished on edge-triggered epoll, nothing else — built
 *    with gcc into a temporary directory. Goal ≤ 1.10×.
 *
 * Each pair is measured `--rounds` times, alternating, each on a fresh
 * server (warm-up 3 s, then `--seconds`). `--profile` then runs camwire
 * once more at the floor's N under `deno run --cpu-prof` and prints where
 * its time goes (self time by function). Hand-run, Linux, 127.0.0.1 only;
 * needs ffmpeg and gcc.
 *
 * ```sh
 * deno run -A bench/engine.ts [--seconds 10] [--rounds 2] [--http-n 1000] [--floor-n 3000] [--profile]
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  BENCH,
  cleanupAll,
  cpuSeconds,
  delay,
  fmt,
  LoadFleet,
  markdownTable,
  onCleanup,
  quantile,
  type Resident,
  residentMb,
  ROOT,
  startServer,
  stopChild,
  withFdLimit,
} from "./bench_util.ts";
import { linesOf } from "../common/child.ts";

const WARMUP_S = 3;

/** A server to measure: its pid, the port viewers use, and how to stop. */
interface Target {
  pid: number;
  port: number;
  stop(): Promise<void>;
}

/** One measurement. */
interface Row {
  what: string;
  n: number;
  connected: number;
  medianFps: number;
  minFps: number;
  p99: number;
  cpuPct: number;
  usPerFrame: number;
  memory: Resident;
  loadCpuPct: number;
  bad: number;
}

async function measure(
  what: string,
  target: Target,
  n: number,
  seconds: number,
  http: boolean,
): Promise<Row> {
  const { fleet, connected } = await LoadFleet.start(target.port, n, { http });
  try {
    await delay(WARMUP_S * 1000);
    const c0 = cpuSeconds(target.pid);
    const t0 = performance.now();
    await fleet.startWindow();
    await delay(seconds * 1000);
    const r = await fleet.endWindow();
    const wall = (performance.now() - t0) / 1000;
    const cpu = cpuSeconds(target.pid) - c0;
    return {
      what,
      n,
      connected,
      medianFps: quantile(r.fps, 0.5),
      minFps: quantile(r.fps, 0),
      p99: r.latency.quantile(0.99),
      cpuPct: 100 * cpu / wall,
      usPerFrame: cpu * 1e6 / r.frames,
      memory: residentMb(target.pid),
      loadCpuPct: r.loadCpuPct,
      bad: r.closedEarly + r.badStreams + r.failed,
    };
  } finally {
    await fleet.stop();
  }
}

/** camwire with the test source; its TCP or its HTTP port. */
async function camwire(http: boolean, denoFlags: string[] = []) {
  const server = await startServer(
    ROOT + "server.ts",
    [
      ...["--source", "test", "--host", "127.0.0.1", "--port", "0"],
      ...["--max-clients", "5000"],
      // The HTTP side only where its viewers are measured.
      ...(http ? ["--http-port", "0"] : []),
    ],
    20_000,
    denoFlags,
  );
  const web = server.linesMatching(/web page on http:\/\/127\.0\.0\.1:\d+\//);
  const port = http ? Number(/:(\d+)\/$/.exec(web[0] ?? "")?.[1]) : server.port;
  if (!port) {
    await server.stop();
    throw new Error("camwire printed no web page line");
  }
  await delay(500);
  return { pid: server.pid, port, stop: () => server.stop() };
}

/** The ffmpeg arguments of `server.ts --source test` at the defaults. */
const FFMPEG_ARGS = [
  ...["-hide_banner", "-loglevel", "error", "-nostdin"],
  ...["-re", "-f", "lavfi", "-i", "testsrc2=size=640x480:rate=30"],
  ...["-an", "-threads", "1", "-vf", "scale=320:-2"],
  ...["-c:v", "mjpeg", "-q:v", "5"],
  ...["-f", "mjpeg", "-flush_packets", "1", "pipe:1"],
];

/** Builds floor_server.c into `dir`. */
async function buildFloor(dir: string): Promise<string> {
  const binary = `${dir}/floor_server`;
  const { success, stderr } = await new Deno.Command("gcc", {
    args: ["-O2", "-Wall", "-o", binary, BENCH + "floor_server.c"],
  }).output();
  if (!success) {
    throw new Error(`gcc failed: ${new TextDecoder().decode(stderr)}`);
  }
  return binary;
}

/** The floor: ffmpeg piped into the C server. */
async function floor(binary: string): Promise<Target> {
  const quoted = FFMPEG_ARGS.map((a) => `'${a}'`).join(" ");
  const { cmd, args } = withFdLimit([
    "/bin/sh",
    "-c",
    `ffmpeg ${quoted} | '${binary}' 0`,
  ]);
  const child = new Deno.Command(cmd, {
    args,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const lines = linesOf(child.stderr);
  let pid = 0;
  let port = 0;
  const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
  for await (const line of { [Symbol.asyncIterator]: () => lines }) {
    const m = /streaming on tcp:\/\/127\.0\.0\.1:(\d+) pid=(\d+)/.exec(line);
    if (m) {
      port = Number(m[1]);
      pid = Number(m[2]);
      break;
    }
  }
  clearTimeout(timer);
  const drained = (async () => {
    for await (const _ of { [Symbol.asyncIterator]: () => lines }) {
      // Drain.
    }
  })();
  const stop = async () => {
    unregister();
    try {
      Deno.kill(pid, "SIGTERM");
    } catch {
      // Gone.
    }
    await stopChild(child);
    await drained;
  };
  const unregister = onCleanup(stop);
  if (pid === 0) {
    await stop();
    throw new Error("The floor server did not start");
  }
  await delay(500);
  return { pid, port, stop };
}

async function run(
  what: string,
  start: () => Promise<Target>,
  n: number,
  seconds: number,
  http = false,
): Promise<Row> {
  console.error(`engine: ${what}, ${n} viewers …`);
  const target = await start();
  try {
    const row = await measure(what, target, n, seconds, http);
    console.error(
      `engine: ${what}: ${row.connected} connected, ${
        fmt(row.medianFps)
      } fps, ` +
        `${fmt(row.usPerFrame, 2)} µs/frame`,
    );
    return row;
  } finally {
    await target.stop();
  }
}

function table(rows: Row[]): string {
  return markdownTable(
    [
      "server",
      "viewers",
      "connected",
      "median fps (min)",
      "p99 ms",
      "server CPU %",
      "µs/frame",
      "RSS MB (RssAnon + RssFile)",
      "load CPU %",
      "bad",
    ],
    rows.map((r) => [
      r.what,
      String(r.n),
      String(r.connected),
      `${fmt(r.medianFps)} (${fmt(r.minFps)})`,
      fmt(r.p99),
      fmt(r.cpuPct),
      fmt(r.usPerFrame, 2),
      `${fmt(r.memory.rss, 0)} (${fmt(r.memory.anon, 0)} + ${
        fmt(r.memory.file, 0)
      })`,
      fmt(r.loadCpuPct, 0),
      String(r.bad),
    ]),
  );
}

/** Mean µs/frame of the rows named `what`. */
function mean(rows: Row[], what: string): number {
  const mine = rows.filter((r) => r.what === what);
  return mine.reduce((a, r) => a + r.usPerFrame, 0) / mine.length;
}

/** Self time by function of a `.cpuprofile`, the top `count`. */
function topSelf(profile: CpuProfile, count: number): string[][] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i]!)!;
    const dt = profile.timeDeltas[i] ?? 0;
    const f = node.callFrame;
    const file = f.url.split("/").slice(-2).join("/");
    const key = `${f.functionName || "(anonymous)"} ${file}:${
      f.lineNumber + 1
    }`;
    self.set(key, (self.get(key) ?? 0) + dt);
    total += dt;
  }
  return [...self].sort((a, b) => b[1] - a[1]).slice(0, count).map((
    [key, us],
  ) => [key, fmt(us / 1000, 0), fmt(100 * us / total)]);
}

interface CpuProfile {
  nodes: {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
  }[];
  samples: number[];
  timeDeltas: number[];
}

async function profileCamwire(n: number, seconds: number): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "camwire-prof-" });
  try {
    await run(
      "camwire --cpu-prof",
      () => camwire(false, ["--cpu-prof", `--cpu-prof-dir=${dir}`]),
      n,
      seconds,
    );
    let file: Deno.DirEntry | undefined;
    for await (const entry of Deno.readDir(dir)) {
      if (entry.name.endsWith(".cpuprofile")) file = entry;
    }
    if (file === undefined) return "(no profile written)";
    const profile = JSON.parse(
      await Deno.readTextFile(`${dir}/${file.name}`),
    ) as CpuProfile;
    return markdownTable(
      ["function (self time)", "ms", "%"],
      topSelf(profile, 15),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      seconds: { type: "string", default: "10" },
      rounds: { type: "string", default: "2" },
      "http-n": { type: "string", default: "1000" },
      "floor-n": { type: "string", default: "3000" },
      profile: { type: "boolean", default: false },
    },
  });
  const seconds = Number(values.seconds);
  const rounds = Number(values.rounds);
  const httpN = Number(values["http-n"]);
  const floorN = Number(values["floor-n"]);
  const dir = await Deno.makeTempDir({ prefix: "camwire-floor-" });
  try {
    const binary = await buildFloor(dir);
    const http: Row[] = [];
    const c: Row[] = [];
    for (let i = 0; i < rounds && httpN > 0; i++) {
      http.push(await run("camwire TCP", () => camwire(false), httpN, seconds));
      http.push(
        await run("camwire HTTP", () => camwire(true), httpN, seconds, true),
      );
    }
    for (let i = 0; i < rounds && floorN > 0; i++) {
      c.push(await run("camwire TCP", () => camwire(false), floorN, seconds));
      c.push(await run("C floor", () => floor(binary), floorN, seconds));
    }
    const out = [
      `## Delivery engine (${navigator.hardwareConcurrency} cores, Deno ${Deno.version.deno}, ${seconds} s windows after ${WARMUP_S} s warm-up, ${rounds} rounds alternating)`,
      "",
      table(http),
      "",
      `HTTP / TCP µs per delivered frame: ${
        fmt(mean(http, "camwire HTTP") / mean(http, "camwire TCP"), 2)
      }× (goal ≤ 1.2×)`,
      "",
      table(c),
      "",
      `camwire / C floor µs per delivered frame: ${
        fmt(mean(c, "camwire TCP") / mean(c, "C floor"), 2)
      }× (goal ≤ 1.10×)`,
    ];
    if (values.profile) {
      out.push("", "### Where camwire's time goes", "");
      out.push(await profileCamwire(floorN, seconds));
    }
    console.log(out.join("\n"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) {
  try {
    await main();
  } finally {
    await cleanupAll();
  }
}
