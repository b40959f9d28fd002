// Copyright 2026 the camwire authors. MIT license.
/**
 * Mutation check of the test suite: each mutation breaks one promised
 * behaviour with a small source edit, and names the test file that must
 * then fail. They are applied one at a time to a scratch copy of the
 * tracked tree (the working tree is never touched), and the report says
 * which were caught and which survived. A test that hangs instead of
 * failing is reported as such: every wait in a test must have a deadline.
 *
 * Not part of CI (it runs test files once per mutation: minutes).
 *
 * ```sh
 * deno task mutants                      # every mutation (after a control run of each test set)
 * deno task mutants --only backoff       # those whose name has "backoff"
 * deno task mutants --list               # names and test files only
 * ```
 *
 * Grow the list with each new promise: a mutation whose `from` text is no
 * longer in its file is reported as "stale" so that it is mended, not lost.
 *
 * @module
 */

import { parseArgs } from "node:util";
import type { Mutation } from "./mutations/mutation.ts";
import { CAPTURE } from "./mutations/capture.ts";
import { CAMERA } from "./mutations/camera.ts";
import { VIEWERS } from "./mutations/viewers.ts";
import { ACCESS } from "./mutations/access.ts";
import { CLIENT } from "./mutations/client.ts";
import { DOCS } from "./mutations/docs.ts";
import { STATUS } from "./mutations/status.ts";
import { PERMISSIONS } from "./mutations/permissions.ts";
import { PERFORMANCE } from "./mutations/performance.ts";

/** The mutations, one per promise of the README and docs/. */
export const MUTATIONS: Mutation[] = [
  ...CAPTURE,
  ...CAMERA,
  ...VIEWERS,
  ...ACCESS,
  ...CLIENT,
  ...DOCS,
  ...STATUS,
  ...PERMISSIONS,
  ...PERFORMANCE,
];

/** How one mutation fared. */
type Verdict = "caught" | "survived" | "hung" | "stale";

const ROOT = new URL("..", import.meta.url).pathname;
/** A test file that runs longer than this is taken as hanging. */
const TEST_TIMEOUT_MS = 240_000;

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      only: { type: "string" },
      list: { type: "boolean", default: false },
    },
  });
  const chosen = MUTATIONS.filter((m) =>
    values.only === undefined || m.name.includes(values.only)
  );
  if (chosen.length === 0) {
    console.error(`mutants: no mutation's name has "${values.only}" (--list)`);
    Deno.exit(2);
  }
  if (values.list) {
    for (const m of chosen) console.log(`${m.name}  [${m.tests.join(" ")}]`);
    return;
  }
  const scratch = await scratchCopy();
  const verdicts: [Mutation, Verdict, number][] = [];
  try {
    // A test that fails without any mutation would "catch" them all.
    const controls = new Map(
      chosen.map((m) => [`${m.tests.join(" ")} ${m.filter ?? ""}`, m]),
    );
    for (const [key, control] of controls) {
      if (await runTests(scratch, control) !== "survived") {
        console.log(`control failed: ${key.trim()} fails unmutated`);
        Deno.exitCode = 2;
        return;
      }
    }
    console.log(`controls: ${controls.size} test runs pass unmutated`);
    for (const mutation of chosen) {
      const started = performance.now();
      const verdict = await judge(scratch, mutation);
      const seconds = (performance.now() - started) / 1000;
      verdicts.push([mutation, verdict, seconds]);
      console.log(
        `${verdict.padEnd(8)} ${mutation.name} (${seconds.toFixed(0)} s)`,
      );
    }
  } finally {
    await Deno.remove(scratch, { recursive: true });
  }
  const caught = verdicts.filter(([, v]) => v === "caught").length;
  console.log(`\n${caught} of ${verdicts.length} mutations caught`);
  if (caught < verdicts.length) Deno.exitCode = 1;
}

/** A copy of the files git tracks (and untracked, unignored ones). */
async function scratchCopy(): Promise<string> {
  const { stdout } = await new Deno.Command("git", {
    args: ["ls-files", "--cached", "--others", "--exclude-standard", "-z"],
    cwd: ROOT,
    stdout: "piped",
  }).output();
  const dir = await Deno.makeTempDir({ prefix: "camwire-mutants-" });
  for (const file of new TextDecoder().decode(stdout).split("\0")) {
    if (file === "") continue;
    const target = `${dir}/${file}`;
    await Deno.mkdir(target.slice(0, target.lastIndexOf("/")), {
      recursive: true,
    });
    try {
      await Deno.copyFile(`${ROOT}${file}`, target);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error; // deleted
    }
  }
  return dir;
}

/** Applies one mutation, runs its tests, and puts the file back. */
async function judge(scratch: string, mutation: Mutation): Promise<Verdict> {
  const path = `${scratch}/${mutation.file}`;
  const original = await Deno.readTextFile(path);
  if (original.split(mutation.from).length !== 2) return "stale";
  await Deno.writeTextFile(path, original.replace(mutation.from, mutation.to));
  try {
    return await runTests(scratch, mutation);
  } finally {
    await Deno.writeTextFile(path, original);
  }
}

/**
 * Runs a mutation's tests on the scratch copy as it stands.
 *
 * @returns "caught" when they failed, "survived" when they passed.
 */
async function runTests(
  scratch: string,
  mutation: Pick<Mutation, "tests" | "filter">,
): Promise<Verdict> {
  const filter = mutation.filter === undefined
    ? []
    : ["--filter", `/${mutation.filter}/`];
  // Its own session, so that a hung run is ended with every server,
  // ffmpeg and client it started.
  const child = new Deno.Command("setsid", {
    args: [
      Deno.execPath(),
      "test",
      "-A",
      "--no-check",
      "--sanitize-ops",
      "--sanitize-resources",
      ...filter,
      ...mutation.tests,
    ],
    cwd: scratch,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  let hung = false;
  const timer = setTimeout(() => {
    hung = true;
    killGroup(child.pid);
  }, TEST_TIMEOUT_MS);
  const status = await child.status;
  clearTimeout(timer);
  killGroup(child.pid); // whatever a failed run left behind
  if (hung) return "hung";
  return status.success ? "survived" : "caught";
}

/** Kills a process group; it may be gone already. */
function killGroup(pid: number): void {
  new Deno.Command("kill", {
    args: ["-KILL", "--", `-${pid}`],
    stdout: "null",
    stderr: "null",
  }).outputSync();
}

if (import.meta.main) {
  await main();
}
