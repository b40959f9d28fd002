// Copyright 2026 the camwire authors. MIT license.
import assert from "node:assert/strict";
import { parseServerFlags } from "../server.ts";
import { receiveFrames, startServerProcess } from "../testing/util.ts";

const DIR = new URL(".", import.meta.url).pathname;
const ROOT = new URL("..", import.meta.url).pathname;

/** The `[Section]` → key → values of a unit file (keys may repeat). */
async function readUnit(path: string): Promise<Map<string, string[]>> {
  const entries = new Map<string, string[]>();
  let section = "";
  for (const raw of (await Deno.readTextFile(path)).split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const header = /^\[(\w+)\]$/.exec(line);
    if (header) {
      section = header[1]!;
      continue;
    }
    const eq = line.indexOf("=");
    assert.ok(eq > 0, `not a key=value line: ${line}`);
    const key = `${section}.${line.slice(0, eq)}`;
    entries.set(key, [...entries.get(key) ?? [], line.slice(eq + 1)]);
  }
  return entries;
}

Deno.test("camwire.service starts the server with flags its own parser accepts, the token from its EnvironmentFile", async () => {
  const unit = await readUnit(`${DIR}camwire.service`);
  const [execStart] = unit.get("Service.ExecStart") ?? [];
  assert.ok(execStart !== undefined, "no ExecStart");
  const [program, ...args] = execStart.split(/\s+/);
  assert.equal(program, "/usr/local/bin/camwire-server");
  const env = Object.fromEntries(
    (await Deno.readTextFile(`${DIR}camwire.env`)).split("\n")
      .filter((line) => /^\w+=/.test(line))
      .map((
        line,
      ) => [
        line.slice(0, line.indexOf("=")),
        line.slice(line.indexOf("=") + 1),
      ]),
  );
  const flags = parseServerFlags(args, env);
  assert.notEqual(flags, "help");
  if (flags === "help") return;
  assert.equal(flags.host, "0.0.0.0");
  assert.equal(flags.port, 9999);
  assert.equal(flags.httpPort, 8080);
  assert.equal(flags.token, env.CAMWIRE_TOKEN);
  // No periodic status line: one when something changes, else one an
  // hour, so that an idle camera does not fill the journal.
  assert.equal(flags.statusIntervalS, undefined);
});

Deno.test("camwire.service runs as a non-root user in the video group, restarts on failure, stops with SIGTERM", async () => {
  const unit = await readUnit(`${DIR}camwire.service`);
  const one = (key: string) => unit.get(key)?.[0];
  assert.ok(
    one("Service.User") !== undefined && one("Service.User") !== "root",
  );
  assert.equal(one("Service.SupplementaryGroups"), "video");
  assert.equal(one("Service.EnvironmentFile"), "/etc/camwire.env");
  assert.equal(one("Service.Restart"), "on-failure");
  assert.equal(one("Service.KillSignal"), "SIGTERM");
  assert.equal(one("Install.WantedBy"), "multi-user.target");
});

/** V8's new space, bytes, in a Deno that made garbage, under `flags`. */
async function newSpaceUnder(flags: string | undefined): Promise<number> {
  const env = Deno.env.toObject();
  delete env.DENO_V8_FLAGS;
  if (flags !== undefined) env.DENO_V8_FLAGS = flags;
  const probe = `
    import { getHeapSpaceStatistics } from "node:v8";
    let young = [];
    for (let i = 0; i < 1_000_000; i++) {
      young.push({ i });
      if (young.length > 10_000) young = [];
    }
    const space = getHeapSpaceStatistics()
      .find((s) => s.space_name === "new_space");
    console.log(space.space_size);`;
  const { success, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["eval", probe],
    env,
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(success, new TextDecoder().decode(stderr));
  return Number(new TextDecoder().decode(stdout));
}

Deno.test("camwire.service caps V8's young generation (DENO_V8_FLAGS=--max-semi-space-size=1): a Deno under the unit's environment keeps a 2 MB new space, and server.ts streams under it", async () => {
  const unit = await readUnit(`${DIR}camwire.service`);
  const env = Object.fromEntries(
    (unit.get("Service.Environment") ?? []).map((
      entry,
    ) => [
      entry.slice(0, entry.indexOf("=")),
      entry.slice(entry.indexOf("=") + 1),
    ]),
  );
  assert.equal(env.DENO_V8_FLAGS, "--max-semi-space-size=1");
  // Two semi-spaces of 1 MB each; V8's default let it grow far more.
  const capped = await newSpaceUnder(env.DENO_V8_FLAGS);
  const free = await newSpaceUnder(undefined);
  assert.ok(capped <= 2 * 1024 * 1024, `new space ${capped} B`);
  assert.ok(free >= 4 * capped, `new space ${free} B without the flag`);
  const server = await startServerProcess(["--source", "test"], {
    DENO_V8_FLAGS: env.DENO_V8_FLAGS,
  });
  try {
    const sizes = await receiveFrames(server.port, 3);
    assert.deepEqual(sizes[2], { width: 320, height: 240 });
  } finally {
    await server.stop();
  }
});

Deno.test("deno install makes camwire-server and camwire commands that run", async () => {
  const root = await Deno.makeTempDir({ prefix: "camwire-install-" });
  try {
    const commands: [string, string][] = [
      ["camwire-server", "server.ts"],
      ["camwire", "client.ts"],
    ];
    for (const [name, script] of commands) {
      const install = await new Deno.Command(Deno.execPath(), {
        args: [
          "install",
          "-g",
          "-A",
          "--root",
          root,
          "-n",
          name,
          `${ROOT}${script}`,
        ],
        stdout: "null",
        stderr: "piped",
      }).output();
      assert.ok(install.success, new TextDecoder().decode(install.stderr));
      // The command runs the checkout's file, not a copy: a `git pull`
      // updates it (docs/server.md, "Run it as a service").
      const launcher = await Deno.readTextFile(`${root}/bin/${name}`);
      assert.ok(
        launcher.includes(`file://${ROOT}${script}`),
        `${name} does not run ${ROOT}${script}:\n${launcher}`,
      );
      const help = await new Deno.Command(`${root}/bin/${name}`, {
        args: ["--help"],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.ok(help.success, new TextDecoder().decode(help.stderr));
      assert.match(
        new TextDecoder().decode(help.stdout),
        /^camwire (server|client):/,
      );
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
