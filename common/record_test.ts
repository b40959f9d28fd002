// Copyright 2026 the camwire authors. MIT license.
// Recordings end to end: the real server's test source, the real client
// with --output FILE.mkv|.mp4, and ffprobe reading what it wrote.

import assert from "node:assert/strict";
import {
  freePort,
  startScript,
  startServerProcess,
  within,
} from "../testing/util.ts";

/** What ffprobe says of a recording: its length, frames and codec. */
interface Probe {
  seconds: number;
  frames: number;
  codec: string;
}

/** Reads a recording with ffprobe, decoding every frame to count them. */
async function probe(path: string): Promise<Probe> {
  const { success, stdout, stderr } = await within(
    new Deno.Command("ffprobe", {
      args: [
        ..."-v error -count_frames -show_entries".split(" "),
        "format=duration:stream=nb_read_frames,codec_name",
        ..."-of json".split(" "),
        path,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output(),
    30_000,
    `ffprobe of ${path}`,
  );
  const text = new TextDecoder().decode(stderr);
  assert.ok(success, `ffprobe cannot read ${path}: ${text}`);
  assert.equal(text.trim(), "", `ffprobe found errors in ${path}`);
  const json = JSON.parse(new TextDecoder().decode(stdout));
  return {
    seconds: Number(json.format.duration),
    frames: Number(json.streams[0].nb_read_frames),
    codec: json.streams[0].codec_name,
  };
}

/** Runs the client to its end; returns its exit code and what it said. */
async function record(
  port: number,
  args: string[],
): Promise<{ code: number; lines: string[] }> {
  const client = startScript("client.ts", ["--port", `${port}`, ...args]);
  try {
    const { code } = await client.exited(30_000);
    return { code, lines: client.lines };
  } finally {
    await client.stop("SIGKILL").catch(() => {});
  }
}

Deno.test("client --output FILE.mkv|.mp4 --seconds 5 records 5 s of the 30 fps test source: 5 s ± 0.2 s, 150 ± 6 frames (MJPEG copied, H.264)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "camwire-record-" });
  const server = await startServerProcess(["--source", "test"]);
  try {
    const [mkv, mp4] = await Promise.all(
      ["mkv", "mp4"].map((ext) =>
        record(server.port, ["--output", `${dir}/cam.${ext}`, "--seconds", "5"])
      ),
    );
    for (
      const [ext, run, codec] of [
        ["mkv", mkv!, "mjpeg"],
        ["mp4", mp4!, "h264"],
      ] as const
    ) {
      assert.equal(run.code, 0, run.lines.join("\n"));
      const found = await probe(`${dir}/cam.${ext}`);
      console.log(`cam.${ext}: ${JSON.stringify(found)}`);
      assert.equal(found.codec, codec);
      assert.ok(
        Math.abs(found.seconds - 5) <= 0.2,
        `cam.${ext} lasts ${found.seconds} s`,
      );
      assert.ok(
        Math.abs(found.frames - 150) <= 6,
        `cam.${ext} holds ${found.frames} frames`,
      );
    }
  } finally {
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("client --reconnect --output FILE.mkv across a server restart keeps recording, and the file's length is the wall clock's", async () => {
  const dir = await Deno.makeTempDir({ prefix: "camwire-record-" });
  const port = freePort();
  const serve = () =>
    startServerProcess(["--source", "test", "--port", `${port}`]);
  let server = await serve();
  const client = startScript("client.ts", [
    ..."--reconnect --seconds 7 --timeout 2 --port".split(" "),
    `${port}`,
    "--output",
    `${dir}/cam.mkv`,
  ]);
  try {
    await new Promise((resolve) => setTimeout(resolve, 2000));
    await server.stop();
    await client.waitForLine(/reconnecting/, 5000);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    server = await serve();
    await client.waitForLine(/connected to/, 10_000);
    const { code } = await client.exited(15_000);
    assert.equal(code, 0, client.lines.join("\n"));
    const found = await probe(`${dir}/cam.mkv`);
    console.log(`across a restart: ${JSON.stringify(found)}`);
    // --seconds 7 of wall clock from the first frame: the file is 7 s
    // long, though the server was away for a second or more of it.
    assert.ok(
      Math.abs(found.seconds - 7) <= 0.25,
      `the recording lasts ${found.seconds} s, not 7`,
    );
    assert.ok(
      found.frames < 7 * 30 - 30,
      `${found.frames} frames: the server was never away?`,
    );
  } finally {
    await client.stop("SIGKILL").catch(() => {});
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("client --output FILE.mp4 stopped by SIGINT (Ctrl-C) leaves a finished, playable file, exit 0", async () => {
  const dir = await Deno.makeTempDir({ prefix: "camwire-record-" });
  const server = await startServerProcess(["--source", "test"]);
  const client = startScript("client.ts", [
    "--port",
    `${server.port}`,
    "--output",
    `${dir}/cam.mp4`,
  ]);
  try {
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const code = await client.stop("SIGINT");
    assert.equal(code, 0, client.lines.join("\n"));
    const found = await probe(`${dir}/cam.mp4`);
    console.log(`after SIGINT: ${JSON.stringify(found)}`);
    assert.equal(found.codec, "h264");
    assert.ok(found.frames >= 30, `${found.frames} frames`);
    assert.ok(found.seconds >= 1 && found.seconds <= 3.2, `${found.seconds} s`);
  } finally {
    await client.stop("SIGKILL").catch(() => {});
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("client --output into a directory that does not exist fails at once, before connecting, exit 1", async () => {
  const client = startScript("client.ts", [
    ..."--port 1 --output /nonexistent-camwire/cam.mkv".split(" "),
  ]);
  const { code } = await client.exited(10_000);
  assert.equal(code, 1);
  assert.match(
    client.lines.join("\n"),
    /^camwire: Cannot open "\/nonexistent-camwire\/cam\.mkv" for writing: /,
  );
});
