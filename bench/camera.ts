// Copyright 2026 the camwire authors. MIT license.
/**
 * Camera bench: what the V4L2 passthrough saves against `--capture
 * ffmpeg` re-encoding the same camera's frames. The camera is the
 * emulated one (testing/fake_camera.c: there is no camera or V4L2 here),
 * serving 320×240 MJPEG at 30 fps; camwire opens it through FFI
 * (CAMWIRE_LIBC), and for `--capture ffmpeg` ffmpeg opens the same
 * emulated camera through LD_PRELOAD (an `ffmpeg` wrapper first on PATH).
 * Hand-run, Linux only, 127.0.0.1 only; needs gcc and ffmpeg.
 *
 * With `--camera bcm2835`, the camera is shaped like the Pi's legacy one
 * (every size from 32×32 to 2592×1944 in steps of 2, 1–90 fps): camwire
 * asks it for exactly 320×240 and passes its JPEGs through, against
 * `--input-size 2592x1944`, the mode camwire chose before it kept size
 * ranges (the largest size, scaled by ffmpeg), in the same run.
 *
 * ```sh
 * deno run -A bench/camera.ts [--n 100,1000] [--seconds 10] [--camera uvc|bcm2835]
 * ```
 *
 * For each N and each capture, in one run: start the server, connect N
 * viewers (`fanout_load.ts` processes), warm up 3 s, then measure: CPU of
 * the server and all its children (ffmpeg) per captured frame (frames in,
 * from `/stats`), the server alone, capture stamp to arrival p50/p99 (the
 * stamp is put on when the server gets the frame: it does not include
 * ffmpeg's re-encoding, which `display_latency.ts` measures on screen),
 * and the per-viewer fps. Ratios are of the two captures in the same run.
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  cleanupAll,
  cpuSeconds,
  delay,
  fmt,
  LoadFleet,
  markdownTable,
  quantile,
  ROOT,
  type ServerHandle,
  startServer,
  treeCpuSeconds,
} from "./bench_util.ts";
import { FakeCameras } from "../testing/fake_camera.ts";
import { bcm2835Like } from "../testing/fake_camera_presets.ts";

const WARMUP_S = 3;

/** One way to capture the camera: its name in the table, and its flags. */
interface Capture {
  label: string;
  args: string[];
}

/** What each camera is captured with, the reference first. */
const CAPTURES: Record<string, Capture[]> = {
  uvc: [
    { label: "V4L2 passthrough", args: ["--capture", "v4l2"] },
    { label: "--capture ffmpeg", args: ["--capture", "ffmpeg"] },
  ],
  bcm2835: [
    { label: "V4L2 passthrough at 320x240", args: ["--capture", "v4l2"] },
    {
      label: "2592x1944 scaled by ffmpeg",
      args: ["--capture", "v4l2", "--input-size", "2592x1944"],
    },
  ],
};

interface Row {
  capture: Capture;
  n: number;
  connected: number;
  medianFps: number;
  framesIn: number;
  usPerFrameAll: number;
  usPerFrameServer: number;
  cpuPct: number;
  p50: number;
  p99: number;
}

async function framesIn(server: ServerHandle): Promise<number> {
  const line = server.linesMatching(
    /web page on http:\/\/127\.0\.0\.1:\d+/,
  )[0]!;
  const port = /:(\d+)\/$/.exec(line)![1];
  const response = await fetch(`http://127.0.0.1:${port}/stats`);
  return (await response.json()).framesIn;
}

/** CPU seconds of the server and its children, and of the server alone. */
function treeCpu(server: ServerHandle): { all: number; server: number } {
  return { all: treeCpuSeconds(server.pid), server: cpuSeconds(server.pid) };
}

async function measure(
  capture: Capture,
  device: string,
  n: number,
  seconds: number,
): Promise<Row> {
  const server = await startServer(ROOT + "server.ts", [
    ...["--device", device, ...capture.args],
    ...["--host", "127.0.0.1", "--port", "0", "--http-port", "0"],
    ...["--max-clients", "5000"],
  ]);
  try {
    await delay(500);
    const { fleet, connected } = await LoadFleet.start(server.port, n);
    try {
      await delay(WARMUP_S * 1000);
      const c0 = treeCpu(server);
      const f0 = await framesIn(server);
      const t0 = performance.now();
      await fleet.startWindow();
      await delay(seconds * 1000);
      const r = await fleet.endWindow();
      const wall = (performance.now() - t0) / 1000;
      const c1 = treeCpu(server);
      const frames = await framesIn(server) - f0;
      return {
        capture,
        n,
        connected,
        medianFps: quantile(r.fps, 0.5),
        framesIn: frames,
        usPerFrameAll: (c1.all - c0.all) * 1e6 / frames,
        usPerFrameServer: (c1.server - c0.server) * 1e6 / frames,
        cpuPct: 100 * (c1.all - c0.all) / wall,
        p50: r.latency.quantile(0.5),
        p99: r.latency.quantile(0.99),
      };
    } finally {
      await fleet.stop();
    }
  } finally {
    await server.stop();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      n: { type: "string", default: "100,1000" },
      seconds: { type: "string", default: "10" },
      camera: { type: "string", default: "uvc" },
    },
  });
  const ns = values.n.split(",").map(Number);
  const seconds = Number(values.seconds);
  if (ns.some((n) => !Number.isInteger(n) || n < 1 || n > 3000)) {
    console.error("--n must be a comma-separated list of 1..3000");
    Deno.exit(2);
  }
  if (!(seconds >= 1 && seconds <= 60)) {
    console.error("--seconds must be in [1, 60]");
    Deno.exit(2);
  }
  const captures = CAPTURES[values.camera];
  if (captures === undefined) {
    console.error("--camera must be uvc or bcm2835");
    Deno.exit(2);
  }
  await using cameras = await FakeCameras.create();
  const device = await cameras.device(
    values.camera === "bcm2835" ? bcm2835Like([[320, 240], [2592, 1944]]) : {
      card: "Emulated 320x240 MJPEG camera",
      modes: [{ fourcc: "MJPG", width: 320, height: 240, fps: 30 }],
    },
  );
  // Children inherit these: camwire's FFI opens the emulated camera, and
  // the `ffmpeg` on PATH is a wrapper that preloads it into ffmpeg.
  const bin = `${cameras.dir}/bin`;
  await Deno.mkdir(bin);
  const real = new TextDecoder().decode(
    (await new Deno.Command("sh", {
      args: ["-c", "command -v ffmpeg"],
      stdout: "piped",
    }).output()).stdout,
  ).trim();
  await Deno.writeTextFile(
    `${bin}/ffmpeg`,
    `#!/bin/sh\nLD_PRELOAD=${cameras.library} exec ${real} "$@"\n`,
    { mode: 0o755 },
  );
  Deno.env.set("CAMWIRE_LIBC", cameras.library);
  Deno.env.set("PATH", `${bin}:${Deno.env.get("PATH")}`);

  const rows: Row[] = [];
  try {
    for (const n of ns) {
      for (const capture of captures) {
        console.error(`bench: ${capture.label}, ${n} viewers, ${seconds} s`);
        rows.push(await measure(capture, device, n, seconds));
      }
    }
  } finally {
    await cleanupAll();
  }
  console.log(markdownTable(
    [
      "capture",
      "viewers",
      "fps (median)",
      "CPU µs/captured frame, all",
      "server alone",
      "CPU %",
      "stamp→arrival p50 / p99",
    ],
    rows.map((r) => [
      r.capture.label,
      `${r.connected}/${r.n}`,
      fmt(r.medianFps),
      fmt(r.usPerFrameAll, 0),
      fmt(r.usPerFrameServer, 0),
      fmt(r.cpuPct),
      `${fmt(r.p50)} / ${fmt(r.p99)} ms`,
    ]),
  ));
  console.log();
  for (const n of ns) {
    const pass = rows.find((r) => r.n === n && r.capture === captures[0])!;
    const ff = rows.find((r) => r.n === n && r.capture === captures[1])!;
    console.log(
      `${n} viewers: ${ff.capture.label} costs ${
        fmt(ff.usPerFrameAll / pass.usPerFrameAll, 2)
      }x the CPU per captured frame of ${pass.capture.label} (${
        fmt(ff.usPerFrameAll - pass.usPerFrameAll, 0)
      } µs more)`,
    );
  }
}

if (import.meta.main) await main();
