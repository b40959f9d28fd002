// Copyright 2026 the camwire authors. MIT license.
/**
 * Slow-viewer bench: does a viewer on a link slower than the stream get
 * fresh frames, or seconds-old ones, and what does a viewer that stops
 * reading for a while see when it resumes? Hand-run, Linux only, 127.0.0.1
 * only; needs ffmpeg and /usr/bin/python3.
 *
 * ```sh
 * deno run -A bench/slow_viewer.ts [--viewers 1000] [--seconds 20] [--queues 0,default]
 * ```
 *
 * It starts `server.ts --source test --max-clients 5000` once per value of
 * `--queues`: `--send-queue 0` (no bound: the kernel's send buffer,
 * autotuned up to 4 MB), a number of bytes, or `default`. Each time:
 *
 * 1. it measures the stream's byte rate from one normal viewer over 2 s;
 * 2. it connects `--viewers` normal viewers (`fanout_load.ts` processes,
 *    500 each) and lets them warm up 3 s;
 * 3. for `--seconds` it runs, beside them, two python3 viewers (a small
 *    script passed with `python3 -c`, because Deno cannot set SO_RCVBUF):
 *    - the slow viewer: SO_RCVBUF 16384 set before connecting (the kernel
 *      doubles it), reading 4 KB at a time, throttled by a token bucket to
 *      60 % of the measured byte rate; it prints each frame's age (arrival
 *      wall time − the frame's capture stamp);
 *    - the pause viewer: a normal reader that reads 3 s, stops reading for
 *      10 s, then reads again: the age of the first frame it reads after
 *      resuming, and how long until it reads one less than 1 s old;
 * 4. it reports the normal viewers' fps over the same window.
 *
 * Prints a markdown table with a column per `--send-queue` value.
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  cleanupAll,
  delay,
  fmt,
  LoadFleet,
  markdownTable,
  onCleanup,
  quantile,
  ROOT,
  startServer,
  stopChild,
} from "./bench_util.ts";

const WARMUP_S = 3;
const SLOW_FRACTION = 0.6;
const SLOW_RCVBUF = 16384;
const PAUSE_AFTER_S = 3;
const PAUSE_FOR_S = 10;
const FRESH_MS = 1000;

/**
 * The python3 viewer. argv: port, rate (bytes/s, 0 = unthrottled), rcvbuf
 * (0 = the kernel's), duration s, pause-after s, pause-for s. Prints JSON
 * lines: `{"rcvbuf"}` once, `{"t", "age", "len"}` per frame (t: seconds
 * since connect when the frame's last byte was read; age in ms), and
 * `{"end", "bytes"}` last.
 */
const PY_VIEWER = String.raw`
import json, re, socket, sys, time
port, rate, rcvbuf = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
duration, pause_after, pause_for = map(float, sys.argv[4:7])
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
if rcvbuf > 0:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
s.connect(("127.0.0.1", port))
print(json.dumps({"rcvbuf": s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)}), flush=True)
stamp = re.compile(rb"\xff\xd8\xff\xfe..camwire t=([0-9.]+)", re.S)
t0 = time.monotonic(); got = 0; buf = bytearray(); end = "time"; lines = []
while True:
    el = time.monotonic() - t0
    if el >= duration:
        break
    if pause_for > 0 and pause_after <= el < pause_after + pause_for:
        time.sleep(min(0.05, pause_after + pause_for - el))
        continue
    want = 4096
    if rate > 0:
        allowed = rate * el - got
        if allowed < want:
            time.sleep(min(0.05, (want - allowed) / rate))
            continue
    s.settimeout(max(0.01, min(0.2, duration - el)))
    try:
        data = s.recv(want)
    except socket.timeout:
        continue
    except OSError as e:
        end = "error: %s" % e
        break
    if not data:
        end = "closed by server"
        break
    got += len(data); buf += data
    arrival = time.time() * 1000; el = time.monotonic() - t0
    while len(buf) >= 8:
        n = int.from_bytes(buf[:8], "little")
        if len(buf) < 8 + n:
            break
        m = stamp.match(bytes(buf[8:72]))
        del buf[:8 + n]
        lines.append(json.dumps({"t": round(el, 4), "age": arrival - float(m.group(1)) if m else None, "len": n}))
    if len(lines) >= 50:
        print("\n".join(lines), flush=True); lines = []
if lines:
    print("\n".join(lines))
print(json.dumps({"end": end, "at": round(time.monotonic() - t0, 3), "bytes": got}), flush=True)
s.close()
`;

/** One frame the python3 viewer read. */
interface PyFrame {
  /** Seconds since it connected. */
  t: number;
  /** ms between its capture and its arrival. */
  age: number | null;
  len: number;
}

/** What the python3 viewer printed. */
interface PyRun {
  rcvbuf: number;
  frames: PyFrame[];
  end: string;
  endAt: number;
  bytes: number;
}

async function runPyViewer(
  port: number,
  options: {
    rate?: number;
    rcvbuf?: number;
    seconds: number;
    pauseAfter?: number;
    pauseFor?: number;
  },
): Promise<PyRun> {
  const child = new Deno.Command("/usr/bin/python3", {
    args: [
      ...["-c", PY_VIEWER, String(port)],
      String(options.rate ?? 0),
      String(options.rcvbuf ?? 0),
      String(options.seconds),
      String(options.pauseAfter ?? 0),
      String(options.pauseFor ?? 0),
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const unregister = onCleanup(() => stopChild(child));
  const killer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch {
      // Exited.
    }
  }, (options.seconds + 15) * 1000);
  try {
    const text = await child.stdout.text();
    await child.status;
    const run: PyRun = {
      rcvbuf: 0,
      frames: [],
      end: "no output",
      endAt: 0,
      bytes: 0,
    };
    for (const line of text.split("\n")) {
      if (!line) continue;
      const o = JSON.parse(line);
      if ("rcvbuf" in o) run.rcvbuf = o.rcvbuf;
      else if ("end" in o) {
        run.end = o.end;
        run.endAt = o.at;
        run.bytes = o.bytes;
      } else run.frames.push(o);
    }
    return run;
  } finally {
    clearTimeout(killer);
    await stopChild(child);
    unregister();
  }
}

/** Results of one server configuration. */
interface Result {
  label: string;
  byteRate: number;
  slowRate: number;
  viewers: number;
  connected: number;
  normalMedianFps: number;
  normalMinFps: number;
  slow: PyRun;
  slowSeconds: number;
  pause: PyRun;
}

async function runConfig(
  label: string,
  sendQueueArgs: string[],
  viewers: number,
  seconds: number,
): Promise<Result> {
  const server = await startServer(ROOT + "server.ts", [
    ...["--source", "test", "--host", "127.0.0.1", "--port", "0"],
    ...["--max-clients", "5000", ...sendQueueArgs],
  ]);
  try {
    await delay(500);
    const probe = await runPyViewer(server.port, { seconds: 2 });
    const byteRate = probe.bytes / 2;
    const { fleet, connected } = await LoadFleet.start(server.port, viewers);
    try {
      await delay(WARMUP_S * 1000);
      await fleet.startWindow();
      const [slow, pause] = await Promise.all([
        runPyViewer(server.port, {
          rate: SLOW_FRACTION * byteRate,
          rcvbuf: SLOW_RCVBUF,
          seconds,
        }),
        runPyViewer(server.port, {
          seconds: Math.max(seconds, PAUSE_AFTER_S + PAUSE_FOR_S + 5),
          pauseAfter: PAUSE_AFTER_S,
          pauseFor: PAUSE_FOR_S,
        }),
      ]);
      const normal = await fleet.endWindow();
      return {
        label,
        byteRate,
        slowRate: SLOW_FRACTION * byteRate,
        viewers,
        connected,
        normalMedianFps: quantile(normal.fps, 0.5),
        normalMinFps: quantile(normal.fps, 0),
        slow,
        slowSeconds: seconds,
        pause,
      };
    } finally {
      await fleet.stop();
    }
  } finally {
    await server.stop();
  }
}

function ages(frames: PyFrame[]): Float64Array {
  return Float64Array.from(
    frames.filter((f) => f.age !== null).map((f) => f.age!),
  ).sort();
}

function rows(results: Result[]): string[][] {
  const row = (name: string, f: (r: Result) => string) => [
    name,
    ...results.map(f),
  ];
  const resume = PAUSE_AFTER_S + PAUSE_FOR_S;
  const afterResume = (r: Result) =>
    r.pause.frames.filter((f) => f.t >= resume);
  return [
    row("stream byte rate, KB/s", (r) => fmt(r.byteRate / 1e3)),
    row(
      "normal viewers connected",
      (r) => `${r.connected} of ${r.viewers}`,
    ),
    row("normal viewers median fps", (r) => fmt(r.normalMedianFps)),
    row("normal viewers min fps", (r) => fmt(r.normalMinFps)),
    row(
      `slow viewer: read rate KB/s (${SLOW_FRACTION * 100} %)`,
      (r) => fmt(r.slowRate / 1e3),
    ),
    row(
      "slow viewer: SO_RCVBUF (as kernel reports)",
      (r) => String(r.slow.rcvbuf),
    ),
    row("slow viewer: fps", (r) => fmt(r.slow.frames.length / r.slowSeconds)),
    row(
      "slow viewer: frame age p50, ms",
      (r) => fmt(quantile(ages(r.slow.frames), 0.5), 0),
    ),
    row(
      "slow viewer: frame age p99, ms",
      (r) => fmt(quantile(ages(r.slow.frames), 0.99), 0),
    ),
    row(
      "slow viewer: frame age max, ms",
      (r) => fmt(quantile(ages(r.slow.frames), 1), 0),
    ),
    row(
      "slow viewer: frame age p50 in the last 5 s, ms",
      (r) =>
        fmt(
          quantile(
            ages(r.slow.frames.filter((f) => f.t >= r.slowSeconds - 5)),
            0.5,
          ),
          0,
        ),
    ),
    row(
      "slow viewer: how it ended",
      (r) => `${r.slow.end} at ${fmt(r.slow.endAt)} s`,
    ),
    row(
      `pause ${PAUSE_FOR_S} s: age of first frame after resuming, ms`,
      (r) => fmt(afterResume(r)[0]?.age ?? NaN, 0),
    ),
    row(
      `pause ${PAUSE_FOR_S} s: time until a frame < ${FRESH_MS} ms old, s`,
      (r) => {
        const fresh = afterResume(r).find((f) =>
          f.age !== null && f.age < FRESH_MS
        );
        return fresh ? fmt(fresh.t - resume, 2) : "never";
      },
    ),
    row(
      `pause ${PAUSE_FOR_S} s: frames read after resuming`,
      (r) => String(afterResume(r).length),
    ),
    row(
      "pause viewer: how it ended",
      (r) => `${r.pause.end} at ${fmt(r.pause.endAt)} s`,
    ),
  ];
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      viewers: { type: "string", default: "1000" },
      seconds: { type: "string", default: "20" },
      queues: { type: "string", default: "0,default" },
    },
  });
  const viewers = Number(values.viewers);
  const seconds = Number(values.seconds);
  if (!Number.isInteger(viewers) || viewers < 1 || viewers > 5000) {
    console.error("--viewers must be in 1..5000");
    Deno.exit(2);
  }
  if (!(seconds >= 5 && seconds <= 60)) {
    console.error("--seconds must be in [5, 60]");
    Deno.exit(2);
  }
  const results: Result[] = [];
  for (const queue of values.queues.split(",")) {
    const label = queue === "default"
      ? "default --send-queue"
      : queue === "0"
      ? "--send-queue 0 (no bound)"
      : `--send-queue ${queue}`;
    const args = queue === "default" ? [] : ["--send-queue", queue];
    console.error(`slow_viewer: ${label} …`);
    results.push(await runConfig(label, args, viewers, seconds));
  }
  console.log(
    [
      `## Slow viewer and paused viewer beside ${viewers} normal viewers, ${seconds} s ` +
      `(${navigator.hardwareConcurrency} cores, Deno ${Deno.version.deno})`,
      "",
      markdownTable(["", ...results.map((r) => r.label)], rows(results)),
    ].join("\n"),
  );
}

if (import.meta.main) {
  try {
    await main();
  } finally {
    await cleanupAll();
  }
}
