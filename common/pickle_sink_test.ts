// Copyright 2026 the camwire authors. MIT license.
/**
 * End-to-end tests of `client.ts --pickle` (the pickle sink) against the
 * Python tutorial's own server loop, run by `/usr/bin/python3`, and against
 * a server that sends a pickle that would run code.
 */
import assert from "node:assert/strict";
import { JpegSplitter } from "../framing.ts";
import { jpegSize } from "./jpeg.ts";
import { runScript } from "../testing/util.ts";
import { encoderArgs } from "./pickle_sink.ts";

const PYTHON = "/usr/bin/python3";

/**
 * The tutorial's server loop as published, with its camera replaced by
 * moving test-pattern frames made with numpy and OpenCV (no camera here),
 * a free port printed, and an end after `frames` frames.
 */
const TUTORIAL_SERVER = `
import socket, struct, pickle, sys, time
import cv2, numpy as np

server_socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server_socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server_socket.bind(("127.0.0.1", 0))
server_socket.listen(5)
print(server_socket.getsockname()[1], flush=True)

def camera(n):
    frame = np.zeros((240, 320, 3), np.uint8)
    frame[:, :, 0] = np.arange(320, dtype=np.uint8)[None, :]
    frame[:, :, 1] = np.arange(240, dtype=np.uint8)[:, None]
    cv2.circle(frame, ((n * 7) % 320, 120), 30, (0, 0, 255), -1)
    return frame

client_socket, addr = server_socket.accept()
for n in range(int(sys.argv[1])):
    frame = camera(n)
    a = pickle.dumps(frame)
    message = struct.pack("Q", len(a)) + a
    client_socket.sendall(message)
    time.sleep(1 / 30)
client_socket.close()
`;

/** A server that sends one pickle whose __reduce__ would run `touch`. */
const HOSTILE_SERVER = `
import os, pickle, socket, struct, sys
class Exploit:
    def __reduce__(self):
        return (os.system, ("touch " + sys.argv[1],))
server_socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server_socket.bind(("127.0.0.1", 0))
server_socket.listen(5)
print(server_socket.getsockname()[1], flush=True)
client_socket, addr = server_socket.accept()
a = pickle.dumps(Exploit())
client_socket.sendall(struct.pack("Q", len(a)) + a)
client_socket.recv(1)
client_socket.close()
`;

/**
 * Starts a Python server script and reads the port it prints.
 *
 * @param script Python source.
 * @param args Its arguments.
 * @returns The process and its port.
 */
async function pythonServer(
  script: string,
  args: string[],
): Promise<{ child: Deno.ChildProcess; port: number }> {
  const child = new Deno.Command(PYTHON, {
    args: ["-c", script, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
  let text = "";
  try {
    while (!text.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) throw new Error("the Python server printed no port");
      text += value;
    }
  } finally {
    clearTimeout(timer);
    await reader.cancel();
  }
  return { child, port: Number(text.trim()) };
}

/** Ends a child that may have ended already. */
async function stop(child: Deno.ChildProcess): Promise<void> {
  try {
    child.kill();
  } catch {
    // It has ended.
  }
  await child.status;
}

Deno.test("client --pickle --output writes the tutorial server's frames as decodable 320-px JPEGs, every one", async () => {
  const dir = await Deno.makeTempDir({ prefix: "camwire-pickle-" });
  const { child, port } = await pythonServer(TUTORIAL_SERVER, ["45"]);
  try {
    const out = await runScript("client.ts", [
      ..."--pickle --port".split(" "),
      `${port}`,
      "--output",
      `${dir}/f.mjpeg`,
    ]);
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stderr, /the server closed the stream after 45 frames/);
    const jpegs = new JpegSplitter().push(
      await Deno.readFile(`${dir}/f.mjpeg`),
    );
    assert.equal(jpegs.length, 45);
    for (const jpeg of jpegs) {
      assert.deepEqual(jpegSize(jpeg), { width: 320, height: 240 });
    }
    // ffmpeg decodes every one of them.
    const probe = await new Deno.Command("ffprobe", {
      args: [
        ..."-v error -count_frames -select_streams v:0".split(" "),
        ..."-show_entries stream=nb_read_frames,width -of csv=p=0".split(" "),
        `${dir}/f.mjpeg`,
      ],
    }).output();
    assert.equal(new TextDecoder().decode(probe.stderr), "");
    assert.equal(new TextDecoder().decode(probe.stdout).trim(), "320,45");
  } finally {
    await stop(child);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("client --pickle refuses a pickle that would run code, says why, exits 1, and nothing runs", async () => {
  const dir = await Deno.makeTempDir({ prefix: "camwire-pickle-" });
  const marker = `${dir}/exploited`;
  const { child, port } = await pythonServer(HOSTILE_SERVER, [marker]);
  try {
    const out = await runScript("client.ts", [
      ..."--pickle --port".split(" "),
      `${port}`,
      "--output",
      `${dir}/f.mjpeg`,
    ]);
    assert.equal(out.code, 1, out.stderr);
    assert.equal(
      out.stderr,
      'camwire: Refused a pickled frame: it names the Python callable "posix.system"; ' +
        "only a numpy uint8 array is accepted (unpickling anything else can run code)\n",
    );
    await assert.rejects(Deno.stat(marker), Deno.errors.NotFound);
    assert.equal((await Deno.readFile(`${dir}/f.mjpeg`)).length, 0);
  } finally {
    await stop(child);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("encoderArgs() asks ffmpeg for one JPEG per picture, in the picture's pixel format", () => {
  for (
    const [channels, format] of [[1, "gray"], [3, "bgr24"], [
      4,
      "bgra",
    ]] as const
  ) {
    const args = encoderArgs(640, 480, channels);
    assert.equal(args[args.indexOf("-pix_fmt") + 1], format);
    assert.equal(args[args.indexOf("-s") + 1], "640x480");
    assert.equal(args[args.indexOf("-fps_mode") + 1], "passthrough");
  }
});
