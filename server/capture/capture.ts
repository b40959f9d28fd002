// Copyright 2026 the camwire authors. MIT license.
/**
 * The capture side: one ffmpeg process and its JPEGs, a supervisor that
 * restarts it with backoff when it exits or stalls (feeding viewers the
 * "no signal" placeholder meanwhile); the choice of source is source.ts.
 *
 * @module
 */

import { JpegSplitter } from "../../framing.ts";
import { CamwireError, message } from "../../common/cli.ts";
import { deadline, seconds, type Timer } from "../../common/time.ts";
import { Backoff, MAX_BACKOFF_MS } from "../../common/backoff.ts";
import {
  endProcess,
  linesOf,
  signalProcess,
  spawn,
  words,
} from "../../common/child.ts";
import { overlayFilter } from "./ffmpeg.ts";

/** One ffmpeg process and the JPEGs it produces. */
export class Capture implements SupervisedCapture {
  #child: Deno.ChildProcess;
  #stderrTail: string[] = [];
  #stderrDone: Promise<void>;
  #stdin: WritableStreamDefaultWriter<Uint8Array> | null = null;
  #writing = false;
  /** Settles with ffmpeg's exit status once its output is drained. */
  readonly ended: Promise<Deno.CommandStatus>;
  readonly firstFrame: Promise<void>;

  constructor(
    program: string,
    args: string[],
    stdin: "inherit" | "null" | "piped",
    onFrame: (jpeg: Uint8Array) => void,
  ) {
    this.#child = spawn(program, {
      args,
      stdin,
      stdout: "piped",
      stderr: "piped",
    });
    if (stdin === "piped") this.#stdin = this.#child.stdin.getWriter();
    this.#stderrDone = this.#drainStderr();
    let resolveFirst!: () => void;
    this.firstFrame = new Promise((resolve) => resolveFirst = resolve);
    this.ended = this.#readFrames((jpeg) => {
      resolveFirst();
      onFrame(jpeg);
    });
  }

  /** The ffmpeg process id. */
  get pid(): number {
    return this.#child.pid;
  }

  /** ffmpeg's last stderr line, for error messages. */
  get lastError(): string {
    return this.#stderrTail.at(-1) ?? "";
  }

  async #readFrames(
    onFrame: (jpeg: Uint8Array) => void,
  ): Promise<Deno.CommandStatus> {
    const splitter = new JpegSplitter();
    const reader = this.#child.stdout.getReader();
    while (true) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch {
        break; // the pipe broke because ffmpeg was killed: see its status
      }
      if (chunk.done) break;
      // A fault of ours in handling a frame must not pass for ffmpeg's.
      for (const jpeg of splitter.push(chunk.value)) onFrame(jpeg);
    }
    const status = await this.#child.status;
    await this.#stderrDone;
    // ffmpeg is gone: release its stdin pipe (stop() closes it itself).
    const stdin = this.#stdin;
    this.#stdin = null;
    await stdin?.abort().catch(() => {});
    return status;
  }

  async #drainStderr(): Promise<void> {
    try {
      for await (const line of linesOf(this.#child.stderr)) {
        this.#remember(line);
      }
    } catch {
      // stderr closes with the process; nothing left to read.
    }
  }

  #remember(line: string): void {
    if (line.trim() === "") return;
    this.#stderrTail.push(line.trim());
    if (this.#stderrTail.length > 20) this.#stderrTail.shift();
  }

  /**
   * Writes input to ffmpeg (started with `stdin: "piped"`), unless the
   * last write is still in flight: then the input is dropped, so that a
   * slow ffmpeg gets the newest frame rather than a queue of old ones.
   *
   * @returns Whether it was written.
   */
  feed(bytes: Uint8Array): boolean {
    const stdin = this.#stdin;
    if (stdin === null || this.#writing) return false;
    this.#writing = true;
    stdin.write(bytes).catch(() => {
      // ffmpeg is gone: its exit status tells why.
    }).finally(() => this.#writing = false);
    return true;
  }

  /**
   * Writes input to ffmpeg and waits until it took it: the pace of a
   * stream that must not lose a frame (a file piped in on stdin).
   *
   * @returns Whether it was written (not when ffmpeg is gone).
   */
  async write(bytes: Uint8Array): Promise<boolean> {
    const stdin = this.#stdin;
    if (stdin === null) return false;
    return await stdin.write(bytes).then(() => true, () => false);
  }

  /** Closes ffmpeg's input: it encodes what it has, then exits by itself. */
  async endInput(): Promise<void> {
    const stdin = this.#stdin;
    this.#stdin = null;
    await stdin?.close().catch(() => {});
  }

  /** Ends ffmpeg and waits until its output is drained. */
  async stop(): Promise<void> {
    const stdin = this.#stdin;
    this.#stdin = null;
    // Closing stdin lets ffmpeg finish; the signal ends it if it does not.
    const closed = stdin?.close().catch(() => {});
    await endProcess(this.#child, this.ended);
    await closed;
  }

  /** Sends ffmpeg a signal, if it still runs. */
  kill(signal: Deno.Signal): void {
    signalProcess(this.#child, signal);
  }
}

/** How long the first capture may take to deliver its first frame. */
const START_TIMEOUT_MS = 10_000;
/** How long an ffmpeg exit waits before it counts as a capture fault. */
const EXIT_GRACE_MS = 100;
/** How often the "no signal" placeholder is sent while there is no capture. */
const PLACEHOLDER_INTERVAL_MS = 1000;

/**
 * Where the capture stands: `live` (frames flow), `restarting` (a new
 * ffmpeg is starting), `placeholder` (none runs: waiting out the backoff,
 * viewers see the "no signal" frame) or `idle` (`--on-demand` and nobody
 * watches: ffmpeg is off).
 */
export type CaptureState = "live" | "restarting" | "placeholder" | "idle";

/**
 * The source cannot be opened: the first capture ended, or sent no frame in
 * time, or there is no camera to open. A source the user did not name may
 * fall back to the test pattern on this error, and on no other.
 */
export class SourceOpenError extends CamwireError {
  /**
   * @param message `Cannot open <source>: <reason>`.
   * @param cause The capture's own failure, when it has one (a
   * `V4l2Error` naming the failing call and errno).
   */
  constructor(message: string, cause?: Error) {
    super(message);
    this.name = "SourceOpenError";
    if (cause !== undefined) this.cause = cause;
  }
}

/**
 * What {@linkcode CaptureSupervisor} needs of a capture: the shape of
 * {@linkcode Capture}, so that tests can supervise a fake one.
 */
export interface SupervisedCapture {
  /** The ffmpeg process id; none for a camera passed through. */
  readonly pid: number | undefined;
  /** ffmpeg's last stderr line, for error messages. */
  readonly lastError: string;
  /** Resolves with the first frame. */
  readonly firstFrame: Promise<void>;
  /** Settles with ffmpeg's exit status once its output is drained. */
  readonly ended: Promise<Deno.CommandStatus>;
  /** Ends ffmpeg and waits until its output is drained. */
  stop(): Promise<void>;
  /** Sends ffmpeg a signal (the supervisor sends `SIGKILL` on a stall). */
  kill(signal: Deno.Signal): void;
  /** What it is, in log lines. @default {"ffmpeg"} */
  readonly label?: string;
  /** Why it failed, when it knows better than its last error line. */
  readonly failure?: Error | undefined;
  /** Frames it dropped as damaged (a camera's truncated frames). */
  readonly framesDropped?: number;
}

/**
 * The time and timers {@linkcode CaptureSupervisor} uses: by default
 * `performance.now()` and the global timers; tests pass a fake clock whose
 * time only moves when they say so.
 */
export interface SupervisorClock {
  /** Monotonic milliseconds, like `performance.now()`. */
  now(): number;
  setTimeout(callback: () => void, ms: number): ClockTimer;
  clearTimeout(timer: ClockTimer): void;
  setInterval(callback: () => void, ms: number): ClockTimer;
  clearInterval(timer: ClockTimer): void;
}

/**
 * What a {@linkcode SupervisorClock} timer function returns, only to be
 * handed back to its clear function. Opaque because the global timers'
 * {@linkcode Timer} is a number in Deno but a `Timeout` object wherever
 * Node's types are loaded (any module importing `node:assert`), and a fake
 * clock cannot make one of those.
 */
export type ClockTimer = unknown;

const realClock: SupervisorClock = {
  now: () => performance.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (timer) => clearTimeout(timer as Timer | undefined),
  setInterval: (callback, ms) => setInterval(callback, ms),
  clearInterval: (timer) => clearInterval(timer as Timer | undefined),
};

/** How {@linkcode CaptureSupervisor} gets its ffmpeg and reports. */
export interface SupervisorOptions {
  ffmpeg: string;
  args: string[];
  /** ffmpeg's stdin: `inherit` when it reads the server's own stdin. */
  stdin: "inherit" | "null";
  /** Restart when no frame came for this long. */
  stallTimeoutMs: number;
  /**
   * Stop for good when the capture ends, instead of restarting it: with
   * `--exit-on-source-end`, and for stdin, which cannot start over.
   */
  exitOnSourceEnd: boolean;
  onFrame: (jpeg: Uint8Array) => void;
  /** Called once a second while no capture delivers frames. */
  onNoSignal: () => void;
  log: (line: string) => void;
  /**
   * Time and timers, for restarts, stalls and the placeholder. The 10 s
   * deadline of {@linkcode CaptureSupervisor.start} keeps to the global
   * timers: `deadline()` in common/time.ts takes no clock.
   *
   * @default {performance.now() and the global timers}
   */
  clock?: SupervisorClock;
  /**
   * Starts one capture that hands its JPEGs to `onFrame`; it may throw when
   * ffmpeg cannot be spawned.
   *
   * @default {a new {@linkcode Capture} of `ffmpeg`, `args` and `stdin`}
   */
  launch?: (onFrame: (jpeg: Uint8Array) => void) => SupervisedCapture;
}

/**
 * Keeps one ffmpeg capture running: when ffmpeg exits or stalls it is
 * restarted with backoff, and meanwhile `onNoSignal` keeps viewers fed.
 */
export class CaptureSupervisor {
  #options: SupervisorOptions;
  #clock: SupervisorClock;
  #capture: SupervisedCapture | null = null;
  #startedAt = 0;
  #lastFrameAt = 0;
  /** Whether the current ffmpeg has sent a frame yet. */
  #framed = false;
  #lostAt = 0;
  readonly #backoff = new Backoff();
  #restarts = 0;
  #stopped = false;
  #paused = false;
  /** Frames dropped by captures that have ended. */
  #dropped = 0;
  #stallTimer: ClockTimer;
  /**
   * Whether stalls are watched for (from the first frame on): by one
   * timer due when the capture would be silent too long, not one every
   * 0.5 s, which woke the server twice a second for nothing.
   */
  #watching = false;
  #restartTimer: ClockTimer;
  #noSignalTimer: ClockTimer;
  #finish!: (error?: Error) => void;
  /** Settles when capturing ends for good (see {@linkcode CamwireServer.done}). */
  readonly ended: Promise<void>;

  constructor(options: SupervisorOptions) {
    this.#options = options;
    this.#clock = options.clock ?? realClock;
    this.ended = new Promise((resolve, reject) => {
      this.#finish = (error) => error ? reject(error) : resolve();
    });
    this.ended.catch(() => {}); // observed by whoever awaits it
  }

  get pid(): number | undefined {
    return this.#capture?.pid;
  }

  /**
   * Frames the captures dropped as damaged, in total: a camera's
   * truncated frames (for `/stats`).
   */
  get framesDropped(): number {
    return this.#dropped + (this.#capture?.framesDropped ?? 0);
  }

  /** See {@linkcode CaptureState}. */
  get state(): CaptureState {
    if (this.#paused) return "idle";
    if (this.#lostAt === 0) return "live";
    return this.#capture === null ? "placeholder" : "restarting";
  }

  /**
   * Starts the first capture and waits for its first frame.
   *
   * @param describe The source, as in `Cannot open <describe>`.
   * @throws {SourceOpenError} When ffmpeg ends before a frame, or sends
   * none within 10 s.
   * @throws {CamwireError} When there is no ffmpeg to spawn (`ffmpeg not
   * found: ...`): not a {@linkcode SourceOpenError}, so no fallback.
   */
  async start(describe: string): Promise<void> {
    const capture = this.#launch();
    const outcome = await deadline(
      Promise.race([
        capture.firstFrame.then(() => "ok"),
        capture.ended.then(() => capture.lastError || "ffmpeg exited"),
      ]),
      START_TIMEOUT_MS,
      `no frame within ${seconds(START_TIMEOUT_MS)}`,
    );
    if (outcome !== "ok") {
      // Given up: this supervisor must not restart anything later.
      await this.stop();
      throw new SourceOpenError(
        `Cannot open ${describe}: ${outcome}`,
        capture.failure,
      );
    }
    this.#watching = true;
    this.#watchForStall();
  }

  /** One stall check, due when the capture would be silent too long. */
  #watchForStall(): void {
    this.#clock.clearTimeout(this.#stallTimer);
    this.#stallTimer = undefined;
    if (!this.#watching || this.#capture === null || this.#stopped) return;
    const due = this.#lastFrameAt + this.#stallLimit() - this.#clock.now();
    const check = () => this.#checkStall();
    this.#stallTimer = this.#clock.setTimeout(check, Math.max(due, 0) + 1);
  }

  /** How long a capture may be silent (more while it opens: USB cameras). */
  #stallLimit(): number {
    return this.#framed
      ? this.#options.stallTimeoutMs
      : Math.max(this.#options.stallTimeoutMs, START_TIMEOUT_MS);
  }

  #launch(): SupervisedCapture {
    const { ffmpeg, args, stdin } = this.#options;
    const launch = this.#options.launch ??
      ((onFrame) => new Capture(ffmpeg, args, stdin, onFrame));
    const capture = launch((jpeg) => {
      this.#lastFrameAt = this.#clock.now();
      if (!this.#framed) {
        this.#framed = true;
        this.#watchForStall(); // held to stallTimeoutMs from now on
      }
      if (this.#lostAt !== 0) this.#recovered();
      try {
        this.#options.onFrame(jpeg);
      } catch (error) {
        // A fault of ours, not of the capture: log it and go on.
        this.#options.log(`camwire: cannot send a frame: ${message(error)}`);
      }
    });
    this.#capture = capture;
    this.#startedAt = this.#lastFrameAt = this.#clock.now();
    this.#framed = false;
    this.#watchForStall();
    // A moment's grace: on Ctrl-C the terminal signals ffmpeg too, and its
    // exit must not be taken for a fault before the server sees the signal.
    // An exit after stop() or pause() is no fault: no timer outlives them.
    capture.ended.then((status) => {
      if (this.#stopped || capture !== this.#capture) return;
      this.#clock.setTimeout(
        () => this.#onExit(capture, status),
        EXIT_GRACE_MS,
      );
    });
    return capture;
  }

  #checkStall(): void {
    this.#stallTimer = undefined;
    const capture = this.#capture;
    if (capture === null || this.#stopped) return;
    const silentMs = this.#clock.now() - this.#lastFrameAt;
    if (silentMs > this.#stallLimit()) {
      this.#options.log(
        `camwire: no frame from ${capture.label ?? "ffmpeg"} for ${
          seconds(silentMs)
        }; restarting it`,
      );
      this.#lastFrameAt = this.#clock.now(); // one kill per stall
      capture.kill("SIGKILL");
    }
    this.#watchForStall();
  }

  #onExit(capture: SupervisedCapture, status: Deno.CommandStatus): void {
    if (this.#stopped || capture !== this.#capture) return;
    this.#capture = null;
    this.#watchForStall(); // none until the next capture
    this.#dropped += capture.framesDropped ?? 0;
    const why =
      `${capture.label ?? "ffmpeg"} exited (${
        status.signal ?? `code ${status.code}`
      })` +
      (capture.lastError ? `: ${capture.lastError}` : "");
    if (this.#options.exitOnSourceEnd) {
      this.#stopTimers();
      this.#stopped = true;
      this.#finish(
        status.success ? undefined : new CamwireError(`Capture ended: ${why}`),
      );
      return;
    }
    const now = this.#clock.now();
    this.#backoff.ran(now - this.#startedAt);
    if (this.#lostAt === 0) {
      this.#lostAt = now;
      this.#options.onNoSignal();
      this.#noSignalTimer = this.#clock.setInterval(
        () => this.#options.onNoSignal(),
        PLACEHOLDER_INTERVAL_MS,
      );
    }
    const delay = this.#backoff.next();
    this.#options.log(
      `camwire: capture lost: ${why}; restarting in ${seconds(delay)}`,
    );
    this.#restartTimer = this.#clock.setTimeout(() => {
      this.#restartTimer = undefined;
      if (this.#stopped) return;
      this.#restarts++;
      this.#relaunch();
    }, delay);
  }

  /** {@linkcode #launch}, retried later if ffmpeg cannot even be spawned. */
  #relaunch(): void {
    try {
      this.#launch();
    } catch (error) {
      this.#options.log(
        `camwire: cannot start ffmpeg: ${message(error)}; retrying in ${
          seconds(MAX_BACKOFF_MS)
        }`,
      );
      this.#restartTimer = this.#clock.setTimeout(
        () => this.#relaunch(),
        MAX_BACKOFF_MS,
      );
    }
  }

  /**
   * Captures started again after a loss or a stall (not after an
   * on-demand pause): the count for `/metrics`.
   */
  get restarts(): number {
    return this.#restarts;
  }

  /** Ends ffmpeg and keeps it ended until {@linkcode resume}: nobody watches. */
  async pause(): Promise<void> {
    if (this.#paused || this.#stopped) return;
    this.#paused = true;
    this.#clock.clearInterval(this.#noSignalTimer);
    this.#clock.clearTimeout(this.#restartTimer);
    this.#lostAt = 0;
    this.#backoff.reset();
    const capture = this.#capture;
    this.#capture = null; // so that its exit is not taken for a fault
    this.#watchForStall(); // none: nothing to watch until resume()
    this.#dropped += capture?.framesDropped ?? 0;
    await capture?.stop();
  }

  /** Starts ffmpeg again after {@linkcode pause}. */
  resume(): void {
    if (!this.#paused || this.#stopped) return;
    this.#paused = false;
    this.#relaunch();
  }

  #recovered(): void {
    this.#clock.clearInterval(this.#noSignalTimer);
    this.#options.log(
      `camwire: capture recovered after ${
        seconds(this.#clock.now() - this.#lostAt)
      }`,
    );
    this.#lostAt = 0;
  }

  #stopTimers(): void {
    this.#clock.clearTimeout(this.#stallTimer);
    this.#clock.clearInterval(this.#noSignalTimer);
    this.#clock.clearTimeout(this.#restartTimer);
  }

  /** Ends ffmpeg for good. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#stopTimers();
    await this.#capture?.stop();
    this.#finish();
  }
}

/**
 * Makes the "no signal" JPEG shown while the capture restarts: a dark frame
 * of the stream's size, with the words when ffmpeg has a font for them.
 *
 * @returns The JPEG, or `undefined` when ffmpeg cannot make one.
 */
export async function makePlaceholder(
  ffmpeg: string,
  width: number,
  height: number,
  quality: number,
): Promise<Uint8Array | undefined> {
  const text = "drawtext=text='no signal':fontcolor=white:fontsize=" +
    `${Math.round(height / 10)}:x=(w-text_w)/2:y=(h-text_h)/2`;
  for (const filter of [["-vf", text], []]) {
    try {
      const { success, stdout } = await new Deno.Command(ffmpeg, {
        args: [
          ...words("-hide_banner -loglevel error -nostdin -f lavfi -i"),
          `color=c=0x202020:s=${width}x${height}:d=1`,
          ...filter,
          ...words("-frames:v 1 -q:v"),
          String(quality),
          ...words("-f mjpeg pipe:1"),
        ],
        stdin: "null",
        stdout: "piped",
        stderr: "null",
      }).output();
      if (success && stdout.length > 0) return stdout;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/**
 * Checks that ffmpeg can draw `--overlay`'s text, by drawing it on one
 * small frame: with no font at all (fontconfig finds none), drawtext fails
 * and so would every capture, restarted forever. Better one line at start.
 *
 * @param ffmpeg The ffmpeg program.
 * @param text The `--overlay` text.
 * @throws {CamwireError} When it cannot: ffmpeg's reason, and the remedy.
 *
 * @example
 * ```ts ignore
 * await checkOverlay("ffmpeg", "%H:%M:%S"); // throws without a font
 * ```
 */
export async function checkOverlay(
  ffmpeg: string,
  text: string,
): Promise<void> {
  const { success, stderr } = await spawn(ffmpeg, {
    args: [
      ...words("-hide_banner -loglevel error -nostdin -f lavfi -i"),
      "color=c=black:s=160x120:d=1",
      "-vf",
      overlayFilter(text),
      ...words("-frames:v 1 -f null -"),
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  if (success) return;
  const lines = new TextDecoder().decode(stderr).split("\n");
  const reason = lines.find((line) => /font/i.test(line)) ??
    lines.find((line) => line.trim() !== "") ?? "";
  const why = reason.replace(/^\[[^\]]*\]\s*/, "").trim();
  throw new CamwireError(
    `--overlay: ffmpeg cannot draw the text: ${why || "it failed"}${
      /font/i.test(why)
        ? " (install a font: apt install fonts-dejavu-core; macOS and Windows have one)"
        : ""
    }`,
  );
}
