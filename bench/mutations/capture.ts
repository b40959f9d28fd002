// Copyright 2026 the camwire authors. MIT license.
/**
 * Mutations of the capture and the server: restarts, the no-signal picture, on-
 * demand, stats, status, the server's flags (see bench/mutants.ts).
 *
 * @module
 */

import type { Mutation } from "./mutation.ts";

/** Mutations of the capture and the server. */
export const CAPTURE: Mutation[] = [
  {
    name: "backoff: restart delay fixed at 0.5 s",
    file: "common/backoff.ts",
    from: "this.#next = Math.min(delay * 2, MAX_BACKOFF_MS);",
    to: "this.#next = delay;",
    tests: ["server/capture/capture_test.ts"],
  },
  {
    name: "backoff: no 5 s cap",
    file: "common/backoff.ts",
    from: "this.#next = Math.min(delay * 2, MAX_BACKOFF_MS);",
    to: "this.#next = delay * 2;",
    tests: ["server/capture/capture_test.ts"],
  },
  {
    name: "backoff: no reset after a healthy minute",
    file: "common/backoff.ts",
    from: "if (ms >= HEALTHY_MS) this.reset();",
    to: "",
    tests: ["server/capture/capture_test.ts"],
  },
  {
    name: "capture: the last live frame instead of the no-signal picture",
    file: "server.ts",
    from: "() => noSignal.frame && broadcaster.deliver(noSignal.frame),",
    to:
      "() => broadcaster.current && broadcaster.deliver(broadcaster.current.jpeg.slice()),",
    tests: ["e2e/faults_test.ts"],
    filter: "placeholder",
  },
  {
    name: "capture: no placeholder at all",
    file: "server.ts",
    from: "() => noSignal.frame && broadcaster.deliver(noSignal.frame),",
    to: "() => {},",
    tests: ["e2e/faults_test.ts"],
    filter: "placeholder",
  },
  {
    name: "status: an idle server logs the same line every interval",
    file: "server/status.ts",
    from: "if (line === this.#lastLine) return;",
    to: "",
    tests: ["server/status_test.ts"],
  },
  {
    name: "on-demand: the capture never stops",
    file: "server/on_demand.ts",
    from: "await supervisor.pause();",
    to: "await Promise.resolve();",
    tests: ["e2e/scaleout_test.ts"],
    filter: "demand",
  },
  {
    name: "stats: the capture state always live",
    file: "server/server.ts",
    from: "state: supervisor.state,",
    to: 'state: "live" as const,',
    tests: ["e2e/faults_test.ts"],
    filter: "placeholder",
  },
  {
    name: "on-demand: a start may overlap the stop (two ffmpeg at once)",
    file: "server/on_demand.ts",
    from: "this.#switching = this.#switching.then(async () => {",
    to: "this.#switching = Promise.resolve().then(async () => {",
    tests: ["e2e/scaleout_test.ts"],
    filter: "demand",
  },
  {
    name: "server: --width ignored",
    file: "server/capture/ffmpeg.ts",
    from: "const filters = [`scale=${width}:-2`];",
    to: 'const filters = ["scale=320:-2"];',
    tests: ["e2e/server_test.ts"],
    filter: "width",
  },
  {
    name: "server: --fps ignored",
    file: "server/capture/ffmpeg.ts",
    from: "`testsrc2=size=640x480:rate=${fps}`,",
    to: "`testsrc2=size=640x480:rate=30`,",
    tests: ["e2e/server_test.ts"],
    filter: "width",
  },
  {
    name: "server: --quality ignored",
    file: "server/capture/ffmpeg.ts",
    from: 'args.push(...words("-c:v mjpeg -q:v"), String(quality));',
    to: 'args.push(...words("-c:v mjpeg -q:v"), "5");',
    tests: ["e2e/server_test.ts"],
    filter: "width",
  },
  {
    name: "server: a file source read as fast as ffmpeg can",
    file: "server/capture/ffmpeg.ts",
    from: 'args.push("-re", "-i", input);',
    to: 'args.push("-i", input);',
    tests: ["e2e/server_test.ts"],
    filter: "native rate",
  },
  {
    name: "server: a file source played once, then restarted as a lost capture",
    file: "server/capture/ffmpeg.ts",
    from: 'if (options.loop ?? true) args.push(...words("-stream_loop -1"));',
    to: "",
    tests: ["e2e/server_test.ts"],
    filter: "native rate",
  },
  {
    name: "server: no warning that anyone can watch",
    file: "server.ts",
    from: "if (flags.token === undefined && !isLoopback(flags.host)) {",
    to: "if (flags.token === undefined && isLoopback(flags.host)) {",
    tests: ["e2e/server_test.ts"],
    filter: "anyone",
  },
  {
    name: "server: --source auto tries the missing camera first",
    file: "server/capture/capture.ts",
    from: 'if (os === "linux" && !pathExists(device)) {',
    to: 'if (os === "linux" && !pathExists(device) && false) {',
    tests: ["e2e/server_test.ts"],
    filter: "auto",
  },
  {
    name: "server: --preview never opened",
    file: "server.ts",
    from: "if (settings.preview) server.startPreview();",
    to: "",
    tests: ["e2e/server_test.ts"],
    filter: "preview",
  },
  {
    name: "stdin: --width-wide JPEGs re-encoded instead of passed through",
    file: "server/capture/stdin.ts",
    from: "if (!reencode && jpegSize(frames[0]!)?.width === width) {",
    to: "if (!reencode && jpegSize(frames[0]!)?.width === -1) {",
    tests: ["server/capture/stdin_test.ts"],
  },
  {
    name: "stdin: JPEGs of another width passed through unscaled",
    file: "server/capture/stdin.ts",
    from: "if (!reencode && jpegSize(frames[0]!)?.width === width) {",
    to: "if (!reencode) {",
    tests: ["server/capture/stdin_test.ts"],
  },
  {
    name: "stdin: ffmpeg fed what it can take at once, the rest dropped",
    file: "server/capture/stdin.ts",
    from: "if (!await encoder.write(chunk)) break; // ffmpeg is gone",
    to: "encoder.feed(chunk);",
    tests: ["server/capture/stdin_test.ts"],
    filter: "re-encodes",
  },
];
