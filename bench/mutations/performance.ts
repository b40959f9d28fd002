// Copyright 2026 the camwire authors. MIT license.
/**
 * Mutations of what keeps the server small and quiet: frames stamped in
 * place, the timers folded into fewer wake-ups, the service's V8 flags
 * (see bench/mutants.ts).
 *
 * @module
 */

import type { Mutation } from "./mutation.ts";

/** Mutations of the server's memory and wake-ups. */
export const PERFORMANCE: Mutation[] = [
  {
    name: "stamp: a camera frame copied, not stamped in place",
    file: "common/jpeg.ts",
    from: "const inPlace = jpeg.byteOffset === STAMP_ROOM &&",
    to: "const inPlace = false && jpeg.byteOffset === STAMP_ROOM &&",
    tests: ["common/jpeg_test.ts"],
  },
  {
    name: "timers: stalled HTTP viewers never dropped (no sweep on the tick)",
    file: "server/server.ts",
    from: "    this.http?.dropStalled();",
    to: "",
    tests: ["server/http/http_test.ts"],
    filter: "stops reading",
  },
  {
    name: "timers: a healthy capture's stall check every 0.5 s again",
    file: "server/capture/capture.ts",
    from: "setTimeout(check, Math.max(due, 0) + 1);",
    to: "setTimeout(check, Math.min(Math.max(due, 0) + 1, 500));",
    tests: ["server/capture/capture_test.ts"],
  },
  {
    name: "v8 flags: the service runs with V8's default young generation",
    file: "systemd/camwire.service",
    from: "Environment=DENO_V8_FLAGS=--max-semi-space-size=1\n",
    to: "",
    tests: ["systemd/camwire_test.ts"],
    filter: "young generation",
  },
];
