// Copyright 2026 the camwire authors. MIT license.
/**
 * README's Setup and the recipes of docs/, run as a reader would run them;
 * the tables of flags of docs/, against each command's --help.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  receiveFrames,
  runScript,
  startServerProcess,
} from "../testing/util.ts";
import { flagsOf, recipe, section, shBlocks } from "../testing/docs.ts";

const ROOT = new URL("../", import.meta.url);

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

Deno.test("README's Setup: the install line, the two commands and the test command, as CI runs them; the two commands stream", async () => {
  const setup = await section("README.md", "## Setup");
  const blocks = shBlocks(setup);
  assert.equal(
    blocks.length,
    3,
    `sh blocks under Setup: ${blocks.join(" | ")}`,
  );
  const [install, run, test] = blocks as [string[], string[], string[]];

  // The install line: the Deno that CI installs, and ffmpeg.
  const ci = await Deno.readTextFile(new URL(".ci/run", ROOT));
  const version = /^DENO_VERSION=(\S+)$/m.exec(ci)?.[1];
  assert.ok(version !== undefined, "no DENO_VERSION in .ci/run");
  assert.deepEqual(install, [
    `npm install -g deno@${version} && sudo apt-get install -y ffmpeg`,
  ]);

  // The test command: CI's last command, a task of deno.json.
  const ciCommands = ci.split("\n").filter((line) =>
    line.trim() !== "" && !line.trimStart().startsWith("#")
  );
  assert.deepEqual(test, [ciCommands.at(-1)]);
  const task = /^deno task (\S+)$/.exec(test[0]!)?.[1];
  const { tasks } = JSON.parse(
    await Deno.readTextFile(new URL("deno.json", ROOT)),
  );
  assert.ok(task !== undefined && task in tasks, `no such task: ${test[0]}`);

  // The server and a viewer beside it, as a reader runs them (on
  // 127.0.0.1, a free port, and the client writing 30 frames to stdout).
  assert.equal(run.length, 2, `not a server and a client: ${run.join(" | ")}`);
  const [serverLine, clientLine] = run as [string, string];
  assert.ok(
    setup.includes(
      `\`${clientLine.replace("127.0.0.1", "192.168.56.1")}\``,
    ),
    "the example for another machine is not the client line",
  );
  // `auto` streams the camera if one is present, else the test pattern;
  // with a camera at /dev/video0 the test pattern is asked for, so that the
  // test does not depend on that camera.
  const camera = await exists("/dev/video0");
  const server = await startServerProcess([
    ...flagsOf(serverLine, "server.ts"),
    ...camera ? ["--source", "test"] : [],
  ]);
  try {
    if (!camera) {
      assert.ok(
        server.lines.some((line) => /streaming the test pattern/.test(line)),
        server.lines.join("\n"),
      );
    }
    const sizes = await receiveFrames(
      server.port,
      30,
      flagsOf(clientLine, "client.ts"),
    );
    assert.deepEqual(sizes[0], { width: 320, height: 240 });
  } finally {
    await server.stop();
  }
});

Deno.test("docs/tls.md's recipe: its certificate, made as written, streams over TLS with a token", async () => {
  const [openssl = "", serverLine = "", clientLine = ""] = await recipe(
    "docs/tls.md",
    "# TLS",
  );
  assert.ok(openssl.startsWith("openssl req "), openssl);
  const dir = await Deno.makeTempDir({ prefix: "camwire-tls-recipe-" });
  try {
    const made = await new Deno.Command("bash", {
      args: ["-c", openssl],
      cwd: dir,
      stdout: "null",
      stderr: "piped",
    }).output();
    assert.ok(made.success, new TextDecoder().decode(made.stderr));
    const inDir = (flag: string) =>
      flag.endsWith(".pem") ? `${dir}/${flag}` : flag;
    const server = await startServerProcess([
      ...flagsOf(serverLine, "server.ts").map(inDir),
      "--source",
      "test",
    ]);
    try {
      const sizes = await receiveFrames(
        server.port,
        30,
        flagsOf(clientLine, "client.ts").map(inDir),
      );
      assert.deepEqual(sizes[0], { width: 320, height: 240 });
    } finally {
      await server.stop();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** The `--flags` of a command's `--help`, as the program prints it. */
async function helpFlags(script: string): Promise<string[]> {
  const out = await runScript(script, ["--help"]);
  assert.equal(out.code, 0, out.stderr);
  const help = new TextDecoder().decode(out.stdout) + out.stderr;
  const flags = [...help.matchAll(/^ {2}(?:-\w, )?(--[\w-]+)/gm)]
    .map((m) => m[1]!);
  return [...new Set(flags)].sort();
}

/** The `--flags` a doc's table of flags names in its first column. */
async function tableFlags(file: string): Promise<string[]> {
  const text = await Deno.readTextFile(new URL(file, ROOT));
  const cells = [...text.matchAll(/^\| (`--[^|]*?) +\|/gm)].map((m) => m[1]!);
  const flags = cells.flatMap((cell) =>
    [...cell.matchAll(/`(--[\w-]+)/g)].map((m) => m[1]!)
  );
  return [...new Set(flags)].sort();
}

Deno.test("docs/server.md's and docs/client.md's tables of flags name every flag of the command's --help, and no other", async () => {
  const pages: [string, string][] = [
    ["server.ts", "docs/server.md"],
    ["client.ts", "docs/client.md"],
  ];
  for (const [script, doc] of pages) {
    const help = (await helpFlags(script)).filter((f) => f !== "--help");
    assert.ok(help.length > 5, `${script} --help: ${help}`);
    assert.deepEqual(await tableFlags(doc), help, `${doc} against --help`);
  }
});
