// Copyright 2026 the camwire authors. MIT license.
/**
 * One load process for the fan-out benches: opens `--count` viewers of a
 * camwire stream on 127.0.0.1 in one process (each a `conn.read` loop into
 * its own buffer), deframes them and measures each frame's latency from its
 * capture stamp. Started by `fanout.ts` and `slow_viewer.ts`, several at a
 * time; by hand:
 *
 * ```sh
 * deno run -A bench/fanout_load.ts --port 9999 --count 500 [--http [--path /stream]] [--stamp camera]
 * ```
 *
 * With `--http`, each viewer is an HTTP one: it sends
 * `GET /stream.mjpg` (or `--path`), skips the response head and reads the
 * `multipart/x-mixed-replace` parts (their `Content-Length`) instead of
 * the u64 lengths: camwire's, or another server's (ustreamer's).
 *
 * Protocol (stdout is JSON lines, stdin is commands):
 *
 * 1. it connects every viewer (100 at a time) and prints
 *    `{"connected": n, "failed": n}`;
 * 2. `start` on stdin starts the measuring window, `stop` ends it; it then
 *    prints one {@linkcode LoadResult} and exits. Closing stdin, or 120 s
 *    without `stop`, also ends it.
 *
 * Latency is arrival (wall clock when the read that completed the frame
 * returned) minus the stamp `camwire t=<ms>`, both this machine's clock.
 * The stamp is parsed from the first bytes of each payload by hand (cheaper
 * than a TextDecoder per frame); the first frame of every viewer is checked
 * against {@linkcode readStamp} from common/jpeg.ts. With `--stamp camera` the
 * stamp is the emulated camera's instead (`camera t=<ms>`, a COM segment
 * it writes at DQBUF: testing/fake_camera.c's `stamp=1`), found among the
 * segments after SOI: latency from the camera's buffer to the viewer,
 * through any server that passes the camera's JPEGs on.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { DEFAULT_MAX_FRAME_SIZE } from "../framing.ts";
import { readStamp } from "../common/jpeg.ts";
import {
  delay,
  Histogram,
  type LoadResult,
  selfCpuSeconds,
  wallMs,
} from "./bench_util.ts";

/** Longest this process lives, whatever its parent does, in ms. */
const MAX_LIFETIME_MS = 120_000;
const CONNECT_TIMEOUT_MS = 10_000;
const READ_BUFFER = 32 * 1024;
/** Payload bytes kept per frame to read the stamp from (two COM segments). */
const PREFIX = 128;

/** The stamp read: camwire's capture stamp, or the emulated camera's. */
let stampText = new TextEncoder().encode("camwire t=");

/** One viewer's connection and deframing state. */
class Viewer {
  readonly conn: Deno.TcpConn;
  readonly buf = new Uint8Array(READ_BUFFER);
  readonly header = new Uint8Array(8);
  headerFill = 0;
  /** Payload bytes still to come of the current frame; 0 in a header. */
  need = 0;
  readonly prefix = new Uint8Array(PREFIX);
  prefixFill = 0;
  prefixWant = 0;
  count = 0;
  checked = false;
  bad = false;
  /** HTTP: the head being read (response or part), as text. */
  head = "";

  constructor(conn: Deno.TcpConn) {
    this.conn = conn;
  }
}

let measuring = false;
let stopping = false;
const latency = new Histogram();
let bytes = 0;
let frames = 0;
let closedEarly = 0;
let badStreams = 0;

/**
 * Parses the COM segment `FF FE len "<stampText><ms>"` among the segments
 * after SOI at the start of a payload.
 */
function parseStamp(p: Uint8Array, fill: number): number {
  for (let at = 2; at + 4 <= fill && p[at] === 0xff && p[at + 1] !== 0xda;) {
    const end = at + 2 + ((p[at + 2]! << 8) | p[at + 3]!);
    if (p[at + 1] === 0xfe && end <= fill) {
      const value = parseStampText(p, at + 4, end);
      if (!Number.isNaN(value)) return value;
    }
    at = end;
  }
  return NaN;
}

/** The number after {@linkcode stampText} in `p[i, end)`, or NaN. */
function parseStampText(p: Uint8Array, i: number, end: number): number {
  for (const byte of stampText) if (p[i++] !== byte) return NaN;
  let value = 0;
  let scale = 0;
  for (; i < end; i++) {
    const c = p[i]!;
    if (c === 0x2e) {
      scale = 1;
    } else if (c >= 0x30 && c <= 0x39) {
      value = value * 10 + (c - 0x30);
      if (scale) scale *= 10;
    } else {
      return NaN;
    }
  }
  return scale ? value / scale : value;
}

function frameDone(v: Viewer, now: number): void {
  let stamp = parseStamp(v.prefix, v.prefixFill);
  if (!v.checked) {
    v.checked = true;
    const reference = cameraStamp
      ? stamp
      : readStamp(v.prefix.subarray(0, v.prefixFill));
    if (
      reference === undefined || !(Math.abs(reference - stamp) <= 0.001)
    ) {
      v.bad = true;
      stamp = NaN;
    }
  }
  if (!measuring) return;
  v.count++;
  frames++;
  if (Number.isFinite(stamp)) latency.add(now - stamp);
}

/** Deframes `n` bytes of `v.buf`; false when the stream is not camwire's. */
function consume(v: Viewer, n: number, now: number): boolean {
  const buf = v.buf;
  if (measuring) bytes += n;
  let pos = 0;
  while (pos < n) {
    if (v.need === 0) {
      const k = Math.min(8 - v.headerFill, n - pos);
      v.header.set(buf.subarray(pos, pos + k), v.headerFill);
      v.headerFill += k;
      pos += k;
      if (v.headerFill < 8) break;
      v.headerFill = 0;
      const h = v.header;
      const low = (h[0]! | (h[1]! << 8) | (h[2]! << 16)) + h[3]! * 0x1000000;
      const high = h[4]! | h[5]! | h[6]! | h[7]!;
      if (high !== 0 || low === 0 || low > DEFAULT_MAX_FRAME_SIZE) return false;
      v.need = low;
      v.prefixFill = 0;
      v.prefixWant = Math.min(PREFIX, low);
      continue;
    }
    pos = takePayload(v, pos, n, now);
  }
  return true;
}

/**
 * Takes payload bytes of the frame in progress from `v.buf[pos, n)`,
 * keeping its first bytes (the capture stamp), and counts the frame once
 * it is whole.
 *
 * @returns Where the next unread byte is.
 */
function takePayload(v: Viewer, pos: number, n: number, now: number): number {
  const take = Math.min(v.need, n - pos);
  if (v.prefixFill < v.prefixWant) {
    const k = Math.min(v.prefixWant - v.prefixFill, take);
    v.prefix.set(v.buf.subarray(pos, pos + k), v.prefixFill);
    v.prefixFill += k;
  }
  v.need -= take;
  if (v.need === 0) frameDone(v, now);
  return pos + take;
}

/** Max bytes of one HTTP head (the response's, or a part's). */
const MAX_HEAD = 4096;

/** Reads `n` bytes of `v.buf` as multipart parts; false when malformed. */
function consumeHttp(v: Viewer, n: number, now: number): boolean {
  const buf = v.buf;
  if (measuring) bytes += n;
  let pos = 0;
  while (pos < n) {
    if (v.need === 0) {
      // In a head: up to its blank line, byte by byte (heads are short).
      while (pos < n && !v.head.endsWith("\r\n\r\n")) {
        v.head += String.fromCharCode(buf[pos++]!);
        if (v.head.length > MAX_HEAD) return false;
      }
      if (!v.head.endsWith("\r\n\r\n")) break;
      const head = v.head;
      v.head = "";
      if (head.startsWith("HTTP/")) {
        if (!/^HTTP\/1\.[01] 200/.test(head)) return false;
        continue;
      }
      const length = /content-length: *(\d+)/i.exec(head);
      if (length === null) return false;
      v.need = Number(length[1]) + 2; // the JPEG, then CRLF
      v.prefixFill = 0;
      v.prefixWant = Math.min(PREFIX, v.need - 2);
      continue;
    }
    pos = takePayload(v, pos, n, now);
  }
  return true;
}

let http = false;
let cameraStamp = false;
let get = new Uint8Array();

async function readLoop(v: Viewer): Promise<void> {
  try {
    while (!stopping) {
      const n = await v.conn.read(v.buf);
      if (n === null) break;
      if (!(http ? consumeHttp : consume)(v, n, wallMs())) {
        v.bad = true;
        break;
      }
    }
  } catch {
    // Reset by the server, or closed by us.
  }
  if (!stopping) closedEarly++;
}

async function connect(port: number): Promise<Deno.TcpConn> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error("connect timed out")),
      CONNECT_TIMEOUT_MS,
    );
  });
  try {
    const pending = Deno.connect({ hostname: "127.0.0.1", port });
    pending.then((c) => stopping && c.close(), () => {});
    const conn = await Promise.race([pending, timeout]);
    // As a browser does: the request right after the connect (a server
    // closes connections that owe their request too long).
    if (http) await conn.write(get);
    return conn;
  } finally {
    clearTimeout(timer);
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      port: { type: "string" },
      count: { type: "string", default: "1" },
      http: { type: "boolean", default: false },
      path: { type: "string", default: "/stream.mjpg" },
      stamp: { type: "string", default: "camwire" },
    },
  });
  http = values.http;
  get = new TextEncoder().encode(
    `GET ${values.path} HTTP/1.1\r\nHost: bench\r\n\r\n`,
  );
  cameraStamp = values.stamp === "camera";
  if (cameraStamp) stampText = new TextEncoder().encode("camera t=");
  const port = Number(values.port);
  const count = Number(values.count);
  if (
    !Number.isInteger(port) || port <= 0 || !(count >= 1 && count <= 10_000)
  ) {
    console.error("usage: fanout_load.ts --port <PORT> --count <1..10000>");
    Deno.exit(2);
  }
  const lifetime = setTimeout(() => Deno.exit(3), MAX_LIFETIME_MS);
  const viewers: Viewer[] = [];
  let failed = 0;
  for (let i = 0; i < count; i += 100) {
    const batch = Array.from(
      { length: Math.min(100, count - i) },
      () => connect(port),
    );
    for (const r of await Promise.allSettled(batch)) {
      if (r.status === "fulfilled") {
        r.value.setNoDelay(true);
        viewers.push(new Viewer(r.value));
      } else {
        failed++;
      }
    }
  }
  const loops = viewers.map(readLoop);
  const out = async (value: unknown) => {
    const data = new TextEncoder().encode(JSON.stringify(value) + "\n");
    let n = 0;
    while (n < data.length) n += await Deno.stdout.write(data.subarray(n));
  };
  await out({ connected: viewers.length, failed });

  let t0 = 0;
  let c0 = 0;
  let windowS = 0;
  let cpuS = 0;
  const input = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
  commands: for await (const text of input) {
    for (const command of text.split("\n")) {
      if (command === "start" && !measuring) {
        t0 = performance.now();
        c0 = selfCpuSeconds();
        measuring = true;
      } else if (command === "stop" && measuring) {
        measuring = false;
        windowS = (performance.now() - t0) / 1000;
        cpuS = selfCpuSeconds() - c0;
        break commands;
      }
    }
  }
  if (windowS === 0) {
    // stdin closed without a window: the parent is gone.
    Deno.exit(1);
  }
  for (const v of viewers) if (v.bad) badStreams++;
  const result: LoadResult = {
    connected: viewers.length,
    failed,
    counts: viewers.map((v) => v.count),
    latency: latency.toPairs(),
    bytes,
    frames,
    windowS,
    cpuS,
    closedEarly,
    badStreams,
  };
  await out(result);
  stopping = true;
  for (const v of viewers) {
    try {
      v.conn.close();
    } catch {
      // The read loop's stream ended it already.
    }
  }
  await Promise.race([Promise.allSettled(loops), delay(2000)]);
  clearTimeout(lifetime);
}

if (import.meta.main) {
  await main();
  Deno.exit(0);
}
