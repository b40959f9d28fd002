// Copyright 2026 the camwire authors. MIT license.
/**
 * ffmpeg's command lines and output, as pure functions: the capture (camera,
 * test pattern, file, URL or stdin, scaled and encoded as MJPEG), the
 * publish relays, and the Windows camera listing. No I/O here.
 *
 * @module
 */

import { words } from "../../common/child.ts";

/** An operating system name as in `Deno.build.os`. */
export type Os = typeof Deno.build.os;

/** `--rotate`: clockwise degrees. */
export type Rotation = 0 | 90 | 180 | 270;

/** `--flip`: `h` mirrors left-right, `v` upside down, `hv` both. */
export type Flip = "h" | "v" | "hv";

/** The picture options: each needs ffmpeg to decode and re-encode. */
export interface Picture {
  /** Clockwise degrees. @default {0} */
  rotate?: Rotation | undefined;
  /** Mirroring. @default {undefined} */
  flip?: Flip | undefined;
  /** Text in the top left corner, strftime's `%H:%M:%S` expanded. @default {undefined} */
  overlay?: string | undefined;
}

/** What ffmpeg reads from, once `auto` is decided. */
export type SourceKind = "camera" | "test" | "file" | "stdin";

/** Options of {@linkcode captureArgs}. */
export interface CaptureOptions {
  /** Where frames come from. */
  kind: SourceKind;
  /** Camera device (kind `camera`) or path/URL (kind `file`). */
  input: string;
  /** Output width in pixels; the height keeps the aspect ratio (even). */
  width: number;
  /** Frames per second asked of a camera or the test pattern. */
  fps: number;
  /** MJPEG quality, ffmpeg's `-q:v`: 2 (best) to 31 (smallest). */
  quality: number;
  /** Operating system whose camera API to use. */
  os: Os;
  /** Start a file source over when it ends. @default {true} */
  loop?: boolean;
  /**
   * Linux camera: the mode to ask the camera for, from the same choice as
   * the V4L2 backend (server/camera/mode.ts): ffmpeg's `-input_format`
   * (`mjpeg`, `yuyv422`, …) and `-video_size` (`320x240`). Without them
   * ffmpeg takes whatever mode the driver was last left in.
   * @default {undefined}
   */
  cameraMode?: { inputFormat?: string; videoSize?: string } | undefined;
  /**
   * Stdin: raw frames of this pixel format and size (the camera's YUYV
   * fed by the V4L2 backend) instead of MJPEG. @default {undefined}
   */
  rawInput?: { pixelFormat: string; width: number; height: number } | undefined;
  /**
   * Local relay addresses (`udp://127.0.0.1:PORT`) that also get the
   * capture as H.264 in MPEG-TS, one per publish target. @default {[]}
   */
  relays?: string[];
  /** Rotation, mirroring and overlay text. @default {{}} */
  picture?: Picture | undefined;
}

/**
 * Whether the picture options change the picture: then a camera's own
 * JPEGs cannot be passed through.
 *
 * @param picture `--rotate`, `--flip`, `--overlay`.
 * @returns Whether any is set to something that changes the picture.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(changesPicture({ rotate: 0 }), false);
 * assert.equal(changesPicture({ flip: "h" }), true);
 * ```
 */
export function changesPicture(picture: Picture | undefined): boolean {
  return (picture?.rotate ?? 0) !== 0 || picture?.flip !== undefined ||
    picture?.overlay !== undefined;
}

/**
 * The video filter chain: scale to the width, then turn, mirror and draw
 * the overlay. Scaling comes first: the width keeps meaning the width the
 * camera sees (so the camera's mode is chosen the same way, nothing is
 * scaled up, and the turn moves the fewest pixels); a 90° turn of a
 * 320×240 picture at `--width 320` is 240×320. The overlay comes last, so
 * that its text is upright in the corner of the picture viewers get.
 *
 * @param width Output width before the turn.
 * @param picture `--rotate`, `--flip`, `--overlay`.
 * @returns ffmpeg's `-vf` value.
 *
 * @example A quarter turn clockwise and a mirror
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(
 *   videoFilters(320, { rotate: 90, flip: "h" }),
 *   "scale=320:-2,transpose=clock,hflip",
 * );
 * ```
 */
export function videoFilters(width: number, picture: Picture = {}): string {
  const filters = [`scale=${width}:-2`];
  switch (picture.rotate ?? 0) {
    case 90:
      filters.push("transpose=clock");
      break;
    case 180:
      filters.push("hflip", "vflip");
      break;
    case 270:
      filters.push("transpose=cclock");
      break;
  }
  if (picture.flip?.includes("h")) filters.push("hflip");
  if (picture.flip?.includes("v")) filters.push("vflip");
  if (picture.overlay !== undefined) {
    filters.push(overlayFilter(picture.overlay));
  }
  return filters.join(",");
}

/**
 * ffmpeg's `drawtext` for `--overlay`: white text on a half-dark box in
 * the top left corner, its size a sixteenth of the picture's height (at
 * least 12 px), in fontconfig's default font (`Sans`: DejaVu Sans on
 * Debian). The whole text is strftime's format (`%{localtime:TEXT}`), so
 * `%Y-%m-%d %H:%M:%S` is the local time of each frame and other text
 * stays as it is (`%%` is a percent sign).
 *
 * The text passes three parsers, each of which takes a backslash as
 * "the next character as is": drawtext's expansion (where `:` ends an
 * argument and `}` the function, and a leading space would be trimmed),
 * the filter's options (`:` ends a value) and the filter graph (`,;[]`
 * end a filter). So it is escaped once for each, innermost first.
 *
 * @param text The `--overlay` text.
 * @returns The filter.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * // Escaped for the option parser and the graph: `localtime\\:` is `localtime:`.
 * assert.ok(
 *   overlayFilter("cam").startsWith(String.raw`drawtext=text=%{localtime\\:cam}:`),
 * );
 * ```
 */
export function overlayFilter(text: string): string {
  const expansion = `%{localtime:${escaped(text, " ':{}")}}`;
  const option = escaped(`text=${expansion}`, "':");
  const style = [
    "x=8",
    "y=8",
    "fontsize=max(12\\,h/16)",
    "fontcolor=white",
    "box=1",
    "boxcolor=black@0.5",
    "boxborderw=4",
  ];
  return `drawtext=${escaped(option, "'[],;")}:${style.join(":")}`;
}

/** Puts a backslash before each backslash and each of `special`. */
function escaped(text: string, special: string): string {
  return text.replace(
    /[\s\S]/g,
    (c) => c === "\\" || special.includes(c) ? `\\${c}` : c,
  );
}

/**
 * Returns the camera device used when `--device` is not given.
 *
 * @param os Operating system.
 * @param dev Where Linux's device nodes are (tests point it elsewhere).
 * @returns `/dev/video0` on Linux, `0` (the first avfoundation device) on
 * macOS, and on Windows a dshow name that {@linkcode startServer} replaces
 * with the first video device ffmpeg lists.
 */
export function defaultDevice(os: Os, dev = "/dev"): string {
  if (os === "windows") return "video=auto";
  if (os === "darwin") return "0";
  return `${dev}/video0`;
}

/**
 * Builds ffmpeg's arguments for one capture: input, scaling to the width,
 * MJPEG encoding, raw JPEGs back to back on stdout. The V4L2 backend's
 * scale path is a `stdin` capture fed the camera's frames.
 *
 * Latency flags, each measured on the test chain: `-fflags nobuffer` and
 * `-flags low_delay` stop input buffering, a small probe starts fast,
 * `-threads 1` stops frame threading holding frames, `-flush_packets 1`
 * writes every JPEG as soon as it is encoded.
 *
 * @param options What to capture and how.
 * @returns ffmpeg's argument list (without the program name).
 *
 * @example Linux camera
 * ```ts
 * import assert from "node:assert/strict";
 * const args = captureArgs({
 *   kind: "camera", input: "/dev/video0", width: 320, fps: 30, quality: 5,
 *   os: "linux",
 * });
 * assert.deepEqual(args.slice(args.indexOf("-f"), args.indexOf("-i") + 2), [
 *   "-f", "v4l2", "-framerate", "30", "-i", "/dev/video0",
 * ]);
 * ```
 *
 * @example Linux camera in the mode chosen for it
 * ```ts
 * import assert from "node:assert/strict";
 * const args = captureArgs({
 *   kind: "camera", input: "/dev/video0", width: 320, fps: 30, quality: 5,
 *   os: "linux", cameraMode: { inputFormat: "mjpeg", videoSize: "320x240" },
 * });
 * assert.deepEqual(args.slice(args.indexOf("-f"), args.indexOf("-i") + 2), [
 *   "-f", "v4l2", "-input_format", "mjpeg", "-video_size", "320x240",
 *   "-framerate", "30", "-i", "/dev/video0",
 * ]);
 * ```
 */
export function captureArgs(options: CaptureOptions): string[] {
  const { kind, input, width, fps, quality, os } = options;
  const args = words("-hide_banner -loglevel error");
  if (kind !== "stdin") args.push("-nostdin");
  const lowDelay = words("-fflags nobuffer -flags low_delay");
  const smallProbe = words("-probesize 32 -analyzeduration 0");
  switch (kind) {
    case "camera":
      args.push(
        ...lowDelay,
        ...smallProbe,
        ...cameraInput(os, input, fps, options.cameraMode),
      );
      break;
    case "test":
      // -re: lavfi renders as fast as it can; read it at the frame rate.
      args.push(
        ...words("-re -f lavfi -i"),
        `testsrc2=size=640x480:rate=${fps}`,
      );
      break;
    case "file":
      if (isUrl(input)) {
        args.push(...lowDelay, "-i", input);
      } else {
        // A file plays at its native rate and starts over at its end.
        if (options.loop ?? true) args.push(...words("-stream_loop -1"));
        args.push("-re", "-i", input);
      }
      break;
    case "stdin": {
      args.push(...lowDelay, ...smallProbe);
      const raw = options.rawInput;
      if (raw === undefined) {
        args.push(...words("-f mjpeg -i pipe:0"));
      } else {
        // Raw frames carry no size or rate: say them.
        args.push(...words("-f rawvideo -pix_fmt"), raw.pixelFormat);
        args.push("-video_size", `${raw.width}x${raw.height}`);
        args.push(...words("-framerate"), String(fps), ...words("-i pipe:0"));
      }
      break;
    }
  }
  const filters = videoFilters(width, options.picture);
  args.push(...words("-an -threads 1 -vf"), filters);
  args.push(...words("-c:v mjpeg -q:v"), String(quality));
  args.push(...words("-f mjpeg -flush_packets 1 pipe:1"));
  const relays = options.relays ?? [];
  if (relays.length > 0) args.push(...h264Output(filters, relays));
  return args;
}

/**
 * ffmpeg's arguments for frames camwire itself feeds it on stdin, on
 * Linux: a V4L2 camera's frames to scale or encode, rpicam-vid's JPEGs to
 * turn, label or publish.
 *
 * @param options The capture's options but its kind, input and OS.
 * @returns ffmpeg's argument list, as {@linkcode captureArgs} builds it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const args = stdinArgs({ width: 320, fps: 30, quality: 5 });
 * assert.ok(args.join(" ").includes("-f mjpeg -i pipe:0"));
 * ```
 */
export function stdinArgs(
  options: Omit<CaptureOptions, "kind" | "input" | "os">,
): string[] {
  return captureArgs({ ...options, kind: "stdin", input: "-", os: "linux" });
}

/**
 * The second output of a publishing capture: H.264 for a media server
 * (fast, no B-frames, a keyframe every second so a new watcher starts
 * within a second), through the tee muxer to a local UDP relay per target.
 * UDP never fails to send, and `onfail=ignore` keeps ffmpeg going anyway:
 * so a publish target that goes away can never stop the local stream.
 */
function h264Output(filters: string, relays: string[]): string[] {
  const slaves = relays.map((url) => `[f=mpegts:onfail=ignore]${url}`);
  return [
    ...words("-map 0:v -vf"),
    filters,
    ...words("-c:v libx264 -preset ultrafast -tune zerolatency"),
    ...words("-pix_fmt yuv420p -force_key_frames expr:gte(t,n_forced*1)"),
    ...words("-f tee"),
    slaves.join("|"),
  ];
}

/**
 * The container a publish URL needs, by its scheme.
 *
 * @param url `rtmp://`, `rtmps://`, `rtsp://` or `srt://` address.
 * @returns ffmpeg's format name, or `undefined` for another scheme.
 */
export function publishFormat(url: string): string | undefined {
  const scheme = url.slice(0, url.indexOf("://")).toLowerCase();
  const formats: Record<string, string> = {
    rtmp: "flv",
    rtmps: "flv",
    rtsp: "rtsp",
    srt: "mpegts",
  };
  return Object.hasOwn(formats, scheme) ? formats[scheme] : undefined;
}

/**
 * ffmpeg's arguments for the relay that forwards one publish target's
 * H.264 from the capture's local UDP output, without re-encoding.
 *
 * @param relay The local UDP address the capture sends to.
 * @param url The media server's address.
 * @returns ffmpeg's argument list.
 */
export function relayArgs(relay: string, url: string): string[] {
  return [
    ...words("-hide_banner -loglevel error -nostdin -progress pipe:1"),
    // Keyframes come every second: 1.5 s of probing always sees one,
    // where ffmpeg's default 5 s would delay every (re)connection.
    ...words("-fflags nobuffer -analyzeduration 1500000"),
    ...words("-f mpegts -i"),
    // timeout: a relay whose capture has gone (5 s without input) ends.
    `${relay}?overrun_nonfatal=1&fifo_size=65536&timeout=5000000`,
    // A media server that hangs must fail the relay, so that it is retried.
    ...words("-c copy -rw_timeout 5000000 -f"),
    publishFormat(url) ?? "flv",
    url,
  ];
}

function cameraInput(
  os: Os,
  device: string,
  fps: number,
  mode: CaptureOptions["cameraMode"],
): string[] {
  const rate = ["-framerate", String(fps)];
  if (os === "windows") return ["-f", "dshow", ...rate, "-i", device];
  if (os === "darwin") return ["-f", "avfoundation", ...rate, "-i", device];
  const chosen: string[] = [];
  if (mode?.inputFormat) chosen.push("-input_format", mode.inputFormat);
  if (mode?.videoSize) chosen.push("-video_size", mode.videoSize);
  return ["-f", "v4l2", ...chosen, ...rate, "-i", device];
}

export function isUrl(input: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(input);
}

/**
 * Reads the video device names from the output of
 * `ffmpeg -list_devices true -f dshow -i dummy` (Windows).
 *
 * @param stderr ffmpeg's stderr text.
 * @returns Device names in the order ffmpeg lists them.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * const text = `[dshow @ 01] "USB Camera" (video)\n[dshow @ 01] "Mic" (audio)`;
 * assert.deepEqual(parseDshowVideoDevices(text), ["USB Camera"]);
 * ```
 */
export function parseDshowVideoDevices(stderr: string): string[] {
  const names: string[] = [];
  for (const match of stderr.matchAll(/"([^"]+)"\s*\(video\)/g)) {
    names.push(match[1]!);
  }
  return names;
}

/**
 * Names a source for log lines and `/stats`.
 *
 * @param source Its kind and device, path or URL.
 * @returns e.g. `camera /dev/video0`, `test pattern (testsrc2)`.
 */
export function describeSource(
  source: { kind: SourceKind; input: string },
): string {
  const { kind, input } = source;
  switch (kind) {
    case "camera":
      return `camera ${input}`;
    case "test":
      return "test pattern (testsrc2)";
    case "file":
      return isUrl(input) ? `stream ${input}` : `file ${input}`;
    case "stdin":
      return "MJPEG on stdin";
  }
}
