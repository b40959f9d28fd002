// Copyright 2026 the camwire authors. MIT license.
/**
 * End-to-end tests of `--pickle-port` against the real server process: the
 * Python tutorial's own client loop (run by `/usr/bin/python3` with numpy
 * and OpenCV), the decoder's ffmpeg that runs only while such viewers
 * watch, the token, and the stalled-viewer rule.
 */
import assert from "node:assert/strict";
import { unpickleArray } from "../../common/pickle.ts";
import { PickleReader } from "../../testing/pickle_reader.ts";
import {
  childPids,
  eventually,
  freePort,
  type ServerProcess,
  startServerProcess,
} from "../../testing/util.ts";
import { webBase } from "../../testing/http_client.ts";

const PYTHON = "/usr/bin/python3";

/**
 * Runs `fn` with a `--source test` server whose pickle port is `pickle`.
 *
 * @param args More server flags.
 * @param fn The test body.
 */
async function withPickleServer(
  args: string[],
  fn: (server: ServerProcess, pickle: number) => Promise<void>,
): Promise<void> {
  const pickle = freePort();
  const server = await startServerProcess([
    ..."--source test --pickle-port".split(" "),
    `${pickle}`,
    ...args,
  ]);
  try {
    await fn(server, pickle);
  } finally {
    await server.stop();
  }
}

/**
 * The tutorial's client loop as published, with two changes only: it
 * connects to the port it is given, and it checks each frame's shape
 * instead of showing it (no window here). For 3 s; then it compares the
 * last frame with the JPEG stream's newest frame.
 */
const TUTORIAL_CLIENT = `
import socket, struct, pickle, sys, time, urllib.request
import cv2, numpy as np

client_socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
client_socket.connect(("127.0.0.1", int(sys.argv[1])))
data = b""
payload_size = struct.calcsize("Q")
frames = 0
start = time.time()
while time.time() - start < 3:
    while len(data) < payload_size:
        packet = client_socket.recv(4 * 1024)
        if not packet:
            break
        data += packet
    packed_msg_size = data[:payload_size]
    data = data[payload_size:]
    msg_size = struct.unpack("Q", packed_msg_size)[0]
    while len(data) < msg_size:
        data += client_socket.recv(4 * 1024)
    frame_data = data[:msg_size]
    data = data[msg_size:]
    frame = pickle.loads(frame_data)
    # The tutorial shows it: cv2.imshow("RECEIVING VIDEO", frame)
    assert type(frame) is np.ndarray and frame.shape == (240, 320, 3) and frame.dtype == np.uint8, (type(frame), frame.shape)
    frames += 1

jpeg = urllib.request.urlopen(sys.argv[2]).read()
snapshot = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
diff = np.abs(frame.astype(int) - snapshot.astype(int)).mean()
swapped = np.abs(frame[:, :, ::-1].astype(int) - snapshot.astype(int)).mean()
print(frames, round(diff, 2), round(swapped, 2), round(float(frame.std()), 1))
`;

Deno.test("pickle: the Python tutorial's client loop, unmodified, gets ≥ 60 (240, 320, 3) uint8 frames in 3 s, the picture of the JPEG stream", async () => {
  await withPickleServer(["--http-port", "0"], async (server, pickle) => {
    const snapshot = `${await webBase(server)}/snapshot.jpg`;
    const timer = new AbortController();
    const kill = setTimeout(() => timer.abort(), 20_000);
    try {
      const { success, stdout, stderr } = await new Deno.Command(PYTHON, {
        args: ["-c", TUTORIAL_CLIENT, `${pickle}`, snapshot],
        signal: timer.signal,
      }).output();
      assert.ok(success, new TextDecoder().decode(stderr));
      const [frames, diff, swapped, spread] = new TextDecoder().decode(stdout)
        .trim().split(" ").map(Number) as [number, number, number, number];
      assert.ok(frames >= 60, `${frames} frames in 3 s`);
      assert.ok(spread > 20, `a blank picture (std ${spread})`);
      // The same picture as the JPEG stream, give or take the moving parts
      // of the test pattern between the two; in BGR, not RGB, order.
      assert.ok(diff < 12, `mean difference ${diff} from the snapshot`);
      assert.ok(swapped > diff * 2, `BGR ${diff}, RGB ${swapped}`);
    } finally {
      clearTimeout(kill);
    }
  });
});

Deno.test("pickle: one decoder ffmpeg runs while pickle viewers are connected, for all of them, and none when they have left", async () => {
  await withPickleServer([], async (server, pickle) => {
    const ffmpegs = () => childPids(server.child.pid, "ffmpeg").length;
    assert.equal(ffmpegs(), 1, "the capture alone");
    const viewers = await Promise.all(
      [1, 2, 3].map(() => PickleReader.connect(pickle)),
    );
    try {
      assert.ok(
        await eventually(
          () => viewers.every((v) => v.frames.length >= 10),
          10_000,
        ),
        `frames: ${viewers.map((v) => v.frames.length)}`,
      );
      assert.equal(ffmpegs(), 2, "the capture and one decoder");
      for (const viewer of viewers) {
        const picture = unpickleArray(viewer.frames.at(-1)!);
        assert.deepEqual(
          [picture.height, picture.width, picture.channels],
          [240, 320, 3],
        );
      }
    } finally {
      await Promise.all(viewers.map((v) => v.close()));
    }
    assert.ok(
      await eventually(() => ffmpegs() === 1, 5000),
      `${ffmpegs()} ffmpegs after the viewers left`,
    );
    await server.waitForLine(
      /viewer pickle 127\.0\.0\.1:\d+ left: disconnected \(0 watching\)/,
    );
  });
});

Deno.test("pickle: with --token a viewer sends the token line first; a wrong or missing one gets no byte", async () => {
  await withPickleServer(["--token", "s3cret"], async (server, pickle) => {
    const wrong = await PickleReader.connect(pickle, "camwire s3cre7\n");
    const none = await PickleReader.connect(pickle);
    const right = await PickleReader.connect(pickle, "camwire s3cret\n");
    try {
      assert.ok(await eventually(() => right.frames.length >= 5, 10_000));
      await wrong.ended;
      assert.equal(wrong.bytes, 0);
      await server.waitForLine(
        /viewer pickle 127\.0\.0\.1:\d+ refused: wrong token/,
      );
      await server.waitForLine(/refused: no token within 5 s/, 10_000);
      await none.ended;
      assert.equal(none.bytes, 0);
    } finally {
      await Promise.all([wrong, none, right].map((v) => v.close()));
    }
  });
});

Deno.test("pickle: a viewer that stops reading is dropped after --client-timeout, while another keeps getting frames", async () => {
  await withPickleServer(["--client-timeout", "1"], async (server, pickle) => {
    const stalled = await Deno.connect({ hostname: "127.0.0.1", port: pickle });
    const reader = await PickleReader.connect(pickle);
    try {
      await server.waitForLine(
        /viewer pickle 127\.0\.0\.1:\d+ left: dropped: a frame took over 1\.0 s to send/,
        10_000,
      );
      const before = reader.count;
      assert.ok(
        await eventually(() => reader.count >= before + 20, 5000),
        "the reading viewer stopped getting frames",
      );
    } finally {
      stalled.close();
      await reader.close();
    }
  });
});
