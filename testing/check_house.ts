#!/usr/bin/env -S deno run -A
// Copyright 2026 the camwire authors. MIT license.
/**
 * The house rules of camwire's module graph, checked from `deno info
 * --json` of client.ts and server.ts (and of any product file neither
 * reaches):
 *
 * - client.ts loads only framing.ts and common/, never server code;
 * - each folder imports only what {@linkcode RULES} lets it (common/ no
 *   server code and not client.ts, framing.ts nothing local, server/'s
 *   folders only the folders below them);
 * - product modules never import testing/ or a `*_test.ts` file;
 * - no import cycle among local modules, not even through an `import type`
 *   (it does nothing at run time, but two files that know each other are
 *   one job split in two);
 * - no source file (`.ts` or `.c`: product, test, test helper or bench)
 *   exceeds 700 lines: one job each.
 *
 * Prints one line per violation and exits 1, or prints one OK line.
 *
 * ```sh
 * deno run -A testing/check_house.ts
 * ```
 *
 * @module
 */

const ROOT = new URL("..", import.meta.url);
const MAX_LINES = 700;

/** What the product files of one place may import. */
export interface Rule {
  /** A file (`framing.ts`) or a folder (`server/net/`). */
  place: string;
  /** Files and folders its product files may import, besides itself. */
  may: string[];
  /** The place's job, said when the rule is broken. */
  job: string;
}

/**
 * The folder rules, lowest first; docs/architecture.md mirrors this table.
 * A file follows the rule of the longest place that holds it. A place may
 * always import its own files; server/ itself puts the folders together
 * and may import all of them.
 */
export const RULES: Rule[] = [
  { place: "framing.ts", may: [], job: "the wire format, pure" },
  {
    place: "common/",
    may: ["framing.ts"],
    job: "what the client may load, never server code",
  },
  { place: "server/sys/", may: [], job: "the one libc binding" },
  {
    place: "server/net/",
    may: ["framing.ts", "common/", "server/sys/"],
    job: "sockets and who gets in, below everything else in server/",
  },
  {
    place: "server/capture/",
    may: ["framing.ts", "common/"],
    job: "the capture supervisor and ffmpeg, which know no viewer",
  },
  {
    place: "server/camera/",
    may: ["framing.ts", "common/", "server/sys/", "server/capture/"],
    job: "the camera decided and captured, which knows no viewer",
  },
  {
    place: "server/viewers/",
    may: ["framing.ts", "common/", "server/net/"],
    job: "viewers and the fan-out, which know no capture",
  },
  {
    place: "server/http/",
    may: ["framing.ts", "common/", "server/net/", "server/viewers/"],
    job: "the HTTP side, which knows no camera or capture",
  },
  {
    place: "server/pickle/",
    may: ["framing.ts", "common/", "server/net/", "server/viewers/"],
    job: "the tutorial's wire, which knows no camera or capture",
  },
  {
    place: "server/",
    may: ["framing.ts", "common/"],
    job: "the server put together",
  },
  {
    place: "server.ts",
    may: ["framing.ts", "common/", "server/"],
    job: "the server command",
  },
  {
    place: "client.ts",
    may: ["framing.ts", "common/"],
    job: "the client command, never server code",
  },
];

/** The rule of the longest place holding `path`, if any. */
function ruleOf(path: string): Rule | undefined {
  let found: Rule | undefined;
  for (const rule of RULES) {
    const holds = rule.place.endsWith("/")
      ? path.startsWith(rule.place)
      : path === rule.place;
    if (
      holds && (found === undefined || rule.place.length > found.place.length)
    ) {
      found = rule;
    }
  }
  return found;
}

/** Whether `rule` lets its files import `to`. */
function allows(rule: Rule, to: string): boolean {
  return [rule.place, ...rule.may].some((place) =>
    place.endsWith("/") ? to.startsWith(place) : to === place
  );
}

/** `framing.ts, common/ and server/sys/`: a rule's places, in words. */
function placesText(rule: Rule): string {
  const places = [...rule.may, "itself"];
  return places.length === 1
    ? "nothing local"
    : `only ${places.slice(0, -1).join(", ")} and ${places.at(-1)}`;
}

/** One import of a local module by another, paths relative to the root. */
interface Edge {
  from: string;
  to: string;
  /** 1-based line of the import in `from`. */
  line: number;
}

/** The local module graph, as `deno info --json` gives it. */
interface Graph {
  modules: Set<string>;
  edges: Edge[];
  /** Graph errors (unreadable roots, missing modules, syntax errors). */
  errors: string[];
}

interface InfoDependency {
  code?: { specifier?: string; span?: { start: { line: number } } };
  type?: { specifier?: string; span?: { start: { line: number } } };
}

interface InfoModule {
  specifier: string;
  error?: string;
  dependencies?: InfoDependency[];
}

/** A path relative to the root, or `null` for a module outside it. */
function local(specifier: string): string | null {
  return specifier.startsWith(ROOT.href)
    ? decodeURIComponent(specifier.slice(ROOT.href.length))
    : null;
}

function isTest(path: string): boolean {
  return path.endsWith("_test.ts") || path.startsWith("testing/");
}

function isProduct(path: string): boolean {
  return !isTest(path) && !path.startsWith("bench/");
}

/** Adds the local graph of `root` (a path relative to the root) to `graph`. */
async function addGraph(root: string, graph: Graph): Promise<void> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", root],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  let modules: InfoModule[];
  try {
    if (code !== 0) {
      throw new Error(firstLine(new TextDecoder().decode(stderr)));
    }
    modules = JSON.parse(new TextDecoder().decode(stdout)).modules;
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    graph.errors.push(`cannot read the module graph of ${root}: ${why}`);
    return;
  }
  for (const module of modules) {
    const from = local(module.specifier);
    if (from === null) continue;
    if (module.error !== undefined) {
      graph.errors.push(`${from}: ${firstLine(module.error)}`);
      continue;
    }
    if (graph.modules.has(from)) continue;
    graph.modules.add(from);
    const seen = new Set<string>();
    for (const dependency of module.dependencies ?? []) {
      for (const kind of [dependency.code, dependency.type]) {
        const to = kind?.specifier === undefined ? null : local(kind.specifier);
        if (to === null || seen.has(to)) continue;
        seen.add(to);
        graph.edges.push({
          from,
          to,
          line: (kind?.span?.start.line ?? -1) + 1,
        });
      }
    }
  }
}

/** An error's first line, and where it points if it says (`at file:…`). */
function firstLine(text: string): string {
  const lines = text.replaceAll(ROOT.href, "").trim().split("\n");
  const where = lines.find((line) => /^\s+at \S+$/.test(line))?.trim();
  const first = lines[0] ?? "";
  return where === undefined ? first : `${first} (${where.slice(3)})`;
}

/**
 * Source files on disk (`.ts` and `.c`, tests and benches included), every
 * folder but hidden ones.
 */
async function sourceFiles(): Promise<string[]> {
  const files: string[] = [];
  async function walk(dir: string): Promise<void> {
    for await (const entry of Deno.readDir(new URL(dir || ".", ROOT))) {
      const path = dir + entry.name;
      if (entry.name.startsWith(".")) continue;
      if (entry.isDirectory) await walk(path + "/");
      if (entry.isFile && /\.(ts|c)$/.test(path)) files.push(path);
    }
  }
  await walk("");
  return files.sort();
}

/** One cycle per strongly connected component that has one (Tarjan). */
function cycles(modules: Set<string>, edges: Edge[]): Edge[][] {
  const out = new Map<string, Edge[]>();
  for (const edge of edges) {
    out.set(edge.from, [...out.get(edge.from) ?? [], edge]);
  }
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: Edge[][] = [];
  function visit(module: string): void {
    index.set(module, index.size);
    low.set(module, index.get(module)!);
    stack.push(module);
    onStack.add(module);
    for (const { to } of out.get(module) ?? []) {
      if (!index.has(to)) {
        visit(to);
        low.set(module, Math.min(low.get(module)!, low.get(to)!));
      } else if (onStack.has(to)) {
        low.set(module, Math.min(low.get(module)!, index.get(to)!));
      }
    }
    if (low.get(module) !== index.get(module)) return;
    const component = new Set<string>();
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      component.add(member);
    } while (member !== module);
    const cycle = cycleIn(module, component, out);
    if (cycle !== null) found.push(cycle);
  }
  for (const module of [...modules].sort()) {
    if (!index.has(module)) visit(module);
  }
  return found;
}

/** A shortest cycle through `start` inside `component`, or `null`. */
function cycleIn(
  start: string,
  component: Set<string>,
  out: Map<string, Edge[]>,
): Edge[] | null {
  const via = new Map<string, Edge>();
  const queue = [start];
  for (let i = 0; i < queue.length; i++) {
    for (const edge of out.get(queue[i]!) ?? []) {
      if (!component.has(edge.to)) continue;
      if (edge.to === start) {
        const cycle = [edge];
        for (let e = via.get(edge.from); e !== undefined; e = via.get(e.from)) {
          cycle.unshift(e);
        }
        return cycle;
      }
      if (!via.has(edge.to)) {
        via.set(edge.to, edge);
        queue.push(edge.to);
      }
    }
  }
  return null;
}

/** `a.ts:3 → b.ts:9 → a.ts`: each module with the line of its import. */
function cycleText(cycle: Edge[]): string {
  const steps = cycle.map((edge) => `${edge.from}:${edge.line}`);
  return `${steps.join(" → ")} → ${cycle[0]!.from}`;
}

function lineCount(text: string): number {
  const newlines = text.split("\n").length - 1;
  return text.endsWith("\n") || text === "" ? newlines : newlines + 1;
}

/**
 * Checks the house rules.
 *
 * @returns One line per violation (none when the house is in order), and
 * the one-line summary printed when there is none.
 */
export async function checkHouse(): Promise<{
  violations: string[];
  summary: string;
}> {
  const graph: Graph = { modules: new Set(), edges: [], errors: [] };
  await addGraph("client.ts", graph);
  await addGraph("server.ts", graph);
  const sources = await sourceFiles();
  const products = sources.filter((file) =>
    file.endsWith(".ts") && isProduct(file)
  );
  for (const file of products) {
    if (!graph.modules.has(file)) await addGraph(file, graph);
  }
  const violations = [...new Set(graph.errors)];
  const at = (edge: Edge) => `${edge.from}:${edge.line} imports ${edge.to}`;
  for (const edge of graph.edges) {
    if (isProduct(edge.from) && isTest(edge.to)) {
      violations.push(`${at(edge)}: product code never imports test code`);
      continue;
    }
    const rule = isProduct(edge.from) ? ruleOf(edge.from) : undefined;
    if (rule !== undefined && !allows(rule, edge.to)) {
      violations.push(
        `${at(edge)}: ${rule.place} (${rule.job}) may import ${
          placesText(rule)
        }`,
      );
    }
  }
  for (const cycle of cycles(graph.modules, graph.edges)) {
    violations.push(`import cycle: ${cycleText(cycle)}`);
  }
  for (const file of products) {
    if (ruleOf(file) === undefined) {
      violations.push(
        `${file} is a product file in no place of the house (RULES in testing/check_house.ts)`,
      );
    }
  }
  let largest = { file: "", lines: 0 };
  for (const file of sources) {
    const lines = lineCount(await Deno.readTextFile(new URL(file, ROOT)));
    if (lines > largest.lines) largest = { file, lines };
    if (lines > MAX_LINES) {
      violations.push(`${file} has ${lines} lines, more than ${MAX_LINES}`);
    }
  }
  const summary =
    `house: ok: ${graph.modules.size} local modules, ${graph.edges.length} imports, no import cycle; largest file ${largest.file}, ${largest.lines} lines`;
  return { violations, summary };
}

async function main(): Promise<void> {
  const { violations, summary } = await checkHouse();
  if (violations.length === 0) {
    console.log(summary);
    return;
  }
  for (const line of violations) console.error(`house: ${line}`);
  Deno.exit(1);
}

if (import.meta.main) await main();
