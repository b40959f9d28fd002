// Copyright 2026 the camwire authors. MIT license.
/**
 * Mutations of viewers: the send queue, newest-frame delivery, stalled viewers
 * (see bench/mutants.ts).
 *
 * @module
 */

import type { Mutation } from "./mutation.ts";

/** Mutations of viewers. */
export const VIEWERS: Mutation[] = [
  {
    name: "send queue: TCP_NOTSENT_LOWAT never set",
    file: "server/net/sockets.ts",
    from: "export function limitSendQueue(port: number, bytes: number): void {",
    to:
      "export function limitSendQueue(port: number, bytes: number): void {\n  if (port > 0) return;",
    tests: ["server/net/sockets_test.ts"],
  },
  {
    name: "viewers: stalled viewers never dropped",
    file: "server/viewers/viewers.ts",
    from: "if (since !== 0 && now - since > limitMs) {",
    to: "if (since !== 0 && now - since > limitMs * 1000) {",
    tests: ["e2e/faults_test.ts", "server/http/http_test.ts"],
    filter: "stall|never read",
  },
  {
    name: "viewers: --max-clients ignored",
    file: "server/server.ts",
    from: "if (this.#connections >= max) {",
    to: "if (this.#connections >= max * 1000) {",
    tests: ["e2e/faults_test.ts"],
    filter: "max-clients",
  },
  {
    name: "latest: a slow peer gets every frame queued",
    file: "common/latest.ts",
    from: "      this.#pending = frame;\n      return;",
    to: "      this.#pending ??= frame;\n      return;",
    tests: ["common/latest_test.ts"],
  },
  {
    name: "send queue: --send-queue not applied to viewers",
    file: "server/net/net.ts",
    from:
      "  if (bytes <= 0) return;\n  try {\n    limitSendQueue(port, bytes);",
    to: "  if (bytes > 0) return;\n  try {\n    limitSendQueue(port, bytes);",
    tests: ["e2e/faults_test.ts"],
    filter: "send-queue",
  },
];
