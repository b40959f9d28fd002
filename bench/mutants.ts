// Copyright 2026 the camwire authors. MIT license.
/**
 * Mutation check of the test suite: each mutation breaks one promised
 * behaviour with a small source edit, and names the test file that must
 * then fail. They are applied one at a time to a scratch copy of the
 * tracked tree (the working tree is never touched), and the report says
 * which were caught and which survived. A test that hangs instead of
 * failing is reported as such: every wait in a test must have a deadline.
 *
 * Not part of CI (it runs test files once per mutation: minutes).
 *
 * ```sh
 * deno task mutants                      # every mutation (after a control run of each test set)
 * deno task mutants --only backoff       # those whose name has "backoff"
 * deno task mutants --list               # names and test files only
 * ```
 *
 * Grow the list with each new promise: a mutation whose `from` text is no
 * longer in its file is reported as "stale" so that it is mended, not lost.
 *
 * @module
 */

import { parseArgs } from "node:util";

/** One broken behaviour and the tests that must notice. */
export interface Mutation {
  /** What is broken, in a few words. */
  name: string;
  /** The file to edit, from the repository root. */
  file: string;
  /** Text that stands exactly once in the file. */
  from: string;
  /** What it becomes. */
  to: string;
  /** Test files that must fail, from the root. */
  tests: string[];
  /** Only the tests whose name matches (deno test --filter). */
  filter?: string;
}

/** The mutations, one per promise of the README and docs/. */
export const MUTATIONS: Mutation[] = [
  {
    name: "backoff: restart delay fixed at 0.5 s",
    file: "common/backoff.ts",
    from: "this.#next = Math.min(delay * 2, MAX_BACKOFF_MS);",
    to: "this.#next = delay;",
    tests: ["server/capture/capture_test.ts"],
  },
  {
    name: "backoff: no 5 s cap",
    file: "common/backoff.ts",
    from: "this.#next = Math.min(delay * 2, MAX_BACKOFF_MS);",
    to: "this.#next = delay * 2;",
    tests: ["server/capture/capture_test.ts"],
  },
  {
    name: "backoff: no reset after a healthy minute",
    file: "common/backoff.ts",
    from: "if (ms >= HEALTHY_MS) this.reset();",
    to: "",
    tests: ["server/capture/capture_test.ts"],
  },
  {
    name: "capture: the last live frame instead of the no-signal picture",
    file: "server.ts",
    from: "() => noSignal.frame && broadcaster.deliver(noSignal.frame),",
    to:
      "() => broadcaster.current && broadcaster.deliver(broadcaster.current.jpeg.slice()),",
    tests: ["e2e/faults_test.ts"],
    filter: "placeholder",
  },
  {
    name: "capture: no placeholder at all",
    file: "server.ts",
    from: "() => noSignal.frame && broadcaster.deliver(noSignal.frame),",
    to: "() => {},",
    tests: ["e2e/faults_test.ts"],
    filter: "placeholder",
  },
  {
    name: "window: every frame written to ffplay (queueing)",
    file: "common/ffplay.ts",
    from: "this.#sender.offer(jpeg);",
    to: "this.#writer.write(jpeg).catch(() => {});",
    tests: ["common/ffplay_test.ts"],
  },
  {
    name: "window: an option the real ffplay rejects",
    file: "common/ffplay.ts",
    from: '...words("-use_wallclock_as_timestamps 1 -window_title"),',
    to:
      '...words("-no_such_option 1 -use_wallclock_as_timestamps 1 -window_title"),',
    tests: ["common/ffplay_test.ts"],
  },
  {
    name: "window: no check for a display",
    file: "common/ffplay.ts",
    from: "if (!hasDisplay(env, Deno.build.os)) throw new NoDisplayError();",
    to: "",
    tests: ["common/ffplay_test.ts"],
  },
  {
    name: "window: SDL may fall back to a driver that shows nothing",
    file: "common/ffplay.ts",
    from: "SDL_VIDEODRIVER: env.SDL_VIDEODRIVER ?? SDL_VIDEO_DRIVERS,",
    to: "",
    tests: ["common/ffplay_test.ts"],
  },
  {
    name: "client --stats: dropped always 0",
    file: "client.ts",
    from: "} kbit/s, ${droppedTotal - this.#dropped} dropped, ${latency}`;",
    to: "} kbit/s, 0 dropped, ${latency}`;",
    tests: ["e2e/client_test.ts"],
  },
  {
    name: "client --reconnect: no doubling",
    file: "client.ts",
    from: "const delay = backoff.next();",
    to: "const delay = (backoff.next(), 500);",
    tests: ["e2e/client_test.ts", "e2e/faults_test.ts"],
    filter: "reconnect",
  },
  {
    name: "send queue: TCP_NOTSENT_LOWAT never set",
    file: "server/net/sockets.ts",
    from: "export function limitSendQueue(port: number, bytes: number): void {",
    to:
      "export function limitSendQueue(port: number, bytes: number): void {\n  if (port > 0) return;",
    tests: ["server/net/sockets_test.ts"],
  },
  {
    name: "framing: RST4-RST7 inside entropy data taken for markers",
    file: "framing.ts",
    from: "if (code === 0x00 || (code >= 0xd0 && code <= 0xd7)) {",
    to: "if (code === 0x00 || (code >= 0xd0 && code <= 0xd3)) {",
    tests: ["framing_test.ts"],
  },
  {
    name: "token: any token accepted",
    file: "server/viewers/viewers.ts",
    from: 'const right = constantTimeEqual(rest.join(" "), token);',
    to: "const right = token.length > 0;",
    tests: ["e2e/faults_test.ts"],
    filter: "token",
  },
  {
    name: "http: any Bearer token accepted",
    file: "server/http/http.ts",
    from: "ok = equals(value, token);",
    to: "ok = true;",
    tests: ["server/http/routes_test.ts", "server/http/http_test.ts"],
  },
  {
    name: "viewers: stalled viewers never dropped",
    file: "server/viewers/viewers.ts",
    from: "if (since !== 0 && now - since > limitMs) {",
    to: "if (since !== 0 && now - since > limitMs * 1000) {",
    tests: ["e2e/faults_test.ts", "server/http/http_test.ts"],
    filter: "stall|never read",
  },
  {
    name: "viewers: --max-clients ignored",
    file: "server/server.ts",
    from: "if (this.#connections >= max) {",
    to: "if (this.#connections >= max * 1000) {",
    tests: ["e2e/faults_test.ts"],
    filter: "max-clients",
  },
  {
    name: "http: Basic auth takes any password",
    file: "server/http/http.ts",
    from: "ok = equals(password, token) && userOk;",
    to: "ok = userOk;",
    tests: ["server/http/routes_test.ts", "server/http/http_test.ts"],
  },
  {
    name: "docs: the TLS recipe's certificate is a CA again",
    file: "docs/tls.md",
    from: ' -addext "basicConstraints=critical,CA:FALSE" -keyout',
    to: " -keyout",
    tests: ["e2e/docs_test.ts"],
  },
  {
    name: "docs: a README link names a heading that is not there",
    file: "README.md",
    from: "(docs/client.md#recordings)",
    to: "(docs/client.md#recording)",
    tests: ["e2e/docs_links_test.ts"],
  },
  {
    name: "README: the test command is not the one CI runs",
    file: "README.md",
    from: "\ndeno task test\n",
    to: "\ndeno task tests\n",
    tests: ["e2e/docs_test.ts"],
  },
  {
    name: "README: the Setup's server line streams another width",
    file: "README.md",
    from: "\ndeno run -A server.ts\n",
    to: "\ndeno run -A server.ts --width 640\n",
    tests: ["e2e/docs_test.ts"],
  },
  {
    name: "docs: the architecture map leaves a product file out",
    file: "docs/architecture.md",
    from: "[`tally.ts`](../server/net/tally.ts)",
    to: "`tally.ts`",
    tests: ["e2e/docs_links_test.ts"],
  },
  {
    name: "status: an idle server logs the same line every interval",
    file: "server/status.ts",
    from: "if (line === this.#lastLine) return;",
    to: "",
    tests: ["server/status_test.ts"],
  },
  {
    name: "latest: a slow peer gets every frame queued",
    file: "common/latest.ts",
    from: "      this.#pending = frame;\n      return;",
    to: "      this.#pending ??= frame;\n      return;",
    tests: ["common/latest_test.ts"],
  },
  {
    name: "on-demand: the capture never stops",
    file: "server/on_demand.ts",
    from: "await supervisor.pause();",
    to: "await Promise.resolve();",
    tests: ["e2e/scaleout_test.ts"],
    filter: "demand",
  },
  {
    name: "stats: the capture state always live",
    file: "server/server.ts",
    from: "state: supervisor.state,",
    to: 'state: "live" as const,',
    tests: ["e2e/faults_test.ts"],
    filter: "placeholder",
  },
  {
    name: "token: no 5 s limit for the token line",
    file: "server/viewers/viewers.ts",
    from: "export const TOKEN_TIMEOUT_MS = 5000;",
    to: "export const TOKEN_TIMEOUT_MS = 60_000;",
    tests: ["e2e/faults_test.ts"],
    filter: "token",
  },
  {
    name: "send queue: --send-queue not applied to viewers",
    file: "server/net/net.ts",
    from:
      "  if (bytes <= 0) return;\n  try {\n    limitSendQueue(port, bytes);",
    to: "  if (bytes > 0) return;\n  try {\n    limitSendQueue(port, bytes);",
    tests: ["e2e/faults_test.ts"],
    filter: "send-queue",
  },
  {
    name: "on-demand: a start may overlap the stop (two ffmpeg at once)",
    file: "server/on_demand.ts",
    from: "this.#switching = this.#switching.then(async () => {",
    to: "this.#switching = Promise.resolve().then(async () => {",
    tests: ["e2e/scaleout_test.ts"],
    filter: "demand",
  },
  {
    name: "server: --width ignored",
    file: "server/capture/ffmpeg.ts",
    from: "const filters = [`scale=${width}:-2`];",
    to: 'const filters = ["scale=320:-2"];',
    tests: ["e2e/server_test.ts"],
    filter: "width",
  },
  {
    name: "server: --fps ignored",
    file: "server/capture/ffmpeg.ts",
    from: "`testsrc2=size=640x480:rate=${fps}`,",
    to: "`testsrc2=size=640x480:rate=30`,",
    tests: ["e2e/server_test.ts"],
    filter: "width",
  },
  {
    name: "server: --quality ignored",
    file: "server/capture/ffmpeg.ts",
    from: 'args.push(...words("-c:v mjpeg -q:v"), String(quality));',
    to: 'args.push(...words("-c:v mjpeg -q:v"), "5");',
    tests: ["e2e/server_test.ts"],
    filter: "width",
  },
  {
    name: "server: a file source read as fast as ffmpeg can",
    file: "server/capture/ffmpeg.ts",
    from: 'args.push("-re", "-i", input);',
    to: 'args.push("-i", input);',
    tests: ["e2e/server_test.ts"],
    filter: "native rate",
  },
  {
    name: "server: a file source played once, then restarted as a lost capture",
    file: "server/capture/ffmpeg.ts",
    from: 'if (options.loop ?? true) args.push(...words("-stream_loop -1"));',
    to: "",
    tests: ["e2e/server_test.ts"],
    filter: "native rate",
  },
  {
    name: "server: no warning that anyone can watch",
    file: "server.ts",
    from: "if (flags.token === undefined && !isLoopback(flags.host)) {",
    to: "if (flags.token === undefined && isLoopback(flags.host)) {",
    tests: ["e2e/server_test.ts"],
    filter: "anyone",
  },
  {
    name: "server: --source auto tries the missing camera first",
    file: "server/capture/capture.ts",
    from: 'if (os === "linux" && !pathExists(device)) {',
    to: 'if (os === "linux" && !pathExists(device) && false) {',
    tests: ["e2e/server_test.ts"],
    filter: "auto",
  },
  {
    name: "server: --preview never opened",
    file: "server.ts",
    from: "if (settings.preview) server.startPreview();",
    to: "",
    tests: ["e2e/server_test.ts"],
    filter: "preview",
  },
  {
    name: "client --reconnect: the window closed while the server is away",
    file: "client.ts",
    from: "if (got > 0) backoff.reset(); // it worked for a while",
    to: "if (got > 0) backoff.reset();\n    await sink.close();",
    tests: ["e2e/client_test.ts"],
    filter: "window open",
  },
  {
    name: "v4l2: a multi-planar node driven as single-planar",
    file: "server/camera/v4l2.ts",
    from: "this.#multiplanar = multi && !single;",
    to: "this.#multiplanar = false;",
    tests: ["e2e/camera_shapes_test.ts"],
    filter: "multi-planar camera's MJPEG",
  },
  {
    name: "v4l2: only the first plane of a multi-planar frame copied out",
    file: "server/camera/v4l2.ts",
    from: "if (parts.length === 1) return parts[0]!.slice();",
    to: "return parts[0]!.slice();",
    tests: ["e2e/camera_shapes_test.ts"],
    filter: "NV12",
  },
  {
    name: "v4l2: the whole device's capabilities, not the node's device_caps",
    file: "server/camera/v4l2.ts",
    from: "if (caps & ABI.V4L2_CAP_DEVICE_CAPS) {",
    to: "if (caps & 0) {",
    tests: ["server/camera/v4l2_shapes_test.ts"],
    filter: "metadata",
  },
  {
    name: "mode: a range of sizes offers only its largest (ffmpeg scales it)",
    file: "server/camera/mode.ts",
    from: "if (m.sizes === undefined) return [m];",
    to: "return [m];",
    tests: ["e2e/camera_shapes_test.ts"],
    filter: "bcm2835",
  },
  {
    name: "mode: a range of rates gives its fastest, not --fps",
    file: "server/camera/mode.ts",
    from:
      "const rate = Math.min(Math.max(fps, mode.rates.min), mode.rates.max);",
    to: "const rate = mode.rates.max;",
    tests: ["e2e/camera_shapes_test.ts"],
    filter: "frame intervals",
  },
  {
    name: "camera: frames the driver flags damaged passed on",
    file: "server/camera/capture.ts",
    from: "if (frame.damaged) {",
    to: "if (frame.damaged && false) {",
    tests: ["e2e/camera_shapes_test.ts"],
    filter: "damaged",
  },
  {
    name: "camera: the first dropped frame logged only 10 s after the start",
    file: "server/camera/capture.ts",
    from: "#droppedLoggedAt = -Infinity;",
    to: "#droppedLoggedAt = 0;",
    tests: ["e2e/camera_shapes_test.ts"],
    filter: "damaged",
  },
  {
    name: "controls: disabled controls listed",
    file: "server/camera/v4l2_controls.ts",
    from:
      "type === undefined || (found.flags & ABI.V4L2_CTRL_FLAG_DISABLED) !== 0",
    to: "type === undefined",
    tests: ["e2e/camera_controls_test.ts"],
    filter: "--list-devices",
  },
  {
    name: "controls: no QUERYCTRL where QUERY_EXT_CTRL is missing",
    file: "server/camera/v4l2_controls.ts",
    from: 'if (found === "ENOTTY" && extended) {',
    to: "if (false) {",
    tests: ["server/camera/v4l2_shapes_test.ts"],
    filter: "controls",
  },
  {
    name: "controls: the names before Linux 5.16 not taken",
    file: "server/camera/v4l2_controls.ts",
    from: "const id = CONTROL_ALIASES[name];",
    to: "const id = undefined;",
    tests: ["e2e/camera_controls_test.ts"],
    filter: "--control sets",
  },
  {
    name: "controls: --control not set after the mode",
    file: "server/camera/capture.ts",
    from:
      "applyControls(device, this.#options.controls ?? [], this.#options.log);",
    to: "",
    tests: ["e2e/camera_controls_test.ts"],
    filter: "--control sets",
  },
  {
    name: "controls: a value out of range not refused",
    file: "server/camera/controls.ts",
    from: "if (!fits) {",
    to: "if (false) {",
    tests: ["e2e/camera_controls_test.ts"],
    filter: "one line",
  },
  {
    name: "controls: POST /controls allowed without --token",
    file: "server/http/controls.ts",
    from: "if (!request.tokenGiven) {",
    to: "if (false) {",
    tests: ["e2e/camera_controls_test.ts"],
    filter: "without --token",
  },
  {
    name: "controls: POST /controls from another site's page allowed",
    file: "server/http/controls.ts",
    from: "request.origin !== null && request.origin !== own &&",
    to: "false &&",
    tests: ["e2e/camera_controls_test.ts"],
    filter: "GET /controls reads",
  },
  // Who gets in (access): the wrong-token history and spacing of every
  // port, --trusted-proxy, --max-clients-per-ip, the TLS port's first byte,
  // the HTTP head's limits.
  {
    name:
      "access: no wrong-token history (each repeat of a stale token a new guess)",
    file: "server/net/admission.ts",
    from: ".update(sent).digest()",
    to: ".update(sent + Math.random()).digest()",
    tests: ["e2e/access_test.ts", "server/net/token_history_test.ts"],
    filter: "stale|repeat",
  },
  {
    name: "access: distinct wrong tokens not spaced out",
    file: "server/net/admission.ts",
    from:
      "const spacing = Math.min(FIRST_SPACING_MS * 2 ** over, MAX_SPACING_MS);",
    to: "const spacing = 0;",
    tests: ["e2e/access_test.ts"],
    filter: "distinct|250 ms apart",
  },
  {
    name: "access: a right token skips a guessing address's turn",
    file: "server/net/admission.ts",
    from: "const wait = this.tokenDelay(address);",
    to: "const wait = presented.right ? 0 : this.tokenDelay(address);",
    tests: ["e2e/access_test.ts"],
    filter: "waits its turn",
  },
  {
    name: "access: an address's refusal never logged",
    file: "server/net/admission.ts",
    from: "this.#onSlowedDown(address, wrong.count);",
    to: "",
    tests: ["e2e/access_test.ts"],
    filter: "one line",
  },
  {
    name: "access: HTTP tokens checked without the spacing",
    file: "server/http/http.ts",
    from: ".checkToken(addressOfRequest(info), presented, info.signal);",
    to:
      '.checkToken(addressOfRequest(info), presented, info.signal) && (presented.right ? "right" : "wrong");',
    tests: ["e2e/access_test.ts"],
    filter: "HTTP",
  },
  {
    name:
      "access: the HTTP side counts wrong tokens apart from the other ports",
    file: "server/http/http.ts",
    from: "this.#admission = options.admission ?? new Admission(",
    to: "this.#admission = new Admission(",
    tests: ["e2e/access_test.ts"],
    filter: "count one",
  },
  {
    name: "access: a TLS ClientHello on a plain port counted as a wrong token",
    file: "server/viewers/viewers.ts",
    from: 'if (word !== "camwire") {',
    to: 'if (word === "\\0") {',
    tests: ["e2e/tls_ports_test.ts"],
    filter: "plain port",
  },
  {
    name: "trusted proxy: X-Forwarded-For never read",
    file: "server/http/serve.ts",
    from:
      "address: this.#options.trustedProxies?.clientOf(address, head.headers) ??",
    to: "address: undefined ??",
    tests: ["e2e/proxy_test.ts", "e2e/proxy_recipe_test.ts"],
    filter: "trusted-proxy|recipe",
  },
  {
    name: "trusted proxy: X-Forwarded-For believed from any peer",
    file: "server/net/proxy.ts",
    from: "if (this.#ranges.length === 0 || !this.has(peer)) return peer;",
    to: "if (this.#ranges.length === 0) return peer;",
    tests: ["e2e/proxy_test.ts"],
    filter: "not a trusted proxy",
  },
  {
    name: "trusted proxy: the leftmost hop (the client's own word) taken",
    file: "server/net/proxy.ts",
    from: "for (let i = hops.length - 1; i >= 0; i--) {",
    to: "for (let i = 0; i < hops.length; i++) {",
    tests: ["e2e/proxy_test.ts"],
    filter: "with --trusted-proxy",
  },
  {
    name: "per-ip: --max-clients-per-ip not passed to admission",
    file: "server/server.ts",
    from: "maxPerAddress: settings.maxClientsPerIp,",
    to: "maxPerAddress: 0,",
    tests: ["e2e/proxy_test.ts"],
    filter: "max-clients-per-ip",
  },
  {
    name: "per-ip: --max-clients-per-ip off by a thousand",
    file: "server/net/admission.ts",
    from: "this.#maxPerAddress > 0 && n >= this.#maxPerAddress &&",
    to: "this.#maxPerAddress > 0 && n >= this.#maxPerAddress * 1000 &&",
    tests: ["e2e/proxy_test.ts"],
    filter: "max-clients-per-ip",
  },
  {
    name: "tls: a silent plain client waits out the 3 s handshake deadline",
    file: "server/viewers/doorway.ts",
    from: "() => checkSilent(conn, () => silent = true),",
    to: "() => {},",
    tests: ["e2e/tls_ports_test.ts"],
  },
  {
    name: "tls: a silent plain client closed without the TLS alert",
    file: "server/net/sockets.ts",
    from:
      "lib.symbols.send(fd, say, BigInt(say.length), MSG_DONTWAIT | MSG_NOSIGNAL);",
    to: "",
    tests: ["e2e/tls_ports_test.ts"],
  },
  {
    name: "http: 431 off by one (a head over 8 KiB freezes the server)",
    file: "server/http/wire.ts",
    from: "if (have === buf.length) {",
    to: "if (have > buf.length) {",
    tests: ["e2e/http_limits_test.ts"],
    filter: "8 KiB",
  },
  {
    name: "http: a request body accepted (no smuggling guard)",
    file: "server/http/wire.ts",
    from:
      'if (headers.has("transfer-encoding") || (length !== null && length !== "0")) {',
    to: "if (length === '-') {",
    tests: ["e2e/http_limits_test.ts"],
    filter: "body",
  },
];

/** How one mutation fared. */
type Verdict = "caught" | "survived" | "hung" | "stale";

const ROOT = new URL("..", import.meta.url).pathname;
/** A test file that runs longer than this is taken as hanging. */
const TEST_TIMEOUT_MS = 240_000;

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      only: { type: "string" },
      list: { type: "boolean", default: false },
    },
  });
  const chosen = MUTATIONS.filter((m) =>
    values.only === undefined || m.name.includes(values.only)
  );
  if (values.list) {
    for (const m of chosen) console.log(`${m.name}  [${m.tests.join(" ")}]`);
    return;
  }
  const scratch = await scratchCopy();
  const verdicts: [Mutation, Verdict, number][] = [];
  try {
    // A test that fails without any mutation would "catch" them all.
    const controls = new Map(
      chosen.map((m) => [`${m.tests.join(" ")} ${m.filter ?? ""}`, m]),
    );
    for (const [key, control] of controls) {
      if (await runTests(scratch, control) !== "survived") {
        console.log(`control failed: ${key.trim()} fails unmutated`);
        Deno.exitCode = 2;
        return;
      }
    }
    console.log(`controls: ${controls.size} test runs pass unmutated`);
    for (const mutation of chosen) {
      const started = performance.now();
      const verdict = await judge(scratch, mutation);
      const seconds = (performance.now() - started) / 1000;
      verdicts.push([mutation, verdict, seconds]);
      console.log(
        `${verdict.padEnd(8)} ${mutation.name} (${seconds.toFixed(0)} s)`,
      );
    }
  } finally {
    await Deno.remove(scratch, { recursive: true });
  }
  const caught = verdicts.filter(([, v]) => v === "caught").length;
  console.log(`\n${caught} of ${verdicts.length} mutations caught`);
  if (caught < verdicts.length) Deno.exitCode = 1;
}

/** A copy of the files git tracks (and untracked, unignored ones). */
async function scratchCopy(): Promise<string> {
  const { stdout } = await new Deno.Command("git", {
    args: ["ls-files", "--cached", "--others", "--exclude-standard", "-z"],
    cwd: ROOT,
    stdout: "piped",
  }).output();
  const dir = await Deno.makeTempDir({ prefix: "camwire-mutants-" });
  for (const file of new TextDecoder().decode(stdout).split("\0")) {
    if (file === "") continue;
    const target = `${dir}/${file}`;
    await Deno.mkdir(target.slice(0, target.lastIndexOf("/")), {
      recursive: true,
    });
    try {
      await Deno.copyFile(`${ROOT}${file}`, target);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error; // deleted
    }
  }
  return dir;
}

/** Applies one mutation, runs its tests, and puts the file back. */
async function judge(scratch: string, mutation: Mutation): Promise<Verdict> {
  const path = `${scratch}/${mutation.file}`;
  const original = await Deno.readTextFile(path);
  if (original.split(mutation.from).length !== 2) return "stale";
  await Deno.writeTextFile(path, original.replace(mutation.from, mutation.to));
  try {
    return await runTests(scratch, mutation);
  } finally {
    await Deno.writeTextFile(path, original);
  }
}

/**
 * Runs a mutation's tests on the scratch copy as it stands.
 *
 * @returns "caught" when they failed, "survived" when they passed.
 */
async function runTests(
  scratch: string,
  mutation: Pick<Mutation, "tests" | "filter">,
): Promise<Verdict> {
  const filter = mutation.filter === undefined
    ? []
    : ["--filter", `/${mutation.filter}/`];
  // Its own session, so that a hung run is ended with every server,
  // ffmpeg and client it started.
  const child = new Deno.Command("setsid", {
    args: [
      Deno.execPath(),
      "test",
      "-A",
      "--no-check",
      "--sanitize-ops",
      "--sanitize-resources",
      ...filter,
      ...mutation.tests,
    ],
    cwd: scratch,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  let hung = false;
  const timer = setTimeout(() => {
    hung = true;
    killGroup(child.pid);
  }, TEST_TIMEOUT_MS);
  const status = await child.status;
  clearTimeout(timer);
  killGroup(child.pid); // whatever a failed run left behind
  if (hung) return "hung";
  return status.success ? "survived" : "caught";
}

/** Kills a process group; it may be gone already. */
function killGroup(pid: number): void {
  new Deno.Command("kill", {
    args: ["-KILL", "--", `-${pid}`],
    stdout: "null",
    stderr: "null",
  }).outputSync();
}

if (import.meta.main) {
  await main();
}
