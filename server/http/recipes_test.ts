// Copyright 2026 the camwire authors. MIT license.
/**
 * The "Use it with…" recipes of docs/browser.md, each run as written there
 * against the real server: ffmpeg recording, ffplay, OpenCV, and the URLs
 * Home Assistant, OctoPrint and VLC are given.
 *
 * @module
 */
import assert from "node:assert/strict";
import { jpegSize } from "../../common/jpeg.ts";
import {
  fetchAll,
  ffprobe,
  run,
  stats,
  withHttpServer,
} from "../../testing/http_client.ts";
import { eventually, sleep } from "../../testing/util.ts";

Deno.test("recipe: ffmpeg records 5 s with true timing (-use_wallclock_as_timestamps 1 … -c copy): 5 s ± 0.2 s and 150 ± 6 frames", async () => {
  await withHttpServer([], async ({ base }) => {
    const dir = await Deno.makeTempDir({ prefix: "camwire-record-" });
    try {
      const started = performance.now();
      await run("ffmpeg", [
        ..."-v error -y".split(" "),
        // docs/browser.md's recipe:
        ..."-use_wallclock_as_timestamps 1 -i".split(" "),
        `${base}/stream.mjpg`,
        ..."-t 5 -c copy".split(" "),
        `${dir}/cam.mkv`,
      ]);
      const seconds = (performance.now() - started) / 1000;
      const [frames, duration] = (await ffprobe([
        ..."-count_frames -select_streams v:0".split(" "),
        ..."-show_entries stream=nb_read_frames:format=duration".split(" "),
        `${dir}/cam.mkv`,
      ])).split("\n").map(Number) as [number, number];
      assert.ok(Math.abs(duration - 5) <= 0.2, `duration ${duration} s`);
      assert.ok(Math.abs(frames - 150) <= 6, `${frames} frames`);
      // It took 5 s of real time to record: 5 s of real time in the file.
      assert.ok(seconds >= 4.8 && seconds < 8, `recording took ${seconds} s`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
});

Deno.test("recipe: ffplay with the flags that keep it live plays the stream (a dummy SDL display)", async () => {
  await withHttpServer([], async ({ base, server }) => {
    const child = new Deno.Command("ffplay", {
      args: [
        ..."-fflags nobuffer -flags low_delay -framedrop".split(" "),
        ..."-use_wallclock_as_timestamps 1 -loglevel error".split(" "),
        `${base}/stream.mjpg`,
      ],
      env: { SDL_VIDEODRIVER: "dummy", SDL_AUDIODRIVER: "dummy" },
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const errors = new Response(child.stderr).text();
    try {
      await server.waitForLine(/http viewer 127\.0\.0\.1:\d+ connected/);
      await sleep(2000);
      const shown = await stats(base);
      assert.equal(shown.viewers.http, 1, "ffplay stopped watching");
      assert.ok(shown.framesSent >= 45, `${shown.framesSent} frames sent`);
    } finally {
      child.kill();
      await child.status;
    }
    assert.equal(await errors, "");
  });
});

Deno.test("recipe: OpenCV's VideoCapture reads 320-px frames from the stream, with the token as a Basic password in the URL", async () => {
  await withHttpServer(["--token", "s3cret"], async ({ base }) => {
    const url = base.replace("http://", "http://camwire:s3cret@");
    const out = await run("/usr/bin/python3", [
      "-c",
      `import sys, cv2
cap = cv2.VideoCapture(sys.argv[1])
shapes = [cap.read()[1].shape for _ in range(30)]
print(len(shapes), set(shapes))`,
      `${url}/stream.mjpg`,
    ]);
    assert.equal(out, "30 {(240, 320, 3)}");
  });
});

Deno.test("recipe: Home Assistant, OctoPrint and VLC: the stream and snapshot URLs with a user and password, and /?action=stream", async () => {
  await withHttpServer(
    ["--token", "s3cret", "--user", "cam"],
    async ({ base }) => {
      const withUser = base.replace("http://", "http://cam:s3cret@");
      // Home Assistant's MJPEG IP Camera: both URLs, Basic auth.
      const authorization = `Basic ${btoa("cam:s3cret")}`;
      await eventually(async () =>
        (await fetchAll(`${base}/snapshot`, { headers: { authorization } }))
          .status === 200
      );
      const still = await fetchAll(`${base}/snapshot`, {
        headers: { authorization },
      });
      assert.deepEqual(jpegSize(still.body), { width: 320, height: 240 });
      // OctoPrint and Mainsail's mjpg-streamer URL; VLC's user:password@ URL
      // (read here by ffprobe, which sends Basic auth as VLC does).
      for (
        const url of [`${withUser}/?action=stream`, `${withUser}/stream.mjpg`]
      ) {
        const decoded = await ffprobe([
          ..."-count_frames -read_intervals %+#10 -select_streams v:0".split(
            " ",
          ),
          ..."-show_entries stream=codec_name,width,nb_read_frames".split(" "),
          url,
        ]);
        assert.equal(decoded, "mjpeg,320,10", url);
      }
      const refused = await fetchAll(`${base}/?action=stream`, {
        headers: { authorization: `Basic ${btoa("cam:wrong")}` },
      });
      assert.equal(refused.status, 401);
    },
  );
});
