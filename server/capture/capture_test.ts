// Copyright 2026 the camwire authors. MIT license.
// CaptureSupervisor in-process: a fake clock and fake captures, so that the
// delays asserted are the ones the supervisor really waits, read off the
// clock, and no test waits for them.

import assert from "node:assert/strict";
import { CamwireError } from "../../common/cli.ts";
import { FakeClock } from "../../testing/fake_clock.ts";
import {
  CaptureSupervisor,
  SourceOpenError,
  type SupervisedCapture,
  type SupervisorOptions,
} from "./capture.ts";

/** capture.ts waits this long before it takes an ffmpeg exit for a fault. */
const EXIT_GRACE_MS = 100;
/** The stall timeout the tests run with (the server's default). */
const STALL_MS = 3000;

Deno.test("CaptureSupervisor restarts a lost capture after 0.5, 1, 2, 4, 5, 5 s", async () => {
  const { clock, supervisor, launches } = await startedSupervisor();
  const waited: number[] = [];
  for (let failure = 0; failure < 6; failure++) {
    const exitAt = clock.now();
    launches.at(-1)!.capture.exit(1); // fails before its first frame
    await clock.advance(6000); // longer than any delay plus the grace
    assert.equal(launches.length, failure + 2, "one relaunch per failure");
    waited.push(launches.at(-1)!.at - exitAt - EXIT_GRACE_MS);
  }
  assert.deepEqual(waited, [500, 1000, 2000, 4000, 5000, 5000]);
  await supervisor.stop();
});

Deno.test("CaptureSupervisor restarts after 0.5 s again once a capture ran a healthy minute", async () => {
  const { clock, supervisor, launches } = await startedSupervisor();
  // Two quick failures: the next delay would be 2 s.
  for (let failure = 0; failure < 2; failure++) {
    launches.at(-1)!.capture.exit(1);
    await clock.advance(2000);
  }
  assert.equal(launches.length, 3);
  const healthy = launches.at(-1)!;
  await clock.advance(
    healthy.at + 60_000 - clock.now(),
    () => healthy.capture.frame(),
  );
  const exitAt = clock.now();
  healthy.capture.exit(1);
  await clock.advance(6000);
  assert.equal(launches.length, 4);
  assert.equal(launches.at(-1)!.at - exitAt - EXIT_GRACE_MS, 500);
  await supervisor.stop();
});

Deno.test("CaptureSupervisor keeps the doubled delay after a capture that ran less than a minute", async () => {
  const { clock, supervisor, launches } = await startedSupervisor();
  for (let failure = 0; failure < 2; failure++) {
    launches.at(-1)!.capture.exit(1);
    await clock.advance(2000);
  }
  const brief = launches.at(-1)!;
  await clock.advance(
    brief.at + 50_000 - clock.now(),
    () => brief.capture.frame(),
  );
  const exitAt = clock.now();
  brief.capture.exit(1);
  await clock.advance(6000);
  assert.equal(launches.at(-1)!.at - exitAt - EXIT_GRACE_MS, 2000);
  await supervisor.stop();
});

Deno.test("CaptureSupervisor sends the placeholder at once on loss, then every second until frames come again", async () => {
  const { clock, supervisor, launches, noSignalAt } = await startedSupervisor();
  await clock.advance(5000, () => launches.at(-1)!.capture.frame());
  assert.deepEqual(noSignalAt, [], "no placeholder while frames flow");
  const exitAt = clock.now();
  launches.at(-1)!.capture.exit(1);
  // The relaunched capture (at 0.6 s) stays silent until 3.5 s after the exit.
  await clock.advance(3500);
  assert.equal(launches.length, 2);
  launches.at(-1)!.capture.frame();
  await clock.advance(10_000, () => launches.at(-1)!.capture.frame());
  assert.deepEqual(
    noSignalAt.map((at) => at - exitAt - EXIT_GRACE_MS),
    [0, 1000, 2000, 3000],
  );
  await supervisor.stop();
});

Deno.test("CaptureSupervisor goes live → placeholder → restarting → live", async () => {
  const { clock, supervisor, launches } = await startedSupervisor();
  const states = [supervisor.state];
  launches.at(-1)!.capture.exit(1);
  await clock.advance(EXIT_GRACE_MS - 1);
  assert.equal(supervisor.state, "live", "an exit is not a fault at once");
  await clock.advance(1);
  states.push(supervisor.state);
  await clock.advance(500);
  assert.equal(launches.length, 2);
  states.push(supervisor.state);
  launches.at(-1)!.capture.frame();
  await clock.advance(0);
  states.push(supervisor.state);
  assert.deepEqual(states, ["live", "placeholder", "restarting", "live"]);
  await supervisor.stop();
});

Deno.test("CaptureSupervisor kills a capture with SIGKILL when no frame came for stallTimeoutMs", async () => {
  const { clock, supervisor, launches } = await startedSupervisor();
  const capture = launches.at(-1)!.capture;
  await clock.advance(2000, () => capture.frame());
  capture.frame(); // the last one
  // The check is due when the capture has been silent too long.
  await clock.advance(STALL_MS);
  assert.deepEqual(capture.signals, []);
  await clock.advance(1);
  assert.deepEqual(capture.signals, ["SIGKILL"]);
  await clock.advance(600);
  assert.equal(launches.length, 2, "the killed capture is restarted");
  await supervisor.stop();
});

Deno.test("CaptureSupervisor holds a restarted capture to stallTimeoutMs from its first frame on, not to the 10 s it had for that frame", async () => {
  const { clock, supervisor, launches } = await startedSupervisor();
  launches.at(-1)!.capture.exit(1);
  await clock.advance(EXIT_GRACE_MS + 500);
  assert.equal(launches.length, 2);
  const capture = launches.at(-1)!.capture;
  await clock.advance(1000);
  capture.frame(); // then silent
  await clock.advance(STALL_MS + 1);
  assert.deepEqual(capture.signals, ["SIGKILL"]);
  await supervisor.stop();
});

for (const stallTimeoutMs of [STALL_MS, 12_000]) {
  const limit = Math.max(stallTimeoutMs, 10_000);
  Deno.test(`CaptureSupervisor gives a capture ${limit / 1000} s for its first frame when stallTimeoutMs is ${stallTimeoutMs / 1000} s`, async () => {
    const { clock, supervisor, launches } = await startedSupervisor({
      stallTimeoutMs,
    });
    launches.at(-1)!.capture.exit(1);
    await clock.advance(EXIT_GRACE_MS + 500);
    assert.equal(launches.length, 2);
    const opening = launches.at(-1)!.capture; // sends no frame
    await clock.advance(limit);
    assert.deepEqual(opening.signals, []);
    await clock.advance(500);
    assert.deepEqual(opening.signals, ["SIGKILL"]);
    await supervisor.stop();
  });
}

Deno.test("CaptureSupervisor pause() stops the capture and relaunches nothing until resume()", async () => {
  const { clock, supervisor, launches } = await startedSupervisor();
  await supervisor.pause();
  assert.equal(supervisor.state, "idle");
  assert.equal(launches[0]!.capture.stopped, true);
  await clock.advance(60_000);
  assert.equal(launches.length, 1);
  assert.equal(supervisor.state, "idle");
  const resumedAt = clock.now();
  supervisor.resume();
  assert.equal(launches.length, 2);
  assert.equal(launches[1]!.at, resumedAt, "relaunched at once");
  launches[1]!.capture.frame();
  await clock.advance(0);
  assert.equal(supervisor.state, "live");
  await supervisor.stop();
});

Deno.test("CaptureSupervisor counts restarts after losses, not the starts after an on-demand pause", async () => {
  const { clock, supervisor, launches } = await startedSupervisor();
  assert.equal(supervisor.restarts, 0);
  for (let failure = 0; failure < 2; failure++) {
    launches.at(-1)!.capture.exit(1);
    await clock.advance(2000);
  }
  assert.equal(launches.length, 3);
  assert.equal(supervisor.restarts, 2);
  await supervisor.pause();
  supervisor.resume();
  assert.equal(launches.length, 4);
  assert.equal(supervisor.restarts, 2);
  await supervisor.stop();
});

Deno.test("CaptureSupervisor pause() while restarting cancels the restart and the placeholder", async () => {
  const { clock, supervisor, launches, noSignalAt } = await startedSupervisor();
  launches.at(-1)!.capture.exit(1);
  await clock.advance(EXIT_GRACE_MS);
  assert.equal(supervisor.state, "placeholder");
  assert.equal(noSignalAt.length, 1);
  await supervisor.pause();
  await clock.advance(60_000);
  assert.equal(launches.length, 1);
  assert.equal(noSignalAt.length, 1);
  assert.equal(supervisor.state, "idle");
  await supervisor.stop();
});

Deno.test("CaptureSupervisor with exitOnSourceEnd resolves ended when ffmpeg succeeds", async () => {
  const { clock, supervisor, launches } = await startedSupervisor({
    exitOnSourceEnd: true,
  });
  launches.at(-1)!.capture.exit(0);
  await clock.advance(10_000);
  await supervisor.ended;
  assert.equal(launches.length, 1, "no restart");
});

Deno.test("CaptureSupervisor with exitOnSourceEnd rejects ended when ffmpeg fails", async () => {
  const { clock, supervisor, launches } = await startedSupervisor({
    exitOnSourceEnd: true,
  });
  const capture = launches.at(-1)!.capture;
  capture.lastError = "Connection reset by peer";
  capture.exit(1);
  await clock.advance(10_000);
  await assert.rejects(supervisor.ended, (error) => {
    assert.ok(error instanceof CamwireError);
    assert.equal(
      error.message,
      "Capture ended: ffmpeg exited (code 1): Connection reset by peer",
    );
    return true;
  });
  assert.equal(launches.length, 1, "no restart");
});

Deno.test("CaptureSupervisor start() rejects with SourceOpenError when ffmpeg ends before a frame", async () => {
  const { clock, supervisor, launches } = supervised();
  const starting = supervisor.start("/dev/video7");
  const capture = launches[0]!.capture;
  capture.lastError = "/dev/video7: No such file or directory";
  capture.exit(1);
  await assert.rejects(
    starting,
    isSourceOpenError(
      "Cannot open /dev/video7: /dev/video7: No such file or directory",
    ),
  );
  await clock.advance(60_000);
  assert.equal(launches.length, 1, "given up: no restart");
});

Deno.test("CaptureSupervisor start() rejects with SourceOpenError when no frame comes within 10 s", async () => {
  const { clock, supervisor, launches } = supervised();
  // start() times out with deadline() from common/time.ts, which takes no
  // clock: give it the fake one through the globals.
  await withGlobalTimers(clock, async () => {
    let settled = false;
    const starting = supervisor.start("camera");
    starting.catch(() => {}).finally(() => settled = true);
    await clock.advance(9999);
    assert.equal(settled, false, "still waiting at 9.999 s");
    await clock.advance(1);
    await assert.rejects(
      starting,
      isSourceOpenError("Cannot open camera: no frame within 10.0 s"),
    );
  });
  assert.equal(launches[0]!.capture.stopped, true, "ffmpeg was ended");
  await clock.advance(60_000);
  assert.equal(launches.length, 1, "given up: no restart");
});

/** A started capture, and when the supervisor launched it. */
interface Launch {
  at: number;
  capture: FakeCapture;
}

/** A supervisor on a fake clock, launching {@linkcode FakeCapture}s. */
interface Supervised {
  clock: TickingClock;
  supervisor: CaptureSupervisor;
  /** Every capture launched so far, oldest first. */
  launches: Launch[];
  /** The clock's time at each `onNoSignal` call. */
  noSignalAt: number[];
}

/**
 * A {@linkcode FakeClock} whose `advance` can also do something every
 * second on the way, e.g. send a frame.
 */
class TickingClock extends FakeClock {
  override async advance(ms: number, everySecond?: () => void): Promise<void> {
    if (everySecond === undefined) return await super.advance(ms);
    const end = this.now() + ms;
    while (this.now() < end) {
      everySecond();
      await super.advance(Math.min(1000, end - this.now()));
    }
  }
}

/** A {@linkcode CaptureSupervisor} not started yet; see {@linkcode Supervised}. */
function supervised(options: Partial<SupervisorOptions> = {}): Supervised {
  const clock = new TickingClock();
  const launches: Launch[] = [];
  const noSignalAt: number[] = [];
  const supervisor = new CaptureSupervisor({
    ffmpeg: "ffmpeg",
    args: [],
    stdin: "null",
    stallTimeoutMs: STALL_MS,
    exitOnSourceEnd: false,
    onFrame: () => {},
    onNoSignal: () => noSignalAt.push(clock.now()),
    log: () => {},
    clock,
    launch: (onFrame) => {
      const capture = new FakeCapture(1000 + launches.length, onFrame);
      launches.push({ at: clock.now(), capture });
      return capture;
    },
    ...options,
  });
  return { clock, supervisor, launches, noSignalAt };
}

/** A {@linkcode supervised} supervisor whose first capture sent a frame. */
async function startedSupervisor(
  options: Partial<SupervisorOptions> = {},
): Promise<Supervised> {
  const setup = supervised(options);
  const starting = setup.supervisor.start("the test source");
  setup.launches[0]!.capture.frame();
  await starting;
  assert.equal(setup.supervisor.state, "live");
  return setup;
}

/** Stands in for ffmpeg: the test decides when it sends frames and exits. */
class FakeCapture implements SupervisedCapture {
  readonly pid: number;
  lastError = "";
  readonly firstFrame: Promise<void>;
  readonly ended: Promise<Deno.CommandStatus>;
  /** The signals `kill` was asked to send, in order. */
  readonly signals: Deno.Signal[] = [];
  /** Whether `stop` was called. */
  stopped = false;
  #onFrame: (jpeg: Uint8Array) => void;
  #frameSent!: () => void;
  #exited!: (status: Deno.CommandStatus) => void;
  #running = true;

  constructor(pid: number, onFrame: (jpeg: Uint8Array) => void) {
    this.pid = pid;
    this.#onFrame = onFrame;
    this.firstFrame = new Promise((resolve) => this.#frameSent = resolve);
    this.ended = new Promise((resolve) => this.#exited = resolve);
  }

  /** Sends one frame, as `Capture` does: firstFrame first. */
  frame(): void {
    assert.ok(this.#running, "a frame from an ended capture");
    this.#frameSent();
    this.#onFrame(new Uint8Array([0xff, 0xd8, 0xff, 0xd9]));
  }

  /** Ends with an exit code, or by a signal. */
  exit(code: number, signal: Deno.Signal | null = null): void {
    if (!this.#running) return;
    this.#running = false;
    this.#exited({ success: code === 0 && signal === null, code, signal });
  }

  stop(): Promise<void> {
    this.stopped = true;
    this.exit(143, "SIGTERM");
    return this.ended.then(() => {});
  }

  kill(signal: Deno.Signal): void {
    this.signals.push(signal);
    this.exit(128 + 9, signal);
  }
}

/** Asserts that an error is a {@linkcode SourceOpenError} with `text`. */
function isSourceOpenError(text: string): (error: unknown) => true {
  return (error) => {
    assert.ok(error instanceof SourceOpenError, String(error));
    assert.ok(error instanceof CamwireError, "a CamwireError too");
    assert.equal(error.message, text);
    return true;
  };
}

/**
 * Runs `fn` with the global timers replaced by `clock`'s, for code that
 * takes no clock, and puts the real ones back after.
 */
async function withGlobalTimers(
  clock: FakeClock,
  fn: () => Promise<void>,
): Promise<void> {
  const real = {
    setTimeout: globalThis.setTimeout,
    clearTimeout: globalThis.clearTimeout,
  };
  Object.assign(globalThis, {
    setTimeout: clock.setTimeout.bind(clock),
    clearTimeout: clock.clearTimeout.bind(clock),
  });
  try {
    await fn();
  } finally {
    Object.assign(globalThis, real);
  }
}

/** A {@linkcode TickingClock} that counts the timer callbacks it runs. */
class CountingClock extends TickingClock {
  fired = 0;

  override setTimeout<A extends unknown[]>(
    callback: (...args: A) => void,
    ms = 0,
    ...args: A
  ): number {
    return super.setTimeout(() => {
      this.fired++;
      callback(...args);
    }, ms);
  }

  override setInterval<A extends unknown[]>(
    callback: (...args: A) => void,
    ms = 0,
    ...args: A
  ): number {
    return super.setInterval(() => {
      this.fired++;
      callback(...args);
    }, ms);
  }
}

Deno.test("CaptureSupervisor wakes once per stallTimeoutMs for a healthy capture (it woke every 0.5 s), and never for a paused one", async () => {
  const clock = new CountingClock();
  const { supervisor, launches } = await startedSupervisor({ clock });
  const capture = launches.at(-1)!.capture;
  const before = clock.fired;
  await clock.advance(30_000, () => capture.frame());
  const healthy = clock.fired - before;
  assert.ok(healthy <= 11, `${healthy} wake-ups in 30 s`);
  await supervisor.pause();
  const paused = clock.fired;
  await clock.advance(60_000);
  assert.equal(clock.fired - paused, 0, "no wake-up while paused");
  supervisor.resume();
  // Watched again: the new capture, silent, is killed.
  await clock.advance(10_500);
  assert.deepEqual(launches.at(-1)!.capture.signals, ["SIGKILL"]);
  await supervisor.stop();
});
