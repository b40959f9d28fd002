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
 * passed through, as camwire's V4L2 passthrough does). For each round,
 * each N and each of ustreamer (HTTP `/stream`), camwire TCP (no
 * `--http-port`) and camwire HTTP (`/stream.mjpg`), in turn, each on a
 * fresh server (and, at 10 viewers or fewer, bench/deno_floor.ts: the
 * least a Deno program does per frame for the same service), connect N
 * viewers (`fanout_load.ts`), warm up 3 s, then
 * measure until the CPU count is fine enough (below):
 *
 * - **CPU per delivered frame**: utime + stime of the server and its
 *   children (/proc, in CLK_TCK ticks of 10 ms) over the whole JPEGs all
 *   viewers received. A tick count is short by up to one tick at each
 *   end of the window for user and system time each, so the figure's error
 *   is up to 2 ticks over the ticks counted: the window runs at least
 *   `--min-seconds` and until that is under `--max-error` (5 %), at most
 *   90 s; the error is printed.
 * - **CPU %** of one core, **RSS** at the end of the window.
 * - **Latency** p50/p99: from the emulated camera's DQBUF, which writes
 *   the time into each JPEG (a COM segment `camera t=<ms>` after SOI:
 *   both servers pass it on; camwire puts its own stamp before it), to
 *   the viewer holding the whole JPEG.
 *
 * Then the ratios camwire / ustreamer (µs per frame, means of the
 * rounds) against the goals, and the RSS of a Deno process that only
 * listens on a port (camwire's floor), and idle: CPU per second with no
 * viewer, with and without `--on-demand` (and whether the camera is open).
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  BENCH,
  cleanupAll,
  CPU_RESOLUTION_S,
  delay,
  fmt,
  LoadFleet,
  markdownTable,
  onCleanup,
  quantile,
  ROOT,
  rssMb,
  startServer,
  stopChild,
  treeCpuSeconds,
  withFdLimit,
} from "./bench_util.ts";
import { linesOf } from "../common/child.ts";
import { FakeCameras } from "../testing/fake_camera.ts";
import { LIBC_OVERRIDE_ENV } from "../server/sys/libc.ts";

const WARMUP_S = 3;
/** Longest window: the load processes live 120 s at most. */
const MAX_WINDOW_S = 90;

/** The servers compared. */
type Kind = "ustreamer" | "Deno floor" | "camwire TCP" | "camwire HTTP";
const KINDS: Kind[] = [
  "ustreamer",
  "Deno floor",
  "camwire TCP",
  "camwire HTTP",
];
/** The Deno floor cuts a frame a socket does not take whole: few viewers only. */
const FLOOR_MAX_VIEWERS = 10;

/** A server to measure: its pid, the port and path viewers use. */
interface Target {
  pid: number;
  port: number;
  http: boolean;
  path: string;
  stop(): Promise<void>;
}

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
  rssMb: number;
  p50: number;
  p99: number;
  windowS: number;
  bad: number;
}

/** What the bench runs: the emulated camera and the programs. */
interface Setup {
  library: string;
  device: string;
  ustreamer: string;
}

/** A free TCP port on 127.0.0.1 (for ustreamer, which takes no port 0). */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** ustreamer on the emulated camera, once its capture is online. */
async function ustreamer(setup: Setup): Promise<Target> {
  const port = freePort();
  const { cmd, args } = withFdLimit([
    "env",
    `LD_PRELOAD=${setup.library}`,
    setup.ustreamer,
    ...["-d", setup.device, "-m", "MJPEG", "-c", "HW"],
    ...["-r", "320x240", "-f", "30", "-s", "127.0.0.1", "-p", String(port)],
  ]);
  const child = new Deno.Command(cmd, {
    args,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const drained = (async () => {
    for await (const _ of linesOf(child.stderr)) {
      // ustreamer logs each client; nothing here needs it.
    }
  })();
  const stop = async () => {
    unregister();
    await stopChild(child);
    await drained;
  };
  const unregister = onCleanup(stop);
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    try {
      const state = await (await fetch(`http://127.0.0.1:${port}/state`))
        .json();
      if (state.result?.source?.online === true) {
        return { pid: child.pid, port, http: true, path: "/stream", stop };
      }
    } catch {
      // Not listening yet.
    }
    await delay(100);
  }
  await stop();
  throw new Error("ustreamer did not go online within 15 s");
}

/** camwire on the emulated camera: its TCP port, or its HTTP port. */
async function camwire(
  setup: Setup,
  http: boolean,
  extra: string[] = [],
): Promise<Target> {
  const server = await startServer(ROOT + "server.ts", [
    ...["--device", setup.device, "--capture", "v4l2"],
    ...["--host", "127.0.0.1", "--port", "0", "--max-clients", "5000"],
    ...(http ? ["--http-port", "0"] : []),
    ...extra,
  ]);
  let port = server.port;
  if (http) {
    const web = server.linesMatching(/web page on http:\/\/127\.0\.0\.1:\d+/);
    port = Number(/:(\d+)\/$/.exec(web[0] ?? "")?.[1]);
    if (!port) {
      await server.stop();
      throw new Error("camwire printed no web page line");
    }
  }
  return {
    pid: server.pid,
    port,
    http,
    path: "/stream.mjpg",
    stop: () => server.stop(),
  };
}

/** bench/deno_floor.ts on the emulated camera. */
async function denoFloor(setup: Setup): Promise<Target> {
  const { cmd, args } = withFdLimit([
    Deno.execPath(),
    ...["run", "-A", "--quiet", `${BENCH}deno_floor.ts`, setup.device],
  ]);
  const child = new Deno.Command(cmd, {
    args,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const lines = linesOf(child.stderr);
  const stop = async () => {
    unregister();
    await stopChild(child);
    await lines.return(undefined);
  };
  const unregister = onCleanup(stop);
  for await (const line of { [Symbol.asyncIterator]: () => lines }) {
    const port = /streaming on tcp:\/\/127\.0\.0\.1:(\d+)/.exec(line)?.[1];
    if (port) {
      return {
        pid: child.pid,
        port: Number(port),
        http: false,
        path: "",
        stop,
      };
    }
  }
  await stop();
  throw new Error("bench/deno_floor.ts did not start");
}

function start(kind: Kind, setup: Setup): Promise<Target> {
  if (kind === "ustreamer") return ustreamer(setup);
  if (kind === "Deno floor") return denoFloor(setup);
  return camwire(setup, kind === "camwire HTTP");
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
        rssMb: rssMb(target.pid),
        p50: r.latency.quantile(0.5),
        p99: r.latency.quantile(0.99),
        windowS: wall,
        bad: r.closedEarly + r.badStreams + r.failed,
      };
      console.error(
        `peer: ${kind} at ${n}: ${fmt(row.usPerFrame)} µs/frame ±${
          fmt(100 * row.error)
        } %, ${fmt(row.rssMb)} MB, p50 ${fmt(row.p50)} ms`,
      );
      return row;
    } finally {
      await fleet.stop();
    }
  } finally {
    await target.stop();
  }
}

/**
 * RSS of a Deno process that does nothing but listen on a port, run as
 * the server is (`deno run` of a file; `deno eval` takes more).
 */
async function denoListenRss(dir: string): Promise<number> {
  const script = `${dir}/listen.ts`;
  await Deno.writeTextFile(
    script,
    "Deno.listen({ hostname: '127.0.0.1', port: 0 });\n" +
      "console.log('listening');\n" +
      "setInterval(() => {}, 1000);\n",
  );
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", script],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const unregister = onCleanup(() => stopChild(child));
  try {
    for await (const _ of linesOf(child.stdout)) break; // "listening"
    await delay(2000);
    return rssMb(child.pid);
  } finally {
    unregister();
    await stopChild(child);
  }
}

/** One idle server: CPU per second with no viewer, over `seconds`. */
interface IdleRow {
  what: string;
  cpuMsPerS: number;
  /** The most the figure may be off by, ms/s. */
  errorMsPerS: number;
  cameraOpen: boolean;
  rssMb: number;
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
      rssMb: rssMb(server.pid),
    };
  } finally {
    await server.stop();
  }
}

function mean(rows: Row[], kind: Kind, n: number, key: keyof Row): number {
  const mine = rows.filter((r) => r.kind === kind && r.n === n);
  return mine.reduce((a, r) => a + (r[key] as number), 0) / mine.length;
}

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
      "RSS MB",
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
      fmt(r.rssMb),
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

/** The servers of the RSS and latency columns. */
const SERVERS: Kind[] = ["ustreamer", "camwire TCP", "camwire HTTP"];

function ratiosTable(rows: Row[], ns: number[]): string {
  return markdownTable(
    [
      "viewers",
      "ustreamer µs/frame",
      "camwire TCP",
      "camwire HTTP",
      "TCP ratio",
      "HTTP ratio",
      "goal",
      "Deno floor (ratio)",
      "RSS MB ustreamer / TCP / HTTP",
      "p50 ms ustreamer / TCP / HTTP",
    ],
    ns.map((n) => {
      const us = mean(rows, "ustreamer", n, "usPerFrame");
      const tcp = mean(rows, "camwire TCP", n, "usPerFrame");
      const http = mean(rows, "camwire HTTP", n, "usPerFrame");
      const goal = cpuGoal(n);
      const mark = (ratio: number) =>
        `${fmt(ratio, 2)}× ${ratio <= goal ? "(met)" : "(NOT met)"}`;
      return [
        String(n),
        fmt(us),
        fmt(tcp),
        fmt(http),
        mark(tcp / us),
        mark(http / us),
        `≤ ${fmt(goal, 1)}×`,
        n > FLOOR_MAX_VIEWERS
          ? "–"
          : `${fmt(mean(rows, "Deno floor", n, "usPerFrame"))} (${
            fmt(mean(rows, "Deno floor", n, "usPerFrame") / us, 2)
          }×)`,
        SERVERS.map((k) => fmt(mean(rows, k, n, "rssMb"))).join(" / "),
        SERVERS.map((k) => fmt(mean(rows, k, n, "p50"))).join(" / "),
      ];
    }),
  );
}

function rssGoals(rows: Row[], ns: number[]): string[] {
  const lines: string[] = [];
  for (const [n, goal] of [[1, 45], [500, 60]] as const) {
    if (!ns.includes(n)) continue;
    for (const kind of ["camwire TCP", "camwire HTTP"] as const) {
      const rss = Math.max(
        ...rows.filter((r) => r.kind === kind && r.n === n).map((r) => r.rssMb),
      );
      lines.push(
        `RSS of ${kind} at ${n} viewer(s): ${fmt(rss)} MB (goal ≤ ${goal} MB: ${
          rss <= goal ? "met" : "NOT met"
        })`,
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
  };
  // camwire's FFI opens the emulated camera in place of libc.
  Deno.env.set(LIBC_OVERRIDE_ENV, setup.library);
  const rows: Row[] = [];
  const idle: IdleRow[] = [];
  let listenRss = NaN;
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
    listenRss = await denoListenRss(cameras.dir);
    if (idleSeconds > 0) {
      idle.push(
        await measureIdle("ustreamer", () => ustreamer(setup), idleSeconds),
        await measureIdle(
          "camwire",
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
    } %)`,
    "",
    rowsTable(rows),
    "",
    ...(kinds.length === KINDS.length ? [ratiosTable(rows, ns), ""] : []),
    ...rssGoals(rows, ns),
    `A Deno process that only listens on a port: ${fmt(listenRss)} MB RSS`,
  ];
  if (idle.length > 0) {
    out.push(
      "",
      markdownTable(
        ["idle, no viewer", "CPU ms/s", "camera open", "RSS MB"],
        idle.map((r) => [
          r.what,
          `${fmt(r.cpuMsPerS, 2)} ± ${fmt(r.errorMsPerS, 2)}`,
          r.cameraOpen ? "yes" : "no",
          fmt(r.rssMb),
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
