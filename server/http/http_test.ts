// Copyright 2026 the camwire authors. MIT license.
/**
 * End-to-end tests of camwire's HTTP side (`server.ts --http-port`) against
 * the real server process: fetch with a multipart parser of our own, a
 * token, TLS, `--max-clients`, `--on-demand`, ffprobe, and a headless
 * Chromium driven over the Chrome DevTools Protocol (testing/devtools.ts);
 * and in-process tests of the router, {@linkcode HttpSide}, with a fake
 * {@linkcode FrameHub}: no process (one of {@linkcode serveHttp} on
 * loopback).
 */
import assert from "node:assert/strict";
import { jpegSize, JpegSplitter, readStamp } from "../../framing.ts";
import type { ServerStats } from "../server.ts";
import {
  BOUNDARY,
  type FrameHub,
  type HttpOptions,
  HttpSide,
  type RequestInfo,
} from "./http.ts";
import type { HubFrame, JpegSink } from "../viewers/viewers.ts";
import { serveHttp } from "./serve.ts";
import { Admission } from "../net/admission.ts";
import { LogTally } from "../net/tally.ts";
import type { Metrics } from "./metrics.ts";
import { launchChromium } from "../../testing/devtools.ts";
import {
  eventually,
  makeCertificate,
  RawViewer,
  type ServerProcess,
  startServerProcess,
} from "../../testing/util.ts";

const NO_CACHE = "no-store, no-cache, must-revalidate";
const ROUTES = ["/", "/stream.mjpg", "/snapshot.jpg", "/stats"];
/** The page's picture, in page scripts. */
const LIVE = `document.getElementById("live")`;

// ---------------------------------------------------------------------------
// In-process: HttpSide.handle(new Request(...)) with a fake hub.

Deno.test("HttpSide.handle() answers an unknown path with 404 text", async () => {
  const { side, hub } = fakeSide();
  for (const path of ["/nope", "/stream.mjpeg", "/stats/", "/index.html"]) {
    const res = await request(side, path);
    assert.equal(res.status, 404, path);
    assert.equal(res.headers.get("content-type"), "text/plain; charset=utf-8");
    assert.equal(await res.text(), "Not found\n");
  }
  assert.deepEqual(hub.slotsTaken, []);
});

Deno.test("HttpSide.handle() answers a method other than GET or HEAD with 405 and Allow, before asking for the token", async () => {
  for (const token of [undefined, "s3cret"]) {
    const { side, hub } = fakeSide({ token });
    for (const method of ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"]) {
      for (const path of ROUTES) {
        const res = await request(side, path, { method });
        assert.equal(res.status, 405, `${method} ${path}`);
        assert.equal(res.headers.get("allow"), "GET, HEAD");
        assert.equal(await res.text(), "Method not allowed: use GET\n");
      }
    }
    assert.deepEqual(hub.slotsTaken, []);
  }
});

Deno.test("HttpSide.handle() answers HEAD with the headers of GET, and opens no stream for it", async () => {
  const { side, hub } = fakeSide();
  hub.publish(fakeJpeg(1));
  for (const path of ROUTES) {
    const get = await request(side, path);
    const head = await request(side, path, { method: "HEAD" });
    assert.equal(head.status, 200, path);
    for (const name of ["content-type", "cache-control", "pragma"]) {
      assert.equal(head.headers.get(name), get.headers.get(name), name);
    }
    assert.equal(head.headers.get("cache-control"), NO_CACHE, path);
    await get.body?.cancel();
    await head.body?.cancel();
  }
  const head = await request(side, "/stream.mjpg", { method: "HEAD" });
  assert.equal(head.body, null);
  // Only the GET of /stream.mjpg took a slot, and gave it back.
  assert.equal(hub.slotsTaken.length, 1);
  assert.equal(hub.released, 1);
  assert.equal(side.viewers, 0);
});

Deno.test("HttpSide.handle() with a token answers 401 with WWW-Authenticate without it or with a wrong one", async () => {
  const { side, hub } = fakeSide({ token: "s3cret" });
  hub.publish(fakeJpeg(1));
  const cases: [string, RequestInit, string][] = [
    ["no token", {}, ""],
    ["a wrong Bearer token", bearer("s3cre7"), ""],
    ["a wrong ?token=", {}, "?token=s3cre7"],
    ["a longer token", bearer("s3cretX"), ""],
    ["an empty ?token=", {}, "?token="],
    ["a wrong Basic password", basic("s3cre7"), ""],
  ];
  for (const path of ROUTES) {
    for (const [what, init, query] of cases) {
      const res = await request(side, `${path}${query}`, init);
      assert.equal(res.status, 401, `${path} with ${what}`);
      assert.equal(
        res.headers.get("www-authenticate"),
        'Basic realm="camwire"',
      );
      const body = await res.text();
      assert.match(body, /^Unauthorized: send the token as a Bearer token/);
      assert.doesNotMatch(body, /s3cret/);
    }
  }
  assert.deepEqual(hub.slotsTaken, []);
});

Deno.test("HttpSide.handle() with a token accepts it as a Bearer token or ?token=", async () => {
  const { side, hub } = fakeSide({ token: "s3cret" });
  hub.publish(fakeJpeg(1));
  const cases: [string, RequestInit, string][] = [
    ["the Bearer token", bearer("s3cret"), ""],
    ["a lower-case bearer", {
      headers: { authorization: "bearer s3cret" },
    }, ""],
    ["?token=", {}, "?token=s3cret"],
  ];
  for (const path of ROUTES) {
    for (const [what, init, query] of cases) {
      const res = await request(side, `${path}${query}`, init);
      assert.equal(res.status, 200, `${path} with ${what}`);
      await res.body?.cancel();
    }
  }
});

Deno.test("HttpSide.handle() serves /stats as uncached JSON from hub.stats()", async () => {
  const { side, hub } = fakeSide();
  hub.publish(fakeJpeg(1));
  hub.publish(fakeJpeg(2));
  const res = await request(side, "/stats");
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type")!, /^application\/json/i);
  assert.equal(res.headers.get("cache-control"), NO_CACHE);
  assert.equal(res.headers.get("pragma"), "no-cache");
  assert.deepEqual(await res.json(), { fake: true, framesIn: 2 });
});

Deno.test("HttpSide.handle() answers /snapshot.jpg with 503 and Retry-After before the first frame", async () => {
  const { side } = fakeSide();
  const res = await request(side, "/snapshot.jpg");
  assert.equal(res.status, 503);
  assert.equal(res.headers.get("retry-after"), "1");
  assert.equal(
    await res.text(),
    "No frame yet: the capture is starting\n",
  );
});

Deno.test("HttpSide.handle() serves /snapshot.jpg as the bytes of the newest frame, uncached", async () => {
  const { side, hub } = fakeSide();
  hub.publish(fakeJpeg(1));
  const newest = hub.publish(fakeJpeg(2));
  const res = await request(side, "/snapshot.jpg");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "image/jpeg");
  assert.equal(res.headers.get("cache-control"), NO_CACHE);
  assert.equal(res.headers.get("pragma"), "no-cache");
  assert.deepEqual(await res.bytes(), newest.jpeg);
  assert.deepEqual(hub.slotsTaken, []);
});

Deno.test("HttpSide.handle() serves / as the uncached page, passing ?token= on", async () => {
  const { side } = fakeSide({ token: "s3cret", tcpPort: 5123 });
  const res = await request(side, "/?token=s3cret");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "text/html; charset=utf-8");
  assert.equal(res.headers.get("cache-control"), NO_CACHE);
  const html = await res.text();
  assert.match(html, /^<!doctype html>/);
  assert.match(html, /<img id="live"/);
  assert.match(html, /const query = "\?token=s3cret";/);
  assert.match(html, /fetch\("\/stream\.mjpg" \+ query/);
  assert.match(html, /--port 5123 --token …/);
});

Deno.test("HttpSide.handle() streams /stream.mjpg as multipart parts of the hub's frames: newest first, then the newest at each pull", async () => {
  const { side, hub } = fakeSide();
  hub.publish(fakeJpeg(1));
  const second = hub.publish(fakeJpeg(2));
  const res = await request(side, "/stream.mjpg");
  assert.equal(res.status, 200);
  assert.equal(
    res.headers.get("content-type"),
    `multipart/x-mixed-replace; boundary=${BOUNDARY}`,
  );
  assert.equal(res.headers.get("cache-control"), NO_CACHE);
  assert.equal(res.headers.get("pragma"), "no-cache");
  const reader = res.body!.getReader();
  const size = partBytes(second).length; // every fake JPEG is as long
  try {
    // Boundary, headers, blank line, the JPEG and a CRLF, byte for byte.
    assert.deepEqual(await readBytes(reader, size), partBytes(second));
    // The reader is slow: of three frames meanwhile, it gets the one in
    // flight when it stopped, then the newest (as a TCP viewer does).
    const third = hub.publish(fakeJpeg(3));
    hub.publish(fakeJpeg(4));
    const fifth = hub.publish(fakeJpeg(5));
    assert.deepEqual(await readBytes(reader, size), partBytes(third));
    assert.deepEqual(await readBytes(reader, size), partBytes(fifth));
    // A reader that waits gets the next frame as soon as it is published.
    const reading = readBytes(reader, size);
    await tick();
    const sixth = hub.publish(fakeJpeg(6));
    assert.deepEqual(await reading, partBytes(sixth));
    // Four parts sent, one frame skipped; bytes are the parts'.
    assert.deepEqual(hub.totals, { sent: 4, skipped: 1, bytes: 4 * size });
  } finally {
    await reader.cancel();
  }
});

Deno.test("HttpSide.handle() parses the parts of /stream.mjpg like a client: one JPEG each, Content-Length long", async () => {
  const { side, hub } = fakeSide();
  const res = await request(side, "/stream.mjpg");
  const stream = partsOf(res);
  try {
    for (let seq = 1; seq <= 3; seq++) {
      const reading = stream.next();
      await tick();
      const frame = hub.publish(fakeJpeg(seq));
      const part = await reading;
      assert.equal(part.headers.get("content-type"), "image/jpeg");
      assert.equal(
        part.headers.get("content-length"),
        String(frame.jpeg.length),
      );
      assert.deepEqual(part.body, frame.jpeg);
    }
  } finally {
    await stream.cancel();
  }
});

Deno.test("HttpSide.handle() names a stream viewer by its address (IPv6 in brackets) and gives its slot back once when it leaves", async () => {
  // The peer stops reading and closes, closes while idle, or closes with
  // a write in flight: each time the next send fails, and it has left.
  for (const end of ["cancel", "close idle", "close mid-write"] as const) {
    const { side, hub, lines } = fakeSide();
    hub.publish(fakeJpeg(1));
    const { info } = infoFor("::1", 40000);
    const res = await request(side, "/stream.mjpg", {}, info);
    assert.deepEqual(hub.slotsTaken, ["http [::1]:40000"]);
    assert.deepEqual(hub.addresses, ["::1"]);
    assert.equal(side.viewers, 1);
    assert.equal(hub.changes, 1);
    assert.deepEqual(lines, [
      "camwire: http viewer [::1]:40000 connected (1 watching)",
    ]);
    const reader = res.body!.getReader();
    const conn = fakeConns.get(res)!;
    if (end === "cancel") await reader.cancel();
    else {
      if (end === "close idle") {
        await readBytes(reader, partBytes(hub.current!).length);
        await tick();
      }
      conn.peerCloses();
      await tick(); // its FIN is read before the next frame comes
      hub.publish(fakeJpeg(2));
    }
    await tick();
    assert.equal(hub.released, 1, end);
    assert.equal(side.viewers, 0);
    assert.equal(hub.changes, 2);
    assert.deepEqual(lines.slice(1), [
      "camwire: http viewer [::1]:40000 left: disconnected (0 watching)",
    ]);
  }
});

Deno.test("HttpSide.handle() answers /stream.mjpg with 503 when the hub has no slot left", async () => {
  const { side, hub, lines } = fakeSide();
  hub.slotsLeft = 0;
  const res = await request(side, "/stream.mjpg");
  assert.equal(res.status, 503);
  assert.equal(await res.text(), "Too many viewers (--max-clients)\n");
  assert.equal(side.viewers, 0);
  assert.equal(hub.changes, 0);
  assert.deepEqual(lines, []);
});

Deno.test("HttpSide.dropStalled() drops a stream viewer that has held a frame over clientTimeoutMs, not one waiting for a frame", async () => {
  const { side, hub, lines } = fakeSide({ clientTimeoutMs: 10_000 });
  hub.publish(fakeJpeg(1));
  const stalledRes = await request(side, "/stream.mjpg");
  const stalled = stalledRes.body!.getReader();
  const waiting =
    (await request(side, "/stream.mjpg", {}, infoFor("10.0.0.2", 5).info)).body!
      .getReader();
  try {
    const size = partBytes(hub.current!).length;
    await readBytes(stalled, size);
    await readBytes(waiting, size);
    const reading = waiting.read(); // asks for the next frame: not stalled
    await tick();
    // A frame for both: the waiting reader takes it, the stalled one not.
    const handedOver = performance.now();
    hub.publish(fakeJpeg(2));
    await tick();
    assert.equal((await reading).done, false);
    side.dropStalled(handedOver + 9_000);
    assert.equal(side.viewers, 2);
    side.dropStalled(handedOver + 10_100);
    assert.equal(side.viewers, 1);
    assert.equal(
      lines.at(-1),
      "camwire: http viewer 127.0.0.1:40000 left: dropped: a frame took over 10.0 s to send (1 watching)",
    );
    // Its connection is closed: the stalled reader's stream ends.
    assert.equal((await stalled.read()).done, true);
    side.dropStalled(handedOver + 1e9);
    assert.equal(side.viewers, 1);
  } finally {
    await stalled.cancel();
    await waiting.cancel();
  }
});

Deno.test("HttpSide.handle() serves /stream and /?action=stream as /stream.mjpg, /snapshot and /?action=snapshot as /snapshot.jpg, other parameters ignored", async () => {
  const { side, hub } = fakeSide();
  const newest = hub.publish(fakeJpeg(1));
  for (const path of ["/stream", "/?action=stream", "/?action=stream&n=3"]) {
    const res = await request(side, path);
    assert.equal(res.status, 200, path);
    assert.equal(
      res.headers.get("content-type"),
      `multipart/x-mixed-replace; boundary=${BOUNDARY}`,
    );
    assert.equal(res.headers.get("cache-control"), NO_CACHE);
    const reader = res.body!.getReader();
    try {
      const size = partBytes(newest).length;
      assert.deepEqual(await readBytes(reader, size), partBytes(newest), path);
    } finally {
      await reader.cancel();
    }
  }
  for (
    const path of ["/snapshot", "/?action=snapshot", "/?foo=1&action=snapshot"]
  ) {
    const res = await request(side, path);
    assert.equal(res.status, 200, path);
    assert.equal(res.headers.get("content-type"), "image/jpeg");
    assert.equal(res.headers.get("cache-control"), NO_CACHE);
    assert.deepEqual(await res.bytes(), newest.jpeg, path);
  }
  // Each stream's reader went: the next frame's send fails.
  hub.publish(fakeJpeg(2));
  await tick();
  // Each stream took a slot and gave it back; no snapshot took one.
  assert.equal(hub.slotsTaken.length, 3);
  assert.equal(hub.released, 3);
});

Deno.test("HttpSide.handle() answers an unknown ?action= with 404, and other paths' queries as before", async () => {
  const { side, hub } = fakeSide();
  hub.publish(fakeJpeg(1));
  for (const action of ["nope", "", "STREAM", "stream_0", "snapshot.jpg"]) {
    const res = await request(side, `/?action=${action}`);
    assert.equal(res.status, 404, action);
    assert.match(await res.text(), /^Not found/);
  }
  for (const path of ["/stream/", "/snapshots", "/?action=stream/x"]) {
    const res = await request(side, path);
    assert.equal(res.status, 404, path);
    await res.body?.cancel();
  }
  const page = await request(side, "/?token=x&other=1");
  assert.equal(page.status, 200);
  assert.match(await page.text(), /^<!doctype html>/);
  assert.deepEqual(hub.slotsTaken, []);
});

Deno.test("HttpSide.handle() with a token accepts HTTP Basic auth whose password is the token: any user name, or --user's", async () => {
  for (const user of [undefined, "cam"]) {
    const { side, hub } = fakeSide({ token: "s3cret", user });
    hub.publish(fakeJpeg(1));
    const names = user === undefined ? ["camwire", "", "anyone", "é"] : ["cam"];
    for (const name of names) {
      for (
        const path of [
          ...ROUTES,
          "/stream",
          "/snapshot",
          "/?action=snapshot",
          "/metrics",
        ]
      ) {
        const res = await request(side, path, basicAs(name, "s3cret"));
        assert.equal(res.status, 200, `${path} as ${name}`);
        await res.body?.cancel();
      }
    }
    // The scheme's case does not matter (RFC 7617).
    const res = await request(side, "/stats", {
      headers: { authorization: `basic ${btoa(`${user ?? "x"}:s3cret`)}` },
    });
    assert.equal(res.status, 200);
    await res.body?.cancel();
  }
});

Deno.test("HttpSide.handle() with a token answers Basic auth with a wrong password or user, or a malformed header, with 401 and WWW-Authenticate: Basic, and no video byte", async () => {
  const { side, hub } = fakeSide({ token: "s3cret", user: "cam" });
  hub.publish(fakeJpeg(1));
  const cases: [string, Record<string, string>][] = [
    ["no header", {}],
    [
      "a wrong password",
      basicAs("cam", "s3cre7").headers as Record<string, string>,
    ],
    [
      "the password of another user",
      basicAs("eve", "s3cret").headers as Record<string, string>,
    ],
    [
      "a longer password",
      basicAs("cam", "s3cretX").headers as Record<string, string>,
    ],
    ["no colon", { authorization: `Basic ${btoa("cams3cret")}` }],
    ["not base64", { authorization: "Basic %%%%" }],
    ["no credentials", { authorization: "Basic" }],
    ["an empty pair", { authorization: `Basic ${btoa(":")}` }],
    ["bad UTF-8", { authorization: `Basic ${btoa("cam:\xff\xfe")}` }],
    ["the token alone", { authorization: "s3cret" }],
    ["another scheme", { authorization: "Digest s3cret" }],
  ];
  for (const path of [...ROUTES, "/stream", "/?action=stream", "/metrics"]) {
    for (const [what, headers] of cases) {
      const res = await request(side, path, { headers });
      assert.equal(res.status, 401, `${path} with ${what}`);
      assert.equal(
        res.headers.get("www-authenticate"),
        'Basic realm="camwire"',
      );
      assert.equal(
        res.headers.get("content-type"),
        "text/plain; charset=utf-8",
      );
      const body = await res.bytes();
      assert.equal(new Uint8Array(body).indexOf(0xff), -1, "a JPEG byte");
      assert.doesNotMatch(new TextDecoder().decode(body), /s3cret/);
    }
  }
  assert.deepEqual(hub.slotsTaken, []);
  assert.deepEqual(hub.totals, { sent: 0, skipped: 0, bytes: 0 });
});

Deno.test("HttpSide.handle() with allowOrigin sets Access-Control-Allow-Origin on the stream, snapshot and stats only, and answers their preflight", async () => {
  const { side, hub } = fakeSide({ allowOrigin: "https://dash.example" });
  hub.publish(fakeJpeg(1));
  const allowed = [
    "/stream.mjpg",
    "/stream",
    "/?action=stream",
    "/snapshot.jpg",
    "/snapshot",
    "/?action=snapshot",
    "/stats",
  ];
  for (const path of allowed) {
    const res = await request(side, path);
    assert.equal(
      res.headers.get("access-control-allow-origin"),
      "https://dash.example",
      path,
    );
    await res.body?.cancel();
    const preflight = await request(side, path, { method: "OPTIONS" });
    assert.equal(preflight.status, 204, path);
    assert.equal(
      preflight.headers.get("access-control-allow-origin"),
      "https://dash.example",
    );
    assert.equal(
      preflight.headers.get("access-control-allow-methods"),
      "GET, HEAD",
    );
    assert.equal(
      preflight.headers.get("access-control-allow-headers"),
      "authorization",
    );
  }
  for (const path of ["/", "/metrics"]) {
    const res = await request(side, path);
    assert.equal(res.headers.get("access-control-allow-origin"), null, path);
    await res.body?.cancel();
    assert.equal(
      (await request(side, path, { method: "OPTIONS" })).status,
      405,
    );
  }
  // With a token, a refusal carries it too, so that the page can tell why.
  const { side: locked } = fakeSide({ token: "s3cret", allowOrigin: "*" });
  const refused = await request(locked, "/stats");
  assert.equal(refused.status, 401);
  assert.equal(refused.headers.get("access-control-allow-origin"), "*");
  await refused.body?.cancel();
  // Without allowOrigin: no header.
  const { side: closed, hub: closedHub } = fakeSide();
  closedHub.publish(fakeJpeg(1));
  for (const path of allowed) {
    const res = await request(closed, path);
    assert.equal(res.headers.get("access-control-allow-origin"), null, path);
    await res.body?.cancel();
  }
});

Deno.test("HttpSide.handle() serves /metrics as uncached Prometheus text of hub.metrics(), with the token rules of /stats", async () => {
  const { side, hub } = fakeSide();
  hub.publish(fakeJpeg(1));
  const res = await request(side, "/metrics");
  assert.equal(res.status, 200);
  assert.equal(
    res.headers.get("content-type"),
    "text/plain; version=0.0.4; charset=utf-8",
  );
  assert.equal(res.headers.get("cache-control"), NO_CACHE);
  const samples = parsePrometheus(await res.text());
  assert.equal(samples.get("camwire_uptime_seconds"), 1.5);
  assert.equal(samples.get('camwire_capture_state{state="live"}'), 1);
  assert.equal(samples.get('camwire_capture_state{state="idle"}'), 0);
  assert.equal(samples.get("camwire_capture_restarts_total"), 2);
  assert.equal(samples.get("camwire_frames_captured_total"), 1);
  assert.equal(samples.get('camwire_viewers{kind="tcp"}'), 0);
  for (
    const name of [
      "camwire_frames_sent_total",
      "camwire_frames_skipped_total",
      "camwire_bytes_sent_total",
      "camwire_capture_frames_per_second",
    ]
  ) {
    assert.ok(samples.has(name), name);
  }
  const { side: locked } = fakeSide({ token: "s3cret" });
  assert.equal((await request(locked, "/metrics")).status, 401);
  const ok = await request(locked, "/metrics?token=s3cret");
  assert.equal(ok.status, 200);
  await ok.body?.cancel();
});

Deno.test("serveHttp: a connection whose answer throws (the router, here hub.stats()) is closed, not left open", async () => {
  const hub = new FakeHub();
  hub.stats = () => {
    throw new Error("stats broke");
  };
  const lines: string[] = [];
  const http = serveHttp(hub, {
    hostname: "127.0.0.1",
    port: 0,
    token: undefined,
    tls: undefined,
    clientTimeoutMs: 10_000,
    tcpPort: 5000,
    log: (line) => lines.push(line),
    tokenEquals: (a, b) => a === b,
    admission: new Admission({ maxPerAddress: 0 }),
    tally: new LogTally((line) => lines.push(line)),
  });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: http.port });
  try {
    await conn.write(
      new TextEncoder().encode("GET /stats HTTP/1.1\r\nHost: x\r\n\r\n"),
    );
    const timer = setTimeout(() => conn.close(), 2000);
    const end = await conn.read(new Uint8Array(64)).catch(() => "timed out");
    clearTimeout(timer);
    assert.equal(end, null, "the server closed it");
    assert.ok(lines.some((line) => line.includes("stats broke")), `${lines}`);
  } finally {
    try {
      conn.close();
    } catch {
      // Closed at the deadline.
    }
    await http.close();
  }
});

/**
 * Parses Prometheus text strictly: every line a `# HELP`/`# TYPE` comment
 * or `name{labels} value`, every sample's name declared by a `# TYPE`.
 *
 * @returns Each sample, keyed `name{labels}`.
 */
function parsePrometheus(text: string): Map<string, number> {
  assert.ok(text.endsWith("\n"), "no newline at the end");
  const samples = new Map<string, number>();
  const types = new Map<string, string>();
  for (const line of text.slice(0, -1).split("\n")) {
    const type = line.match(
      /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/,
    );
    if (type) {
      types.set(type[1]!, type[2]!);
      continue;
    }
    if (/^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* \S.*$/.test(line)) continue;
    const sample = line.match(
      /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*")*)?\})? (-?\d+(?:\.\d+)?(?:e[+-]?\d+)?|NaN|[+-]Inf)$/,
    );
    assert.ok(sample, `not Prometheus text: ${JSON.stringify(line)}`);
    assert.ok(types.has(sample[1]!), `${sample[1]} has no # TYPE`);
    if (types.get(sample[1]!) === "counter") {
      assert.match(sample[1]!, /_total$/, "a counter's name ends in _total");
    }
    const key = sample[1]! + (sample[2] ?? "");
    assert.ok(!samples.has(key), `${key} twice`);
    samples.set(key, Number(sample[3]));
  }
  return samples;
}

function basicAs(user: string, password: string): RequestInit {
  const bytes = new TextEncoder().encode(`${user}:${password}`);
  return {
    headers: {
      authorization: `Basic ${btoa(String.fromCharCode(...bytes))}`,
    },
  };
}

// ---------------------------------------------------------------------------
// End to end: the real server process.

Deno.test("http: GET / is the viewer page: the live <img> and placeholders for the numbers", async () => {
  await withHttpServer([], async ({ base }) => {
    const res = await fetchAll(`${base}/`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "text/html; charset=utf-8");
    assert.equal(res.headers.get("cache-control"), NO_CACHE);
    const html = new TextDecoder().decode(res.body);
    assert.match(html, /^<!doctype html>/);
    assert.match(html, /<img id="live"/);
    assert.match(html, /const query = "";/);
    assert.match(html, /fetch\("\/stream\.mjpg" \+ query/);
    for (const id of ["source", "viewers", "fps", "uptime"]) {
      assert.match(html, new RegExp(`<dd id="${id}">…</dd>`));
    }
  });
});

Deno.test("http: /stream.mjpg is uncached multipart/x-mixed-replace: ≥ 30 well-formed 320-px JPEG parts in 3 s, newest first", async () => {
  await withHttpServer([], async ({ base }) => {
    const stream = await openStream(`${base}/stream.mjpg`);
    try {
      assert.equal(stream.response.status, 200);
      const headers = stream.response.headers;
      assert.equal(
        headers.get("content-type"),
        `multipart/x-mixed-replace; boundary=${BOUNDARY}`,
      );
      assert.equal(headers.get("cache-control"), NO_CACHE);
      assert.equal(headers.get("pragma"), "no-cache");
      const start = performance.now();
      const parts: Part[] = [];
      while (performance.now() - start < 3000) parts.push(await stream.next());
      assert.ok(parts.length >= 30, `${parts.length} parts in 3 s`);
      const stamps = parts.map((part) => readStamp(part.body));
      // The first part is the newest frame, not one from long ago.
      const age = Date.now() - (performance.now() - start) - stamps[0]!;
      assert.ok(age < 1000, `the first part is ${age} ms old`);
      for (const [i, part] of parts.entries()) {
        assert.equal(part.headers.get("content-type"), "image/jpeg");
        const length = Number(part.headers.get("content-length"));
        assert.equal(length, part.body.length);
        assert.deepEqual([...part.body.subarray(0, 2)], [0xff, 0xd8]);
        assert.deepEqual([...part.body.subarray(-2)], [0xff, 0xd9]);
        // Cut independently of Content-Length: exactly one JPEG, as long.
        const jpegs = new JpegSplitter().push(part.body);
        assert.equal(jpegs.length, 1);
        assert.equal(jpegs[0]!.length, length);
        assert.equal(jpegSize(part.body)?.width, 320);
        if (i > 0) assert.ok(stamps[i]! > stamps[i - 1]!, "a frame repeated");
      }
    } finally {
      await stream.cancel();
    }
  });
});

Deno.test("http: /snapshot.jpg is the newest frame as a 320-px JPEG", async () => {
  await withHttpServer([], async ({ base }) => {
    const first = await fetchAll(`${base}/snapshot.jpg`);
    assert.equal(first.status, 200);
    assert.equal(first.headers.get("content-type"), "image/jpeg");
    assert.equal(first.headers.get("cache-control"), NO_CACHE);
    assert.equal(
      Number(first.headers.get("content-length")),
      first.body.length,
    );
    assert.deepEqual(jpegSize(first.body), { width: 320, height: 240 });
    assert.deepEqual([...first.body.subarray(-2)], [0xff, 0xd9]);
    const age = Date.now() - readStamp(first.body)!;
    assert.ok(age >= 0 && age < 1000, `the snapshot is ${age} ms old`);
    await sleep(200);
    const second = await fetchAll(`${base}/snapshot.jpg`);
    assert.ok(readStamp(second.body)! > readStamp(first.body)!);
  });
});

Deno.test("http: /stats is JSON with the server's numbers, and they move", async () => {
  await withHttpServer([], async ({ base }) => {
    const res = await fetchAll(`${base}/stats`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type")!, /^application\/json/i);
    assert.equal(res.headers.get("cache-control"), NO_CACHE);
    const first: ServerStats = JSON.parse(new TextDecoder().decode(res.body));
    assert.deepEqual(
      Object.keys(first).sort(),
      [
        "framesDropped",
        "framesIn",
        "framesSent",
        "framesSkipped",
        "fpsIn",
        "kbitPerSecondOut",
        "source",
        "state",
        "uptimeSeconds",
        "viewers",
      ].sort(),
    );
    assert.equal(first.source, "test pattern (testsrc2)");
    assert.equal(first.state, "live");
    assert.deepEqual(first.viewers, { tcp: 0, http: 0 });
    for (const key of ["uptimeSeconds", "fpsIn", "kbitPerSecondOut"] as const) {
      assert.equal(typeof first[key], "number", key);
    }
    for (
      const key of [
        "framesIn",
        "framesSent",
        "framesSkipped",
        "framesDropped",
      ] as const
    ) {
      assert.ok(Number.isInteger(first[key]), key);
    }
    await sleep(1100);
    const second = await stats(base);
    assert.ok(second.framesIn > first.framesIn, "framesIn did not grow");
    assert.ok(second.uptimeSeconds >= first.uptimeSeconds + 1);
    assert.ok(
      await eventually(async () => (await stats(base)).fpsIn >= 20),
      "fpsIn stays below 20 for a 30 fps source",
    );
  });
});

Deno.test("http: /stats counts an open stream as an http viewer, and framesSent grows while it is read", async () => {
  await withHttpServer([], async ({ base }) => {
    const stream = await openStream(`${base}/stream.mjpg`);
    try {
      await stream.next();
      assert.ok(
        await eventually(async () => (await stats(base)).viewers.http === 1),
      );
      const before = await stats(base);
      assert.equal(before.viewers.tcp, 0);
      for (let i = 0; i < 30; i++) await stream.next();
      const after = await stats(base);
      assert.ok(
        after.framesSent >= before.framesSent + 20,
        `framesSent ${before.framesSent} → ${after.framesSent} over 30 parts`,
      );
      // A per-second rate: it moves at the server's next tick.
      assert.ok(
        await eventually(async () => (await stats(base)).kbitPerSecondOut > 0),
      );
    } finally {
      await stream.cancel();
    }
    assert.ok(
      await eventually(async () => (await stats(base)).viewers.http === 0),
      "the viewer that left is still counted",
    );
  });
});

Deno.test("http: an unknown path is 404; a method other than GET or HEAD is 405 with Allow", async () => {
  await withHttpServer([], async ({ base }) => {
    for (const path of ["/nope", "/stream.mjpeg", "/stats/", "/index.html"]) {
      const res = await fetchAll(`${base}${path}`);
      assert.equal(res.status, 404, path);
      assert.equal(
        res.headers.get("content-type"),
        "text/plain; charset=utf-8",
      );
    }
    for (const method of ["POST", "PUT", "DELETE", "PATCH"]) {
      for (const path of ROUTES) {
        const res = await fetchAll(`${base}${path}`, { method });
        assert.equal(res.status, 405, `${method} ${path}`);
        assert.equal(res.headers.get("allow"), "GET, HEAD");
      }
    }
    // Refused requests opened no stream.
    assert.equal((await stats(base)).framesSent, 0);
  });
});

Deno.test("http: HEAD answers each route's headers with no body, and opens no stream", async () => {
  await withHttpServer([], async ({ base }) => {
    await fetchAll(`${base}/snapshot.jpg`); // wait for a first frame
    const types = [
      "text/html; charset=utf-8",
      `multipart/x-mixed-replace; boundary=${BOUNDARY}`,
      "image/jpeg",
      "application/json",
    ];
    for (const [i, path] of ROUTES.entries()) {
      const res = await fetchAll(`${base}${path}`, { method: "HEAD" });
      assert.equal(res.status, 200, path);
      assert.equal(res.headers.get("content-type")?.toLowerCase(), types[i]);
      assert.equal(res.headers.get("cache-control"), NO_CACHE, path);
      assert.equal(res.body.length, 0, path);
    }
    // HEAD tells the length GET would send (the page is fixed in size).
    const page = await fetchAll(`${base}/`);
    const head = await fetchAll(`${base}/`, { method: "HEAD" });
    assert.equal(head.headers.get("content-length"), String(page.body.length));
    const jpeg = await fetchAll(`${base}/snapshot.jpg`, { method: "HEAD" });
    assert.ok(Number(jpeg.headers.get("content-length")) > 1000);
    const after = await stats(base);
    assert.equal(after.viewers.http, 0);
    assert.equal(after.framesSent, 0);
  });
});

Deno.test("http: with --token each route is 401 without the token or with a wrong one, 200 with it as Bearer or ?token=", async () => {
  await withHttpServer(["--token", "s3cret"], async ({ base }) => {
    assert.ok(
      await eventually(async () =>
        (await fetchAll(`${base}/snapshot.jpg?token=s3cret`)).status === 200
      ),
    );
    const cases: [string, RequestInit, string, number][] = [
      ["no token", {}, "", 401],
      ["a wrong Bearer token", bearer("s3cre7"), "", 401],
      ["a wrong ?token=", {}, "?token=s3cre7", 401],
      ["a longer token", bearer("s3cretX"), "", 401],
      ["the Bearer token", bearer("s3cret"), "", 200],
      ["?token=", {}, "?token=s3cret", 200],
    ];
    for (const path of ROUTES) {
      for (const [what, init, query, status] of cases) {
        const res = await fetchAll(`${base}${path}${query}`, init);
        assert.equal(res.status, status, `${path} with ${what}`);
        if (status === 401) {
          assert.equal(
            res.headers.get("www-authenticate"),
            'Basic realm="camwire"',
          );
          assert.doesNotMatch(new TextDecoder().decode(res.body), /s3cret/);
        }
      }
    }
    // The page passes a ?token= on to its stream and its numbers.
    const page = await fetchAll(`${base}/?token=s3cret`);
    const html = new TextDecoder().decode(page.body);
    assert.match(html, /const query = "\?token=s3cret";/);
  });
});

Deno.test("http: with --cert/--key the HTTP side is https: /snapshot.jpg for a client that trusts the CA only", async () => {
  const dir = await Deno.makeTempDir({ prefix: "camwire-https-" });
  try {
    await makeCertificate(dir);
    const ca = await Deno.readTextFile(`${dir}/ca.pem`);
    const args = ["--cert", `${dir}/cert.pem`, "--key", `${dir}/key.pem`];
    await withHttpServer(args, async ({ base }) => {
      assert.match(base, /^https:\/\/127\.0\.0\.1:\d+$/);
      using client = Deno.createHttpClient({ caCerts: [ca] });
      const res = await fetchAll(`${base}/snapshot.jpg`, { client });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("content-type"), "image/jpeg");
      assert.equal(jpegSize(res.body)?.width, 320);
      await assert.rejects(fetch(`${base}/snapshot.jpg`), TypeError);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("http: stream viewers count toward --max-clients: with 1, a second stream gets 503 and a TCP viewer is refused, until the first leaves", async () => {
  await withHttpServer(["--max-clients", "1"], async ({ base, server }) => {
    const first = await openStream(`${base}/stream.mjpg`);
    try {
      await first.next();
      const second = await fetchAll(`${base}/stream.mjpg`);
      assert.equal(second.status, 503);
      assert.match(new TextDecoder().decode(second.body), /--max-clients/);
      const tcp = await RawViewer.connect(server.port);
      await tcp.ended;
      await tcp.close();
      assert.equal(tcp.bytes, 0);
      assert.ok(
        await eventually(() =>
          server.lines.filter((l) =>
            /refused: 1 connections already \(--max-clients\)/.test(l)
          ).length === 2
        ),
        server.lines.join("\n"),
      );
      // What holds no slot still works, and the first stream streams on.
      assert.equal((await fetchAll(`${base}/snapshot.jpg`)).status, 200);
      assert.equal((await stats(base)).viewers.http, 1);
      for (let i = 0; i < 5; i++) await first.next();
    } finally {
      await first.cancel();
    }
    assert.ok(
      await eventually(async () =>
        (await fetchAll(`${base}/stream.mjpg`)).status === 200
      ),
      "the slot was not given back",
    );
  });
});

Deno.test("http: with --on-demand, a /snapshot.jpg or /stream.mjpg viewer starts the idle capture", async () => {
  const args = ["--on-demand", "--idle-stop", "1"];
  await withHttpServer(args, async ({ base, server }) => {
    assert.equal((await stats(base)).state, "idle");
    const snapshot = await fetchAll(`${base}/snapshot.jpg`);
    assert.equal(snapshot.status, 200);
    assert.equal(jpegSize(snapshot.body)?.width, 320);
    await server.waitForLine(
      /nobody watching for 1\.0 s: stopping the capture/,
    );
    assert.ok(
      await eventually(async () => (await stats(base)).state === "idle"),
    );
    const stream = await openStream(`${base}/stream.mjpg`);
    try {
      for (let i = 0; i < 5; i++) {
        assert.equal(jpegSize((await stream.next()).body)?.width, 320);
      }
      const live = await stats(base);
      assert.equal(live.state, "live");
      assert.equal(live.viewers.http, 1);
    } finally {
      await stream.cancel();
    }
    assert.ok(
      await eventually(async () => (await stats(base)).state === "idle"),
      "the capture did not stop after the stream viewer left",
    );
  });
});

Deno.test("http: a stream viewer that stops reading is dropped after --client-timeout", async () => {
  await withHttpServer(["--client-timeout", "1"], async ({ base, server }) => {
    const { hostname, port } = new URL(base);
    const conn = await Deno.connect({ hostname, port: Number(port) });
    try {
      const request = "GET /stream.mjpg HTTP/1.1\r\nHost: camwire\r\n\r\n";
      await conn.write(new TextEncoder().encode(request));
      // It never reads: the bounded send queue fills within a few frames.
      await server.waitForLine(
        /http viewer 127\.0\.0\.1:\d+ left: dropped: a frame took over 1\.0 s to send/,
        8000,
      );
      assert.equal((await stats(base)).viewers.http, 0);
    } finally {
      conn.close();
    }
  });
});

Deno.test("http: ffprobe reads /stream.mjpg as 320-px MJPEG and decodes its frames", async () => {
  await withHttpServer([], async ({ base }) => {
    const url = `${base}/stream.mjpg`;
    const probe = await ffprobe([
      ..."-select_streams v:0 -show_entries stream=codec_name,width".split(" "),
      url,
    ]);
    assert.equal(probe, "mjpeg,320");
    const decoded = await ffprobe([
      ..."-count_frames -read_intervals %+#10 -select_streams v:0".split(" "),
      ..."-show_entries stream=width,height,nb_read_frames".split(" "),
      url,
    ]);
    assert.equal(decoded, "320,240,10");
  });
});

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

Deno.test("http: each drop-in path returns what its original returns: content types, a 320-px JPEG, ≥ 30 parts in 3 s; an unknown action is 404", async () => {
  await withHttpServer([], async ({ base }) => {
    for (
      const path of ["/snapshot", "/?action=snapshot", "/?action=snapshot&n=1"]
    ) {
      const res = await fetchAll(`${base}${path}`);
      assert.equal(res.status, 200, path);
      assert.equal(res.headers.get("content-type"), "image/jpeg");
      assert.equal(res.headers.get("cache-control"), NO_CACHE);
      assert.deepEqual(jpegSize(res.body), { width: 320, height: 240 });
      const age = Date.now() - readStamp(res.body)!;
      assert.ok(age >= 0 && age < 1000, `the snapshot is ${age} ms old`);
    }
    for (const path of ["/stream", "/?action=stream"]) {
      const stream = await openStream(`${base}${path}`);
      try {
        assert.equal(
          stream.response.headers.get("content-type"),
          `multipart/x-mixed-replace; boundary=${BOUNDARY}`,
        );
        const start = performance.now();
        let parts = 0;
        while (performance.now() - start < 3000) {
          const part = await stream.next();
          assert.equal(jpegSize(part.body)?.width, 320);
          parts++;
        }
        assert.ok(parts >= 30, `${parts} parts in 3 s from ${path}`);
      } finally {
        await stream.cancel();
      }
    }
    const unknown = await fetchAll(`${base}/?action=nope`);
    assert.equal(unknown.status, 404);
    assert.match(
      new TextDecoder().decode(unknown.body),
      /^Not found: \?action=nope/,
    );
  });
});

Deno.test("http: with --token and --user, Basic auth with the token as password is let in; a wrong, missing or malformed one gets 401 and not one video byte", async () => {
  await withHttpServer(
    ["--token", "s3cret", "--user", "cam"],
    async ({ base }) => {
      assert.ok(
        await eventually(async () =>
          (await fetchAll(`${base}/snapshot?token=s3cret`)).status === 200
        ),
      );
      const good = `Basic ${btoa("cam:s3cret")}`;
      for (
        const path of [
          "/stream",
          "/?action=stream",
          "/snapshot",
          "/stats",
          "/metrics",
        ]
      ) {
        const res = await fetchAll(`${base}${path}`, {
          headers: { authorization: good },
        });
        assert.equal(res.status, 200, path);
      }
      const { hostname, port } = new URL(base);
      const refusals: [string, string][] = [
        ["a wrong token", `Authorization: Basic ${btoa("cam:s3cre7")}\r\n`],
        ["another user", `Authorization: Basic ${btoa("eve:s3cret")}\r\n`],
        ["no header", ""],
        ["a malformed header", "Authorization: Basic c3%%\r\n"],
      ];
      for (const path of ["/stream.mjpg", "/?action=stream", "/snapshot"]) {
        for (const [what, header] of refusals) {
          // A raw request, read to the end: every byte the server sent.
          const conn = await Deno.connect({ hostname, port: Number(port) });
          try {
            await conn.write(new TextEncoder().encode(
              `GET ${path} HTTP/1.1\r\nHost: camwire\r\nConnection: close\r\n${header}\r\n`,
            ));
            const bytes = await readToEnd(conn, 5000);
            const text = new TextDecoder().decode(bytes);
            assert.match(text, /^HTTP\/1\.1 401 /, `${path} with ${what}`);
            assert.match(
              text,
              /\r\nwww-authenticate: Basic realm="camwire"\r\n/i,
            );
            assert.equal(bytes.indexOf(0xff), -1, `a video byte for ${what}`);
          } finally {
            closeConn(conn);
          }
        }
      }
      assert.equal((await stats(base, good)).viewers.http, 0);
    },
  );
});

Deno.test("http: /metrics parses as Prometheus text and its counters move between two reads", async () => {
  await withHttpServer([], async ({ base }) => {
    const read = async () => {
      const res = await fetchAll(`${base}/metrics`);
      assert.equal(res.status, 200);
      assert.equal(
        res.headers.get("content-type"),
        "text/plain; version=0.0.4; charset=utf-8",
      );
      return parsePrometheus(new TextDecoder().decode(res.body));
    };
    const stream = await openStream(`${base}/stream.mjpg`);
    try {
      await stream.next();
      const first = await read();
      for (let i = 0; i < 15; i++) await stream.next();
      await sleep(1100);
      const second = await read();
      assert.equal(second.get('camwire_capture_state{state="live"}'), 1);
      assert.equal(second.get('camwire_viewers{kind="http"}'), 1);
      assert.equal(second.get('camwire_viewers{kind="tcp"}'), 0);
      assert.equal(second.get("camwire_capture_restarts_total"), 0);
      for (
        const name of [
          "camwire_uptime_seconds",
          "camwire_frames_captured_total",
          "camwire_frames_sent_total",
          "camwire_bytes_sent_total",
        ]
      ) {
        assert.ok(
          second.get(name)! > first.get(name)!,
          `${name}: ${first.get(name)} → ${second.get(name)}`,
        );
      }
      assert.ok(second.get("camwire_capture_frames_per_second")! >= 20);
    } finally {
      await stream.cancel();
    }
  });
});

/** Closes a connection its readable stream may have closed already. */
function closeConn(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Closed at its end.
  }
}

/** Reads a connection to its end, within `ms`. */
async function readToEnd(conn: Deno.Conn, ms: number): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const timer = setTimeout(() => closeConn(conn), ms);
  try {
    for await (const chunk of conn.readable) chunks.push(chunk);
  } finally {
    clearTimeout(timer);
  }
  const bytes = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.length;
  }
  return bytes;
}

Deno.test("http: the server prints the stream and snapshot URLs (and the pickle port) with its ready lines", async () => {
  await withHttpServer(["--pickle-port", "0"], async ({ base, server }) => {
    await server.waitForLine(
      new RegExp(
        `MJPEG stream on ${base}/stream \\(also /stream\\.mjpg, /\\?action=stream\\)$`,
      ),
    );
    await server.waitForLine(
      new RegExp(
        `snapshot on ${base}/snapshot \\(also /snapshot\\.jpg, /\\?action=snapshot\\)$`,
      ),
    );
    const line = await server.waitForLine(
      /pickled numpy frames .* on tcp:\/\/127\.0\.0\.1:\d+$/,
    );
    const port = Number(line.match(/:(\d+)$/)![1]);
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    try {
      const header = new Uint8Array(8);
      let have = 0;
      while (have < 8) have += (await conn.read(header.subarray(have)))!;
      const length = new DataView(header.buffer).getBigUint64(0, true);
      assert.ok(length > 230_400n && length < 230_600n, `${length} B`);
    } finally {
      conn.close();
    }
  });
});

// ---------------------------------------------------------------------------
// The README's "Use it with…" recipes, each run as written there.

Deno.test("recipe: ffmpeg records 5 s with true timing (-use_wallclock_as_timestamps 1 … -c copy): 5 s ± 0.2 s and 150 ± 6 frames", async () => {
  await withHttpServer([], async ({ base }) => {
    const dir = await Deno.makeTempDir({ prefix: "camwire-record-" });
    try {
      const started = performance.now();
      await run("ffmpeg", [
        ..."-v error -y".split(" "),
        // The README's recipe:
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

/** Runs a program to its end (20 s at most) and returns its trimmed stdout. */
async function run(program: string, args: string[]): Promise<string> {
  const { success, stdout, stderr } = await new Deno.Command(program, {
    args,
    stdin: "null",
    signal: AbortSignal.timeout(20_000),
  }).output();
  assert.ok(success, `${program} failed: ${new TextDecoder().decode(stderr)}`);
  return new TextDecoder().decode(stdout).trim();
}

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

/** A server started by {@linkcode withHttpServer}. */
interface HttpServer {
  server: ServerProcess;
  /** `http://127.0.0.1:PORT` (or `https://`), without a slash at the end. */
  base: string;
}

/**
 * Runs `fn` with a `--source test --http-port 0` server, then stops it.
 *
 * @param args More server flags.
 * @param fn The test body.
 */
async function withHttpServer(
  args: string[],
  fn: (http: HttpServer) => Promise<void>,
): Promise<void> {
  const server = await startServerProcess([
    "--source",
    "test",
    "--http-port",
    "0",
    ...args,
  ]);
  try {
    const line = await server.waitForLine(
      /web page on https?:\/\/127\.0\.0\.1:\d+\/$/,
    );
    const base = line.match(/(https?:\/\/127\.0\.0\.1:\d+)\/$/)![1]!;
    await fn({ server, base });
  } finally {
    await server.stop();
  }
}

/** A response whose body has been read (or, for a stream, cancelled). */
interface Fetched {
  status: number;
  headers: Headers;
  body: Uint8Array;
}

/**
 * Fetches `url` and reads the whole body; a 200 MJPEG stream's body is
 * cancelled instead, as it never ends.
 */
async function fetchAll(
  url: string,
  init: RequestInit & { client?: Deno.HttpClient } = {},
): Promise<Fetched> {
  const res = await fetch(url, init);
  const type = res.headers.get("content-type") ?? "";
  if (res.status === 200 && type.startsWith("multipart/")) {
    await res.body?.cancel();
    return { status: res.status, headers: res.headers, body: new Uint8Array() };
  }
  return { status: res.status, headers: res.headers, body: await res.bytes() };
}

/** Reads `/stats`, with an `Authorization` header if given. */
async function stats(
  base: string,
  authorization?: string,
): Promise<ServerStats> {
  const res = await fetch(`${base}/stats`, {
    headers: authorization ? { authorization } : {},
  });
  assert.equal(res.status, 200);
  return await res.json();
}

function bearer(token: string): RequestInit {
  return { headers: { authorization: `Bearer ${token}` } };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Runs ffprobe with `-v error -of csv=p=0` and returns its trimmed output. */
async function ffprobe(args: string[]): Promise<string> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 20_000);
  try {
    const { success, stdout, stderr } = await new Deno.Command("ffprobe", {
      args: ["-v", "error", "-of", "csv=p=0", ...args],
      stdin: "null",
      signal: controller.signal,
    }).output();
    const errors = new TextDecoder().decode(stderr);
    assert.ok(success, `ffprobe failed: ${errors}`);
    assert.equal(errors, "");
    return new TextDecoder().decode(stdout).trim();
  } finally {
    clearTimeout(timer);
  }
}

/** One part of a multipart body. */
interface Part {
  /** Header names in lower case. */
  headers: Map<string, string>;
  body: Uint8Array;
}

const CRLF = new Uint8Array([13, 10]);
const BLANK_LINE = new Uint8Array([13, 10, 13, 10]);

/** An open `/stream.mjpg`, read part by part. */
interface MjpegStream {
  response: Response;
  /**
   * Reads the next part and checks its framing: the boundary line first,
   * then headers, a blank line, Content-Length bytes of body and a CRLF.
   */
  next(): Promise<Part>;
  /** Stops reading: cancels the body. */
  cancel(): Promise<void>;
}

/**
 * Fetches an MJPEG stream and parses `multipart/x-mixed-replace` by hand.
 *
 * @param url The stream's URL.
 * @returns The response and a part reader.
 */
async function openStream(url: string): Promise<MjpegStream> {
  const response = await fetch(url);
  if (response.body === null) throw new Error(`No body from ${url}`);
  return partsOf(response);
}

/**
 * Parses a `multipart/x-mixed-replace` response by hand.
 *
 * @param response A response with a body.
 * @returns The response and a part reader.
 */
function partsOf(response: Response): MjpegStream {
  if (response.body === null) throw new Error("No body in the response");
  const reader = response.body.getReader();
  let buffer = new Uint8Array(0);
  const fill = async (size: number) => {
    while (buffer.length < size) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`The stream ended within a part`);
      const joined = new Uint8Array(buffer.length + value.length);
      joined.set(buffer);
      joined.set(value, buffer.length);
      buffer = joined;
    }
  };
  const take = (size: number) => {
    const bytes = buffer.slice(0, size);
    buffer = buffer.subarray(size);
    return bytes;
  };
  return {
    response,
    async next() {
      let end: number;
      while ((end = indexOf(buffer, BLANK_LINE)) === -1) {
        assert.ok(buffer.length < 4096, "no blank line after part headers");
        await fill(buffer.length + 1);
      }
      const [delimiter, ...lines] = new TextDecoder().decode(take(end))
        .split("\r\n");
      take(BLANK_LINE.length);
      assert.equal(delimiter, `--${BOUNDARY}`);
      const headers = new Map<string, string>();
      for (const line of lines) {
        const match = line.match(/^([!-9;-~]+):[ \t]*(.*?)[ \t]*$/);
        assert.ok(match, `bad part header line: ${JSON.stringify(line)}`);
        headers.set(match[1]!.toLowerCase(), match[2]!);
      }
      const length = Number(headers.get("content-length"));
      assert.ok(Number.isSafeInteger(length) && length > 0, `length ${length}`);
      await fill(length + CRLF.length);
      const body = take(length);
      assert.deepEqual(take(CRLF.length), CRLF, "no CRLF after a part");
      return { headers, body };
    },
    async cancel() {
      await reader.cancel();
    },
  };
}

function indexOf(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) {
      if (haystack[i + j] !== needle[j]) continue outer;
    }
    return i;
  }
  return -1;
}

// ---------------------------------------------------------------------------
// In-process helpers.

/** Length of every {@linkcode fakeJpeg}. */
const FAKE_JPEG_SIZE = 64;

/**
 * A JPEG-shaped buffer (SOI … EOI) that tells frames apart by `seq`.
 *
 * @param seq Written into every byte between the markers.
 * @returns {@linkcode FAKE_JPEG_SIZE} bytes.
 */
function fakeJpeg(seq: number): Uint8Array<ArrayBuffer> {
  const jpeg = new Uint8Array(FAKE_JPEG_SIZE).fill(seq & 0x7f);
  jpeg.set([0xff, 0xd8]);
  jpeg.set([0xff, 0xd9], FAKE_JPEG_SIZE - 2);
  return jpeg;
}

/**
 * A {@linkcode FrameHub} without a server: frames are published by hand and
 * what the HTTP side asks of it is recorded.
 */
class FakeHub implements FrameHub {
  current: HubFrame | null = null;
  readonly jpegSinks = new Set<JpegSink>();
  readonly direct = null;
  /** What the stream viewers' senders counted. */
  readonly totals = { sent: 0, skipped: 0, bytes: 0 };
  /** `takeSlot` answers `null` once this reaches 0. */
  slotsLeft = Infinity;
  /** The names `takeSlot` gave a slot to. */
  readonly slotsTaken: string[] = [];
  /** The addresses `takeSlot` was given. */
  readonly addresses: string[] = [];
  /** Calls of the release functions `takeSlot` returned. */
  released = 0;
  /** Calls of `viewersChanged`. */
  changes = 0;

  /** Makes `jpeg` the newest frame and shows it to every sink. */
  publish(jpeg: Uint8Array<ArrayBuffer>): HubFrame {
    const frame = { seq: (this.current?.seq ?? 0) + 1, jpeg };
    this.current = frame;
    for (const sink of this.jpegSinks) sink.show(jpeg);
    return frame;
  }

  stats(): object {
    return { fake: true, framesIn: this.current?.seq ?? 0 };
  }

  metrics(): Metrics {
    return {
      uptimeSeconds: 1.5,
      captureState: "live",
      captureFps: 30,
      captureRestarts: 2,
      framesCaptured: this.current?.seq ?? 0,
      viewers: { tcp: 0, http: this.slotsTaken.length - this.released },
      framesSent: this.totals.sent,
      framesSkipped: this.totals.skipped,
      bytesSent: this.totals.bytes,
    };
  }

  takeSlot(name: string, address: string): (() => void) | null {
    if (this.slotsLeft <= 0) return null;
    this.slotsLeft--;
    this.slotsTaken.push(name);
    this.addresses.push(address);
    return () => {
      this.slotsLeft++;
      this.released++;
    };
  }

  viewerCount(): number {
    return this.slotsTaken.length - this.released;
  }

  viewersChanged(): void {
    this.changes++;
  }

  snapshot(): Promise<HubFrame | null> {
    return Promise.resolve(this.current);
  }
}

/**
 * A connection without a socket, for a stream viewer in-process: each
 * `write` waits until the test's reader pulls its bytes (as a socket that
 * is full until the peer reads), so a reader that does not read holds the
 * frame being written, and the sender skips to the newest meanwhile.
 */
class FakeConn {
  readonly remoteAddr: Deno.NetAddr;
  readonly localAddr: Deno.NetAddr = {
    transport: "tcp",
    hostname: "127.0.0.1",
    port: 8080,
  };
  /** What the peer reads. */
  readonly readable: ReadableStream<Uint8Array>;
  #writes: { bytes: Uint8Array; done: (n: number) => void }[] = [];
  #writeWaiter: (() => void) | null = null;
  #fail: ((error: Error) => void)[] = [];
  #readEnd = Promise.withResolvers<number | null>();
  #closed = false;

  constructor(remoteAddr: Deno.NetAddr) {
    this.remoteAddr = remoteAddr;
    this.readable = new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        while (this.#writes.length === 0) {
          if (this.#closed) return controller.close();
          await new Promise<void>((wake) => this.#writeWaiter = wake);
        }
        const { bytes, done } = this.#writes.shift()!;
        controller.enqueue(bytes.slice());
        done(bytes.length);
      },
      cancel: () => this.peerCloses(),
    }, { highWaterMark: 0 });
  }

  write(bytes: Uint8Array): Promise<number> {
    if (this.#closed) {
      return Promise.reject(new Deno.errors.BadResource("closed"));
    }
    return new Promise((done, fail) => {
      this.#writes.push({ bytes, done });
      this.#fail.push(fail);
      this.#writeWaiter?.();
    });
  }

  /** Reads: what the peer sends (nothing) until it closes its end. */
  read(_buf: Uint8Array): Promise<number | null> {
    return this.#readEnd.promise;
  }

  /**
   * The peer closes: its end of input now, and writes fail from the next
   * turn on (its FIN comes before the reset of a write).
   */
  peerCloses(): void {
    this.#readEnd.resolve(null);
    this.#closed = true;
    this.#writes = [];
    const fails = this.#fail;
    this.#fail = [];
    // A few promise turns: the reader of the input sees its end first.
    let turns = Promise.resolve();
    for (let i = 0; i < 10; i++) turns = turns.then(() => {});
    turns.then(() => {
      for (const fail of fails) fail(new Deno.errors.BrokenPipe("closed"));
    });
    this.#writeWaiter?.();
  }

  close(): void {
    this.#closed = true;
    this.#writes = [];
    this.#readEnd.reject(new Deno.errors.Interrupted("operation canceled"));
    for (const fail of this.#fail) {
      fail(new Deno.errors.Interrupted("operation canceled"));
    }
    this.#fail = [];
    this.#writeWaiter?.();
  }
}

/**
 * An {@linkcode HttpSide} on a {@linkcode FakeHub}, its log lines kept.
 *
 * @param options Options to change from the defaults (no token, 10 s).
 */
function fakeSide(
  options: Partial<HttpOptions> = {},
): { side: HttpSide; hub: FakeHub; lines: string[] } {
  const hub = new FakeHub();
  const lines: string[] = [];
  const side = new HttpSide(hub, {
    hostname: "127.0.0.1",
    port: 0,
    token: undefined,
    tls: undefined,
    clientTimeoutMs: 10_000,
    tcpPort: 5000,
    log: (line) => lines.push(line),
    tokenEquals: (a, b) => a === b,
    ...options,
  });
  hub.jpegSinks.add(side);
  return { side, hub, lines };
}

/** A connection's peer, for {@linkcode request}. */
function infoFor(hostname = "127.0.0.1", port = 40000): { info: RequestInfo } {
  return { info: { remoteAddr: { transport: "tcp", hostname, port } } };
}

/** The connections of the streams {@linkcode request} opened. */
const fakeConns = new WeakMap<Response, FakeConn>();

/**
 * Asks `side` for `path` on a fake host, as the wire server would; a
 * granted stream is started on a {@linkcode FakeConn}, whose bytes are
 * the body of the response returned.
 */
async function request(
  side: HttpSide,
  path: string,
  init: RequestInit = {},
  info: RequestInfo = infoFor().info,
): Promise<Response> {
  const answer = await side.handle(
    new Request(`http://camwire.test${path}`, init),
    info,
  );
  if (answer instanceof Response) return answer;
  const conn = new FakeConn(info.remoteAddr as Deno.NetAddr);
  const viewer = side.startStream(answer, conn as unknown as Deno.Conn);
  side.watch(viewer);
  const response = new Response(conn.readable, {
    status: 200,
    headers: answer.headers,
  });
  fakeConns.set(response, conn);
  return response;
}

/** The bytes `/stream.mjpg` should send for `frame`. */
function partBytes(frame: HubFrame): Uint8Array {
  const header = new TextEncoder().encode(
    `--${BOUNDARY}\r\nContent-Type: image/jpeg\r\n` +
      `Content-Length: ${frame.jpeg.length}\r\n\r\n`,
  );
  const bytes = new Uint8Array(header.length + frame.jpeg.length + 2);
  bytes.set(header);
  bytes.set(frame.jpeg, header.length);
  bytes.set([13, 10], header.length + frame.jpeg.length);
  return bytes;
}

/**
 * Reads exactly `size` bytes, whatever the chunks.
 *
 * @throws {assert.AssertionError} When a chunk would go past `size` or the
 * body ends first.
 */
async function readBytes(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  size: number,
): Promise<Uint8Array> {
  const bytes = new Uint8Array(size);
  let have = 0;
  while (have < size) {
    const { value, done } = await reader.read();
    assert.ok(!done, `the body ended after ${have} of ${size} bytes`);
    assert.ok(have + value.length <= size, "a chunk spans two parts");
    bytes.set(value, have);
    have += value.length;
  }
  return bytes;
}

/** Lets promise callbacks run (a macrotask turn). */
function tick(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

function basic(token: string): RequestInit {
  return { headers: { authorization: `Basic ${btoa(`camwire:${token}`)}` } };
}
