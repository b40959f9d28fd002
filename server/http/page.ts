// Copyright 2026 the camwire authors. MIT license.
/**
 * The viewer page of `GET /`: one self-contained HTML file, no external
 * resources. Its script reads `/stream.mjpg` itself (not through an
 * `<img>`'s own loading), so that it knows each frame: it shows the
 * frame, reads its capture stamp for the latency figure, notices at once
 * when the stream breaks (an "offline — reconnecting" overlay), and
 * reconnects by itself, without a reload, when the server is back.
 *
 * The picture is shown at its native size, or twice that when there is
 * room: a whole factor, never blurred past 2×. The numbers sit beside it
 * on a wide window and under it on a phone, in view without scrolling at
 * 1000×700 and 390×844.
 *
 * @module
 */

/** What the page shows besides the picture. */
export interface PageOptions {
  /** The TCP port, for the client command line. */
  tcpPort: number;
  /** The pickle port, when there is one. */
  picklePort?: number | undefined;
  /** Whether the ports speak TLS. */
  tls: unknown;
  /** Whether a token is needed. */
  token: string | undefined;
}

/**
 * Escapes text for HTML.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(escapeHtml(`<a href="x">`), "&#60;a href=&#34;x&#34;&#62;");
 * ```
 */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * The page for a request: its stream and the numbers it fetches keep the
 * request's `?token=`, and its command lines name the request's host.
 *
 * @param url The page's URL as requested.
 * @param options Ports and access.
 * @returns The HTML.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const html = page(new URL("http://cam:8080/"), { tcpPort: 9999, tls: undefined, token: undefined });
 * assert.match(html, /deno run -A client\.ts --host cam --port 9999/);
 * ```
 */
export function page(url: URL, options: PageOptions): string {
  const token = url.searchParams.get("token");
  const query = token === null ? "" : `?token=${encodeURIComponent(token)}`;
  const host = url.hostname;
  const client = (port: number, pickle = "") =>
    `deno run -A client.ts${pickle} --host ${host} --port ${port}` +
    (options.tls ? " --tls" : "") + (options.token ? " --token …" : "");
  const lines: [string, string][] = [
    ["MJPEG stream", `${url.origin}/stream.mjpg${query}`],
    ["Snapshot", `${url.origin}/snapshot.jpg${query}`],
    [
      "ffplay",
      "ffplay -fflags nobuffer -flags low_delay -framedrop " +
      `-use_wallclock_as_timestamps 1 "${url.origin}/stream.mjpg${query}"`,
    ],
    ["TCP client", client(options.tcpPort)],
  ];
  if (options.picklePort !== undefined) {
    lines.push(["Pickle client", client(options.picklePort, " --pickle")]);
  }
  const rows = lines.map(([label, line], i) =>
    `<div class="line"><label for="line${i}">${label}</label>` +
    `<input id="line${i}" readonly value="${escapeHtml(line)}">` +
    `<button type="button" data-copy="line${i}">Copy</button></div>`
  ).join("\n  ");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>camwire ${escapeHtml(url.host)}</title>
<style>
  * { box-sizing: border-box; }
  body { font: 15px/1.4 system-ui, sans-serif; margin: 0; background: #111; color: #ddd; }
  header { display: flex; align-items: baseline; gap: 12px; padding: 8px 16px; }
  h1 { font-size: 18px; margin: 0; }
  h1 small { color: #888; font-weight: normal; }
  #state { color: #8c8; }
  #state.offline { color: #e88; }
  main { display: flex; flex-wrap: wrap; gap: 16px; padding: 0 16px 8px; align-items: flex-start; }
  #view { position: relative; margin: 0; background: #000; max-width: 100%; }
  #view img { display: block; max-width: 100%; height: auto; }
  #view:fullscreen { display: flex; align-items: center; justify-content: center; }
  #overlay { position: absolute; inset: 0; display: flex; align-items: center; justify-content: center;
    background: rgba(0, 0, 0, .65); color: #fff; font-size: 18px; text-align: center; padding: 8px; }
  #overlay[hidden] { display: none; }
  #side { flex: 1 1 260px; max-width: 360px; }
  #buttons { display: flex; gap: 8px; margin-bottom: 8px; }
  button { font: inherit; background: #333; color: #eee; border: 1px solid #555; border-radius: 4px; padding: 4px 10px; cursor: pointer; }
  button:hover { background: #444; }
  dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 0; }
  dt { color: #888; }
  dd { margin: 0; }
  #lines { padding: 0 16px 16px; max-width: 980px; }
  .line { display: flex; gap: 8px; align-items: center; margin: 4px 0; }
  .line label { flex: 0 0 110px; color: #888; }
  .line input { flex: 1; min-width: 0; font: 13px ui-monospace, monospace; background: #222; color: #ddd;
    border: 1px solid #444; border-radius: 4px; padding: 4px 6px; }
</style>
</head>
<body>
<header>
  <h1>camwire <small>${escapeHtml(url.host)}</small></h1>
  <span id="state">connecting…</span>
</header>
<main>
  <figure id="view">
    <img id="live" alt="live camera stream" width="320" height="240">
    <div id="overlay" hidden>offline — reconnecting…</div>
  </figure>
  <section id="side">
    <div id="buttons">
      <button type="button" id="snapshot" title="Download this frame as a JPEG">Snapshot</button>
      <button type="button" id="fullscreen">Fullscreen</button>
      <button type="button" id="pause">Pause</button>
    </div>
    <dl id="stats">
      <dt>source</dt><dd id="source">…</dd>
      <dt>viewers</dt><dd id="viewers">…</dd>
      <dt>captured</dt><dd id="fps">…</dd>
      <dt>shown here</dt><dd id="shown">…</dd>
      <dt>sent</dt><dd id="kbps">…</dd>
      <dt>latency</dt><dd id="latency">…</dd>
      <dt>uptime</dt><dd id="uptime">…</dd>
    </dl>
  </section>
</main>
<section id="lines">
  ${rows}
</section>
<script>
"use strict";
const query = ${JSON.stringify(query)};
const $ = (id) => document.getElementById(id);
const show = (id, value) => { $(id).textContent = value; };
const live = $("live"), view = $("view"), overlay = $("overlay");
/** Without a frame for this long, the stream is taken for broken. */
const STALL_MS = 5000;
let paused = false, controller = null, lastFrameAt = 0, lastJpeg = null;
let shownUrls = [], ages = [], framesShown = 0, retryMs = 500, resume = null;

/** The capture stamp camwire puts after SOI: "camwire t=<unix ms>". */
function readStamp(bytes) {
  if (bytes[2] !== 0xff || bytes[3] !== 0xfe) return undefined;
  const end = 4 + ((bytes[4] << 8) | bytes[5]);
  const text = new TextDecoder().decode(bytes.subarray(6, end));
  return text.startsWith("camwire t=") ? Number(text.slice(10)) : undefined;
}

/** The parts of a multipart/x-mixed-replace body, by their Content-Length. */
async function* parts(reader) {
  let buffer = new Uint8Array(0);
  const more = async () => {
    const { value, done } = await reader.read();
    if (done) throw new Error("the stream ended");
    const joined = new Uint8Array(buffer.length + value.length);
    joined.set(buffer);
    joined.set(value, buffer.length);
    buffer = joined;
  };
  const blank = (from) => {
    for (let i = from; i + 3 < buffer.length; i++) {
      if (buffer[i] === 13 && buffer[i + 1] === 10 && buffer[i + 2] === 13 && buffer[i + 3] === 10) return i;
    }
    return -1;
  };
  while (true) {
    let end;
    while ((end = blank(0)) === -1) {
      if (buffer.length > 4096) throw new Error("no part headers in the stream");
      await more();
    }
    const headers = new TextDecoder().decode(buffer.subarray(0, end));
    const match = headers.match(/content-length:\\s*(\\d+)/i);
    if (!match) throw new Error("a part without Content-Length");
    const length = Number(match[1]);
    while (buffer.length < end + 4 + length) await more();
    yield buffer.slice(end + 4, end + 4 + length);
    buffer = buffer.subarray(end + 4 + length);
  }
}

function showFrame(jpeg) {
  lastJpeg = jpeg;
  lastFrameAt = performance.now();
  framesShown++;
  const stamp = readStamp(jpeg);
  if (stamp !== undefined) ages.push(Date.now() - stamp);
  const url = URL.createObjectURL(new Blob([jpeg], { type: "image/jpeg" }));
  shownUrls.push(url);
  live.src = url;
}

// Once a frame is on screen the ones before it are not needed.
live.addEventListener("load", () => {
  const at = shownUrls.indexOf(live.src);
  for (const url of shownUrls.splice(0, at)) URL.revokeObjectURL(url);
  fit();
});

/** Native size, or 2× when it fits: a whole factor, never blurred. */
function fit() {
  const w = live.naturalWidth, h = live.naturalHeight;
  if (!w || !h) return;
  const full = document.fullscreenElement === view;
  const roomW = full ? innerWidth : innerWidth - 32 - (innerWidth >= 2 * w + 320 ? 296 : 0);
  const roomH = full ? innerHeight : innerHeight - 60;
  const scale = 2 * w <= roomW && 2 * h <= roomH ? 2 : 1;
  live.width = w * scale;
  live.height = h * scale;
}
addEventListener("resize", fit);
document.addEventListener("fullscreenchange", fit);

function setState(text, offline) {
  show("state", text);
  $("state").className = offline ? "offline" : "";
  overlay.hidden = !offline;
  if (offline) overlay.textContent = text;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Reads the stream, and reads it again whenever it breaks. */
async function watch() {
  while (true) {
    if (paused) {
      await new Promise((resolve) => { resume = resolve; });
      continue;
    }
    controller = new AbortController();
    try {
      const response = await fetch("/stream.mjpg" + query, { signal: controller.signal, cache: "no-store" });
      if (!response.ok) throw new Error("HTTP " + response.status);
      lastFrameAt = performance.now();
      for await (const jpeg of parts(response.body.getReader())) {
        showFrame(jpeg);
        retryMs = 500;
        setState("live", false);
      }
    } catch (error) {
      if (paused) continue;
      setState("offline — reconnecting… (" + (error.message || error) + ")", true);
    }
    await sleep(retryMs);
    retryMs = Math.min(retryMs * 2, 2000);
  }
}

// A connection can die without a word (a cable pulled): no frame for a
// while means it is gone.
setInterval(() => {
  if (!paused && controller && performance.now() - lastFrameAt > STALL_MS) controller.abort(new Error("no frame for " + STALL_MS / 1000 + " s"));
}, 1000);

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)];
}

async function refresh() {
  show("shown", paused ? "paused" : framesShown + " fps");
  // Without new frames the figure stays, unless the stream is not live.
  if (paused || !overlay.hidden) show("latency", paused ? "paused" : "offline");
  else if (ages.length > 0) {
    show("latency", median(ages).toFixed(0) + " ms from capture to this page (median of the last second's frames)");
  }
  framesShown = 0;
  ages = [];
  try {
    const response = await fetch("/stats" + query, { cache: "no-store" });
    if (!response.ok) throw new Error("HTTP " + response.status);
    const stats = await response.json();
    show("source", stats.source + " (" + stats.state + ")");
    show("viewers", stats.viewers.tcp + " tcp, " + stats.viewers.http + " http" +
      (stats.viewers.pickle === undefined ? "" : ", " + stats.viewers.pickle + " pickle"));
    show("fps", stats.fpsIn.toFixed(1) + " captured");
    show("kbps", Math.round(stats.kbitPerSecondOut) + " kbit/s, " +
      stats.framesSent + " frames (" + stats.framesSkipped + " skipped for slow viewers)");
    show("uptime", Math.round(stats.uptimeSeconds) + " s");
  } catch (error) {
    show("source", "server unreachable: " + (error.message || error));
  }
}

function timeName() {
  const d = new Date(), p = (n) => String(n).padStart(2, "0");
  return "camwire-" + d.getFullYear() + "-" + p(d.getMonth() + 1) + "-" + p(d.getDate()) + "_" +
    p(d.getHours()) + "-" + p(d.getMinutes()) + "-" + p(d.getSeconds()) + ".jpg";
}

$("snapshot").addEventListener("click", async () => {
  let jpeg = lastJpeg;
  if (jpeg === null) {
    const response = await fetch("/snapshot.jpg" + query, { cache: "no-store" }).catch(() => null);
    if (!response || !response.ok) return;
    jpeg = new Uint8Array(await response.arrayBuffer());
  }
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([jpeg], { type: "image/jpeg" }));
  link.download = timeName();
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
});

$("fullscreen").addEventListener("click", () => {
  if (document.fullscreenElement) document.exitFullscreen();
  else view.requestFullscreen().catch(() => {});
});

$("pause").addEventListener("click", () => {
  paused = !paused;
  $("pause").textContent = paused ? "Resume" : "Pause";
  if (paused) {
    controller?.abort(new Error("paused"));
    setState("paused", false);
  } else {
    resume?.();
    resume = null;
  }
});

for (const button of document.querySelectorAll("[data-copy]")) {
  button.addEventListener("click", async () => {
    const input = $(button.dataset.copy);
    try {
      await navigator.clipboard.writeText(input.value);
    } catch {
      // Not a secure context (plain http on the LAN): the old way.
      input.select();
      document.execCommand("copy");
    }
    button.textContent = "Copied";
    setTimeout(() => { button.textContent = "Copy"; }, 1500);
  });
}

watch();
refresh();
setInterval(refresh, 1000);
</script>
</body>
</html>
`;
}
