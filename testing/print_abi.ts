// Copyright 2026 the camwire authors. MIT license.
/**
 * Prints the machine's architecture and server/camera/v4l2_abi.ts's
 * numbers as Deno on that machine reads them, as JSON: what
 * e2e/aarch64_test.ts compares with the ABI probe built for aarch64.
 *
 * ```sh
 * deno run testing/print_abi.ts
 * ```
 *
 * @module
 */

import { ABI } from "../server/camera/v4l2_abi.ts";

// deno-lint-ignore no-console
console.log(JSON.stringify({ arch: Deno.build.arch, abi: ABI }));
