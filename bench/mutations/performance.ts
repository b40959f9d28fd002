// Copyright 2026 the camwire authors. MIT license.
/**
 * Mutations of what keeps the server small and quiet: frames stamped in
 * place (see bench/mutants.ts).
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
];
