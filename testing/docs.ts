// Copyright 2026 the camwire authors. MIT license.
/**
 * The docs read as a reader reads them, for the tests that run their
 * recipes: a section under a heading, its fenced blocks, the commands of
 * an `sh` block, the flags of a `deno run -A` line.
 *
 * @module
 */

import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);

/**
 * A markdown file from a heading on: to the next heading of the same level
 * or higher, or with `toEnd` to the file's end.
 *
 * @param file A path from the repository's root, e.g. `docs/server.md`.
 * @param heading The heading's line, e.g. `## Access`.
 * @param toEnd Whether to read on to the file's end.
 * @throws {assert.AssertionError} When the file has no such heading.
 */
export async function section(
  file: string,
  heading: string,
  toEnd = false,
): Promise<string> {
  const text = "\n" + await Deno.readTextFile(new URL(file, ROOT));
  const at = text.indexOf(`\n${heading}\n`);
  assert.ok(at !== -1, `${file} has no "${heading}"`);
  const rest = text.slice(at + heading.length + 2);
  const level = heading.indexOf(" ");
  const next = new RegExp(`^#{1,${level}} `, "m").exec(rest);
  return toEnd || next === null ? rest : rest.slice(0, next.index);
}

/** The fenced blocks of `lang` (` ```sh `, ` ```nginx `) in a markdown text. */
export function fencedBlocks(text: string, lang: string): string[] {
  return [
    ...text.matchAll(new RegExp(`^\`\`\`${lang}\\n([\\s\\S]*?)^\`\`\``, "gm")),
  ]
    .map(([, block]) => block!);
}

/** The commands of each `sh` block, with `\`-continued lines joined. */
export function shBlocks(text: string): string[][] {
  return fencedBlocks(text, "sh").map((block) =>
    block.replace(/\\\n\s*/g, "").split("\n").filter((l) => l.trim())
  );
}

/**
 * The first fenced block of `lang` after a heading of a markdown file.
 *
 * @throws {assert.AssertionError} When there is none.
 */
export async function fencedBlock(
  file: string,
  heading: string,
  lang: string,
): Promise<string> {
  const block = fencedBlocks(await section(file, heading, true), lang)[0];
  assert.ok(block !== undefined, `no ${lang} block under "${heading}"`);
  return block;
}

/**
 * The commands of the first `sh` block after a heading of a markdown
 * file.
 *
 * @throws {assert.AssertionError} When there is none.
 */
export async function recipe(file: string, heading: string): Promise<string[]> {
  const block = shBlocks(await section(file, heading, true))[0];
  assert.ok(block !== undefined, `no sh block under "${heading}"`);
  return block;
}

/**
 * The flags of a `deno run -A <script> ...` line.
 *
 * @throws {assert.AssertionError} When the line runs something else.
 */
export function flagsOf(line: string, script: string): string[] {
  const [deno, run, all, name, ...flags] = line.trim().split(/\s+/);
  assert.deepEqual(
    [deno, run, all, name],
    ["deno", "run", "-A", script],
    `not a ${script} line: ${line}`,
  );
  return flags;
}
