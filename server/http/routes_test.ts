// Copyright 2026 the camwire authors. MIT license.
/**
 * In-process tests of the HTTP router, {@linkcode HttpSide}, with a fake
 * {@linkcode FrameHub}: routes, status codes, the token as Bearer, Basic
 * or `?token=`, CORS, the stream's parts, slots and stalls, `/metrics`;
 * and one of {@linkcode serveHttp} on loopback. No process.
 *
 * @module
 */
import assert from "node:assert/strict";
import { BOUNDARY } from "./http.ts";
import { serveHttp } from "./serve.ts";
import { Admission } from "../net/admission.ts";
import { LogTally } from "../net/tally.ts";
import {
  basic,
  fakeConns,
  FakeHub,
  fakeJpeg,
  fakeOptions,
  fakeSide,
  infoFor,
  partBytes,
  readBytes,
  request,
  tick,
} from "../../testing/http_fakes.ts";
import {
  basicAs,
  bearer,
  parsePrometheus,
  partsOf,
} from "../../testing/http_client.ts";

const NO_CACHE = "no-store, no-cache, must-revalidate";
const ROUTES = ["/", "/stream.mjpg", "/snapshot.jpg", "/stats"];

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
  // Each request from an address of its own: the spacing of one address's
  // wrong tokens (tested in server/net/) would make this a 50 s test.
  let address = 0;
  for (const path of ROUTES) {
    for (const [what, init, query] of cases) {
      const { info } = infoFor(`10.0.0.${++address}`);
      const res = await request(side, `${path}${query}`, init, info);
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
    ...fakeOptions(lines),
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
