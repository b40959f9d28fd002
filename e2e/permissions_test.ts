// Copyright 2026 the camwire authors. MIT license.
/**
 * deno.json's permission sets: `deno test -P` runs the suite, a bare
 * `deno test` points to -P, and the two programs do real work under
 * `-P=server` and `-P=client` without being refused anything.
 */
import assert from "node:assert/strict";
import {
  makeCertificate,
  RawViewer,
  runScript,
  type ScriptProcess,
  startScript,
  within,
} from "../testing/util.ts";
import { FakeCameras } from "../testing/fake_camera.ts";

const ROOT = new URL("..", import.meta.url).pathname;

/** What Deno prints when a program is refused a permission. */
const REFUSED =
  /NotCapable|Requires \w+ access|run again with|--allow-\w+ flag/;

/** Runs `deno <args>` in the checkout; its exit code and output. */
async function deno(args: string[]): Promise<{ code: number; out: string }> {
  const { code, stdout, stderr } = await within(
    new Deno.Command(Deno.execPath(), {
      args,
      cwd: ROOT,
      env: { NO_COLOR: "1", RUST_BACKTRACE: "0" },
      stdin: "null",
    }).output(),
    60_000,
    `deno ${args.join(" ")}`,
  );
  const text = new TextDecoder();
  return { code, out: text.decode(stdout) + text.decode(stderr) };
}

/** Starts server.ts under `-P=server` and waits for its first address. */
async function serverUnderSet(
  args: string[],
  env: Record<string, string> = {},
): Promise<ScriptProcess & { port: number }> {
  const server = startScript("server.ts", [
    ...["--host", "127.0.0.1", "--port", "0", ...args],
  ], { env, permissions: ["-P=server"] });
  try {
    const ready = await server.waitForLine(
      /streaming on (tcp|tls):\/\/127\.0\.0\.1:(\d+)/,
    );
    return { ...server, port: Number(ready.match(/:(\d+)$/)![1]) };
  } catch (error) {
    await server.stop("SIGKILL");
    throw error;
  }
}

Deno.test("deno test: bare, it stops at once with Deno's pointer to -P; with -P it has every permission the suite needs (/proc and FFI included)", async () => {
  const bare = await deno(["test"]);
  assert.equal(bare.code, 1, bare.out);
  assert.match(
    bare.out,
    /^error: Test permissions were found in the config file\. Did you mean to run with `-P` or a permission flag\?\n {4}at file:\/\/.*\/deno\.json\n$/,
  );
  // These tests read /proc and call libc: only what -A gives will do.
  const withSet = await deno([
    ...["test", "-P", "--no-check", "server/net/sockets_test.ts"],
  ]);
  assert.equal(withSet.code, 0, withSet.out);
  assert.match(withSet.out, /ok \| [1-9]\d* passed \| 0 failed/);
});

Deno.test("deno.json's sets: the server under -P=server serves TLS with a token, HTTP and pickle ports; the client under -P=client records it to a .mkv; neither is refused anything", async () => {
  const dir = await Deno.makeTempDir({ prefix: "camwire-sets-" });
  try {
    await makeCertificate(dir);
    const server = await serverUnderSet([
      ...["--source", "test", "--http-port", "0", "--pickle-port", "0"],
      ...["--cert", `${dir}/cert.pem`, "--key", `${dir}/key.pem`],
      ...["--token", "s3cret"],
    ]);
    let client;
    try {
      await server.waitForLine(/web page on https:\/\/127\.0\.0\.1:\d+\//);
      await server.waitForLine(/pickled numpy frames .* on tls:\/\//);
      client = await runScript(
        "client.ts",
        [
          ...["--host", "127.0.0.1", "--port", `${server.port}`, "--tls"],
          ...["--ca", `${dir}/ca.pem`, "--token", "s3cret"],
          ...["--output", `${dir}/cam.mkv`, "--frames", "30"],
        ],
        {},
        { permissions: ["-P=client"] },
      );
      await server.waitForLine(/left: /);
    } finally {
      assert.equal(await server.stop(), 0);
    }
    assert.equal(client.code, 0, client.stderr);
    assert.doesNotMatch(client.stderr, REFUSED);
    const probe = await within(
      new Deno.Command("ffprobe", {
        args: [
          ..."-v error -count_frames -select_streams v:0".split(" "),
          ..."-show_entries stream=codec_name,nb_read_frames".split(" "),
          ...["-of", "csv=p=0", `${dir}/cam.mkv`],
        ],
      }).output(),
      20_000,
      "ffprobe",
    );
    assert.equal(new TextDecoder().decode(probe.stdout).trim(), "mjpeg,30");
    const log = server.lines.join("\n");
    assert.doesNotMatch(log, REFUSED);
    // What the set cannot give, said once: Deno reads /proc only with -A.
    assert.equal(
      server.lines.filter((l) => /--send-queue is not available/.test(l))
        .length,
      1,
      log,
    );
    assert.match(log, /finding a socket needs \/proc, .* only with -A/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("-P=server: the emulated camera is read through V4L2 and FFI and passed through; --source auto still tries the camera, a missing one named is told; --list-devices names one or says it needs -A", async () => {
  await using cameras = await FakeCameras.create();
  const device = await cameras.device({
    card: "Set Camera",
    modes: [{ fourcc: "MJPG", width: 320, height: 240, fps: 30 }],
  });
  const env = { CAMWIRE_LIBC: cameras.library };
  const server = await serverUnderSet(["--device", device], env);
  try {
    await server.waitForLine(/"Set Camera": MJPEG 320x240 at 30 fps, passed/);
    const viewer = await RawViewer.connect(server.port);
    try {
      const start = Date.now();
      while (viewer.frames.length < 10 && Date.now() - start < 10_000) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      assert.ok(viewer.frames.length >= 10, `${viewer.frames.length} frames`);
    } finally {
      await viewer.close();
    }
  } finally {
    assert.equal(await server.stop(), 0);
  }
  assert.doesNotMatch(server.lines.join("\n"), REFUSED);

  // Deno refuses a set a look in /dev: the camera is tried all the same
  // (here there is none, so the test pattern follows), and a camera named
  // but missing is told as such.
  const auto = await serverUnderSet([]);
  assert.equal(await auto.stop(), 0);
  assert.ok(
    auto.lines.some((l) => /opening camera \/dev\/video0$/.test(l)),
    auto.lines.join("\n"),
  );
  const missing = await runScript(
    "server.ts",
    [
      ...["--host", "127.0.0.1", "--port", "0", "--device", "/dev/video99"],
    ],
    {},
    { permissions: ["-P=server"] },
  );
  assert.equal(missing.code, 1);
  assert.equal(
    missing.stderr.trimEnd().split("\n").at(-1),
    "camwire: no camera at /dev/video99 (found: cannot tell, Deno lets only -A list /dev)",
  );

  const named = await runScript(
    "server.ts",
    ["--list-devices", "--device", device],
    env,
    { permissions: ["-P=server"] },
  );
  assert.equal(named.code, 0, named.stderr);
  assert.match(new TextDecoder().decode(named.stdout), /"Set Camera"/);
  const all = await runScript("server.ts", ["--list-devices"], {}, {
    permissions: ["-P=server"],
  });
  assert.equal(all.code, 1);
  assert.equal(
    all.stderr,
    "camwire: Cannot list the cameras: Deno lets only -A read /dev (run with -A, or name one: --list-devices --device /dev/video0)\n",
  );
});
