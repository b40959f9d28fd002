// Copyright 2026 the camwire authors. MIT license.
/**
 * Fan-out bench: what camwire's server costs per viewer-frame, against a
 * minimal node:net fan-out (`reference_fanout.ts`) and against the
 * loopback limit (`loopback_floor.ts`). Hand-run, Linux only, 127.0.0.1
 * only; ffmpeg and /usr/bin/python3 must be installed.
 *
 * ```sh
 * deno run -A bench/fanout.ts [--n 1,10,100,1000,3000] [--seconds 10]
 * ```
 *
 * `--server-arg <FLAG>` (repeatable) passes extra flags to camwire's server,
 * e.g. `--server-arg=--send-queue --server-arg=0`; `--no-reference` skips
 * the reference runs.
 *
 * For each N, for camwire (`server.ts --source test --max-clients 5000`)
 * and then the reference, both started with `ulimit -n 20000` through sh:
 *
 * 1. start the server on a free port and wait for its `streaming on` line;
 * 2. connect N viewers from `fanout_load.ts` processes (one per 500
 *    viewers, at most 4) and check how many connected, by the load's count
 *    and by the server's own;
 * 3. warm up 3 s, then measure `--seconds`: per-viewer fps, latency from
 *    the capture stamp (p50, p99), server CPU (utime + stime of the server's
 *    deno process from /proc/PID/stat) as % of one core and as µs per frame
 *    delivered to all viewers, server RSS, the ffmpeg child's CPU, and the
 *    load processes' own CPU (on a small machine they share the cores), and
 *    "other CPU": what the rest of the machine used (from /proc/stat) in
 *    the window, to show when another workload skewed a run. CPU % is of
 *    one core (200 % = two cores busy).
 *
 * Then it measures the loopback floor (8 KB writes for 2 s) and bytes per
 * frame (5 s of one viewer), and prints markdown tables.
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
  machineBusySeconds,
  markdownTable,
  quantile,
  ROOT,
  rssMb,
  type ServerHandle,
  startServer,
} from "./bench_util.ts";
import { floorTable, measureLoopbackFloor } from "./loopback_floor.ts";
import { bytesPerFrameLine, measureBytesPerFrame } from "./bytes_per_frame.ts";

const WARMUP_S = 3;

/** One server at one N. */
interface Row {
  n: number;
  connected: number;
  failed: number;
  serverSaw: number;
  closedEarly: number;
  badStreams: number;
  minFps: number;
  medianFps: number;
  p50: number;
  p99: number;
  max: number;
  cpuPct: number;
  usPerFrame: number;
  rssMb: number;
  ffmpegCpuPct: number;
  loadCpuPct: number;
  /** Machine busy CPU % not used by server, ffmpeg or load (other work). */
  otherCpuPct: number;
  mbPerSec: number;
}

async function measure(
  server: ServerHandle,
  n: number,
  seconds: number,
): Promise<Row> {
  const { fleet, connected, failed } = await LoadFleet.start(server.port, n);
  try {
    await delay(WARMUP_S * 1000);
    const ffmpeg = server.ffmpegPid;
    const s0 = cpuSeconds(server.pid);
    const f0 = ffmpeg === undefined ? NaN : cpuSeconds(ffmpeg);
    const m0 = machineBusySeconds();
    const t0 = performance.now();
    await fleet.startWindow();
    await delay(seconds * 1000);
    const r = await fleet.endWindow();
    const wall = (performance.now() - t0) / 1000;
    const serverCpu = cpuSeconds(server.pid) - s0;
    const ffmpegCpu = ffmpeg === undefined ? NaN : cpuSeconds(ffmpeg) - f0;
    const machineCpu = machineBusySeconds() - m0;
    const ownPct = 100 * (serverCpu + (ffmpegCpu || 0)) / wall + r.loadCpuPct;
    return {
      n,
      connected,
      failed,
      serverSaw: server.maxWatching(),
      closedEarly: r.closedEarly,
      badStreams: r.badStreams,
      minFps: quantile(r.fps, 0),
      medianFps: quantile(r.fps, 0.5),
      p50: r.latency.quantile(0.5),
      p99: r.latency.quantile(0.99),
      max: r.latency.quantile(1),
      cpuPct: 100 * serverCpu / wall,
      usPerFrame: serverCpu * 1e6 / r.frames,
      rssMb: rssMb(server.pid),
      ffmpegCpuPct: 100 * ffmpegCpu / wall,
      loadCpuPct: r.loadCpuPct,
      otherCpuPct: Math.max(0, 100 * machineCpu / wall - ownPct),
      mbPerSec: r.bytes / r.windowS / 1e6,
    };
  } finally {
    await fleet.stop();
  }
}

async function runOne(
  kind: "camwire" | "reference",
  n: number,
  flags: Flags,
): Promise<Row> {
  const server = kind === "camwire"
    ? await startServer(ROOT + "server.ts", [
      ...["--source", "test", "--host", "127.0.0.1", "--port", "0"],
      ...["--max-clients", "5000", ...flags.serverArgs],
    ])
    : await startServer(BENCH + "reference_fanout.ts", ["--port", "0"]);
  try {
    // Let the server settle (ffmpeg, first frames) before viewers arrive.
    await delay(500);
    return await measure(server, n, flags.seconds);
  } finally {
    await server.stop();
  }
}

interface Flags {
  ns: number[];
  seconds: number;
  serverArgs: string[];
  reference: boolean;
}

function parseFlags(): Flags {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      n: { type: "string", default: "1,10,100,1000,3000" },
      seconds: { type: "string", default: "10" },
      "server-arg": { type: "string", multiple: true, default: [] },
      "no-reference": { type: "boolean", default: false },
    },
  });
  const ns = values.n.split(",").map(Number);
  const seconds = Number(values.seconds);
  if (ns.some((n) => !Number.isInteger(n) || n < 1 || n > 5000)) {
    console.error("--n must be a comma-separated list of 1..5000");
    Deno.exit(2);
  }
  if (!(seconds >= 1 && seconds <= 60)) {
    console.error("--seconds must be in [1, 60]");
    Deno.exit(2);
  }
  return {
    ns,
    seconds,
    serverArgs: values["server-arg"],
    reference: !values["no-reference"],
  };
}

/** A short fingerprint of server.ts as it is on disk, to tell runs apart. */
async function serverFingerprint(): Promise<string> {
  const bytes = await Deno.readFile(ROOT + "server.ts");
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(hash.subarray(0, 6), (b) => b.toString(16).padStart(2, "0"))
    .join("");
}

/** A row of NaNs, for a reference that was not run. */
function missingRow(n: number): Row {
  const row = { n } as Record<string, number>;
  for (const key of ROW_KEYS) if (key !== "n") row[key] = NaN;
  return row as unknown as Row;
}

const ROW_KEYS = [
  "n",
  "connected",
  "failed",
  "serverSaw",
  "closedEarly",
  "badStreams",
  "minFps",
  "medianFps",
  "p50",
  "p99",
  "max",
  "cpuPct",
  "usPerFrame",
  "rssMb",
  "ffmpegCpuPct",
  "loadCpuPct",
  "otherCpuPct",
  "mbPerSec",
] as const satisfies readonly (keyof Row)[];

function ratio(a: number, b: number): string {
  return Number.isFinite(a / b) ? (a / b).toFixed(2) + "×" : "–";
}

async function main(): Promise<void> {
  const flags = parseFlags();
  const { ns, seconds } = flags;
  const fingerprint = await serverFingerprint();
  const camwire: Row[] = [];
  const reference: Row[] = [];
  const kinds = flags.reference
    ? ["camwire", "reference"] as const
    : ["camwire"] as const;
  for (const n of ns) {
    for (const kind of kinds) {
      console.error(`fanout: ${kind} N=${n} …`);
      const row = await runOne(kind, n, flags);
      (kind === "camwire" ? camwire : reference).push(row);
      console.error(
        `fanout: ${kind} N=${n}: ${row.connected} connected, ` +
          `${fmt(row.medianFps)} fps, p99 ${fmt(row.p99)} ms, ` +
          `${fmt(row.usPerFrame, 2)} µs/frame, load CPU ${
            fmt(row.loadCpuPct, 0)
          } %`,
      );
    }
  }
  console.error("fanout: loopback floor …");
  const floor = await measureLoopbackFloor(2);
  console.error("fanout: bytes per frame …");
  const bytesServer = await startServer(ROOT + "server.ts", [
    ...["--source", "test", "--host", "127.0.0.1", "--port", "0"],
  ]);
  let bytesLine: string;
  try {
    bytesLine = bytesPerFrameLine(
      await measureBytesPerFrame(bytesServer.port, 5),
    );
  } finally {
    await bytesServer.stop();
  }

  const out: string[] = [];
  out.push(
    `## camwire fan-out, ${seconds} s window after ${WARMUP_S} s warm-up ` +
      `(${navigator.hardwareConcurrency} cores, Deno ${Deno.version.deno}, ` +
      `server.ts sha256 ${fingerprint}` +
      (flags.serverArgs.length
        ? `, server flags ${flags.serverArgs.join(" ")}`
        : "") +
      ")",
    "",
    markdownTable(
      [
        "N",
        "min fps",
        "median fps",
        "lat p50 ms",
        "lat p99 ms",
        "server CPU %",
        "µs/frame",
        "RSS MB",
        "ref µs/frame",
        "ref p99 ms",
      ],
      camwire.map((c, i) => {
        const r = reference[i] ?? missingRow(c.n);
        return [
          String(c.n),
          fmt(c.minFps),
          fmt(c.medianFps),
          fmt(c.p50),
          fmt(c.p99),
          fmt(c.cpuPct),
          fmt(c.usPerFrame, 2),
          fmt(c.rssMb, 0),
          fmt(r.usPerFrame, 2),
          fmt(r.p99),
        ];
      }),
    ),
    "",
    "### Details (camwire / reference)",
    "",
    markdownTable(
      [
        "N",
        "connected",
        "server saw",
        "failed",
        "closed early",
        "bad streams",
        "lat max ms",
        "ffmpeg CPU %",
        "load CPU %",
        "other CPU %",
        "MB/s received",
        "ref min/median fps",
        "ref p50 ms",
        "ref CPU %",
        "ref RSS MB",
        "µs/frame ratio",
        "p99 ratio",
      ],
      camwire.map((c, i) => {
        const r = reference[i] ?? missingRow(c.n);
        const pair = (a: number, b: number, d = 0) =>
          `${fmt(a, d)} / ${fmt(b, d)}`;
        return [
          String(c.n),
          pair(c.connected, r.connected),
          pair(c.serverSaw, r.serverSaw),
          pair(c.failed, r.failed),
          pair(c.closedEarly, r.closedEarly),
          pair(c.badStreams, r.badStreams),
          pair(c.max, r.max, 1),
          pair(c.ffmpegCpuPct, r.ffmpegCpuPct, 1),
          pair(c.loadCpuPct, r.loadCpuPct),
          pair(c.otherCpuPct, r.otherCpuPct),
          pair(c.mbPerSec, r.mbPerSec, 1),
          `${fmt(r.minFps)} / ${fmt(r.medianFps)}`,
          fmt(r.p50),
          fmt(r.cpuPct),
          fmt(r.rssMb, 0),
          ratio(c.usPerFrame, r.usPerFrame),
          ratio(c.p99, r.p99),
        ];
      }),
    ),
    "",
    "### Loopback floor (one 8 KB write into one loopback socket, 2 s)",
    "",
    floorTable(floor),
    "",
    markdownTable(
      ["N", "camwire µs/frame", ...floor.map((f) => `÷ ${f.label} µs/write`)],
      camwire.map((c) => [
        String(c.n),
        fmt(c.usPerFrame, 2),
        ...floor.map((f) => ratio(c.usPerFrame, f.usCpuPerWrite)),
      ]),
    ),
    "",
    bytesLine,
  );
  const failures = camwire.concat(reference).filter((r) =>
    r.connected < r.n || r.failed > 0 || r.closedEarly > 0 || r.badStreams > 0
  );
  if (failures.length > 0) {
    out.push(
      "",
      `WARNING: ${failures.length} run(s) with viewers missing, failed, closed early or with bad streams (see Details).`,
    );
  }
  console.log(out.join("\n"));
}

if (import.meta.main) {
  try {
    await main();
  } finally {
    await cleanupAll();
  }
}
