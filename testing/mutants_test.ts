// Copyright 2026 the camwire authors. MIT license.
import assert from "node:assert/strict";
import { MUTATIONS } from "../bench/mutants.ts";

const ROOT = new URL("..", import.meta.url).pathname;

Deno.test("mutants: every mutation's text stands exactly once in its file, and its tests exist (a refactor that moves the line must move the mutation too)", async () => {
  const stale: string[] = [];
  for (const m of MUTATIONS) {
    const text = await Deno.readTextFile(`${ROOT}${m.file}`);
    const count = text.split(m.from).length - 1;
    if (count !== 1) stale.push(`${m.name}: ${count}× in ${m.file}`);
    for (const test of m.tests) {
      await Deno.stat(`${ROOT}${test}`).catch(() => {
        stale.push(`${m.name}: no test file ${test}`);
      });
    }
  }
  assert.deepEqual(stale, []);
  const names = MUTATIONS.map((m) => m.name);
  assert.equal(new Set(names).size, names.length, "mutation names are unique");
});
