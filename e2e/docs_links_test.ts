// Copyright 2026 the camwire authors. MIT license.
/**
 * The manual holds together: every relative link in README.md and
 * docs/*.md leads to a file that exists, and every `#anchor` to a heading
 * of its file; docs/architecture.md mirrors the house rules and names
 * every product file.
 *
 * @module
 */

import assert from "node:assert/strict";
import { RULES } from "../testing/check_house.ts";

const ROOT = new URL("../", import.meta.url);

/** README.md and docs/*.md, paths from the root. */
async function manualFiles(): Promise<string[]> {
  const files = ["README.md"];
  for await (const entry of Deno.readDir(new URL("docs/", ROOT))) {
    if (entry.isFile && entry.name.endsWith(".md")) {
      files.push(`docs/${entry.name}`);
    }
  }
  return files.sort();
}

/** A markdown text without its fenced code blocks (each line kept, empty). */
function withoutFences(text: string): string {
  let fence: string | null = null;
  return text.split("\n").map((line) => {
    const marker = /^\s*(`{3,}|~{3,})/.exec(line)?.[1];
    if (fence === null && marker !== undefined) {
      fence = marker;
      return "";
    }
    if (fence !== null) {
      if (marker !== undefined && marker.startsWith(fence)) fence = null;
      return "";
    }
    return line;
  }).join("\n");
}

/**
 * The anchor GitHub gives a heading: its text as shown (no code ticks,
 * emphasis or link targets), lowercased, punctuation other than `-` and
 * `_` dropped, each space a `-`.
 */
function slug(heading: string): string {
  return heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1")
    .replace(/`/g, "")
    .replace(/(^|[^\p{L}\p{N}])[*_]+|[*_]+(?=[^\p{L}\p{N}]|$)/gu, "$1")
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, "")
    .replace(/ /g, "-");
}

/** The anchors of a markdown text's headings, repeats numbered as GitHub does. */
function anchors(text: string): Set<string> {
  const found = new Set<string>();
  const seen = new Map<string, number>();
  for (const line of withoutFences(text).split("\n")) {
    const heading = /^#{1,6}\s+(.*?)\s*$/.exec(line)?.[1];
    if (heading === undefined) continue;
    const base = slug(heading);
    const times = seen.get(base) ?? 0;
    seen.set(base, times + 1);
    found.add(times === 0 ? base : `${base}-${times}`);
  }
  return found;
}

/** The targets of a markdown text's inline links, `[text](target)`. */
function linkTargets(text: string): string[] {
  // Each code span becomes a word: a link written inside one is no link,
  // and one in a link's text leaves the link whole.
  const prose = withoutFences(text).replace(/(`+)[\s\S]*?\1/g, "code");
  return [...prose.matchAll(/\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\)/g)]
    .map((match) => match[1]!);
}

/** Whether a link leaves the repository (`https:`, `mailto:`…). */
function isExternal(target: string): boolean {
  return /^[a-z][a-z0-9+.-]*:/i.test(target);
}

/**
 * What is wrong with the relative links of markdown files: one line per
 * link whose file is missing or whose anchor names no heading.
 *
 * @param root The folder the files' paths start from.
 * @param files The markdown files.
 */
async function brokenLinks(root: URL, files: string[]): Promise<string[]> {
  const broken: string[] = [];
  const anchorsOf = new Map<string, Set<string>>();
  for (const file of files) {
    const from = new URL(file, root);
    for (const target of linkTargets(await Deno.readTextFile(from))) {
      if (isExternal(target)) continue;
      const [path = "", anchor] = target.split("#", 2);
      const to = path === "" ? from : new URL(decodeURIComponent(path), from);
      const name = to.href.startsWith(root.href)
        ? to.href.slice(root.href.length) || "."
        : to.pathname;
      let isFile: boolean;
      try {
        isFile = (await Deno.stat(to)).isFile;
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
        broken.push(`${file}: (${target}): there is no ${name}`);
        continue;
      }
      if (anchor === undefined) continue;
      if (!isFile || !to.pathname.endsWith(".md")) {
        broken.push(`${file}: (${target}): ${name} has no headings`);
        continue;
      }
      if (!anchorsOf.has(to.href)) {
        anchorsOf.set(to.href, anchors(await Deno.readTextFile(to)));
      }
      if (!anchorsOf.get(to.href)!.has(anchor)) {
        broken.push(`${file}: (${target}): ${name} has no heading #${anchor}`);
      }
    }
  }
  return broken;
}

Deno.test("slug(): GitHub's anchors for the headings deno fmt leaves", () => {
  assert.equal(slug("Use it with…"), "use-it-with");
  assert.equal(slug("Camera (V4L2)"), "camera-v4l2");
  assert.equal(
    slug("Start-up, status and errors"),
    "start-up-status-and-errors",
  );
  assert.equal(slug("`--output` and _this_ [x](y.md)"), "--output-and-this-x");
  assert.equal(slug("a_b d.e/f & g?"), "a_b-def--g");
  assert.deepEqual(
    [...anchors("# A\n\n```sh\n# not a heading\n```\n\n## A\n\n## A\n")],
    ["a", "a-1", "a-2"],
  );
});

Deno.test("every relative link in README.md and docs/*.md leads to a file, and each #anchor to a heading", async () => {
  const files = await manualFiles();
  assert.ok(files.length > 1, `no docs/*.md beside README.md: ${files}`);
  let links = 0;
  for (const file of files) {
    const text = await Deno.readTextFile(new URL(file, ROOT));
    links += linkTargets(text).filter((target) => !isExternal(target)).length;
  }
  assert.ok(links > 0, "no relative link at all");
  assert.deepEqual(await brokenLinks(ROOT, files), []);
});

Deno.test("brokenLinks() names a missing file, a missing heading and a heading-less target, and ignores code", async () => {
  const dir = await Deno.makeTempDir({ prefix: "camwire-links-" });
  const root = new URL(`file://${dir}/`);
  try {
    await Deno.mkdir(`${dir}/docs`);
    await Deno.writeTextFile(`${dir}/README.md`, "# R\n\n## Setup\n");
    await Deno.writeTextFile(`${dir}/docs/b.md`, "# B\n");
    await Deno.writeTextFile(
      `${dir}/docs/a.md`,
      [
        "# A",
        "",
        "## Some heading, here",
        "",
        "[ok](#some-heading-here) [ok](b.md#b) [`ok`](../README.md#setup)",
        "[gone](c.md) [no heading](b.md#nope) [a dir](.#x) [web](https://x.y/z)",
        "`[in code](nothing.md)`",
        "",
        "```md",
        "[in a block](nothing.md)",
        "```",
      ].join("\n"),
    );
    assert.deepEqual(await brokenLinks(root, ["docs/a.md"]), [
      "docs/a.md: (c.md): there is no docs/c.md",
      "docs/a.md: (b.md#nope): docs/b.md has no heading #nope",
      "docs/a.md: (.#x): docs/ has no headings",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("docs/architecture.md mirrors RULES (testing/check_house.ts) and links every product file", async () => {
  const text = await Deno.readTextFile(new URL("docs/architecture.md", ROOT));
  const rows = [...text.matchAll(/^\| `([^`]+)` +\| (.+?) +\| (.+?) +\|$/gm)]
    .map(([, place, job, may]) => ({
      place: place!,
      may: may === "nothing local"
        ? []
        : [...may!.matchAll(/`([^`]+)`/g)].map((m) => m[1]!),
      job: job!,
    }));
  assert.deepEqual(
    rows,
    RULES.map(({ place, may, job }) => ({ place, may, job })),
  );

  const linked = new Set(
    linkTargets(text).filter((t) => t.startsWith("../")).map((t) => t.slice(3)),
  );
  const products: string[] = [];
  async function walk(dir: string): Promise<void> {
    for await (const entry of Deno.readDir(new URL(dir || ".", ROOT))) {
      const path = dir + entry.name;
      if (entry.isDirectory && dir !== "") await walk(`${path}/`);
      if (
        entry.isFile && path.endsWith(".ts") && !path.endsWith("_test.ts")
      ) products.push(path);
    }
  }
  await walk("");
  await walk("common/");
  await walk("server/");
  const missing = products.filter((path) => !linked.has(path));
  assert.ok(products.length > 20, `only ${products.length} product files`);
  assert.deepEqual(missing, [], "product files the map does not link");
});
