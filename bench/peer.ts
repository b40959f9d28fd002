// Copyright 2026 the camwire authors. MIT license.
/**
 * The peer bench: camwire against ustreamer, the C streamer people run on
 * Raspberry Pis, on the same emulated webcam (testing/fake_camera.c,
 * MJPEG 320×240 at 30 fps, passed through by both). Hand-run, Linux,
 * 127.0.0.1 only. Set-up (not installed by CI):
 *
 * ```sh
 * sudo apt-get install -y ustreamer gcc ffmpeg
 * deno run -A bench/peer.ts [--n 1,10,100,500] [--rounds 2] [--min-seconds 10]
 * ```
 *
 * camwire opens the emulated camera through FFI (`CAMWIRE_LIBC`),
 * ustreamer through `LD_PRELOAD` (`-m MJPEG -c HW`: the camera's JPEGs
 * passed through, as camwire's V4L2 passthrough does). camwire runs two
 * ways: as the docs' command runs it (`deno run -A server.ts`, V8's
 * defaults), and as systemd/camwire.service does ("(service)": with the
 * unit's `DENO_V8_FLAGS`, read from the unit). For each round, each N
 * and each of ustreamer (HTTP `/stream`), camwire TCP (no `--http-port`)
 * and camwire HTTP (`/stream.mjpg`), each way, in turn, each on a fresh
 * server (and, at 10 viewers or fewer, bench/deno_floor.ts: the least a
 * Deno program does per frame for the same service), connect N viewers
 * (`fanout_load.ts`), warm up 3 s, then measure until the CPU count is
 * fine enough (below):
 *
 * - **CPU per delivered frame**: utime + stime of the server and its
 *   children (/proc, in CLK_TCK ticks of 10 ms) over the whole JPEGs all
 *   viewers received. A tick count is short by up to one tick at each
 *   end of the window for user and system time each, so the figure's error
 *   is up to 2 ticks over the ticks counted: the window runs at least
 *   `--min-seconds` and until that is under `--max-error` (5 %), at most
 *   90 s; the error is printed.
 * - **CPU %** of one core, **RSS** at the end of the window, and its
 *   split (/proc/PID/status): RssAnon, the memory the process made, and
 *   RssFile, pages of mapped files, most of them the program's own
 *   executable (about 25 MB of any Deno process).
 * - **Latency** p50/p99: from the emulated camera's DQBUF, which writes
 *   the time into each JPEG (a COM segment `camera t=<ms>` after SOI:
 *   both servers pass it on; camwire puts its own stamp before it), to
 *   the viewer holding the whole JPEG.
 *
 * Then the ratios camwire / ustreamer (µs per frame, means of the
 * rounds) against the goals, the memory against the goals, that of a
 * Deno process that only listens on a port (camwire's floor), and idle:
 * CPU per second with no viewer, with and without `--on-demand` (and
 * whether the camera is open), camwire run as the docs' command runs it.
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  cleanupAll,
  CPU_RESOLUTION_S,
  delay,
  fmt,
  LoadFleet,
  markdownTable,
  quantile,
  type Resident,
  residentMb,
  treeCpuSeconds,
} from "./bench_util.ts";
import {
  camwire,
  denoFloor,
  denoListenMemory,
  serviceV8Flags,
  type Setup,
  type Target,
  ustreamer,
} from "./peer_servers.ts";
import { FakeCameras } from "../testing/fake_camera.ts";
import { LIBC_OVERRIDE_ENV } from "../server/sys/libc.ts";

const WARMUP_S = 3;
/** Longest window: the load processes live 120 s at most. */
const MAX_WINDOW_S = 90;

/**
 * The servers compared; "(service)": camwire as systemd/camwire.service
 * runs it, with the unit's `DENO_V8_FLAGS`.
 */
type Kind =
  | "ustreamer"
  | "Deno floor"
  | "camwire TCP"
  | "camwire HTTP"
  | "camwire TCP (service)"
  | "camwire HTTP (service)";
const KINDS: Kind[] = [
  "ustreamer",
  "Deno floor",
  "camwire TCP",
  "camwire HTTP",
  "camwire TCP (service)",
  "camwire HTTP (service)",
];
/** camwire's kinds, the two ways it runs. */
const CAMWIRE: Kind[] = KINDS.filter((kind) => kind.startsWith("camwire"));
/** The Deno floor cuts a frame a socket does not take whole: few viewers only. */
const FLOOR_MAX_VIEWERS = 10;

/** One measurement. */
interface Row {
  kind: Kind;
  round: number;
  n: number;
  connected: number;
  medianFps: number;
  frames: number;
  usPerFrame: number;
  /** Relative error bound of the CPU figure (tick counts). */
  error: number;
  cpuPct: number;
  memory: Resident;
  p50: number;
  p99: number;
  windowS: number;
  bad: number;
}

function start(kind: Kind, setup: Setup): Promise<Target> {
  if (kind === "ustreamer") return ustreamer(setup);
  if (kind === "Deno floor") return denoFloor(setup);
  const service = kind.endsWith("(service)");
  return camwire(
    setup,
    kind.startsWith("camwire HTTP"),
    [],
    service ? setup.serviceV8Flags : undefined,
  );
}

/**
 * Measures one server at `n` viewers: the window runs until its CPU tick
 * count is fine enough (see the module doc).
 */
async function measure(
  kind: Kind,
  round: number,
  setup: Setup,
  n: number,
  options: { minSeconds: number; maxError: number },
): Promise<Row> {
  console.error(`peer: round ${round}, ${kind}, ${n} viewers …`);
  const target = await start(kind, setup);
  try {
    const { fleet, connected } = await LoadFleet.start(target.port, n, {
      http: target.http,
      path: target.path,
      stamp: "camera",
    });
    try {
      await delay(WARMUP_S * 1000);
      const c0 = treeCpuSeconds(target.pid);
      const t0 = performance.now();
      await fleet.startWindow();
      // Each reading of utime and of stime may be short by one tick.
      const uncertainty = 2 * CPU_RESOLUTION_S;
      while (true) {
        await delay(1000);
        const elapsed = (performance.now() - t0) / 1000;
        const cpu = treeCpuSeconds(target.pid) - c0;
        const fine = cpu > 0 && uncertainty / cpu <= options.maxError;
        if (
          (elapsed >= options.minSeconds && fine) || elapsed >= MAX_WINDOW_S
        ) {
          break;
        }
      }
      const r = await fleet.endWindow();
      const cpu = treeCpuSeconds(target.pid) - c0;
      const wall = (performance.now() - t0) / 1000;
      const row: Row = {
        kind,
        round,
        n,
        connected,
        medianFps: quantile(r.fps, 0.5),
        frames: r.frames,
        usPerFrame: cpu * 1e6 / r.frames,
        error: cpu > 0 ? uncertainty / cpu : Infinity,
        cpuPct: 100 * cpu / wall,
        memory: residentMb(target.pid),
        p50: r.latency.quantile(0.5),
        p99: r.latency.quantile(0.99),
        windowS: wall,
        bad: r.closedEarly + r.badStreams + r.failed,
      };
      console.error(
        `peer: ${kind} at ${n}: ${fmt(row.usPerFrame)} µs/frame ±${
          fmt(100 * row.error)
        } %, ${mb(row.memory)}, p50 ${fmt(row.p50)} ms`,
      );
      return row;
    } finally {
      await fleet.stop();
    }
  } finally {
    await target.stop();
  }
}

/** RSS and its split, MB. */
function mb(memory: Resident): string {
  return `${fmt(memory.rss)} MB (RssAnon ${fmt(memory.anon)} + RssFile ${
    fmt(memory.file)
  })`;
}

/** One idle server: CPU per second with no viewer, over `seconds`. */
interface IdleRow {
  what: string;
  cpuMsPerS: number;
  /** The most the figure may be off by, ms/s. */
  errorMsPerS: number;
  cameraOpen: boolean;
  memory: Resident;
}

/** Whether a process holds a fake camera's fd (the capture runs). */
function holdsCamera(pid: number): boolean {
  for (const entry of Deno.readDirSync(`/proc/${pid}/fd`)) {
    try {
      const target = Deno.readLinkSync(`/proc/${pid}/fd/${entry.name}`);
      if (target.includes("camwire-fake-camera")) return true;
    } catch {
      // Closed meanwhile.
    }
  }
  return false;
}

async function measureIdle(
  what: string,
  target: () => Promise<Target>,
  seconds: number,
): Promise<IdleRow> {
  console.error(`peer: idle, ${what} …`);
  const server = await target();
  try {
    // Past start-up, and past --on-demand's stop of the first capture.
    await delay(7000);
    const c0 = treeCpuSeconds(server.pid);
    const t0 = performance.now();
    await delay(seconds * 1000);
    const cpu = treeCpuSeconds(server.pid) - c0;
    const wall = (performance.now() - t0) / 1000;
    return {
      what,
      cpuMsPerS: 1000 * cpu / wall,
      errorMsPerS: 1000 * 2 * CPU_RESOLUTION_S / wall,
      cameraOpen: holdsCamera(server.pid),
      memory: residentMb(server.pid),
    };
  } finally {
    await server.stop();
  }
}

/** The mean of `value` over the rounds of `kind` at `n` viewers. */
function mean(
  rows: Row[],
  kind: Kind,
  n: number,
  value: (row: Row) => number,
): number {
  const mine = rows.filter((r) => r.kind === kind && r.n === n);
  return mine.reduce((a, r) => a + value(r), 0) / mine.length;
}

const usPerFrame = (r: Row) => r.usPerFrame;

function rowsTable(rows: Row[]): string {
  return markdownTable(
    [
      "round",
      "server",
      "viewers",
      "connected",
      "median fps",
      "µs/frame",
      "± (ticks)",
      "CPU %",
      "RSS MB (RssAnon + RssFile)",
      "DQBUF→viewer p50 / p99 ms",
      "window s",
      "bad",
    ],
    rows.map((r) => [
      String(r.round),
      r.kind,
      String(r.n),
      String(r.connected),
      fmt(r.medianFps),
      fmt(r.usPerFrame),
      `${fmt(100 * r.error)} %`,
      fmt(r.cpuPct, 2),
      `${fmt(r.memory.rss)} (${fmt(r.memory.anon)} + ${fmt(r.memory.file)})`,
      `${fmt(r.p50)} / ${fmt(r.p99)}`,
      fmt(r.windowS, 0),
      String(r.bad),
    ]),
  );
}

/** The goals of the peer comparison at `n` viewers. */
function cpuGoal(n: number): number {
  return n <= 10 ? 1.0 : 0.6;
}

/**
 * µs of CPU per frame of each server and its ratio to ustreamer's, means
 * of the rounds, against the goal.
 */
function cpuTable(rows: Row[], ns: number[], kinds: Kind[]): string {
  const others = kinds.filter((k) => k !== "ustreamer");
  return markdownTable(
    ["viewers", "ustreamer", ...others, "goal"],
    ns.map((n) => {
      const us = mean(rows, "ustreamer", n, usPerFrame);
      const goal = cpuGoal(n);
      const cell = (kind: Kind) => {
        if (kind === "Deno floor" && n > FLOOR_MAX_VIEWERS) return "–";
        const mine = mean(rows, kind, n, usPerFrame);
        const ratio = mine / us;
        const mark = kind === "Deno floor"
          ? ""
          : ratio <= goal
          ? " met"
          : " NOT met";
        return `${fmt(mine)} (${fmt(ratio, 2)}×${mark})`;
      };
      return [
        String(n),
        fmt(us),
        ...others.map(cell),
        `≤ ${fmt(goal, 1)}×`,
      ];
    }),
  );
}

/**
 * A value of each server at each N, means of the rounds (`–` where a
 * server did not run).
 */
function byServerTable(
  rows: Row[],
  ns: number[],
  kinds: Kind[],
  value: (kind: Kind, n: number) => string,
): string {
  return markdownTable(
    ["viewers", ...kinds],
    ns.map((n) => [
      String(n),
      ...kinds.map((k) =>
        rows.some((r) => r.kind === k && r.n === n) ? value(k, n) : "–"
      ),
    ]),
  );
}

/**
 * camwire's RSS at 1 and 500 viewers against the goals (the most of the
 * rounds), and what of it is camwire's beyond a Deno that only listens.
 */
function rssGoals(
  rows: Row[],
  ns: number[],
  kinds: Kind[],
  listening: Resident,
): string[] {
  const lines: string[] = [];
  for (const [n, goal] of [[1, 45], [500, 60]] as const) {
    if (!ns.includes(n)) continue;
    for (const kind of kinds.filter((k) => CAMWIRE.includes(k))) {
      const mine = rows.filter((r) => r.kind === kind && r.n === n);
      const most = mine.reduce((a, r) => r.memory.rss > a.memory.rss ? r : a);
      const { rss, anon, file } = most.memory;
      lines.push(
        `RSS of ${kind} at ${n} viewer(s): ${
          mb(most.memory)
        }, goal ≤ ${goal} MB: ${rss <= goal ? "met" : "NOT met"}; beyond ` +
          `a Deno that only listens: ${fmt(rss - listening.rss)} MB (RssAnon ${
            fmt(anon - listening.anon)
          } + RssFile ${fmt(file - listening.file)})`,
      );
    }
  }
  return lines;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      n: { type: "string", default: "1,10,100,500" },
      rounds: { type: "string", default: "2" },
      "min-seconds": { type: "string", default: "10" },
      "max-error": { type: "string", default: "0.05" },
      "idle-seconds": { type: "string", default: "20" },
      servers: { type: "string", default: KINDS.join(",") },
      ustreamer: { type: "string", default: "/usr/bin/ustreamer" },
    },
  });
  const ns = values.n.split(",").map(Number);
  const rounds = Number(values.rounds);
  const minSeconds = Number(values["min-seconds"]);
  const maxError = Number(values["max-error"]);
  const idleSeconds = Number(values["idle-seconds"]);
  const kinds = values.servers.split(",") as Kind[];
  if (ns.some((n) => !Number.isInteger(n) || n < 1 || n > 3000)) {
    console.error("--n must be a comma-separated list of 1..3000");
    Deno.exit(2);
  }
  if (kinds.some((k) => !KINDS.includes(k))) {
    console.error(`--servers must be a comma-separated list of: ${KINDS}`);
    Deno.exit(2);
  }
  try {
    await Deno.stat(values.ustreamer);
  } catch {
    console.error(
      `bench/peer.ts needs ustreamer at ${values.ustreamer}: sudo apt-get install -y ustreamer (or --ustreamer PATH)`,
    );
    Deno.exit(1);
  }
  await using cameras = await FakeCameras.create();
  const setup: Setup = {
    library: cameras.library,
    device: await cameras.device({
      card: "Emulated 320x240 MJPEG camera",
      modes: [{ fourcc: "MJPG", width: 320, height: 240, fps: 30 }],
      stamp: true,
    }),
    ustreamer: values.ustreamer,
    serviceV8Flags: await serviceV8Flags(),
  };
  // camwire's FFI opens the emulated camera in place of libc.
  Deno.env.set(LIBC_OVERRIDE_ENV, setup.library);
  const rows: Row[] = [];
  const idle: IdleRow[] = [];
  let listening: Resident = { rss: NaN, anon: NaN, file: NaN };
  try {
    for (let round = 1; round <= rounds; round++) {
      for (const n of ns) {
        // Alternate the order too, so that no server always goes first.
        const order = round % 2 === 1 ? kinds : [...kinds].reverse();
        for (const kind of order) {
          if (kind === "Deno floor" && n > FLOOR_MAX_VIEWERS) continue;
          rows.push(
            await measure(kind, round, setup, n, { minSeconds, maxError }),
          );
        }
      }
    }
    listening = await denoListenMemory(cameras.dir);
    if (idleSeconds > 0) {
      idle.push(
        await measureIdle("ustreamer", () => ustreamer(setup), idleSeconds),
        await measureIdle(
          "camwire (deno run -A server.ts)",
          () => camwire(setup, false),
          idleSeconds,
        ),
        await measureIdle(
          "camwire --on-demand",
          () => camwire(setup, false, ["--on-demand", "--idle-stop", "1"]),
          idleSeconds,
        ),
      );
    }
  } finally {
    await cleanupAll();
  }
  const out = [
    `## camwire and ustreamer on one emulated camera (${navigator.hardwareConcurrency} cores, Deno ${Deno.version.deno}, MJPEG 320x240 at 30 fps passed through, ${rounds} round(s) alternating, ${WARMUP_S} s warm-up, windows of at least ${minSeconds} s and until the CPU figure is within ${
      fmt(100 * maxError, 0)
    } %); "(service)": with systemd/camwire.service's DENO_V8_FLAGS=${setup.serviceV8Flags}`,
    "",
    rowsTable(rows),
    "",
    ...(kinds.includes("ustreamer")
      ? [
        "µs of CPU per delivered frame (ratio to ustreamer's), means of the rounds:",
        "",
        cpuTable(rows, ns, kinds),
        "",
      ]
      : []),
    "RSS MB (RssAnon + RssFile), means of the rounds:",
    "",
    byServerTable(
      rows,
      ns,
      kinds,
      (k, n) =>
        `${fmt(mean(rows, k, n, (r) => r.memory.rss))} (${
          fmt(mean(rows, k, n, (r) => r.memory.anon))
        } + ${fmt(mean(rows, k, n, (r) => r.memory.file))})`,
    ),
    "",
    "DQBUF → viewer latency p50, ms, means of the rounds:",
    "",
    byServerTable(
      rows,
      ns,
      kinds,
      (k, n) => fmt(mean(rows, k, n, (r) => r.p50)),
    ),
    "",
    ...rssGoals(rows, ns, kinds, listening),
    `A Deno process that only listens on a port: ${mb(listening)}`,
  ];
  if (idle.length > 0) {
    out.push(
      "",
      markdownTable(
        [
          "idle, no viewer",
          "CPU ms/s",
          "camera open",
          "RSS MB (RssAnon + RssFile)",
        ],
        idle.map((r) => [
          r.what,
          `${fmt(r.cpuMsPerS, 2)} ± ${fmt(r.errorMsPerS, 2)}`,
          r.cameraOpen ? "yes" : "no",
          `${fmt(r.memory.rss)} (${fmt(r.memory.anon)} + ${
            fmt(r.memory.file)
          })`,
        ]),
      ),
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
