// Copyright 2026 the camwire authors. MIT license.
/**
 * Mutations of deno.json's permission sets and the portable path: the test,
 * server and client sets, the camera under a set, --send-queue said once
 * (see bench/mutants.ts).
 *
 * @module
 */

import type { Mutation } from "./mutation.ts";

/** Mutations of deno.json's sets and the portable path. */
export const PERMISSIONS: Mutation[] = [
  {
    name: "deno.json: no test permissions (a bare deno test runs and fails)",
    file: "deno.json",
    from: '"permissions": { "all": true },',
    to: "",
    tests: ["e2e/permissions_test.ts"],
    filter: "bare",
  },
  {
    name: "deno.json: the server's set without FFI (no V4L2 camera)",
    file: "deno.json",
    from: '"sys": ["networkInterfaces"],\n      "ffi": true',
    to: '"sys": ["networkInterfaces"]',
    tests: ["e2e/permissions_test.ts"],
    filter: "emulated camera",
  },
  {
    name: "deno.json: the client's set cannot write its recording",
    file: "deno.json",
    from: '"read": true,\n      "write": true,',
    to: '"read": true,',
    tests: ["e2e/permissions_test.ts"],
    filter: "records",
  },
  {
    name: "server: under a permission set --source auto skips the camera",
    file: "server/capture/source.ts",
    from: "return error instanceof Deno.errors.NotCapable;",
    to: "return false;",
    tests: ["e2e/permissions_test.ts"],
    filter: "emulated camera",
  },
  {
    name: "portable: --send-queue's absence said once per port",
    file: "server/net/net.ts",
    from: "if (toldUnavailable.has(log)) return;",
    to: "",
    tests: ["e2e/portable_test.ts"],
    filter: "stalled",
  },
  {
    name:
      "server: under a permission set a missing camera's error is the /dev listing's",
    file: "server/camera/camera.ts",
    from: 'return "cannot tell, Deno lets only -A list /dev";',
    to: "throw new Error();",
    tests: ["e2e/permissions_test.ts"],
    filter: "emulated camera",
  },
];
