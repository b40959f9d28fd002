// Copyright 2026 the camwire authors. MIT license.
/**
 * Frame age on screen: how old the picture in the viewer's ffplay window
 * is, from the moment a frame is created to the moment the window shows
 * it, through the whole camwire chain, and what each latency flag adds.
 *
 * ```sh
 * deno run -A bench/display_latency.ts [--seconds 10] [--interval 100] [--only 1,5a,5b]
 * ```
 *
 * Needs Linux with ffmpeg/ffplay, Xvfb, xwd and xdotool. It starts its own
 * Xvfb (a free display, `-displayfd`), everything on 127.0.0.1, and stops
 * every child at the end, on an error, on Ctrl-C and after a time limit.
 *
 * Method (as in media-notes.md): this process paints its wall clock (Unix
 * ms mod 2⁴⁰, 40 bits plus an 8-bit check, as an 8×6 grid of 64×64-px
 * black/white blocks under a white marker bar) into 640×480 gray frames at
 * 30 fps, piped into `ffmpeg -f rawvideo … -f mjpeg -` (the "camera"),
 * whose MJPEG is the stdin of `server.ts --source - --host 127.0.0.1`, so
 * the server re-encodes it exactly as a camera's. The viewer is
 * `client.ts --port PORT` (its real ffplay window) or, for the ffplay flag
 * variants, `client.ts --output -` piped into an ffplay with changed flags.
 * Every `--interval` ms, at a random point of a frame interval, a
 * screenshot of the window (`xwd -id WINDOW`, decoded here) is read back to
 * the painted time; age = wall clock when the screenshot returned −
 * painted time. Nothing is subtracted: the age includes the screenshot's
 * own cost (reported), up to one 33 ms frame interval and every
 * encode/decode on the way.
 *
 * The server's own ffmpeg flags cannot be changed from outside, so variant
 * 4 puts an extra encoder stage, `ffmpeg` with {@linkcode captureArgs}'s
 * stdin arguments, between the camera and the server: 4a with them as they
 * are (the control), 4b without `-threads 1` and `-flush_packets 1`.
 *
 * Variants 5 replace the camera by the emulated V4L2 camera of the tests
 * (testing/fake_camera.c), fed live through a FIFO with the same painted
 * frames encoded at 320×240: 5a passes the camera's JPEGs through
 * (`--capture v4l2`, no ffmpeg at all), 5b reads the same camera with
 * `--capture ffmpeg`, which decodes and re-encodes every frame.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { captureArgs } from "../server/capture/ffmpeg.ts";
import { ffplayArgs } from "../common/ffplay.ts";
import { linesOf } from "../common/child.ts";
import { JpegSplitter } from "../framing.ts";
import {
  decode,
  FPS,
  HEIGHT,
  paint,
  parseXwd,
  TIME_MOD,
  WIDTH,
} from "./painted_clock.ts";
import { FakeCameras } from "../testing/fake_camera.ts";
import {
  cleanupAll,
  delay,
  fmt,
  markdownTable,
  onCleanup,
  quantile,
  ROOT,
  stopChild,
  wallMs,
} from "./bench_util.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    seconds: { type: "string", default: "10" },
    interval: { type: "string", default: "100" },
    settle: { type: "string", default: "1" },
    only: { type: "string" },
  },
});
const SAMPLE_MS = Number(values.seconds) * 1000;
const INTERVAL_MS = Number(values.interval);
const SETTLE_MS = Number(values.settle) * 1000;

// -------------------------------------------------------------- processes

/** A child whose stderr is kept, stopped on cleanup. */
interface Proc {
  name: string;
  child: Deno.ChildProcess;
  lines: string[];
  stop(): Promise<void>;
}

let display = "";

function spawn(
  name: string,
  cmd: string,
  args: string[],
  io: {
    stdin?: "piped" | "null";
    stdout?: "piped" | "null";
    env?: Record<string, string>;
  } = {},
): Proc {
  const child = new Deno.Command(cmd, {
    args,
    env: { ...(display === "" ? {} : { DISPLAY: display }), ...io.env },
    stdin: io.stdin ?? "null",
    stdout: io.stdout ?? "null",
    stderr: "piped",
  }).spawn();
  const lines: string[] = [];
  const drained = (async () => {
    for await (const line of linesOf(child.stderr)) {
      if (lines.length < 1000) lines.push(line);
    }
  })();
  let stopping: Promise<void> | undefined;
  const stop = () =>
    stopping ??= (async () => {
      unregister();
      await stopChild(child, 3000);
      await drained.catch(() => {});
    })();
  const unregister = onCleanup(stop);
  return { name, child, lines, stop };
}

function deno(name: string, script: string, args: string[], io = {}): Proc {
  return spawn(
    name,
    Deno.execPath(),
    ["run", "-A", "--quiet", ROOT + script, ...args],
    io,
  );
}

/** `child`'s stdout into `next`'s stdin, ignoring the end of either. */
function pipe(from: Proc, to: Proc): void {
  from.child.stdout.pipeTo(to.child.stdin).catch(() => {});
}

/** The first stderr line of `proc` matching `pattern`, within `ms`. */
async function waitForLine(
  proc: Proc,
  pattern: RegExp,
  ms: number,
): Promise<RegExpMatchArray> {
  const deadline = performance.now() + ms;
  let exited = false;
  proc.child.status.then(() => exited = true);
  while (performance.now() < deadline) {
    for (const line of proc.lines) {
      const match = line.match(pattern);
      if (match) return match;
    }
    if (exited) break;
    await delay(50);
  }
  throw new Error(
    `${proc.name}: no line matching ${pattern}${
      exited ? " (it exited)" : ""
    }; stderr:\n${proc.lines.join("\n")}`,
  );
}

/** Starts Xvfb on a free display; returns it and its `:N`. */
async function startXvfb(): Promise<Proc> {
  const xvfb = spawn(
    "Xvfb",
    "Xvfb",
    words(`-displayfd 1 -screen 0 ${WIDTH}x${HEIGHT}x24 -nolisten tcp`),
    { stdout: "piped" },
  );
  const reader = xvfb.child.stdout.pipeThrough(new TextDecoderStream())
    .getReader();
  const timeout = delay(10_000).then(() => ({ value: undefined }));
  const { value } = await Promise.race([reader.read(), timeout]);
  reader.releaseLock();
  const n = value?.trim() ?? "";
  if (!/^\d+$/.test(n)) {
    await xvfb.stop();
    throw new Error(`Xvfb did not start: ${xvfb.lines.join("\n")}`);
  }
  display = `:${n}`;
  return xvfb;
}

async function run(cmd: string, args: string[]): Promise<Deno.CommandOutput> {
  return await new Deno.Command(cmd, {
    args,
    env: { DISPLAY: display },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
}

/** Windows whose title contains `title`, newest last. */
async function findWindows(title: string): Promise<string[]> {
  const { stdout } = await run("xdotool", ["search", "--name", title]);
  return new TextDecoder().decode(stdout).split("\n").filter((l) => l !== "");
}

/** One screenshot of a window, decoded, and when it was taken. */
async function screenshot(
  window: string,
): Promise<{ time: number | undefined; at: number; costMs: number }> {
  const start = performance.now();
  const { success, stdout } = await run("xwd", ["-id", window, "-silent"]);
  const end = performance.now();
  const at = wallMs();
  let time: number | undefined;
  if (success) {
    try {
      time = decode(parseXwd(stdout));
    } catch {
      time = undefined;
    }
  }
  return { time, at, costMs: end - start };
}

function words(text: string): string[] {
  return text.split(" ");
}

/** `args` without the run `remove`, which must be there. */
function without(args: string[], remove: string[]): string[] {
  for (let i = 0; i + remove.length <= args.length; i++) {
    if (remove.every((word, j) => args[i + j] === word)) {
      return [...args.slice(0, i), ...args.slice(i + remove.length)];
    }
  }
  throw new Error(`"${remove.join(" ")}" is not in: ${args.join(" ")}`);
}

// --------------------------------------------------------------- variants

interface Variant {
  name: string;
  /** An extra ffmpeg stage between camera and server (variant 4). */
  stage?: string[];
  /** ffplay's flags (the title added); absent: client.ts's own window. */
  ffplay?: (title: string) => string[];
  /** The emulated V4L2 camera instead of the ffmpeg one (variants 5). */
  capture?: "v4l2" | "ffmpeg";
}

const stageArgs = captureArgs({
  kind: "stdin",
  input: "-",
  width: 320,
  fps: FPS,
  quality: 5,
  os: Deno.build.os,
});

const VARIANTS: Variant[] = [
  { name: "1. camwire as is (client.ts window)" },
  {
    name: "1b. client.ts --output - | ffplay, camwire's flags (control)",
    ffplay: (title) => ffplayArgs(title),
  },
  {
    name: "2. ffplay without -use_wallclock_as_timestamps 1",
    ffplay: (title) =>
      without(ffplayArgs(title), words("-use_wallclock_as_timestamps 1")),
  },
  {
    name: "3. ffplay without -fflags nobuffer -flags low_delay -framedrop",
    ffplay: (title) =>
      without(
        without(ffplayArgs(title), words("-fflags nobuffer -flags low_delay")),
        ["-framedrop"],
      ),
  },
  {
    name: "4a. + encoder stage, captureArgs() as is (control)",
    stage: stageArgs,
  },
  {
    name: "4b. + encoder stage without -threads 1, -flush_packets 1",
    stage: without(without(stageArgs, words("-threads 1")), [
      "-flush_packets",
      "1",
    ]),
  },
  {
    name: "5a. emulated V4L2 camera, 320×240 MJPEG passed through",
    capture: "v4l2",
  },
  {
    name: "5b. the same camera, --capture ffmpeg (re-encoded)",
    capture: "ffmpeg",
  },
];

/** The camera: gray frames at 30 fps, encoded to 640×480 MJPEG. */
const CAMERA_ARGS = [
  ...words("-hide_banner -loglevel error -f rawvideo -pix_fmt gray"),
  ...words(`-s ${WIDTH}x${HEIGHT} -r ${FPS} -i pipe:0 -an -threads 1`),
  ...words("-c:v mjpeg -q:v 3 -f mjpeg -flush_packets 1 pipe:1"),
];

/** Writes painted frames at 30 fps until stopped. */
function startPainter(camera: Proc): { stop(): Promise<void> } {
  const writer = camera.child.stdin.getWriter();
  const frame = new Uint8Array(WIDTH * HEIGHT);
  const period = 1000 / FPS;
  let running = true;
  const done = (async () => {
    const start = performance.now();
    let n = 0;
    while (running) {
      const wait = start + n * period - performance.now();
      if (wait > 0) await delay(wait);
      else n = Math.floor((performance.now() - start) / period); // behind
      n++;
      paint(frame, Math.floor(wallMs()) % TIME_MOD);
      await writer.write(frame);
    }
  })().catch(() => {});
  return {
    stop: async () => {
      running = false;
      await Promise.race([done, delay(1000)]);
      await writer.close().catch(() => {});
    },
  };
}

interface Result {
  ages: number[];
  costs: number[];
  undecoded: number;
  distinct: number;
  firstP50: number;
  lastP50: number;
}

async function measure(variant: Variant): Promise<Result> {
  const procs: Proc[] = [];
  const add = (proc: Proc) => (procs.push(proc), proc);
  let painter: { stop(): Promise<void> } | undefined;
  let cameras: FakeCameras | undefined;
  try {
    let server: Proc;
    if (variant.capture === undefined) {
      const camera = add(
        spawn("camera ffmpeg", "ffmpeg", CAMERA_ARGS, {
          stdin: "piped",
          stdout: "piped",
        }),
      );
      let feed = camera;
      if (variant.stage) {
        const stage = add(
          spawn("stage ffmpeg", "ffmpeg", variant.stage, {
            stdin: "piped",
            stdout: "piped",
          }),
        );
        pipe(feed, stage);
        feed = stage;
      }
      server = add(
        deno("server", "server.ts", [
          ...words("--source - --host 127.0.0.1 --port 0"),
        ], { stdin: "piped" }),
      );
      pipe(feed, server);
      painter = startPainter(camera);
    } else {
      cameras = await FakeCameras.create();
      const camera = add(
        spawn("camera ffmpeg", "ffmpeg", EMULATED_CAMERA_ARGS, {
          stdin: "piped",
          stdout: "piped",
        }),
      );
      const fifo = `${cameras.dir}/live`;
      await run("mkfifo", [fifo]);
      const device = await cameras.device({
        card: "painted clock",
        modes: [{
          fourcc: "MJPG",
          width: 320,
          height: 240,
          fps: FPS,
          frames: fifo,
        }],
      });
      server = add(
        deno("server", "server.ts", [
          ...words("--source camera --host 127.0.0.1 --port 0 --capture"),
          variant.capture,
          "--device",
          device,
        ], { env: await emulatedCameraEnv(cameras, variant.capture) }),
      );
      feedCamera(camera, fifo);
      painter = startPainter(camera);
    }
    const ready = await waitForLine(
      server,
      /streaming on tcp:\/\/127\.0\.0\.1:(\d+)/,
      20_000,
    );
    const port = ready[1]!;
    const title = `camwire tcp://127.0.0.1:${port}`;
    if (variant.ffplay) {
      const client = add(
        deno("client", "client.ts", ["--port", port, "--output", "-"], {
          stdout: "piped",
        }),
      );
      const ffplay = add(
        spawn("ffplay", "ffplay", variant.ffplay(title), { stdin: "piped" }),
      );
      pipe(client, ffplay);
    } else {
      add(deno("client", "client.ts", ["--port", port]));
    }
    // The window, then one that shows a painted frame.
    const deadline = performance.now() + 20_000;
    let window: string | undefined;
    while (window === undefined && performance.now() < deadline) {
      for (const id of await findWindows(title)) {
        if ((await screenshot(id)).time !== undefined) window = id;
      }
      if (window === undefined) await delay(100);
    }
    if (window === undefined) {
      throw new Error(
        `no window "${title}" showing a painted frame within 20 s; stderr:\n${
          procs.map((p) => `${p.name}: ${p.lines.join("\n")}`).join("\n")
        }`,
      );
    }
    await delay(SETTLE_MS);
    const samples: { offset: number; age: number }[] = [];
    const costs: number[] = [];
    const painted = new Set<number>();
    let undecoded = 0;
    const start = performance.now();
    for (let i = 0; performance.now() - start < SAMPLE_MS; i++) {
      // A random phase within a frame interval: a fixed one (100 ms is 3
      // frames) would see every frame at the same point of its life.
      const phase = Math.random() * 1000 / FPS;
      const wait = start + i * INTERVAL_MS + phase - performance.now();
      if (wait > 0) await delay(wait);
      const shot = await screenshot(window);
      costs.push(shot.costMs);
      if (shot.time === undefined) {
        undecoded++;
        continue;
      }
      painted.add(shot.time);
      const now = Math.floor(shot.at) % TIME_MOD;
      const age = (now - shot.time + TIME_MOD) % TIME_MOD;
      samples.push({ offset: performance.now() - start, age });
    }
    const p50Of = (list: { age: number }[]) =>
      quantile(list.map((s) => s.age).sort((a, b) => a - b), 0.5);
    return {
      ages: samples.map((s) => s.age).sort((a, b) => a - b),
      costs: costs.sort((a, b) => a - b),
      undecoded,
      distinct: painted.size,
      firstP50: p50Of(samples.filter((s) => s.offset < 2000)),
      lastP50: p50Of(samples.filter((s) => s.offset > SAMPLE_MS - 2000)),
    };
  } finally {
    // Viewer first, then server, then the camera side.
    for (const proc of procs.toReversed()) {
      if (proc.name === "camera ffmpeg") await painter?.stop();
      await proc.stop();
    }
    await cameras?.[Symbol.asyncDispose]();
  }
}

/** The emulated camera's encoder: painted frames as 320×240 MJPEG. */
const EMULATED_CAMERA_ARGS = [
  ...words("-hide_banner -loglevel error -f rawvideo -pix_fmt gray"),
  ...words(`-s ${WIDTH}x${HEIGHT} -r ${FPS} -i pipe:0 -an -threads 1`),
  ...words("-vf scale=320:240 -c:v mjpeg -q:v 3 -f mjpeg -flush_packets 1"),
  "pipe:1",
];

/**
 * Where the emulated camera is loaded: in place of libc for camwire's own
 * V4L2 code, and into ffmpeg (through a wrapper first on PATH) for
 * `--capture ffmpeg`.
 */
async function emulatedCameraEnv(
  cameras: FakeCameras,
  capture: "v4l2" | "ffmpeg",
): Promise<Record<string, string>> {
  if (capture === "v4l2") return { CAMWIRE_LIBC: cameras.library };
  const bin = `${cameras.dir}/bin`;
  await Deno.mkdir(bin);
  const ffmpeg = (await run("sh", ["-c", "command -v ffmpeg"])).stdout;
  await Deno.writeTextFile(
    `${bin}/ffmpeg`,
    `#!/bin/sh\nLD_PRELOAD=${cameras.library} exec ${
      new TextDecoder().decode(ffmpeg).trim()
    } "$@"\n`,
    { mode: 0o755 },
  );
  return { PATH: `${bin}:${Deno.env.get("PATH")}` };
}

/**
 * The camera encoder's JPEGs into the emulated camera's FIFO, as records
 * (u32 little-endian length + JPEG), one per frame as it comes.
 */
function feedCamera(camera: Proc, fifo: string): void {
  (async () => {
    // Opening a FIFO for writing waits for its reader: the camera opened.
    const out = await Deno.open(fifo, { write: true });
    try {
      const splitter = new JpegSplitter();
      for await (const chunk of camera.child.stdout) {
        for (const jpeg of splitter.push(chunk)) {
          const record = new Uint8Array(4 + jpeg.length);
          new DataView(record.buffer).setUint32(0, jpeg.length, true);
          record.set(jpeg, 4);
          let n = 0;
          while (n < record.length) n += await out.write(record.subarray(n));
        }
      }
    } finally {
      out.close();
    }
  })().catch(() => {}); // the camera or the server went away: the end
}

// ------------------------------------------------------------------- main

/** `--only 1,5a`: the variants whose names start with those labels. */
const CHOSEN = values.only === undefined
  ? VARIANTS
  : VARIANTS.filter((v) =>
    values.only!.split(",").some((label) => v.name.startsWith(`${label}. `))
  );
const LIMIT_MS = CHOSEN.length * (SETTLE_MS + SAMPLE_MS + 60_000);
const watchdog = setTimeout(async () => {
  console.error(`display_latency: gave up after ${LIMIT_MS / 1000} s`);
  await cleanupAll();
  Deno.exit(1);
}, LIMIT_MS);

const began = performance.now();
const rows: string[][] = [];
const details: string[][] = [];
let failed = false;
try {
  const xvfb = await startXvfb();
  try {
    console.error(`display_latency: Xvfb on ${display}`);
    for (const variant of CHOSEN) {
      console.error(`display_latency: ${variant.name}`);
      const r = await measure(variant);
      const ms = (q: number) => fmt(quantile(r.ages, q), 0);
      rows.push([
        variant.name,
        `${ms(0.5)} / ${ms(0.9)} / ${ms(1)}`,
        String(r.ages.length),
      ]);
      details.push([
        variant.name,
        `${fmt(r.firstP50, 0)} → ${fmt(r.lastP50, 0)}`,
        `${fmt(quantile(r.costs, 0.5))} / ${fmt(quantile(r.costs, 1))}`,
        String(r.undecoded),
        String(r.distinct),
      ]);
    }
  } finally {
    await xvfb.stop();
  }
} catch (error) {
  failed = true;
  console.error(`display_latency: ${(error as Error).message}`);
} finally {
  await cleanupAll();
  clearTimeout(watchdog);
}

if (rows.length > 0) {
  console.log(
    `Frame age on screen (paint → ffplay window, screenshot every ` +
      `${INTERVAL_MS} ms for ${SAMPLE_MS / 1000} s after ${
        SETTLE_MS / 1000
      } s; age includes the screenshot):\n`,
  );
  console.log(markdownTable(
    ["variant", "frame age on screen p50 / p90 / max ms", "samples"],
    rows,
  ));
  console.log();
  console.log(markdownTable(
    [
      "variant",
      "p50 first 2 s → last 2 s ms",
      "screenshot cost p50 / max ms",
      "undecoded",
      "distinct frames seen",
    ],
    details,
  ));
  console.log(
    `\nrun time ${fmt((performance.now() - began) / 1000)} s`,
  );
}
if (failed) Deno.exit(1);
