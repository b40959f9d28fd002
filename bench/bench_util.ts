// Copyright 2026 the camwire authors. MIT license.
/**
 * Helpers shared by the hand-run network benches (`fanout.ts`,
 * `slow_viewer.ts`, `bytes_per_frame.ts`): start servers and load processes
 * with a raised fd limit, read CPU and memory from /proc, keep latency
 * histograms, print markdown tables, and clean every child up, also on
 * Ctrl-C. Linux only (it reads /proc). Not a bench itself:
 *
 * ```sh
 * deno run -A bench/fanout.ts   # uses it
 * ```
 *
 * @module
 */

import process from "node:process";
import { linesOf } from "../common/child.ts";

/** The project root, with a trailing slash. */
export const ROOT = new URL("..", import.meta.url).pathname;
/** This directory, with a trailing slash. */
export const BENCH = new URL(".", import.meta.url).pathname;

/** Kernel clock ticks per second (`getconf CLK_TCK`; 100 on Linux). */
const CLK_TCK = 100;

/** A file-descriptor limit high enough for 3000+ sockets in one process. */
const FD_LIMIT = 20000;

/**
 * Arguments that run `argv` through `sh` after raising the fd limit (Deno
 * has no setrlimit). `exec` keeps the pid: it is the program's own pid, so
 * /proc/<pid>/stat and signals reach the program itself, not a shell.
 */
export function withFdLimit(argv: string[]): { cmd: string; args: string[] } {
  const script =
    `ulimit -n ${FD_LIMIT} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$@"`;
  return { cmd: "/bin/sh", args: ["-c", script, "sh", ...argv] };
}

/** Cleanups of every live child, run on exit and on Ctrl-C/SIGTERM. */
const cleanups = new Set<() => Promise<void>>();
let signalsInstalled = false;

/**
 * Registers a cleanup to run on Ctrl-C or SIGTERM (and by
 * {@linkcode cleanupAll}); returns a function that unregisters it.
 */
export function onCleanup(fn: () => Promise<void>): () => void {
  if (!signalsInstalled) {
    signalsInstalled = true;
    const stop = async () => {
      await cleanupAll();
      Deno.exit(130);
    };
    Deno.addSignalListener("SIGINT", stop);
    Deno.addSignalListener("SIGTERM", stop);
  }
  cleanups.add(fn);
  return () => cleanups.delete(fn);
}

/** Runs every registered cleanup (children killed and awaited). */
export async function cleanupAll(): Promise<void> {
  const all = [...cleanups];
  cleanups.clear();
  await Promise.allSettled(all.map((fn) => fn()));
}

/**
 * Kills a child and waits for it, with SIGKILL if SIGTERM is not enough
 * within `graceMs`.
 */
export async function stopChild(
  child: Deno.ChildProcess,
  graceMs = 5000,
): Promise<void> {
  try {
    child.kill("SIGTERM");
  } catch {
    // Already exited.
  }
  const timeout = delay(graceMs).then(() => "timeout" as const);
  if (await Promise.race([child.status, timeout]) === "timeout") {
    try {
      child.kill("SIGKILL");
    } catch {
      // Exited meanwhile.
    }
  }
  await child.status;
}

/** Resolves after `ms` milliseconds. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Wall-clock time in Unix ms with a fraction, as the server stamps it. */
export function wallMs(): number {
  return performance.timeOrigin + performance.now();
}

/** CPU seconds (user + system) a process has used so far, from /proc. */
export function cpuSeconds(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  // comm is in parentheses and may hold spaces: split after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

/**
 * CPU seconds of a process and its children: its own utime + stime, its
 * waited-for children's (cutime + cstime: ffmpeg that ended), and each
 * live child's, from /proc. The sum only grows as children come and go.
 */
export function treeCpuSeconds(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  let ticks = Number(fields[11]) + Number(fields[12]) + Number(fields[13]) +
    Number(fields[14]);
  for (const child of childrenOf(pid)) {
    try {
      ticks += cpuSeconds(child) * CLK_TCK;
    } catch {
      // Gone meanwhile (then counted in cutime, unless not waited for yet).
    }
  }
  return ticks / CLK_TCK;
}

/** The CPU time one reading of {@linkcode cpuSeconds} may be short by. */
export const CPU_RESOLUTION_S = 1 / CLK_TCK;

/** Pids of the live children of `parent`, from /proc. */
export function childrenOf(parent: number): number[] {
  const pids: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(fields[1]) === parent) pids.push(Number(entry.name));
    } catch {
      // Gone meanwhile.
    }
  }
  return pids;
}

/**
 * CPU seconds all cores of the machine have been busy so far (everything
 * but idle and iowait in /proc/stat), to see what else ran during a window.
 */
export function machineBusySeconds(): number {
  const line = Deno.readTextFileSync("/proc/stat").split("\n")[0]!;
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = f;
  return (user! + nice! + system! + irq! + softirq! + (steal ?? 0)) / CLK_TCK;
}

/** This process's CPU seconds (user + system), to the microsecond. */
export function selfCpuSeconds(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

/** Resident memory of a process in MB (10⁶ bytes), from /proc. */
export function rssMb(pid: number): number {
  return residentMb(pid).rss;
}

/** A process's resident memory and its split, MB (10⁶ bytes). */
export interface Resident {
  /** All of it (VmRSS). */
  rss: number;
  /** Anonymous pages (RssAnon): heaps, stacks, what the process made. */
  anon: number;
  /**
   * Pages of mapped files (RssFile), mostly the program's own executable
   * and libraries: copies of the file in the page cache, which the kernel
   * drops under memory pressure and reads back when they are run.
   */
  file: number;
}

/** The resident memory of a process and its split, from /proc. */
export function residentMb(pid: number): Resident {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const mb = (field: string) =>
    Number(
      new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN,
    ) *
    1024 / 1e6;
  return { rss: mb("VmRSS"), anon: mb("RssAnon"), file: mb("RssFile") };
}

/**
 * A latency histogram in milliseconds: 0.1 ms buckets below 1 s, 10 ms
 * buckets up to 60 s, everything above in the last bucket. Cheap to fill
 * (no per-sample allocation) and to merge across processes.
 */
export class Histogram {
  static readonly SIZE = 10_000 + 5_900 + 1;
  readonly counts: Uint32Array = new Uint32Array(Histogram.SIZE);
  total = 0;

  /** Records one sample (negative values count as 0). */
  add(ms: number): void {
    let i: number;
    if (!(ms > 0)) i = 0;
    else if (ms < 1000) i = Math.floor(ms * 10);
    else {i = Math.min(
        Histogram.SIZE - 1,
        10_000 + Math.floor((ms - 1000) / 10),
      );}
    this.counts[i]!++;
    this.total++;
  }

  /** The value at quantile `q` (0..1), bucket middle; NaN when empty. */
  quantile(q: number): number {
    if (this.total === 0) return NaN;
    const rank = Math.min(this.total - 1, Math.floor(q * this.total));
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i]!;
      if (seen > rank) {
        return i < 10_000 ? (i + 0.5) / 10 : 1000 + (i - 10_000 + 0.5) * 10;
      }
    }
    return NaN;
  }

  /** Sparse `[bucket, count]` pairs, for JSON. */
  toPairs(): [number, number][] {
    const pairs: [number, number][] = [];
    this.counts.forEach((c, i) => {
      if (c > 0) pairs.push([i, c]);
    });
    return pairs;
  }

  /** Adds pairs made by {@linkcode Histogram.toPairs}. */
  addPairs(pairs: [number, number][]): void {
    for (const [i, c] of pairs) {
      this.counts[i] = this.counts[i]! + c;
      this.total += c;
    }
  }
}

/** The value at quantile `q` of numbers sorted ascending. */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** Formats a number with `digits` decimals, or "–" when not finite. */
export function fmt(value: number, digits = 1): string {
  return Number.isFinite(value) ? value.toFixed(digits) : "–";
}

/** A markdown table, columns padded to line up. */
export function markdownTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, c) =>
    Math.max(h.length, ...rows.map((r) => (r[c] ?? "").length))
  );
  const line = (cells: string[]) =>
    "| " + cells.map((cell, c) => cell.padEnd(widths[c]!)).join(" | ") + " |";
  return [
    line(header),
    "| " + widths.map((w) => "-".repeat(w)).join(" | ") + " |",
    ...rows.map(line),
  ].join("\n");
}

/** A server process (camwire or the reference) started by {@linkcode startServer}. */
export interface ServerHandle {
  pid: number;
  port: number;
  /** Its ffmpeg child's pid (found once it is up). */
  ffmpegPid: number | undefined;
  /** Highest viewer count the server reported. */
  maxWatching(): number;
  /** stderr lines matching `pattern` so far. */
  linesMatching(pattern: RegExp): string[];
  stop(): Promise<void>;
}

/**
 * Starts `deno run -A <script> ... --port 0` with a raised fd limit and
 * waits for its `streaming on tcp://127.0.0.1:PORT` line on stderr.
 *
 * Viewer counts are read from its `(N watching)` lines (camwire) or
 * `viewers=N` lines (the reference). `denoFlags` go before the script
 * (e.g. `--cpu-prof`); `env` is added to this process's environment.
 */
export async function startServer(
  script: string,
  args: string[],
  timeoutMs = 20_000,
  denoFlags: string[] = [],
  env: Record<string, string> = {},
): Promise<ServerHandle> {
  const { cmd, args: shArgs } = withFdLimit([
    Deno.execPath(),
    ...["run", "-A", "--quiet", ...denoFlags, script, ...args],
  ]);
  const child = new Deno.Command(cmd, {
    args: shArgs,
    env,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const lines: string[] = [];
  let watching = 0;
  let ffmpegPid: number | undefined;
  const stop = async () => {
    unregister();
    // Find ffmpeg before the server goes, to make sure it goes too.
    const ffmpeg = ffmpegPid ?? childPids(child.pid, "ffmpeg")[0];
    await stopChild(child);
    await drained;
    if (ffmpeg !== undefined && isRunning(ffmpeg)) {
      try {
        Deno.kill(ffmpeg, "SIGKILL");
      } catch {
        // Gone meanwhile.
      }
    }
  };
  const unregister = onCleanup(stop);
  const drained = (async () => {
    for await (const line of linesOf(child.stderr)) {
      const m = /\((\d+) watching\)|viewers=(\d+)/.exec(line);
      if (m) watching = Math.max(watching, Number(m[1] ?? m[2]));
      else if (lines.length < 10_000) lines.push(line);
    }
  })();
  const deadline = Date.now() + timeoutMs;
  let port = 0;
  while (Date.now() < deadline) {
    const ready = lines.find((l) =>
      /streaming on tcp:\/\/127\.0\.0\.1:\d+/.test(l)
    );
    if (ready) {
      port = Number(/:(\d+)/.exec(ready.slice(ready.indexOf("127.0.0.1")))![1]);
      break;
    }
    const exited = await Promise.race([child.status, delay(50)]);
    if (exited) break;
  }
  if (port === 0) {
    await stop();
    throw new Error(
      `Cannot start ${script}: no "streaming on" line; stderr:\n${
        lines.join("\n")
      }`,
    );
  }
  for (let i = 0; i < 40 && ffmpegPid === undefined; i++) {
    ffmpegPid = childPids(child.pid, "ffmpeg")[0];
    if (ffmpegPid === undefined) await delay(50);
  }
  return {
    pid: child.pid,
    port,
    ffmpegPid,
    maxWatching: () => watching,
    linesMatching: (pattern) => lines.filter((l) => pattern.test(l)),
    stop,
  };
}

/** Pids of live `name` processes whose parent is `parentPid`, from /proc. */
function childPids(parentPid: number, name: string): number[] {
  const pids: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    let stat: string;
    try {
      stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
    } catch {
      continue; // gone meanwhile
    }
    const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (comm === name && Number(fields[1]) === parentPid && fields[0] !== "Z") {
      pids.push(Number(entry.name));
    }
  }
  return pids;
}

function isRunning(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

/** What one load process reports at the end of its window. */
export interface LoadResult {
  connected: number;
  failed: number;
  /** Frames each connected viewer received in the window. */
  counts: number[];
  /** Latency histogram pairs (see {@linkcode Histogram.toPairs}). */
  latency: [number, number][];
  /** Payload bytes and frames received in the window, all viewers. */
  bytes: number;
  frames: number;
  /** Length of its measuring window, s. */
  windowS: number;
  /** Its own CPU seconds in the window. */
  cpuS: number;
  /** Viewers whose connection ended before the window did. */
  closedEarly: number;
  /** Viewers whose stream was not camwire's wire format or had no stamp. */
  badStreams: number;
}

/** Merged results of all load processes. */
export interface FleetResult {
  connected: number;
  failed: number;
  /** Per-viewer fps, ascending. */
  fps: Float64Array;
  latency: Histogram;
  bytes: number;
  frames: number;
  windowS: number;
  /** CPU % of all load processes together (100 = one core). */
  loadCpuPct: number;
  closedEarly: number;
  badStreams: number;
}

/**
 * Several `fanout_load.ts` processes that together hold `n` viewers of
 * `127.0.0.1:port`; each multiplexes up to `perProcess` sockets.
 */
export class LoadFleet {
  #children: Deno.ChildProcess[] = [];
  #writers: WritableStreamDefaultWriter<Uint8Array>[] = [];
  #lines: AsyncIterator<string>[] = [];
  #unregister: () => void;

  private constructor() {
    this.#unregister = onCleanup(() => this.stop());
  }

  /**
   * Spawns the processes and waits until every one has tried all its
   * connects; returns the fleet and how many connected.
   */
  static async start(
    port: number,
    n: number,
    options: {
      perProcess?: number;
      maxProcesses?: number;
      http?: boolean;
      /** The HTTP stream's path. @default {"/stream.mjpg"} */
      path?: string;
      /**
       * Whose stamp latency is measured from: camwire's capture stamp, or
       * the emulated camera's DQBUF stamp (see fanout_load.ts).
       * @default {"camwire"}
       */
      stamp?: "camwire" | "camera";
    } = {},
  ): Promise<{ fleet: LoadFleet; connected: number; failed: number }> {
    const perProcess = options.perProcess ?? 500;
    const processes = Math.max(
      1,
      Math.min(options.maxProcesses ?? 4, Math.ceil(n / perProcess)),
    );
    const fleet = new LoadFleet();
    let connected = 0;
    let failed = 0;
    try {
      for (let p = 0; p < processes; p++) {
        const share = Math.floor(n / processes) + (p < n % processes ? 1 : 0);
        const { cmd, args } = withFdLimit([
          Deno.execPath(),
          ...["run", "-A", "--quiet", BENCH + "fanout_load.ts"],
          ...["--port", String(port), "--count", String(share)],
          ...(options.http ? ["--http"] : []),
          ...(options.path ? ["--path", options.path] : []),
          ...(options.stamp ? ["--stamp", options.stamp] : []),
        ]);
        const child = new Deno.Command(cmd, {
          args,
          stdin: "piped",
          stdout: "piped",
          stderr: "inherit",
        }).spawn();
        fleet.#children.push(child);
        fleet.#writers.push(child.stdin.getWriter());
        fleet.#lines.push(linesOf(child.stdout));
      }
      for (const lines of fleet.#lines) {
        const hello = JSON.parse(await nextLine(lines, 60_000));
        connected += hello.connected;
        failed += hello.failed;
      }
    } catch (error) {
      await fleet.stop();
      throw error;
    }
    return { fleet, connected, failed };
  }

  /** Starts every process's measuring window. */
  async startWindow(): Promise<void> {
    await Promise.all(this.#writers.map((w) => w.write(encode("start\n"))));
  }

  /** Ends the windows and merges what the processes report. */
  async endWindow(): Promise<FleetResult> {
    await Promise.all(this.#writers.map((w) => w.write(encode("stop\n"))));
    const results: LoadResult[] = [];
    for (const lines of this.#lines) {
      results.push(JSON.parse(await nextLine(lines, 60_000)));
    }
    const latency = new Histogram();
    const fps: number[] = [];
    let cpuS = 0;
    let windowS = 0;
    const merged = {
      connected: 0,
      failed: 0,
      bytes: 0,
      frames: 0,
      closedEarly: 0,
      badStreams: 0,
    };
    for (const r of results) {
      latency.addPairs(r.latency);
      for (const c of r.counts) fps.push(c / r.windowS);
      cpuS += r.cpuS;
      windowS = Math.max(windowS, r.windowS);
      merged.connected += r.connected;
      merged.failed += r.failed;
      merged.bytes += r.bytes;
      merged.frames += r.frames;
      merged.closedEarly += r.closedEarly;
      merged.badStreams += r.badStreams;
    }
    return {
      ...merged,
      fps: Float64Array.from(fps).sort(),
      latency,
      windowS,
      loadCpuPct: 100 * cpuS / windowS,
    };
  }

  /** Ends every load process and waits for it. */
  async stop(): Promise<void> {
    this.#unregister();
    for (const w of this.#writers) {
      await w.close().catch(() => {});
    }
    await Promise.all(this.#children.map((c) => stopChild(c)));
    for (const lines of this.#lines) await lines.return?.();
    this.#children = [];
    this.#writers = [];
    this.#lines = [];
  }
}

function encode(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/** The next line, or an error when none comes within `timeoutMs`. */
export async function nextLine(
  lines: AsyncIterator<string>,
  timeoutMs: number,
): Promise<string> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`No line within ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  try {
    const next = await Promise.race([lines.next(), timeout]);
    if (next.done) throw new Error("Stream ended before the expected line");
    return next.value;
  } finally {
    clearTimeout(timer);
  }
}
