// Copyright 2026 the camwire authors. MIT license.
/**
 * Mutations of the status line: what is news, the heartbeat, the server's
 * wiring, the service unit (see bench/mutants.ts).
 *
 * @module
 */

import type { Mutation } from "./mutation.ts";

/** Mutations of the status line and the service unit. */
export const STATUS: Mutation[] = [
  {
    name: "status: --status-interval logs the same line every interval",
    file: "server/status.ts",
    from: "if (line === this.#lastPeriodicLine) return;",
    to: "",
    tests: ["server/status_test.ts"],
  },
  {
    name: "status: an idle server writes a line every 10 s again",
    file: "server/status.ts",
    from: "due = since >= HEARTBEAT_S * 1000;",
    to: "due = since >= 10_000;",
    tests: ["server/status_test.ts", "e2e/status_log_test.ts"],
    filter: "idle|heartbeat",
  },
  {
    name: "status: the rate's wobble is news",
    file: "server/status.ts",
    from: "export const FPS_TOLERANCE = 0.1;",
    to: "export const FPS_TOLERANCE = 0.001;",
    tests: ["server/status_test.ts"],
  },
  {
    name: "status: a viewer coming or going is no news",
    file: "server/status.ts",
    from: "if (viewers !== told.viewers || phase(state) !== told.phase) {",
    to: "if (phase(state) !== told.phase) {",
    tests: ["server/status_test.ts"],
  },
  {
    name: "status: the capture stopping or recovering is no news",
    file: "server/status.ts",
    from: "if (viewers !== told.viewers || phase(state) !== told.phase) {",
    to: "if (viewers !== told.viewers) {",
    tests: ["server/status_test.ts"],
  },
  {
    name: "status: frames skipped or dropped and restarts are no news",
    file: "server/status.ts",
    from:
      "w.restarts() !== told.restarts || w.dropped() !== told.dropped ||\n      this.#lastTick.skipped !== told.skipped || this.#fpsNews(fps)",
    to: "this.#fpsNews(fps)",
    tests: ["server/status_test.ts"],
  },
  {
    name: "status: the server tells no arrival at once (only at its next tick)",
    file: "server/server.ts",
    from: "if (this.#closing === null) this.#rates.changed();",
    to: "",
    tests: ["e2e/status_log_test.ts"],
    filter: "idle",
  },
  {
    name: "status: the server's status line never sees the capture's state",
    file: "server/server.ts",
    from: "state: () => supervisor.state,",
    to: 'state: () => "live",',
    tests: ["e2e/status_log_test.ts"],
    filter: "lost",
  },
  {
    name: "systemd: the unit asks for a status line a minute again",
    file: "systemd/camwire.service",
    from: "--http-port 8080\n",
    to: "--http-port 8080 --status-interval 60\n",
    tests: ["systemd/camwire_test.ts"],
  },
];
