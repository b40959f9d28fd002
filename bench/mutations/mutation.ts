// Copyright 2026 the camwire authors. MIT license.
/**
 * The shape of one mutation (bench/mutants.ts runs them).
 *
 * @module
 */

/** One broken behaviour and the tests that must notice. */
export interface Mutation {
  /** What is broken, in a few words. */
  name: string;
  /** The file to edit, from the repository root. */
  file: string;
  /** Text that stands exactly once in the file. */
  from: string;
  /** What it becomes. */
  to: string;
  /** Test files that must fail, from the root. */
  tests: string[];
  /** Only the tests whose name matches (deno test --filter). */
  filter?: string;
}
