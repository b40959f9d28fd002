// Copyright 2026 the camwire authors. MIT license.
/**
 * The viewer page in a headless Chromium against the real server: the
 * picture's size and the numbers in view on a laptop window and a phone,
 * the offline overlay and reconnection across a server restart, the
 * snapshot button, an `<img>` on another origin with `--allow-origin`, and
 * the live picture's rate and numbers.
 *
 * Set `CAMWIRE_SHOTS=DIR` to keep the screenshots it takes in DIR.
 */
import assert from "node:assert/strict";
import { jpegSize } from "../../common/jpeg.ts";
import {
  type Chromium,
  launchChromium,
  type Page,
} from "../../testing/devtools.ts";
import {
  eventually,
  freePort,
  type ServerProcess,
  startServerProcess,
} from "../../testing/util.ts";
import { withHttpServer } from "../../testing/http_client.ts";

/** The page's picture, in page scripts. */
const LIVE = `document.getElementById("live")`;

/** Starts a test-pattern server on the given TCP and HTTP ports. */
async function startOn(
  tcp: number,
  http: number,
  args: string[] = [],
): Promise<ServerProcess> {
  const server = await startServerProcess([
    ..."--source test --port".split(" "),
    `${tcp}`,
    "--http-port",
    `${http}`,
    ...args,
  ]);
  await server.waitForLine(/web page on http:\/\/127\.0\.0\.1:\d+\/$/);
  return server;
}

/** Runs `fn` with a browser and a page, then closes the browser. */
async function withPage(
  fn: (page: Page, browser: Chromium) => Promise<void>,
): Promise<void> {
  const browser = await launchChromium();
  try {
    await fn(await browser.newPage(), browser);
  } finally {
    await browser.close();
  }
}

/** Waits until the page shows a frame of the stream, live. */
async function waitLive(page: Page, ms = 10_000): Promise<void> {
  await eventually(
    () =>
      page.evaluate<boolean>(
        `document.readyState === "complete" && document.getElementById("live").naturalWidth === 320 && document.getElementById("state").textContent === "live"`,
      ).catch(() => false), // e.g. while the navigation commits
    ms,
    "a live picture",
  );
}

/** A hash of the picture on screen: it changes when a new frame shows. */
const PICTURE_HASH = `(() => {
  const live = document.getElementById("live");
  if (!live.complete || live.naturalWidth === 0) return NaN;
  const canvas = document.createElement("canvas");
  canvas.width = live.naturalWidth;
  canvas.height = live.naturalHeight;
  const context = canvas.getContext("2d");
  context.drawImage(live, 0, 0);
  const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
  let hash = 0;
  for (let i = 0; i < data.length; i++) hash = (hash * 31 + data[i]) | 0;
  return hash;
})()`;

/** Where the picture, buttons and numbers are, and the window's size. */
const LAYOUT = `(() => {
  const box = (el) => { const r = el.getBoundingClientRect(); return { left: r.left, top: r.top, right: r.right, bottom: r.bottom, text: el.textContent }; };
  const live = document.getElementById("live");
  return {
    window: { width: innerWidth, height: innerHeight },
    scroll: { width: document.documentElement.scrollWidth },
    picture: box(live),
    items: [...document.querySelectorAll("#stats dd, #stats dt, #buttons button")].map(box),
  };
})()`;

interface Box {
  left: number;
  top: number;
  right: number;
  bottom: number;
  text: string;
}

Deno.test("page: the picture at native size or a whole 2×, and every number and button in view, at 1000×700 and 390×844; no console errors", async () => {
  const http = freePort();
  const server = await startOn(freePort(), http);
  try {
    await withPage(async (page) => {
      const shots = Deno.env.get("CAMWIRE_SHOTS");
      for (
        const [width, height, mobile, scale] of [[1000, 700, false, 2], [
          390,
          844,
          true,
          1,
        ]] as const
      ) {
        await page.setViewport(width, height, mobile);
        await page.navigate(`http://127.0.0.1:${http}/`);
        await waitLive(page);
        // The numbers have come (one refresh a second).
        await eventually(
          async () =>
            !(await page.evaluate<string[]>(
              `[...document.querySelectorAll("#stats dd")].map((dd) => dd.textContent)`,
            )).some((text) => text === "…"),
          5000,
          "the numbers",
        );
        const layout = await page.evaluate<{
          window: { width: number; height: number };
          scroll: { width: number };
          picture: Box;
          items: Box[];
        }>(LAYOUT);
        assert.deepEqual(layout.window, { width, height });
        const { picture } = layout;
        // Against the stream's own 320 px: the picture's naturalWidth
        // reads 0 while the page swaps one frame's image for the next.
        assert.equal(
          picture.right - picture.left,
          320 * scale,
          `at ${width}×${height} the picture is ${
            picture.right - picture.left
          } px wide`,
        );
        assert.equal(picture.bottom - picture.top, 240 * scale);
        assert.ok(picture.bottom <= height && picture.right <= width);
        for (const item of [...layout.items, picture]) {
          assert.ok(
            item.top >= 0 && item.bottom <= height && item.left >= 0 &&
              item.right <= width,
            `"${item.text}" is out of view at ${width}×${height}: ${
              JSON.stringify(item)
            }`,
          );
        }
        assert.ok(layout.scroll.width <= width, "the page scrolls sideways");
        if (shots) {
          await Deno.mkdir(shots, { recursive: true });
          await Deno.writeFile(
            `${shots}/page-${width}x${height}.png`,
            await page.screenshot(),
          );
        }
      }
      assert.deepEqual(page.errors(), []);
    });
  } finally {
    await server.stop();
  }
});

Deno.test("page: stopping the server shows the offline overlay within 3 s; a new server on the same ports is live again within 5 s, without a reload", async () => {
  const tcp = freePort();
  const http = freePort();
  let server = await startOn(tcp, http);
  try {
    await withPage(async (page) => {
      await page.navigate(`http://127.0.0.1:${http}/`);
      await waitLive(page);
      await page.evaluate(`window.notReloaded = true`);
      const overlayShown = `!document.getElementById("overlay").hidden`;
      assert.equal(await page.evaluate<boolean>(overlayShown), false);
      const before = await page.evaluate<number>(PICTURE_HASH);

      const stopped = performance.now();
      await server.stop();
      await eventually(
        () => page.evaluate<boolean>(overlayShown),
        3000,
        "the overlay",
      );
      const overlayMs = performance.now() - stopped;
      assert.match(
        await page.evaluate<string>(
          `document.getElementById("overlay").textContent`,
        ),
        /^offline — reconnecting/,
      );

      server = await startOn(tcp, http);
      const restarted = performance.now();
      await eventually(
        async () => {
          if (await page.evaluate<boolean>(overlayShown)) return false;
          const hash = await page.evaluate<number>(PICTURE_HASH);
          return Number.isFinite(hash) && hash !== before;
        },
        5000,
        "a new live frame",
      );
      const liveMs = performance.now() - restarted;
      // Still live a moment later: the painted frame keeps changing.
      const now = await page.evaluate<number>(PICTURE_HASH);
      await eventually(
        async () => (await page.evaluate<number>(PICTURE_HASH)) !== now,
        2000,
        "the next frame",
      );
      assert.equal(await page.evaluate<boolean>(`window.notReloaded`), true);
      assert.deepEqual(page.errors({ ignoreNetwork: true }), []);
      console.log(
        `overlay after ${overlayMs.toFixed(0)} ms, live again ${
          liveMs.toFixed(0)
        } ms after the restart`,
      );
    });
  } finally {
    await server.stop();
  }
});

Deno.test("page: the snapshot button downloads the picture as a decodable JPEG named with the time", async () => {
  const http = freePort();
  const server = await startOn(freePort(), http);
  const dir = await Deno.makeTempDir({ prefix: "camwire-download-" });
  try {
    await withPage(async (page, browser) => {
      await browser.allowDownloads(dir);
      await page.navigate(`http://127.0.0.1:${http}/`);
      await waitLive(page);
      await page.evaluate(`document.getElementById("snapshot").click()`);
      let name = "";
      await eventually(
        () => {
          name = [...Deno.readDirSync(dir)].map((e) =>
            e.name
          ).find((n) => n.endsWith(".jpg")) ?? "";
          return name !== "";
        },
        5000,
        "the download",
      );
      assert.match(name, /^camwire-\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d\.jpg$/);
      const jpeg = await Deno.readFile(`${dir}/${name}`);
      assert.deepEqual(jpegSize(jpeg), { width: 320, height: 240 });
      const decoded = await new Deno.Command("ffmpeg", {
        args: ["-v", "error", "-i", `${dir}/${name}`, "-f", "null", "-"],
      }).output();
      assert.ok(decoded.success);
      assert.equal(new TextDecoder().decode(decoded.stderr), "");
      assert.deepEqual(page.errors(), []);
    });
  } finally {
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("page: with --allow-origin, a page on another origin shows the stream in an <img> it may read, and fetches /stats", async () => {
  const http = freePort();
  const server = await startOn(freePort(), http, ["--allow-origin", "*"]);
  const camera = `http://127.0.0.1:${http}`;
  // The other site: one page on another port, which is another origin.
  const site = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () =>
      new Response(
        `<!doctype html><title>dashboard</title><img id="cam" crossorigin="anonymous" src="${camera}/stream">`,
        { headers: { "content-type": "text/html" } },
      ),
  );
  try {
    await withPage(async (page) => {
      await page.navigate(`http://127.0.0.1:${site.addr.port}/`);
      await eventually(
        () =>
          page.evaluate<boolean>(
            `document.getElementById("cam").naturalWidth === 320`,
          ).catch(() => false),
        10_000,
        "the embedded picture",
      );
      // Reading its pixels would throw on a canvas tainted by a CORS failure.
      const variance = await page.evaluate<number>(`(() => {
        const img = document.getElementById("cam");
        const canvas = document.createElement("canvas");
        canvas.width = 320; canvas.height = 240;
        const context = canvas.getContext("2d");
        context.drawImage(img, 0, 0);
        const data = context.getImageData(0, 0, 320, 240).data;
        let sum = 0, squares = 0;
        for (let i = 0; i < data.length; i += 4) { sum += data[i]; squares += data[i] * data[i]; }
        const n = data.length / 4;
        return squares / n - (sum / n) ** 2;
      })()`);
      assert.ok(variance > 100, `a blank picture: ${variance}`);
      const source = await page.evaluate<string>(
        `fetch("${camera}/stats").then((r) => r.json()).then((s) => s.source)`,
      );
      assert.equal(source, "test pattern (testsrc2)");
      assert.deepEqual(page.errors(), []);
    });
  } finally {
    await site.shutdown();
    await server.stop();
  }
});

/**
 * Counts the picture changes of the page's <img id="live">, drawn to a
 * canvas at every animation frame (60 a second) for 3 s.
 */
const COUNT_FRAMES_JS = `new Promise((resolve) => {
  const live = ${LIVE};
  const canvas = document.createElement("canvas");
  canvas.width = 160;
  canvas.height = 120;
  const context = canvas.getContext("2d", { willReadFrequently: true });
  let last, frames = 0;
  const start = performance.now();
  function sample() {
    context.drawImage(live, 0, 0, 160, 120);
    const data = context.getImageData(0, 0, 160, 120).data;
    let hash = 0;
    for (let i = 0; i < data.length; i++) hash = (hash * 31 + data[i]) | 0;
    if (last !== undefined && hash !== last) frames++; // a new picture
    last = hash;
    const ms = performance.now() - start;
    if (ms < 3000) requestAnimationFrame(sample);
    else resolve({ frames, ms });
  }
  requestAnimationFrame(sample);
})`;

/**
 * The <img id="live">'s width and the variance of its pixels' brightness,
 * read once it holds a decoded picture (its width reads 0 for a moment
 * while the page swaps one frame's image for the next; 2 s at most).
 */
const PIXELS_JS = `new Promise((resolve) => {
  const live = ${LIVE};
  const start = performance.now();
  const ready = () => live.complete && live.naturalWidth > 0;
  const wait = () => ready() || performance.now() - start > 2000
    ? resolve(measure())
    : requestAnimationFrame(wait);
  wait();
  function measure() {
  const canvas = document.createElement("canvas");
  canvas.width = live.naturalWidth;
  canvas.height = live.naturalHeight;
  const context = canvas.getContext("2d");
  context.drawImage(live, 0, 0);
  const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
  let sum = 0, squares = 0;
  for (let i = 0; i < data.length; i += 4) {
    const y = (data[i] + data[i + 1] + data[i + 2]) / 3;
    sum += y;
    squares += y * y;
  }
  const n = data.length / 4;
  return { width: canvas.width, variance: squares / n - (sum / n) ** 2 };
  }
})`;

Deno.test("http: headless Chromium shows the page: a live picture at ≥ 20 fps, numbers that update, no console errors", async () => {
  await withHttpServer([], async ({ base }) => {
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      await page.navigate(`${base}/`);
      assert.ok(
        await eventually(
          () =>
            page.evaluate<boolean>(
              `document.readyState === "complete" && ${LIVE}.complete && ${LIVE}.naturalWidth === 320`,
            ).catch(() => false), // e.g. while the navigation commits
          10_000,
        ),
        "the picture did not load",
      );
      const readNumbers = () =>
        page.evaluate<Record<string, string>>(
          `Object.fromEntries([...document.querySelectorAll("#stats dd")].map((dd) => [dd.id, dd.textContent]))`,
        );
      assert.ok(
        await eventually(
          async () => !Object.values(await readNumbers()).includes("…"),
          5000,
        ),
        `the numbers stay at …: ${JSON.stringify(await readNumbers())}`,
      );
      const before = await readNumbers();
      assert.equal(before.source, "test pattern (testsrc2) (live)");
      assert.equal(before.viewers, "0 tcp, 1 http");
      assert.match(before.fps!, /^\d+\.\d captured$/);
      assert.match(before.kbps!, /^\d+ kbit\/s, \d+ frames \(\d+ skipped/);
      assert.match(before.latency!, /^\d+ ms from capture to this page/);
      assert.match(before.uptime!, /^\d+ s$/);

      const shown = await page.evaluate<{ frames: number; ms: number }>(
        COUNT_FRAMES_JS,
        15_000,
      );
      const fps = shown.frames / (shown.ms / 1000);
      assert.ok(fps >= 20, `the page showed ${fps.toFixed(1)} fps`);
      const picture = await page.evaluate<{ width: number; variance: number }>(
        PIXELS_JS,
      );
      assert.equal(picture.width, 320);
      assert.ok(picture.variance > 100, `blank picture: ${picture.variance}`);

      const after = await readNumbers();
      assert.ok(
        parseInt(after.uptime!) > parseInt(before.uptime!),
        `uptime ${before.uptime} → ${after.uptime} over 3 s`,
      );
      assert.ok(
        Number(after.fps!.split(" ")[0]) >= 20,
        `fps shown: ${after.fps}`,
      );
      assert.deepEqual(page.errors(), []);
    } finally {
      await browser.close();
    }
  });
});
