// Copyright 2026 the camwire authors. MIT license.
/**
 * The recipes of README.md and docs/, run as a reader would run them.
 *
 * @module
 */

import assert from "node:assert/strict";
import { JpegSplitter } from "../framing.ts";
import { jpegSize } from "../common/jpeg.ts";
import { runScript, startServerProcess } from "../testing/util.ts";

const ROOT = new URL("../", import.meta.url);

/**
 * The commands of the first `sh` block after a heading of a markdown file
 * (a path from the root), with `\`-continued lines joined.
 */
async function recipe(file: string, heading: string): Promise<string[]> {
  const text = "\n" + await Deno.readTextFile(new URL(file, ROOT));
  const at = text.indexOf(`\n${heading}\n`);
  assert.ok(at !== -1, `${file} has no "${heading}"`);
  const block = /```sh\n([\s\S]*?)```/.exec(text.slice(at))?.[1];
  assert.ok(block !== undefined, `no sh block under "${heading}"`);
  return block.replace(/\\\n\s*/g, "").split("\n").filter((l) => l.trim());
}

/** The flags of a `deno run -A <script> ...` line. */
function flagsOf(line: string, script: string): string[] {
  const prefix = `deno run -A ${script} `;
  assert.ok(line.startsWith(prefix), `not a ${script} line: ${line}`);
  return line.slice(prefix.length).split(/\s+/);
}

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
      const out = `${dir}/out.mjpeg`;
      const client = await runScript("client.ts", [
        ...flagsOf(clientLine, "client.ts").map(inDir),
        "--port",
        String(server.port),
        "--frames",
        "30",
        "--output",
        out,
      ]);
      assert.equal(client.code, 0, client.stderr);
      const frames = new JpegSplitter().push(await Deno.readFile(out));
      assert.equal(frames.length, 30);
      assert.deepEqual(jpegSize(frames[0]!), { width: 320, height: 240 });
    } finally {
      await server.stop();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
