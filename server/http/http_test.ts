// Copyright 2026 the camwire authors. MIT license.
/**
 * End-to-end tests of camwire's HTTP side (`server.ts --http-port`) against
 * the real server process: fetch with a multipart parser of our own, a
 * token, TLS, `--max-clients`, `--on-demand`, ffprobe, the drop-in paths,
 * `/metrics`, the ready lines. The router alone is tested in-process in
 * routes_test.ts, the page in a real browser in page_test.ts, the recipes
 * in recipes_test.ts.
 *
 * @module
 */
import assert from "node:assert/strict";
import { JpegSplitter } from "../../framing.ts";
import { jpegSize, readStamp } from "../../common/jpeg.ts";
import {
  bearer,
  closeConn,
  fetchAll,
  ffprobe,
  openStream,
  parsePrometheus,
  type Part,
  readToEnd,
  stats,
  withHttpServer,
} from "../../testing/http_client.ts";
import { BOUNDARY } from "./http.ts";
import type { ServerStats } from "../server.ts";
import {
  eventually,
  makeCertificate,
  RawViewer,
  sleep,
} from "../../testing/util.ts";

const NO_CACHE = "no-store, no-cache, must-revalidate";
const ROUTES = ["/", "/stream.mjpg", "/snapshot.jpg", "/stats"];

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
