#!/usr/bin/env -S deno run -A
// Copyright 2026 the camwire authors. MIT license.
/**
 * The house rules of camwire's module graph, checked from `deno info
 * --json` of client.ts and server.ts (and of any product file neither
 * reaches):
 *
 * - client.ts loads only framing.ts and common/, never server code;
 * - common/ never imports server.ts, server/ or client.ts;
 * - framing.ts imports no local module: it stays pure;
 * - product modules never import testing/ or a `*_test.ts` file;
 * - no import cycle among local modules, not even through an `import type`
 *   (it does nothing at run time, but two files that know each other are
 *   one job split in two);
 * - no product file (top level, common/, server/) exceeds 700 lines.
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

function isServer(path: string): boolean {
  return path === "server.ts" || path.startsWith("server/");
}

function isClientCode(path: string): boolean {
  return path === "client.ts" || path === "framing.ts" ||
    path.startsWith("common/");
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

/** Product .ts files on disk: top level, common/ and server/, no tests. */
async function productFiles(): Promise<string[]> {
  const files: string[] = [];
  async function walk(dir: string, recurse: boolean): Promise<void> {
    for await (const entry of Deno.readDir(new URL(dir || ".", ROOT))) {
      const path = dir + entry.name;
      if (entry.isDirectory && recurse) await walk(path + "/", true);
      if (entry.isFile && path.endsWith(".ts") && isProduct(path)) {
        files.push(path);
      }
    }
  }
  await walk("", false);
  for (const dir of ["common/", "server/"]) {
    try {
      await walk(dir, true);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
  return files.sort();
}

/** The modules reachable from `root` over `edges`. */
function reachable(root: string, edges: Edge[]): Set<string> {
  const seen = new Set([root]);
  const stack = [root];
  while (stack.length > 0) {
    const from = stack.pop()!;
    for (const edge of edges) {
      if (edge.from === from && !seen.has(edge.to)) {
        seen.add(edge.to);
        stack.push(edge.to);
      }
    }
  }
  return seen;
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
  const client = reachable("client.ts", graph.edges);
  await addGraph("server.ts", graph);
  const products = await productFiles();
  for (const file of products) {
    if (!graph.modules.has(file)) await addGraph(file, graph);
  }
  const violations = [...new Set(graph.errors)];
  const at = (edge: Edge) => `${edge.from}:${edge.line} imports ${edge.to}`;
  for (const edge of graph.edges) {
    if (client.has(edge.from) && isClientCode(edge.from)) {
      if (!isClientCode(edge.to)) {
        violations.push(
          `${at(edge)}: client.ts may load only framing.ts and common/${
            isServer(edge.to) ? ", never server code" : ""
          }`,
        );
      }
    }
    if (edge.from.startsWith("common/") && isServer(edge.to)) {
      violations.push(`${at(edge)}: common/ never imports server code`);
    }
    if (edge.from.startsWith("common/") && edge.to === "client.ts") {
      violations.push(`${at(edge)}: common/ never imports the client command`);
    }
    if (edge.from === "framing.ts") {
      violations.push(`${at(edge)}: framing.ts imports no local module`);
    }
    if (isProduct(edge.from) && isTest(edge.to)) {
      violations.push(`${at(edge)}: product code never imports test code`);
    }
  }
  for (const cycle of cycles(graph.modules, graph.edges)) {
    violations.push(`import cycle: ${cycleText(cycle)}`);
  }
  let largest = { file: "", lines: 0 };
  for (const file of products) {
    const lines = lineCount(await Deno.readTextFile(new URL(file, ROOT)));
    if (lines > largest.lines) largest = { file, lines };
    if (lines > MAX_LINES) {
      violations.push(`${file} has ${lines} lines, more than ${MAX_LINES}`);
    }
  }
  const summary =
    `house: ok: ${graph.modules.size} local modules, ${graph.edges.length} imports, no import cycle; largest product file ${largest.file}, ${largest.lines} lines`;
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
